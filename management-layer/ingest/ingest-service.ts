/**
 * Ingestion: parse → validate → normalise → resolve subjects → pseudonymise → encrypt → store, with one ledger
 * entry per batch, all in one transaction; then hand the values to secret sharing (the outbox).
 *
 * - A Bundle of type transaction is all or nothing; every other upload stores its good entries.
 * - Every entry ends as exactly one of accepted, duplicate, rejected (with its reasons) or expanded (a panel
 *   without a value of its own); rejected entries go to the quarantine (encrypted), exactly as sent.
 * - Idempotent: a record is keyed by (provider, source id + version + indicator) and by (provider, content
 *   hash); a batch sent again with the same outcome is answered from the first one, with no new ledger entry
 *   and nothing quarantined twice; a crash mid-batch rolls the whole batch back.
 * - Patients: references resolve to identifiers through the upload's Patients and the provider's links
 *   (patient-links.ts); the upload's Patients become links; legacy records move (legacy-relink.ts).
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { Database } from '../../storage-layer/db';
import { asBuffer } from '../../storage-layer/db';
import type { Ledger } from '../../storage-layer/ledger';
import { parseUpload, type EntryError, type ParseResult, type SourcePosition, type UploadFormat } from '../parse';
import { normaliseAll } from '../normalise';
import type { IcsRecord, IcsRecordDraft } from '../ics-record';
import { getIndicator } from '../catalogue';
import { keyedDigest, open, pseudonymFor, type KeyRing } from './envelope';
import { LegacyRelink } from './legacy-relink';
import { PatientLinks } from './patient-links';
import { planUpload, type Plan } from './plan';
import { QuarantineStore } from './quarantine';
import { ShareClaims } from './share-claims';
import { patientKeys, storeRecords, type PreparedRecord } from './record-store';
import type { ShareableValue } from '../sharing/distribute';

export interface IngestRequest {
  provider: string;
  format: UploadFormat;
  /** The body as received (bytes or text); for fhir-json also an already parsed object. */
  body: unknown;
  sourceSystem?: string;
  /** Where the body starts in the provider's file, when it is a part of one (hgd ingest sends chunks). */
  position?: SourcePosition;
  /** Also list every entry with its outcome (POST /ingest?report=entries). */
  listEntries?: boolean;
  /** A patient's own upload (management-layer/patient-source.ts): whose records they are, and their provenance. */
  reporter?: Reporter;
  /** The ledger actor; default `provider:<provider>`. */
  actor?: string;
}

/**
 * Claims a draft of a patient's own upload: the patient's pseudonym and the draft with its provenance,
 * or an entry error. `pseudonymOf` resolves the draft's subject as a provider's would be (undefined: not linked).
 */
export interface Reporter {
  claim(draft: IcsRecordDraft, pseudonymOf: (draft: IcsRecordDraft) => string | undefined): { patient: string; draft: IcsRecordDraft } | { pointer: string; reason: string };
}

/** Called after a batch committed, with the records it newly stored (rule evaluation, management-layer/monitoring). */
export type StoredListener = (batch: { batchId: string; provider: string; records: Array<IcsRecord & { id: string }> }) => Promise<void>;

/** One entry of the upload and what became of it. */
export interface EntryOutcome {
  ref: string;
  pointer: string;
  line?: number;
  outcome: 'accepted' | 'duplicate' | 'rejected' | 'expanded';
}

/** What became of the upload's entries (Observations, NDJSON lines, CSV rows): each is counted once. */
export interface EntryCounts {
  received: number;
  accepted: number;
  duplicate: number;
  rejected: number;
  /** Panels without a value of their own, expanded into their members. */
  expanded: number;
}

export interface IngestNote {
  ref: string;
  pointer: string;
  line?: number;
  note: string;
}

export interface IngestSummary {
  batchId: string;
  status: 'stored' | 'rejected';
  format: UploadFormat;
  bundleType: string | null;
  /** Records (values) stored now, already stored, and problems found. */
  accepted: number;
  duplicate: number;
  rejected: number;
  entries: EntryCounts;
  /** Every entry with its outcome, when asked for (listEntries). */
  outcomes?: EntryOutcome[];
  notes: IngestNote[];
  /** Patients of the upload kept as the provider's links. */
  patientsLinked: number;
  /** Records stored before migration management-002 under a made-up identity, moved to their patient. */
  relinked: number;
  errors: EntryError[];
  ledger: { seq: number; leafHash: string };
  /** Where the provider can list the rejected entries again, or null when none were rejected. */
  quarantine: string | null;
  /** The same batch came before with the same outcome: nothing new was stored, quarantined or written to the ledger. */
  repeated: boolean;
}

