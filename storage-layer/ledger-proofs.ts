/**
 * The ledger's proof reader (read-only): entries, RFC 9162 inclusion proofs against a signed
 * checkpoint (the latest witnessed one when there is one), and consistency proofs between sizes.
 * Proofs come from the verified tree only, so they never cover a row that failed its check.
 */
import type { Database } from './db';
import { NotFoundError, ValidationError } from './errors';
import { rowToEntry, type LedgerEntry, type StoredEntryRow } from './ledger-entry';
import type { VerifiedTree } from './ledger-tree';
import type { Checkpointer } from './ledger-checkpointer';
import type { SignedCheckpoint } from './checkpoint';

export interface EntryWithProof {
  entry: LedgerEntry;
  proof: { leafIndex: number; treeSize: number; hashes: string[] };
  checkpoint: SignedCheckpoint;
  /** When the entry became witnessed: the first checkpoint covering it that a quorum cosigned. Null: not yet. */
  witnessedAt: string | null;
}

export interface ConsistencyProof {
  from: number;
  to: number;
  fromRoot: string;
  toRoot: string;
  hashes: string[];
}

export class ProofReader {
  constructor(private readonly db: Database, private readonly tree: VerifiedTree, private readonly checkpointer: Checkpointer) {}

  async getEntry(seq: number): Promise<LedgerEntry> {
    const row = await this.db.knex('ledger_entries').where({ seq }).first();
    if (!row) throw new NotFoundError(`no ledger entry with seq ${seq}`);
    return rowToEntry(row as StoredEntryRow);
  }

  /** The entry with a proof of inclusion in a signed checkpoint (signing a new one if none covers it yet). */
  async entryWithProof(seq: number): Promise<EntryWithProof> {
    const entry = await this.getEntry(seq);
    await this.tree.sync();
    if (seq >= this.tree.size) throw new NotFoundError(`ledger entry ${seq} is not covered by the verified ledger (it ends at ${this.tree.size} entries)`);
    const witnessed = await this.checkpointer.store.latestWitnessed();
    let checkpoint = witnessed && witnessed.treeSize > seq && witnessed.treeSize <= this.tree.size ? witnessed : this.checkpointer.latest;
    if (!checkpoint || checkpoint.treeSize <= seq) checkpoint = await this.checkpointer.sign();
    if (!checkpoint || checkpoint.treeSize <= seq) throw new NotFoundError(`ledger entry ${seq} is not yet covered by a checkpoint`);
    const hashes = this.tree.tree.inclusionProof(seq, checkpoint.treeSize).map((h) => h.toString('hex'));
    const first = await this.checkpointer.store.firstWitnessedCovering(seq);
    return { entry, proof: { leafIndex: seq, treeSize: checkpoint.treeSize, hashes }, checkpoint, witnessedAt: first?.witnessedAt ?? null };
  }

  async consistency(from: number, to: number): Promise<ConsistencyProof> {
    await this.tree.sync();
    if (!Number.isInteger(from) || from < 1) throw new ValidationError('"from" must be an integer >= 1', 'from');
    if (!Number.isInteger(to) || to < from) throw new ValidationError('"to" must be an integer >= "from"', 'to');
    if (to > this.tree.size) throw new ValidationError(`"to" must be at most the tree size ${this.tree.size}`, 'to');
    return {
      from,
      to,
      fromRoot: this.tree.root(from).toString('hex'),
      toRoot: this.tree.root(to).toString('hex'),
      hashes: this.tree.tree.consistencyProof(from, to).map((h) => h.toString('hex')),
    };
  }
}
