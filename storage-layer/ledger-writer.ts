/**
 * The ledger's writer: sequences and commits entries (Tessera's "add" and "integrate" steps).
 *
 * Appends are group-committed: concurrent callers queue, and one writer flushes up to `maxBatch`
 * entries per call of the database's append function (ledger-schema.ts), which takes the head lock,
 * rebuilds every entry's bytes and hashes itself and refuses a batch that does not continue the
 * head. The writer builds each batch on its verified tree (ledger-tree.ts), so its leaf hashes are
 * known before the commit; while one batch commits the next is already hashed on top of it.
 */
import type { Knex } from 'knex';
import type { Database } from './db';
import { asBuffer } from './db';
import { leafHash } from './merkle';
import { entryCanonical, GENESIS_PREV, prepare, type AppendInput, type PreparedInput } from './ledger-entry';
import { HEAD_LOCK } from './ledger-schema';
import { PG_DATA_CORRUPTED, PG_UNIQUE_VIOLATION, pgErrorCode } from './pg-errors';
import type { VerifiedTree } from './ledger-tree';

export interface Committed {
  seq: number;
  leafHash: string;
}

interface Batch {
  firstSeq: number;
  prev: Buffer;
  time: string;
  inputs: PreparedInput[];
  leaves: Buffer[];
}

interface Pending {
  input: PreparedInput;
  resolve: (r: Committed) => void;
  reject: (e: unknown) => void;
}

/** Hashes a batch on top of (firstSeq, prev), as the database will. */
function buildBatch(firstSeq: number, prev: Buffer, inputs: PreparedInput[]): Batch {
  const time = new Date().toISOString();
  const leaves: Buffer[] = [];
  let p = prev;
  inputs.forEach((input, i) => {
    p = leafHash(Buffer.from(entryCanonical(firstSeq + i, time, p, input), 'utf8'));
    leaves.push(p);
  });
  return { firstSeq, prev, time, inputs, leaves };
}

const APPEND = 'SELECT hgd_ledger_append(?::bigint, ?::bytea, ?::text, ?::text[], ?::text[], ?::bytea, ?::integer[], ?::integer[], ?::bytea)';

async function callAppend(executor: Knex | Knex.Transaction, b: Batch): Promise<void> {
  const payloads = b.inputs.map((i) => Buffer.from(i.payloadJson, 'utf8'));
  const offsets: number[] = [];
  let offset = 0;
  for (const p of payloads) {
    offsets.push(offset);
    offset += p.length;
  }
  await executor.raw(APPEND, [
    b.firstSeq, b.prev, b.time,
    b.inputs.map((i) => i.kind), b.inputs.map((i) => i.actor),
    Buffer.concat(payloads), offsets, payloads.map((p) => p.length), Buffer.concat(b.leaves),
  ]);
}

export class LedgerWriter {
  private queue: Pending[] = [];
  private flushing: Promise<void> | null = null;
  private closed = false;

  /** `committed` runs after each batch is in the tree (the checkpointer's cue). */
  constructor(
    private readonly db: Database,
    private readonly tree: VerifiedTree,
    private readonly maxBatch: number,
    private readonly committed: () => Promise<void>,
  ) {}