/** Where normalised values leave for secret sharing (filled by the compute-node distributor). */
export interface ShareSink {
  distribute(values: ShareableValue[]): Promise<{ failed: Array<{ node: number }> }>;
}

interface Stored {
  batchId: string;
  ledger: { seq: number; leafHash: string };
  inserted: Array<{ prepared: PreparedRecord; commitment: string }>;
  relinked: number;
  repeated: boolean;
  /** The records were stored marked shared and the batch flagged (share-claims.ts): share them now. */
  claimed: boolean;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

function bodyBytes(body: unknown): Buffer {
  if (Buffer.isBuffer(body)) return body;
  return Buffer.from(typeof body === 'string' ? body : JSON.stringify(body) ?? '', 'utf8');
}

function panelNote(members: number, inUpload: number): string {
  const missing = members - inUpload;
  const list = `${members} member${members === 1 ? '' : 's'}`;
  return `panel expanded: it has no value of its own, its ${list} carry the values (${inUpload} in this upload${missing ? `; send the other ${missing} to store theirs` : ''})`;
}

export class IngestService {
  private readonly links: PatientLinks;
  private readonly legacy: LegacyRelink;
  readonly quarantine: QuarantineStore;
  private readonly claims: ShareClaims;

  constructor(
    private readonly db: Database,
    private readonly ledger: Ledger,
    private readonly keys: KeyRing,
    private sink: ShareSink | null = null,
  ) {
    this.links = new PatientLinks(keys);
    this.legacy = new LegacyRelink(keys);
    this.quarantine = new QuarantineStore(db, keys);
    this.claims = new ShareClaims(db);
  }

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

  private async notifyStored(batchId: string, provider: string, recs: PreparedRecord[]): Promise<void> {
    const records = recs.map((p) => ({ id: p.id, ...p.record }));
    for (const listener of this.listeners) await listener({ batchId, provider, records }).catch(() => undefined);
  }

  async ingest(req: IngestRequest): Promise<IngestSummary> {
    const parsed = parseUpload(req.format, req.body, req.position);
    const upload = normaliseAll(parsed, { provider: req.provider, sourceSystem: req.sourceSystem ?? req.provider, receivedAt: new Date().toISOString() });
    const { plan, stored } = await this.db.knex.transaction(async (trx) => {
      const plan = await planUpload(trx, this.keys, this.links, req.provider, parsed, upload, req.reporter);
      return { plan, stored: await this.store(trx, req, parsed, plan) };
    });
    if (stored.claimed) await this.shareClaimed(stored.batchId, stored.inserted.map((r) => r.prepared));
    if (stored.inserted.length) await this.notifyStored(stored.batchId, req.provider, stored.inserted.map((r) => r.prepared));
    return this.summary(req, parsed, plan, stored);
  }

  /** The digests a repeat is recognised by: what was sent, and what came of it. */
  private digests(req: IngestRequest, plan: Plan): { content: string; outcome: string } {
    const k = this.keys.batchKey;
    const content = keyedDigest(k, req.format, JSON.stringify([req.position?.firstLine ?? null, req.position?.firstRow ?? null]), bodyBytes(req.body));
    // JSON.stringify, not canonical JSON: a provider's text may hold lone surrogates, which JCS refuses.
    const outcome = keyedDigest(k, JSON.stringify([
      plan.rejectAll,
      plan.errors.map((e) => [e.ref, e.pointer, e.reason]),
      plan.entries.flatMap((e) => e.records.map((r) => r.contentKey)).sort(),
    ]));
    return { content, outcome };
  }

  /** The batch row, or the earlier batch when this one repeats it. */
  private async claimBatch(trx: Knex.Transaction, req: IngestRequest, parsed: ParseResult, plan: Plan): Promise<{ id: string; repeatOf?: { id: string; ledgerSeq: number } }> {
    const d = this.digests(req, plan);
    const earlier = () => trx('ingest_batches').where({ provider: req.provider, content_digest: d.content, outcome_digest: d.outcome }).first('id', 'ledger_seq');
    const found = (await earlier()) as { id: string; ledger_seq: number } | undefined;
    if (found) return { id: found.id, repeatOf: { id: found.id, ledgerSeq: Number(found.ledger_seq) } };
    const id = randomUUID();
    const claimed = await trx('ingest_batches')
      .insert({ id, provider: req.provider, format: req.format, bundle_type: parsed.bundleType ?? null, accepted: 0, duplicate: 0, rejected: 0, content_digest: d.content, outcome_digest: d.outcome })
      .onConflict(['provider', 'content_digest', 'outcome_digest']).ignore().returning('id');
    if (claimed.length) return { id };
    const raced = (await earlier()) as { id: string; ledger_seq: number }; // the same batch committed meanwhile
    return { id: raced.id, repeatOf: { id: raced.id, ledgerSeq: Number(raced.ledger_seq) } };
  }

