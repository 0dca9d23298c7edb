/**
 * The append-only, hash-chained ledger, as one object for its callers. It composes the parts
 * that Trillian's storage interfaces and Tessera's append lifecycle separate:
 *   VerifiedTree  (ledger-tree.ts)         the checked in-memory Merkle tree and the damage state;
 *   LedgerWriter  (ledger-writer.ts)       group commit through the database's append function;
 *   Checkpointer  (ledger-checkpointer.ts) signing, witness cosigning, quorum, the timer;
 *   ProofReader   (ledger-proofs.ts)       entries, inclusion and consistency proofs.
 * The entry format is in ledger-entry.ts, the checkpoint note in note.ts and checkpoint.ts.
 */
import type { Knex } from 'knex';
import type { Database } from './db';
import type { SigningKey } from './signing-key';
import { VerifiedTree } from './ledger-tree';
import { LedgerWriter, type Committed } from './ledger-writer';
import { Checkpointer } from './ledger-checkpointer';
import { ProofReader, type ConsistencyProof, type EntryWithProof } from './ledger-proofs';
import { DEFAULT_ORIGIN, type SignedCheckpoint } from './checkpoint';
import type { AppendInput, LedgerEntry } from './ledger-entry';
import type { Damage } from './verify/damage';
import type { WitnessEndpoint, WitnessTransport } from './witness/protocol';

export { LEDGER_KINDS, GENESIS_PREV, entryCanonical, rowToEntry } from './ledger-entry';
export type { AppendInput, LedgerEntry, LedgerKind } from './ledger-entry';

export interface Receipt {
  seq: number;
  leafHash: string;
  /** A signed checkpoint covering this entry, when the write produced one... */
  checkpoint: SignedCheckpoint | null;
  /** ...otherwise the time by which one will exist (the promise of a checkpoint). */
  checkpointDueBy: string | null;
  /** When the entry became witnessed (a quorum cosigned a checkpoint covering it); null until then: ask entryWithProof later. */
  witnessedAt: string | null;
}

export interface LedgerOptions {
  signingKey: SigningKey;
  checkpointEvery: number;
  checkpointIntervalMs: number;
  maxBatch: number;
  /** The checkpoint origin (the log's name in its notes). */
  origin?: string;
  witnesses?: WitnessEndpoint[];
  /** Cosignatures that make a checkpoint witnessed; default: a majority of the witnesses. */
  quorum?: number;
  transport?: WitnessTransport;
  witnessTimeoutMs?: number;
  log?: (msg: string) => void;
}

function defaultQuorum(witnesses: number): number {
  return witnesses === 0 ? 0 : Math.floor(witnesses / 2) + 1;
}

export class Ledger {
  private readonly verified: VerifiedTree;
  private readonly writer: LedgerWriter;
  readonly checkpointer: Checkpointer;
  private readonly proofs: ProofReader;
  readonly origin: string;

  private constructor(private readonly db: Database, private readonly options: LedgerOptions) {
    this.origin = options.origin ?? DEFAULT_ORIGIN;
    this.verified = new VerifiedTree(db);
    const witnesses = options.witnesses ?? [];
    this.checkpointer = new Checkpointer(db, this.verified, {
      signingKey: options.signingKey,
      origin: this.origin,
      checkpointEvery: options.checkpointEvery,
      checkpointIntervalMs: options.checkpointIntervalMs,
      witnesses,
      quorum: options.quorum ?? defaultQuorum(witnesses.length),
      transport: options.transport,
      witnessTimeoutMs: options.witnessTimeoutMs ?? 5_000,
      log: options.log,
    });
    this.writer = new LedgerWriter(db, this.verified, options.maxBatch, () => this.checkpointer.afterWrite());
    this.proofs = new ProofReader(db, this.verified, this.checkpointer);
    this.verified.onDamage((d) => options.log?.(`ledger damaged at entry ${d.seq} (${d.kind}): ${d.detail}`));
  }

  /** Opens the ledger (its migrations must have run), checks every entry into the tree and publishes the key. */
  static async open(db: Database, options: LedgerOptions): Promise<Ledger> {
    const ledger = new Ledger(db, options);
    await ledger.verified.sync();
    await ledger.checkpointer.start();
    if (!ledger.verified.damage) await ledger.publishKey();
    return ledger;
  }

