/**
 * A ledger entry's format. Its canonical bytes are the RFC 8785 JSON of
 * {v, seq, kind, actor, time, prev, payload}; its leaf hash is SHA-256(0x00 || bytes) (RFC 9162),
 * and `prev` is the previous entry's leaf hash, so the rows form a chain and the leaves a Merkle tree.
 * The append function in the database (ledger-schema.ts) builds the same bytes from the same parts
 * and refuses a batch whose hashes differ from the writer's.
 */
import { canonicalJson } from './canonical-json';
import { asBuffer } from './db';
import { ValidationError } from './errors';

export const LEDGER_KINDS = ['ingestion', 'consent', 'query', 'erasure', 'key', 'admin', 'quarantine', 'access', 'monitoring'] as const;
export type LedgerKind = (typeof LEDGER_KINDS)[number];

/** The chain's anchor: the `prev` of entry 0. */
export const GENESIS_PREV = Buffer.alloc(32);

export interface AppendInput {
  kind: LedgerKind;
  actor: string;
  payload: Record<string, unknown>;
}

export interface PreparedInput {
  kind: LedgerKind;
  actor: string;
  payloadJson: string;
}

export interface LedgerEntry {
  seq: number;
  kind: string;
  actor: string;
  recordedAt: string;
  canonical: string;
  leafHash: string;
  prevHash: string;
}

export interface StoredEntryRow {
  seq: number;
  kind: string;
  actor: string;
  recorded_at: Date;
  canonical: Buffer | Uint8Array;
  leaf_hash: Buffer | Uint8Array;
  prev_hash: Buffer | Uint8Array;
}

/**
 * Builds the canonical bytes by hand: RFC 8785 sorts keys by UTF-16 code units, which for these
 * fixed keys is actor < kind < payload < prev < seq < time < v. A unit test checks this against
 * `canonicalize`. The payload was canonicalised once, when it was queued.
 */
export function entryCanonical(seq: number, time: string, prev: Uint8Array, input: PreparedInput): string {
  return `{"actor":${JSON.stringify(input.actor)},"kind":${JSON.stringify(input.kind)},"payload":${input.payloadJson},"prev":"${Buffer.from(prev).toString('hex')}","seq":${seq},"time":"${time}","v":1}`;
}

export function prepare(input: AppendInput): PreparedInput {
  if (!LEDGER_KINDS.includes(input.kind)) throw new ValidationError(`ledger kind must be one of ${LEDGER_KINDS.join(', ')}`, 'kind');
  if (typeof input.actor !== 'string' || input.actor.length === 0) throw new ValidationError('ledger actor must be a non-empty string', 'actor');
  // PostgreSQL text holds neither NUL nor a lone surrogate; the database builds the same bytes from this text.
  if (input.actor.includes(String.fromCharCode(0)) || /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(input.actor)) throw new ValidationError('ledger actor must be well-formed text without NUL', 'actor');
  if (input.payload === null || typeof input.payload !== 'object' || Array.isArray(input.payload)) {
    throw new ValidationError('ledger payload must be a JSON object', 'payload');
  }
  return { kind: input.kind, actor: input.actor, payloadJson: canonicalJson(input.payload) };
}

export function rowToEntry(row: StoredEntryRow): LedgerEntry {
  return {
    seq: Number(row.seq),
    kind: row.kind,
    actor: row.actor,
    recordedAt: new Date(row.recorded_at).toISOString(),
    canonical: asBuffer(row.canonical).toString('utf8'),
    leafHash: asBuffer(row.leaf_hash).toString('hex'),
    prevHash: asBuffer(row.prev_hash).toString('hex'),
  };
}
