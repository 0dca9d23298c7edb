/**
 * The quarantine: every rejected entry of a batch, kept exactly as sent and encrypted, with why it was rejected
 * (also encrypted: a reason names the value, "987.6 /min is outside the plausible range"). Only the batch, the
 * provider, the entry's position and the time are in clear. The provider lists its entries and downloads them in
 * the batch's own format (a Bundle or the resource, NDJSON lines, CSV rows under the header) to fix and resend.
 */
import type { Knex } from 'knex';
import type { Database } from '../../storage-layer/db';
import { asBuffer } from '../../storage-layer/db';
import { ValidationError } from '../errors';
import { nestedDeeperThan } from '../parse/nesting';
import type { SentEntry } from '../parse/types';
import type { UploadFormat } from '../parse';
import { open, seal, type KeyRing } from './envelope';

/** One rejected entry as the ingest service hands it over. */
export interface QuarantineInput {
  ref: string;
  line?: number;
  errors: Array<{ pointer: string; reason: string }>;
  sent?: SentEntry;
}

interface Meta {
  ref: string;
  line?: number;
  errors: Array<{ pointer: string; reason: string }>;
  shape?: SentEntry['shape'];
}

/** One quarantined entry as the API lists it. */
export interface QuarantineEntry {
  batchId: string;
  position: number;
  ref: string;
  line?: number;
  /** The first problem (all of them are in `errors`). */
  pointer: string;
  reason: string;
  errors: Array<{ pointer: string; reason: string }>;
  receivedAt: string;
  /** The entry exactly as sent (JSON of a Bundle entry or resource, an NDJSON line, a CSV row), or null when unknown. */
  sent: string | null;
  /** The FHIR resource of the entry, when it is one. */
  entry: unknown;
}

export interface QuarantinedBatch {
  id: string;
  format: UploadFormat;
  bundleType: string | null;
  csvHeader: string | null;
}

export const DOWNLOAD_FORMATS = ['json', 'ndjson', 'csv'] as const;
export type DownloadFormat = (typeof DOWNLOAD_FORMATS)[number];

const metaAad = (batchId: string, position: number) => `quarantine-meta:${batchId}:${position}`;
const sentAad = (batchId: string, position: number) => `quarantine-sent:${batchId}:${position}`;
const headerAad = (batchId: string) => `quarantine-header:${batchId}`;

function resourceOf(sent: string | null, shape: Meta['shape']): unknown {
  if (sent === null || shape === 'row') return null;
  try {
    const doc = JSON.parse(sent) as unknown;
    if (nestedDeeperThan(doc)) return null; // rejected for its depth: kept as text only
    if (shape === 'entry') return typeof doc === 'object' && doc !== null && 'resource' in doc ? (doc as { resource: unknown }).resource : null;
    return doc;
  } catch {
    return null; // an NDJSON line that was not JSON
  }
}

export class QuarantineStore {
  constructor(private readonly db: Database, private readonly keys: KeyRing) {}

  /** Seals and stores the rejected entries of a batch (and a CSV batch's header, to download rows under it). */
  async write(trx: Knex.Transaction, provider: string, batchId: string, entries: QuarantineInput[], csvHeader?: string): Promise<void> {
    const k = this.keys.quarantineKey;
    const rows = entries.map((e, position) => {
      const meta: Meta = { ref: e.ref, ...(e.line !== undefined ? { line: e.line } : {}), errors: e.errors, ...(e.sent ? { shape: e.sent.shape } : {}) };
      return {
        batch_id: batchId,
        provider,
        position,
        meta: seal(k, Buffer.from(JSON.stringify(meta)), metaAad(batchId, position)),
        sent: e.sent ? seal(k, Buffer.from(e.sent.text(), 'utf8'), sentAad(batchId, position)) : null,
      };
    });
    for (let i = 0; i < rows.length; i += 1000) await trx('quarantine').insert(rows.slice(i, i + 1000));
    if (csvHeader !== undefined && rows.length) {
      await trx('ingest_batches').where({ id: batchId }).update({ csv_header: seal(k, Buffer.from(csvHeader, 'utf8'), headerAad(batchId)) });
    }
  }

  /** The provider's own batch, or undefined (another provider's batch is not found either). */
  async batch(provider: string, batchId: string): Promise<QuarantinedBatch | undefined> {
    const row = (await this.db.knex('ingest_batches').where({ id: batchId, provider }).first('id', 'format', 'bundle_type', 'csv_header')) as
      { id: string; format: UploadFormat; bundle_type: string | null; csv_header: Buffer | Uint8Array | null } | undefined;
    if (!row) return undefined;
    const csvHeader = row.csv_header ? open(this.keys.quarantineKey, asBuffer(row.csv_header), headerAad(row.id)).toString('utf8') : null;
    return { id: row.id, format: row.format, bundleType: row.bundle_type, csvHeader };
  }