  private async store(trx: Knex.Transaction, req: IngestRequest, parsed: ParseResult, plan: Plan): Promise<Stored> {
    const batch = await this.claimBatch(trx, req, parsed, plan);
    if (batch.repeatOf) {
      const row = await trx('ledger_entries').where({ seq: batch.repeatOf.ledgerSeq }).first('leaf_hash');
      const ledger = { seq: batch.repeatOf.ledgerSeq, leafHash: asBuffer(row.leaf_hash).toString('hex') };
      return { batchId: batch.id, ledger, inserted: [], relinked: 0, repeated: true, claimed: false };
    }
    const sharedAt = this.sink ? new Date() : null;
    const inserted = plan.toStore.length ? await storeRecords(trx, this.keys, req.provider, batch.id, plan.toStore, sharedAt) : [];
    const claimed = sharedAt !== null && inserted.length > 0;
    if (plan.links.length) await this.links.save(trx, req.provider, plan.links);
    const relinked = plan.moves.size && (await this.legacy.applies(trx, req.provider)) ? await this.legacy.relink(trx, req.provider, plan.moves) : 0;
    const rejected = plan.entries.filter((e) => e.errors.length);
    if (rejected.length) {
      await this.quarantine.write(trx, req.provider, batch.id, rejected.map((e) => {
        const at = e.source.item ?? e.source.rejected!;
        return { ref: at.ref, ...(at.line !== undefined ? { line: at.line } : {}), errors: e.errors.map(({ pointer, reason }) => ({ pointer, reason })), ...(at.sent ? { sent: at.sent } : {}) };
      }), parsed.csvHeader);
    }
    const ledger = await this.appendLedger(trx, req, parsed, plan, batch.id, inserted, relinked);
    const duplicate = plan.toStore.length - inserted.length;
    await trx('ingest_batches').where({ id: batch.id }).update({ accepted: inserted.length, duplicate, rejected: plan.errors.length, ledger_seq: ledger.seq, shares_pending: claimed });
    return { batchId: batch.id, ledger, inserted, relinked, repeated: false, claimed };
  }

  private async appendLedger(trx: Knex.Transaction, req: IngestRequest, parsed: ParseResult, plan: Plan, batchId: string, inserted: Stored['inserted'], relinked: number) {
    const commitments = inserted.map((r) => r.commitment).join('');
    const [entry] = await this.ledger.appendWithin(trx, [{
      kind: 'ingestion',
      actor: req.actor ?? `provider:${req.provider}`,
      payload: {
        batchId,
        format: req.format,
        bundleType: parsed.bundleType ?? null,
        status: plan.rejectAll ? 'rejected' : 'stored',
        accepted: inserted.length,
        duplicate: plan.toStore.length - inserted.length,
        rejected: plan.errors.length,
        expanded: plan.entries.filter((e) => e.expanded).length,
        patientsLinked: plan.links.length,
        relinked,
        // Commits to the stored records without revealing them: SHA-256 over each record's salted hash.
        recordsCommitment: sha256(commitments),
      },
    }]);
    return entry!;
  }

  /** The answer: counts of records and of entries, notes, errors. */
  private summary(req: IngestRequest, parsed: ParseResult, plan: Plan, stored: Stored): IngestSummary {
    const newIds = new Set(stored.inserted.map((r) => r.prepared.id));
    const entries: EntryCounts = { received: plan.entries.length, accepted: 0, duplicate: 0, rejected: 0, expanded: 0 };
    const notes: IngestNote[] = [];
    const outcomes: EntryOutcome[] = [];
    for (const e of plan.entries) {
      const at = e.source.item ?? e.source.rejected!;
      const where = { ref: at.ref, pointer: at.pointer, ...(at.line !== undefined ? { line: at.line } : {}) };
      const outcome: EntryOutcome['outcome'] = e.expanded ? 'expanded'
        : !e.records.length || plan.rejectAll ? 'rejected'
          : e.records.some((r) => newIds.has(r.id)) ? 'accepted' : 'duplicate';
      entries[outcome]++;
      if (e.expanded) notes.push({ ...where, note: panelNote(e.expanded.members, e.expanded.inUpload) });
      if (req.listEntries) outcomes.push({ ...where, outcome });
    }
    const accepted = stored.inserted.length;
    return {
      batchId: stored.batchId,
      status: plan.rejectAll ? 'rejected' : 'stored',
      format: req.format,
      bundleType: parsed.bundleType ?? null,
      accepted,
      duplicate: plan.toStore.length - accepted,
      rejected: plan.errors.length,
      entries,
      ...(req.listEntries ? { outcomes } : {}),
      notes,
      patientsLinked: stored.repeated ? 0 : plan.links.length,
      relinked: stored.relinked,
      errors: plan.errors,
      ledger: stored.ledger,
      quarantine: plan.errors.length ? `/quarantine/${stored.batchId}` : null,
      repeated: stored.repeated,
    };
  }

