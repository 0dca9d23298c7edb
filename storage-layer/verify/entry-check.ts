/**
 * The check every ledger row passes before anything trusts it: the writer's tree cache runs it on
 * each new row (sync), the auditor's verifier on every row. Browser-safe: the leaf hash comes from
 * the caller.
 *
 * A row is good when SHA-256(0x00 || canonical) equals its stored leaf hash, its bytes are the JSON
 * of {v: 1, seq, kind, actor, time, prev, payload} with this seq, `prev` (in the bytes and in the
 * prev_hash column) is the previous entry's leaf hash, and the kind, actor and time columns say
 * what the hashed bytes say.
 */
import { equalBytes, fromUtf8, toHex } from '../bytes';
import type { Damage } from './damage';

export interface EntryRow {
  seq: number;
  kind: string;
  actor: string;
  /** recorded_at, epoch milliseconds. */
  recordedMs: number;
  canonical: Uint8Array;
  leafHash: Uint8Array;
  prevHash: Uint8Array;
}

export interface EntryBody {
  v?: unknown;
  seq?: unknown;
  kind?: unknown;
  actor?: unknown;
  time?: unknown;
  prev?: unknown;
  payload?: { event?: unknown; keyId?: unknown; publicKey?: unknown; algorithm?: unknown };
}

export type EntryCheck = { ok: true; leaf: Uint8Array; body: EntryBody } | { ok: false; damage: Damage };

const bad = (seq: number, kind: Damage['kind'], detail: string): EntryCheck => ({ ok: false, damage: { seq, kind, detail } });

function parseBody(canonical: Uint8Array): EntryBody | null {
  try {
    const body = JSON.parse(fromUtf8(canonical)) as unknown;
    return body !== null && typeof body === 'object' && !Array.isArray(body) ? (body as EntryBody) : null;
  } catch {
    return null;
  }
}

/** Checks the row expected at `expectedSeq`, whose predecessor's leaf hash is `prev`. */
export function checkEntry(row: EntryRow, expectedSeq: number, prev: Uint8Array, leafOf: (data: Uint8Array) => Uint8Array): EntryCheck {
  const seq = Number(row.seq);
  if (seq !== expectedSeq) return bad(expectedSeq, 'deleted', `entry ${expectedSeq} is missing (next stored entry is ${seq})`);
  const leaf = leafOf(row.canonical);
  if (!equalBytes(leaf, row.leafHash)) return bad(seq, 'modified', `entry ${seq}: stored bytes do not hash to its stored leaf hash`);
  const body = parseBody(row.canonical);
  if (!body || body.v !== 1) return bad(seq, 'modified', `entry ${seq}: stored bytes are not a version 1 ledger entry`);
  if (body.seq !== seq) return bad(seq, typeof body.seq === 'number' ? 'reordered' : 'modified', `entry at seq ${seq} carries the bytes of entry ${String(body.seq)}`);
  if (body.prev !== toHex(prev)) {
    // Intact but naming another predecessor: the predecessor was rewritten (hash recomputed), so the damage is at seq-1.
    return bad(Math.max(seq - 1, 0), 'modified', `entry ${seq} commits to a predecessor hash that entry ${seq - 1} no longer has`);
  }
  if (!equalBytes(row.prevHash, prev)) return bad(seq, 'modified', `entry ${seq}: prev_hash column differs from its hashed bytes`);
  if (body.kind !== row.kind || body.actor !== row.actor || typeof body.time !== 'string' || Date.parse(body.time) !== Number(row.recordedMs)) {
    return bad(seq, 'modified', `entry ${seq}: kind, actor or time columns differ from its hashed bytes`);
  }
  return { ok: true, leaf, body };
}