  /** Appends one entry through group commit. Resolves once the entry is committed. */
  append(input: AppendInput): Promise<Committed> {
    if (this.closed) return Promise.reject(new Error('ledger is closed'));
    try {
      this.tree.assertIntact();
      const prepared = prepare(input);
      return new Promise<Committed>((resolve, reject) => {
        this.queue.push({ input: prepared, resolve, reject });
        this.kick();
      });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Appends inside the caller's transaction, so the entries commit or roll back with the caller's
   * own writes (an ingestion batch and its ledger entry are one unit). The tree takes them after
   * the commit, through sync(), which checks them like any other row.
   */
  async appendWithin(trx: Knex.Transaction, inputs: AppendInput[]): Promise<Committed[]> {
    this.tree.assertIntact();
    const batch = await this.buildOnLockedHead(trx, inputs.map(prepare));
    await this.send(trx, batch);
    trx.executionPromise.then(() => this.tree.sync()).catch(() => { /* rolled back: nothing to learn */ });
    return batch.leaves.map((l, i) => ({ seq: batch.firstSeq + i, leafHash: l.toString('hex') }));
  }

  /** Waits for queued appends and refuses new ones. */
  async close(): Promise<void> {
    while (this.flushing) await this.flushing;
    this.closed = true;
  }

  /** Starts the writer unless it is running; it restarts itself if entries arrived as it finished. */
  private kick(): void {
    if (this.flushing || this.queue.length === 0) return;
    this.flushing = this.flush().finally(() => {
      this.flushing = null;
      this.kick();
    });
  }

  private takeBatch(firstSeq: number, prev: Buffer): { pending: Pending[]; batch: Batch } {
    const pending = this.queue.splice(0, this.maxBatch);
    return { pending, batch: buildBatch(firstSeq, prev, pending.map((p) => p.input)) };
  }

  /** The group-commit loop: one batch in flight, the next hashed on top of it meanwhile. */
  private async flush(): Promise<void> {
    let next: { pending: Pending[]; batch: Batch } | null = null;
    while (next || this.queue.length > 0) {
      const current = next ?? this.takeBatch(this.tree.size, this.tree.headLeaf());
      next = null;
      const sending = this.write(current.batch);
      sending.catch(() => { /* handled below */ });
      await new Promise((resolve) => setImmediate(resolve)); // let the query go out first
      // Only a full-enough batch is worth building early; a small one is better filled after the commit.
      if (this.queue.length >= this.maxBatch / 2) {
        const b = current.batch;
        next = this.takeBatch(b.firstSeq + b.inputs.length, b.leaves.at(-1)!);
      }
      try {
        const written = await sending;
        await this.tree.integrate(written.firstSeq, written.prev, written.leaves);
        await this.committed();
        current.pending.forEach((p, i) => p.resolve({ seq: written.firstSeq + i, leafHash: written.leaves[i]!.toString('hex') }));
      } catch (err) {
        for (const p of current.pending) p.reject(err);
      }
      // The next batch was built on this one's last leaf; if the head is elsewhere now, rebuild it.
      if (next && (next.batch.firstSeq !== this.tree.size || this.tree.damage)) {
        this.queue.unshift(...next.pending);
        next = null;
      }
    }
  }

  /**
   * Fast path: one round trip with the batch built on the head this process knows. If another
   * writer moved the head, the function refuses it (unique violation) and the batch is rebuilt
   * on the head read under the lock.
   */
  private async write(batch: Batch): Promise<Batch> {
    this.tree.assertIntact();
    try {
      await this.send(this.db.knex, batch);
      return batch;
    } catch (err) {
      if (pgErrorCode(err) !== PG_UNIQUE_VIOLATION) throw err; // only a moved head is retried
    }
    await this.tree.sync();
    this.tree.assertIntact();
    return this.db.knex.transaction(async (trx) => {
      const rebuilt = await this.buildOnLockedHead(trx, batch.inputs);
      await this.send(trx, rebuilt);
      return rebuilt;
    });
  }

  /** Calls the append function; a damaged head (the database refuses to chain onto it) damages the tree. */
  private async send(executor: Knex | Knex.Transaction, batch: Batch): Promise<void> {
    try {
      await callAppend(executor, batch);
    } catch (err) {
      if (pgErrorCode(err) === PG_DATA_CORRUPTED) {
        this.tree.markDamaged({ seq: batch.firstSeq - 1, kind: 'modified', detail: (err as Error).message });
        this.tree.assertIntact();
      }
      throw err;
    }
  }

  /** Takes the head lock in `trx`, reads the head and hashes the batch after it. */
  private async buildOnLockedHead(trx: Knex.Transaction, inputs: PreparedInput[]): Promise<Batch> {
    await trx.raw('SELECT pg_advisory_xact_lock(?)', [HEAD_LOCK]);
    const head = (await trx('ledger_entries').select('seq', 'leaf_hash').orderBy('seq', 'desc').first()) as { seq: number; leaf_hash: Buffer | Uint8Array } | undefined;
    return buildBatch(head ? Number(head.seq) + 1 : 0, head ? asBuffer(head.leaf_hash) : GENESIS_PREV, inputs);
  }
}