  /** A provider's quarantined entries, decrypted: all of them, or one batch's. */
  async list(provider: string, batchId?: string): Promise<QuarantineEntry[]> {
    const q = this.db.knex('quarantine').where({ provider }).orderBy('id').select('batch_id', 'position', 'meta', 'sent', 'created_at');
    if (batchId) q.andWhere({ batch_id: batchId });
    const rows = (await q) as Array<{ batch_id: string; position: number; meta: Buffer | Uint8Array; sent: Buffer | Uint8Array | null; created_at: Date }>;
    const k = this.keys.quarantineKey;
    return rows.map((r) => {
      const meta = JSON.parse(open(k, asBuffer(r.meta), metaAad(r.batch_id, r.position)).toString('utf8')) as Meta;
      const sent = r.sent ? open(k, asBuffer(r.sent), sentAad(r.batch_id, r.position)).toString('utf8') : null;
      const first = meta.errors[0] ?? { pointer: '', reason: '' };
      return {
        batchId: r.batch_id, position: r.position, ref: meta.ref, ...(meta.line !== undefined ? { line: meta.line } : {}),
        pointer: first.pointer, reason: first.reason, errors: meta.errors,
        receivedAt: new Date(r.created_at).toISOString(), sent, entry: resourceOf(sent, meta.shape),
      };
    });
  }
}

/**
 * The rejected entries of a batch in a file format, ready to fix and send again: `json` (a Bundle of the batch's
 * type with the rejected entries, or the lone resource), `ndjson` (JSON batches: one resource a line; NDJSON
 * batches: the lines as sent) or `csv` (the header and the rows as sent). Throws ValidationError naming `format`.
 */
export function downloadOf(batch: QuarantinedBatch, entries: QuarantineEntry[], format: DownloadFormat): { contentType: string; body: string } {
  const sent = entries.flatMap((e) => (e.sent === null ? [] : [e.sent]));
  const own: DownloadFormat = batch.format === 'fhir-json' ? 'json' : batch.format;
  if (format === 'csv' || own === 'csv') {
    if (format !== own) throw new ValidationError(`"format" must be ${own === 'csv' ? 'csv for a CSV batch' : `${own} (or ndjson) for a ${batch.format} batch, not csv`}`, 'format');
    return { contentType: 'text/csv; charset=utf-8', body: [batch.csvHeader ?? '', ...sent].join('\n') + '\n' };
  }
  if (format === 'ndjson') {
    const lines = own === 'ndjson' ? sent : entries.flatMap((e) => (e.entry === null ? [] : [JSON.stringify(e.entry)]));
    return { contentType: 'application/fhir+ndjson', body: lines.length ? `${lines.join('\n')}\n` : '' };
  }
  if (own === 'ndjson') throw new ValidationError('"format" must be ndjson for an NDJSON batch', 'format');
  if (batch.bundleType === null) return { contentType: 'application/fhir+json', body: sent[0] ?? 'null' };
  const entry = sent.map((text) => JSON.parse(text) as unknown);
  return { contentType: 'application/fhir+json', body: JSON.stringify({ resourceType: 'Bundle', type: batch.bundleType, entry }) };
}

/**
 * Migration management-003: rows of the quarantine written before its reasons were encrypted get their ref,
 * pointer and reason sealed into `meta` and their raw entry re-sealed as `sent`; then the clear columns go.
 */
export async function sealLegacyQuarantine(trx: Knex.Transaction, keys: KeyRing): Promise<void> {
  const k = keys.quarantineKey;
  const rows = (await trx('quarantine as q').join('ingest_batches as b', 'b.id', 'q.batch_id').whereNull('q.meta').orderBy('q.id')
    .select('q.id', 'q.batch_id', 'q.ref', 'q.pointer', 'q.reason', 'q.raw', 'b.format')) as
    Array<{ id: number; batch_id: string; ref: string; pointer: string; reason: string; raw: Buffer | Uint8Array | null; format: string }>;
  const next = new Map<string, number>();
  for (const r of rows) {
    const position = next.get(r.batch_id) ?? 0;
    next.set(r.batch_id, position + 1);
    // The old raw column held the resource's JSON (a CSV row's number for CSV batches: not what was sent).
    const raw = r.raw && r.format !== 'csv' ? open(k, asBuffer(r.raw), `quarantine:${r.batch_id}:${r.ref}`) : null;
    const meta: Meta = { ref: r.ref, errors: [{ pointer: r.pointer, reason: r.reason }], ...(raw ? { shape: r.format === 'ndjson' ? 'line' : 'resource' } : {}) };
    await trx('quarantine').where({ id: r.id }).update({
      position,
      meta: seal(k, Buffer.from(JSON.stringify(meta)), metaAad(r.batch_id, position)),
      sent: raw ? seal(k, raw, sentAad(r.batch_id, position)) : null,
    });
  }
  for (const column of ['ref', 'pointer', 'reason', 'raw']) await trx.raw(`ALTER TABLE quarantine DROP COLUMN ${column}`);
  await trx.raw('ALTER TABLE quarantine ALTER COLUMN position SET NOT NULL');
  await trx.raw('ALTER TABLE quarantine ALTER COLUMN meta SET NOT NULL');
}
