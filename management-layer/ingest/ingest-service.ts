/**
 * Ingestion: parse → validate → normalise → pseudonymise → encrypt → store, with one ledger entry
 * per batch, all in one transaction; then hand the values to secret sharing (the outbox).
 *
 * - A Bundle of type transaction is all or nothing; every other upload stores its good entries.
 * - Rejected entries go to the quarantine (encrypted), with their reference, JSON pointer and reason.
 * - Idempotent: a record is keyed by (provider, source id + version + indicator) and by
 *   (provider, content hash); a resend stores nothing twice, and a crash mid-batch rolls the
 *   whole batch back.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { Database } from '../../storage-layer/db';
import { asBuffer } from '../../storage-layer/db';
import type { Ledger } from '../../storage-layer/ledger';
import { canonicalJson } from '../../storage-layer/canonical-json';
import { parseUpload, type EntryError, type ParseResult, type UploadFormat } from '../parse';
import { normaliseAll } from '../normalise';
import { draftToRecord, validateIcsRecord, type IcsRecord, type IcsRecordDraft } from '../ics-record';
import { getIndicator } from '../catalogue';
import { open, pseudonymFor, seal, type KeyRing } from './envelope';
import type { ShareableValue } from '../sharing/distribute';

export interface IngestRequest {
  provider: string;
  format: UploadFormat;
  /** Parsed JSON for fhir-json, text for ndjson and csv. */
  body: unknown;
  sourceSystem?: string;
  /** A patient's own upload (management-layer/patient-source.ts): whose records they are, and their provenance. */
  reporter?: Reporter;
  /** The ledger actor; default `provider:<provider>`. */
  actor?: string;
}

/** Claims a draft of a patient's own upload: the patient's pseudonym and the draft with its provenance, or an entry error. */
export interface Reporter {
  claim(draft: IcsRecordDraft, pseudonymOf: (subject: { system: string; value: string }) => string): { patient: string; draft: IcsRecordDraft } | { pointer: string; reason: string };
}

/** Called after a batch committed, with the records it newly stored (rule evaluation, management-layer/monitoring). */
export type StoredListener = (batch: { batchId: string; provider: string; records: Array<IcsRecord & { id: string }> }) => Promise<void>;

export interface IngestSummary {
  batchId: string;
  status: 'stored' | 'rejected';
  format: UploadFormat;
  bundleType: string | null;
  accepted: number;
  duplicate: number;
  rejected: number;
  errors: EntryError[];
  ledger: { seq: number; leafHash: string };
  /** Where the provider can list the rejected entries again, or null when none were rejected. */
  quarantine: string | null;
}

/** Where normalised values leave for secret sharing (filled by the compute-node distributor). */
export interface ShareSink {
  distribute(values: ShareableValue[]): Promise<{ failed: Array<{ node: number }> }>;
}

interface PreparedRecord {
  id: string;
  record: IcsRecord;
  sourceKey: string;
  contentKey: string;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

function sourceKeyOf(d: IcsRecordDraft): string {
  const p = d.provenance;
  return sha256(canonicalJson([p.sourceSystem, p.sourceId, p.sourceVersion, d.indicator, p.code.code]));
}

function contentKeyOf(patient: string, d: IcsRecordDraft): string {
  return sha256(canonicalJson([patient, d.indicator, d.effectiveStart, d.effectiveEnd, d.value]));
}

export class IngestService {
  constructor(
    private readonly db: Database,
    private readonly ledger: Ledger,
    private readonly keys: KeyRing,
    private sink: ShareSink | null = null,
  ) {}

  /** The pseudonym HGD uses for a provider's patient identifier (e.g. when issuing a patient's token). */
  pseudonymOf(system: string, value: string): string {
    return pseudonymFor(this.keys, system, value);
  }

  setShareSink(sink: ShareSink): void {
    this.sink = sink;
  }

  private readonly listeners: StoredListener[] = [];

