/**
 * `verifyLedger(db, …)`: the verifier of verify/verifier.ts over the database, on node:crypto.
 * The keys it trusts come from the caller (configuration or a file, verify/trust.ts); without
 * them it checks the chain and the roots only.
 */
import type { Database } from './db';
import { nodeCrypto } from './node-crypto';
import { selectEntryRows } from './ledger-tree';
import { verifyEntries, type EntrySource, type ExternalCheckpoint, type VerifyReport } from './verify/verifier';
import type { Trust } from './verify/trust';

export type { VerifyReport } from './verify/verifier';
export type { Damage, DamageKind } from './verify/damage';

export interface VerifyOptions {
  trust?: Trust;
  /** Checkpoints kept outside the database: exported files, the witnesses' own latest state. */
  external?: ExternalCheckpoint[];
  pageSize?: number;
}

/** Every stored checkpoint note, with the cosignature lines stored beside it. */
async function storedNotes(db: Database): Promise<string[]> {
  const rows = (await db.knex('ledger_checkpoints').select('tree_size', 'note').whereNotNull('note').orderBy('tree_size')) as Array<{ tree_size: number; note: string }>;
  const cosigs = (await db.knex('ledger_cosignatures').select('tree_size', 'line').orderBy(['tree_size', 'cosigned_at'])) as Array<{ tree_size: number; line: string }>;
  const lines = new Map<number, string>();
  for (const c of cosigs) lines.set(Number(c.tree_size), (lines.get(Number(c.tree_size)) ?? '') + c.line);
  return rows.map((r) => r.note + (lines.get(Number(r.tree_size)) ?? ''));
}

export function databaseSource(db: Database): EntrySource {
  return {
    maxSeq: async () => Number((await db.knex('ledger_entries').max('seq as max').first())?.max ?? -1),
    page: (from, to) => selectEntryRows(db.knex, from, to),
    checkpoints: () => storedNotes(db),
  };
}

export function verifyLedger(db: Database, options: VerifyOptions = {}): Promise<VerifyReport> {
  return verifyEntries({ source: databaseSource(db), crypto: nodeCrypto, ...options });
}