  /** The values of records, as secret sharing takes them. */
  private shareable(recs: PreparedRecord[]): ShareableValue[] {
    return recs.map((p) => {
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
        ...(p.record.provenance.origin === 'patient-reported' ? { source: 'patient' as const } : {}),
      };
    });
  }

  /** Whether every node now holds shares of `recs` (false when a node failed or the call threw). */
  private async distribute(recs: PreparedRecord[]): Promise<boolean> {
    try {
      return (await this.sink!.distribute(this.shareable(recs))).failed.length === 0;
    } catch {
      return false;
    }
  }

  /** Shares a claimed batch's records (stored marked shared); what fails is unmarked for the outbox. */
  private async shareClaimed(batchId: string, recs: PreparedRecord[]): Promise<void> {
    this.claims.begin(batchId);
    const delivered = this.sink ? await this.distribute(recs) : false;
    try {
      await this.claims.settle(batchId, recs.map((r) => r.id), delivered);
    } catch {
      // The upload is committed; its batch stays flagged and the outbox's recovery shares it again later.
    }
  }

  /** Sends values to the compute nodes and marks their records shared; what fails stays in the outbox. */
  private async shareAndMark(recs: PreparedRecord[]): Promise<void> {
    if (!(await this.distribute(recs))) return; // left unshared: the next outbox pass retries
    try {
      for (let i = 0; i < recs.length; i += 1000) await this.db.knex('records').whereIn('id', recs.slice(i, i + 1000).map((r) => r.id)).update({ shared_at: new Date() });
    } catch {
      // Left unshared: the outbox shares them again (a newer dealing supersedes this one).
    }
  }

  /**
   * The outbox: shares every stored record not yet held by all nodes (after unmarking the records of batches
   * a stopped gateway left claimed, share-claims.ts). Returns how many were shared.
   */
  async shareOutstanding(limit = 5000): Promise<number> {
    if (!this.sink) return 0;
    await this.claims.recover();
    const rows = (await this.db.knex('records').whereNull('shared_at').whereNull('erased_at').select('id', 'patient', 'body').limit(limit)) as Array<{ id: string; patient: string; body: Buffer | Uint8Array }>;
    if (!rows.length) return 0;
    const keys = await this.db.knex.transaction((trx) => patientKeys(trx, this.keys, [...new Set(rows.map((r) => r.patient))]));
    const recs = rows.map((r) => ({ id: r.id, record: JSON.parse(open(keys.get(r.patient)!, asBuffer(r.body), r.id).toString('utf8')) as IcsRecord, sourceKey: '', contentKey: '' }));
    await this.shareAndMark(recs);
    return recs.length;
  }

  /** A patient's own records, decrypted; `indicators` empty means all. */
  async patientRecords(patient: string, filter: { indicators?: string[]; from?: string; to?: string }): Promise<Array<IcsRecord & { id: string }>> {
    const q = this.db.knex('records').where({ patient }).whereNull('erased_at').orderBy('effective_start').select('id', 'body');
    if (filter.indicators?.length) q.whereIn('indicator', filter.indicators);
    if (filter.from) q.andWhere('effective_start', '>=', filter.from);
    if (filter.to) q.andWhere('effective_start', '<', filter.to);
    const rows = (await q) as Array<{ id: string; body: Buffer | Uint8Array }>;
    if (!rows.length) return [];
    const keyRow = await this.db.knex('patients').where({ pseudonym: patient }).first('wrapped_key');
    const key = open(this.keys.wrapKey, asBuffer(keyRow.wrapped_key), `patient:${patient}`);
    return rows.map((r) => ({ id: r.id, ...(JSON.parse(open(key, asBuffer(r.body), r.id).toString('utf8')) as IcsRecord) }));
  }
}