  /** Adds a listener for newly stored records; its failure never fails the upload (the data is committed). */
  onStored(listener: StoredListener): void {
    this.listeners.push(listener);
  }

  async ingest(req: IngestRequest): Promise<IngestSummary> {
    const parsed: ParseResult = parseUpload(req.format, req.body);
    const { records: drafts, errors } = normaliseAll(parsed, { provider: req.provider, sourceSystem: req.sourceSystem ?? req.provider });
    const prepared: PreparedRecord[] = [];
    for (const drafted of drafts) {
      const claimed = req.reporter?.claim(drafted, (s) => pseudonymFor(this.keys, s.system, s.value));
      if (claimed && !('patient' in claimed)) {
        errors.push({ ref: drafted.provenance.sourceId, ...claimed });
        continue;
      }
      const draft = claimed ? claimed.draft : drafted;
      const patient = claimed ? claimed.patient : pseudonymFor(this.keys, draft.subject.system, draft.subject.value);
      const record = draftToRecord(draft, patient);
      const issues = validateIcsRecord(record);
      if (issues.length) {
        errors.push({ ref: draft.provenance.sourceId, pointer: issues[0]!.pointer, reason: issues.map((i) => i.reason).join('; ') });
        continue;
      }
      prepared.push({ id: randomUUID(), record, sourceKey: sourceKeyOf(draft), contentKey: contentKeyOf(patient, draft) });
    }
    const allOrNothing = parsed.bundleType === 'transaction';
    const rejectAll = allOrNothing && errors.length > 0;
    const toStore = rejectAll ? [] : prepared;
    const batchId = randomUUID();

    const { inserted, ledgerEntry } = await this.db.knex.transaction(async (trx) => {
      await trx('ingest_batches').insert({ id: batchId, provider: req.provider, format: req.format, bundle_type: parsed.bundleType ?? null, accepted: 0, duplicate: 0, rejected: 0 });
      const inserted = toStore.length ? await this.storeRecords(trx, req.provider, batchId, toStore) : [];
      if (errors.length) await this.quarantine(trx, req.provider, batchId, errors, parsed);
      const duplicate = toStore.length - inserted.length;
      const commitments = inserted.map((r) => r.commitment).join('');
      const [ledgerEntry] = await this.ledger.appendWithin(trx, [{
        kind: 'ingestion',
        actor: req.actor ?? `provider:${req.provider}`,
        payload: {
          batchId,
          format: req.format,
          bundleType: parsed.bundleType ?? null,
          status: rejectAll ? 'rejected' : 'stored',
          accepted: inserted.length,
          duplicate,
          rejected: errors.length,
          // Commits to the stored records without revealing them: SHA-256 over each record's salted hash.
          recordsCommitment: sha256(commitments),
        },
      }]);
      await trx('ingest_batches').where({ id: batchId }).update({ accepted: inserted.length, duplicate, rejected: errors.length, ledger_seq: ledgerEntry!.seq });
      return { inserted, ledgerEntry: ledgerEntry! };
    });

    if (inserted.length && this.sink) await this.shareAndMark(inserted.map((r) => r.prepared));
    if (inserted.length) await this.notifyStored(batchId, req.provider, inserted.map((r) => r.prepared));
    return {
      batchId,
      status: rejectAll ? 'rejected' : 'stored',
      format: req.format,
      bundleType: parsed.bundleType ?? null,
      accepted: inserted.length,
      duplicate: toStore.length - inserted.length,
      rejected: errors.length,
      errors,
      ledger: ledgerEntry,
      quarantine: errors.length ? `/quarantine/${batchId}` : null,
    };
  }

