/**
 * The writer's verified view of the ledger: the Merkle tree of every entry it has checked, shared
 * by the writer, the checkpointer and the proof reader (Trillian's "integrated" tree).
 *
 * A leaf enters the tree only after its row passed checkEntry (hash recomputed, chain link and
 * columns checked) or because this process wrote it. The first row that fails stops the tree
 * there and marks the ledger damaged: checkpoints never cover it, writes are refused
 * (LedgerIntegrityError, 503), and reads of what was verified go on.
 */
import type { Knex } from 'knex';
import type { Database } from './db';
import { EMPTY_ROOT, leafHash, MerkleTree } from './merkle';
import { GENESIS_PREV } from './ledger-entry';
import { checkEntry, type EntryRow } from './verify/entry-check';
import type { Damage } from './verify/damage';
import { LedgerIntegrityError } from './ledger-errors';
import { equalBytes } from './bytes';

const SYNC_PAGE = 10_000;

/** Selects the columns checkEntry reads (the time as epoch ms, so no Date parsing). */
export function selectEntryRows(knex: Knex, from: number, to: number): Promise<EntryRow[]> {
  return knex('ledger_entries')
    .select('seq', 'kind', 'actor', 'canonical', 'leaf_hash as leafHash', 'prev_hash as prevHash')
    .select(knex.raw('(extract(epoch from recorded_at) * 1000)::bigint AS "recordedMs"'))
    .where('seq', '>=', from)
    .andWhere('seq', '<', to)
    .orderBy('seq') as unknown as Promise<EntryRow[]>;
}

export class VerifiedTree {
  readonly tree = new MerkleTree();
  private damaged: Damage | null = null;
  private listeners: Array<(d: Damage) => void> = [];

  constructor(private readonly db: Database) {}

  get size(): number {
    return this.tree.size;
  }

  /** The first damage found, if any. */
  get damage(): Damage | null {
    return this.damaged;
  }

  onDamage(listener: (d: Damage) => void): void {
    this.listeners.push(listener);
  }

  /** The leaf hash the next entry must name as `prev`. */
  headLeaf(): Buffer {
    return this.size === 0 ? GENESIS_PREV : this.tree.leaf(this.size - 1);
  }

  root(size = this.size): Buffer {
    return size === 0 ? EMPTY_ROOT : this.tree.root(size);
  }

  /** Throws LedgerIntegrityError once the ledger is damaged. */
  assertIntact(): void {
    if (this.damaged) throw new LedgerIntegrityError(this.damaged);
  }

  markDamaged(damage: Damage): void {
    if (this.damaged) return;
    this.damaged = damage;
    for (const l of this.listeners) l(damage);
  }

  /**
   * Takes leaves this process has just written, if they continue the tree exactly (same first seq,
   * built on the tree's head); otherwise reads them back through sync().
   */
  async integrate(firstSeq: number, prev: Uint8Array, leaves: Buffer[]): Promise<void> {
    if (firstSeq === this.size && equalBytes(prev, this.headLeaf()) && !this.damaged) {
      for (const leaf of leaves) this.tree.append(leaf);
    } else {
      await this.sync();
    }
  }

  /** Loads, checks and takes every committed row the tree does not have yet; stops at the first bad one. */
  async sync(): Promise<void> {
    while (!this.damaged) {
      const from = this.size;
      const rows = await selectEntryRows(this.db.knex, from, from + SYNC_PAGE);
      for (const row of rows) {
        // Another sync may have taken this row meanwhile (each check-and-append below is synchronous).
        if (Number(row.seq) < this.size) continue;
        const checked = checkEntry(row, this.size, this.headLeaf(), leafHash);
        if (!checked.ok) {
          this.markDamaged(checked.damage);
          return;
        }
        this.tree.append(checked.leaf);
      }
      if (rows.length < SYNC_PAGE) return;
    }
  }
}