  get knex(): Knex {
    return this.db.knex;
  }

  get signingKey(): SigningKey {
    return this.options.signingKey;
  }

  get size(): number {
    return this.verified.size;
  }

  /** The first damaged entry found, or null while the ledger is intact. */
  get damage(): Damage | null {
    return this.verified.damage;
  }

  root(size = this.verified.size): Buffer {
    return this.verified.root(size);
  }

  /** The verified leaf hash of entry `seq`. */
  leaf(seq: number): Buffer {
    return this.verified.tree.leaf(seq);
  }

  /** Appends one entry through group commit. Resolves once the entry is committed. */
  async append(input: AppendInput): Promise<Receipt> {
    return this.receiptFor(await this.writer.append(input));
  }

  /** Appends inside the caller's transaction (see LedgerWriter.appendWithin). */
  appendWithin(trx: Knex.Transaction, inputs: AppendInput[]): Promise<Committed[]> {
    return this.writer.appendWithin(trx, inputs);
  }

  /** Loads and checks every committed entry the tree does not have yet. */
  sync(): Promise<void> {
    return this.verified.sync();
  }

  /** Signs a checkpoint over everything verified so far (or returns the one that already covers it). */
  checkpointNow(): Promise<SignedCheckpoint | null> {
    return this.checkpointer.sign();
  }

  /** Signs, then waits for the witnesses (up to the quorum or the timeout); the latest checkpoint as stored. */
  async publish(): Promise<SignedCheckpoint | null> {
    await this.checkpointer.publish();
    return this.checkpointer.latest;
  }

  async latestCheckpoint(): Promise<SignedCheckpoint | null> {
    return this.checkpointer.store.latest();
  }

  latestWitnessedCheckpoint(): Promise<SignedCheckpoint | null> {
    return this.checkpointer.store.latestWitnessed();
  }

  checkpointAt(treeSize: number): Promise<SignedCheckpoint | null> {
    return this.checkpointer.store.at(treeSize);
  }

  async publicKeys(): Promise<Array<{ keyId: string; publicKey: string }>> {
    const rows = await this.db.knex('ledger_keys').select('key_id', 'public_key').orderBy('created_at');
    return rows.map((r: { key_id: string; public_key: string }) => ({ keyId: r.key_id, publicKey: r.public_key }));
  }

  getEntry(seq: number): Promise<LedgerEntry> {
    return this.proofs.getEntry(seq);
  }

  entryWithProof(seq: number): Promise<EntryWithProof> {
    return this.proofs.entryWithProof(seq);
  }

  consistency(from: number, to: number): Promise<ConsistencyProof> {
    return this.proofs.consistency(from, to);
  }

  /** Waits for queued appends, signs a final checkpoint and stops the timer. */
  async close(): Promise<void> {
    await this.writer.close();
    await this.checkpointer.close();
    await this.checkpointer.sign().catch(() => null);
  }

  private receiptFor(c: Committed): Receipt {
    const latest = this.checkpointer.latest;
    const covered = latest !== null && latest.treeSize > c.seq;
    return {
      seq: c.seq,
      leafHash: c.leafHash,
      checkpoint: covered ? latest : null,
      checkpointDueBy: covered ? null : new Date(Date.now() + this.options.checkpointIntervalMs).toISOString(),
      witnessedAt: covered ? latest.witnessedAt : null,
    };
  }

  /** Records this process's signing key, once, both in ledger_keys and as a 'key' entry. */
  private async publishKey(): Promise<void> {
    const { keyId, publicKeyBase64 } = this.options.signingKey;
    const inserted = await this.db.knex('ledger_keys').insert({ key_id: keyId, public_key: publicKeyBase64 }).onConflict('key_id').ignore().returning('key_id');
    if (inserted.length > 0) {
      await this.append({ kind: 'key', actor: 'system:ledger', payload: { event: 'checkpoint-key-published', keyId, algorithm: 'Ed25519', publicKey: publicKeyBase64 } });
    }
  }
}