  /** Inserts new records (skipping duplicates) and returns the ones that were new, with their commitments. */
  private async storeRecords(trx: Knex.Transaction, provider: string, batchId: string, recs: PreparedRecord[]) {
    const dataKeys = await this.patientKeys(trx, [...new Set(recs.map((r) => r.record.patient))]);
    const inserted: Array<{ prepared: PreparedRecord; commitment: string }> = [];
    for (let i = 0; i < recs.length; i += 1000) {
      const chunk = recs.slice(i, i + 1000);
      const rows = chunk.map((p) => {
        const salt = randomBytes(16);
        return {
          id: p.id,
          patient: p.record.patient,
          indicator: p.record.indicator,
          effective_start: p.record.effectiveStart,
          effective_end: p.record.effectiveEnd,
          provider,
          source_key: p.sourceKey,
          content_key: p.contentKey,
          body: seal(dataKeys.get(p.record.patient)!, Buffer.from(JSON.stringify(p.record)), p.id),
          salt,
          batch_id: batchId,
        };
      });
      const ids = new Set((await trx('records').insert(rows).onConflict().ignore().returning('id')).map((r: { id: string }) => r.id));
      rows.forEach((row, j) => {
        if (ids.has(row.id)) inserted.push({ prepared: chunk[j]!, commitment: createHash('sha256').update(row.salt).update(row.id).update(row.content_key).digest('hex') });
      });
    }
    return inserted;
  }

  /**
   * Each patient's data key, unwrapped; keys are created only for patients seen for the first
   * time, inserted in sorted order so concurrent uploads cannot deadlock on each other.
   */
  private async patientKeys(trx: Knex.Transaction, patients: string[]): Promise<Map<string, Buffer>> {
    const keys = new Map<string, Buffer>();
    const load = async (wanted: string[]) => {
      for (let i = 0; i < wanted.length; i += 1000) {
        const found = await trx('patients').whereIn('pseudonym', wanted.slice(i, i + 1000)).select('pseudonym', 'wrapped_key');
        for (const r of found as Array<{ pseudonym: string; wrapped_key: Buffer | Uint8Array }>) {
          keys.set(r.pseudonym, open(this.keys.wrapKey, asBuffer(r.wrapped_key), `patient:${r.pseudonym}`));
        }
      }
    };
    await load(patients);
    const missing = patients.filter((p) => !keys.has(p)).sort();
    if (missing.length) {
      const rows = missing.map((p) => ({ pseudonym: p, wrapped_key: seal(this.keys.wrapKey, randomBytes(32), `patient:${p}`) }));
      for (let i = 0; i < rows.length; i += 1000) await trx('patients').insert(rows.slice(i, i + 1000)).onConflict('pseudonym').ignore();
      await load(missing); // another upload may have created some of them first
    }
    return keys;
  }

  private async quarantine(trx: Knex.Transaction, provider: string, batchId: string, errors: EntryError[], parsed: ParseResult): Promise<void> {
    const rawByRef = new Map<string, unknown>();
    for (const item of parsed.items) rawByRef.set(item.ref, item.kind === 'csv' ? item.row : item.resource);
    // PostgreSQL text cannot hold U+0000, and a provider's ids may contain anything.
    const noNul = (s: string) => s.replaceAll(String.fromCharCode(0), '\uFFFD');
    const rows = errors.map((e) => {
      const raw = rawByRef.get(e.ref);
      const ref = noNul(e.ref);
      return {
        batch_id: batchId,
        provider,
        ref,
        pointer: noNul(e.pointer),
        reason: noNul(e.reason),
        raw: raw === undefined ? null : seal(this.keys.quarantineKey, Buffer.from(JSON.stringify(raw)), `quarantine:${batchId}:${ref}`),
      };
    });
    for (let i = 0; i < rows.length; i += 1000) await trx('quarantine').insert(rows.slice(i, i + 1000));
  }

  private async notifyStored(batchId: string, provider: string, recs: PreparedRecord[]): Promise<void> {
    const records = recs.map((p) => ({ id: p.id, ...p.record }));
    for (const listener of this.listeners) await listener({ batchId, provider, records }).catch(() => undefined);
  }

  /** Sends values to the compute nodes and marks their records shared; what fails stays in the outbox. */
  private async shareAndMark(recs: PreparedRecord[]): Promise<void> {
    const values: ShareableValue[] = recs.map((p) => {
      const ind = getIndicator(p.record.indicator);
      if (!ind) throw new Error(`validated record has unknown indicator ${p.record.indicator}`);
      return {
        recordId: p.id,
        pseudonym: p.record.patient,
        indicator: p.record.indicator,
        effectiveStart: p.record.effectiveStart,
        effectiveEnd: p.record.effectiveEnd,
        value: p.record.value,
        scale: ind.scale,
        histogramEdges: ind.histogramEdges,
      };
    });
    try {
      const result = await this.sink!.distribute(values);
      if (result.failed.length === 0) {
        for (let i = 0; i < recs.length; i += 1000) await this.db.knex('records').whereIn('id', recs.slice(i, i + 1000).map((r) => r.id)).update({ shared_at: new Date() });
      }
    } catch {
      // Left unshared: the outbox (shareOutstanding) retries.
    }
  }

  /** The outbox: shares every stored record not yet held by all nodes. Returns how many were shared. */
  async shareOutstanding(limit = 5000): Promise<number> {
    if (!this.sink) return 0;
    const rows = (await this.db.knex('records').whereNull('shared_at').whereNull('erased_at').select('id', 'patient', 'body').limit(limit)) as Array<{ id: string; patient: string; body: Buffer | Uint8Array }>;
    if (!rows.length) return 0;
    const keys = await this.db.knex.transaction((trx) => this.patientKeys(trx, [...new Set(rows.map((r) => r.patient))]));
    const recs = rows.map((r) => ({ id: r.id, record: JSON.parse(open(keys.get(r.patient)!, asBuffer(r.body), r.id).toString('utf8')) as IcsRecord, sourceKey: '', contentKey: '' }));
    await this.shareAndMark(recs);
    return recs.length;
  }

  /** A patient's own records, decrypted. */
  async patientRecords(patient: string, filter: { indicator?: string; from?: string; to?: string }): Promise<Array<IcsRecord & { id: string }>> {
    const q = this.db.knex('records').where({ patient }).whereNull('erased_at').orderBy('effective_start').select('id', 'body');
    if (filter.indicator) q.andWhere({ indicator: filter.indicator });
    if (filter.from) q.andWhere('effective_start', '>=', filter.from);
    if (filter.to) q.andWhere('effective_start', '<', filter.to);
    const rows = (await q) as Array<{ id: string; body: Buffer | Uint8Array }>;
    if (!rows.length) return [];
    const keyRow = await this.db.knex('patients').where({ pseudonym: patient }).first('wrapped_key');
    const key = open(this.keys.wrapKey, asBuffer(keyRow.wrapped_key), `patient:${patient}`);
    return rows.map((r) => ({ id: r.id, ...(JSON.parse(open(key, asBuffer(r.body), r.id).toString('utf8')) as IcsRecord) }));
  }

  async quarantineFor(provider: string, batchId?: string) {
    const q = this.db.knex('quarantine').where({ provider }).orderBy('id').select('id', 'batch_id', 'ref', 'pointer', 'reason', 'raw', 'created_at');
    if (batchId) q.andWhere({ batch_id: batchId });
    const rows = (await q) as Array<{ id: number; batch_id: string; ref: string; pointer: string; reason: string; raw: Buffer | Uint8Array | null; created_at: Date }>;
    return rows.map((r) => ({
      batchId: r.batch_id,
      ref: r.ref,
      pointer: r.pointer,
      reason: r.reason,
      receivedAt: new Date(r.created_at).toISOString(),
      entry: r.raw ? JSON.parse(open(this.keys.quarantineKey, asBuffer(r.raw), `quarantine:${r.batch_id}:${r.ref}`).toString('utf8')) : null,
    }));
  }
}
