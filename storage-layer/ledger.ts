/**
 * The append-only, hash-chained ledger.
 *
 * Each entry's canonical bytes are the RFC 8785 JSON of {v, seq, kind, actor, time, prev, payload};
 * its leaf hash is SHA-256(0x00 || bytes) (RFC 9162), and `prev` is the previous entry's leaf hash,
 * so the rows form a chain and the leaves form a Merkle tree. The database refuses forks
 * (UNIQUE(seq), UNIQUE(prev_hash)); writers serialise on an advisory lock and take `seq` from the
 * locked head, never from a sequence, so a rollback cannot leave a gap.
 *
 * Appends are group-committed: concurrent callers queue, and one writer flushes up to `maxBatch`
 * entries per transaction.
 */
import type { Knex } from 'knex';
import { asBuffer, type Database } from './db';
import { canonicalJson } from './canonical-json';
import { EMPTY_ROOT, leafHash, MerkleTree } from './merkle';
import { CHECKPOINT_ORIGIN, signCheckpoint, type SignedCheckpoint } from './checkpoint';
import type { SigningKey } from './signing-key';
import { NotFoundError, ValidationError } from './errors';

export const LEDGER_KINDS = ['ingestion', 'consent', 'query', 'erasure', 'key', 'admin', 'quarantine', 'access', 'monitoring'] as const;
export type LedgerKind = (typeof LEDGER_KINDS)[number];

/** The chain's anchor: the `prev` of entry 0. */
export const GENESIS_PREV = Buffer.alloc(32);

/** Advisory-lock key every writer (in every process) takes before reading the head. */
const HEAD_LOCK = 7_324_000;

export interface AppendInput {
  kind: LedgerKind;
  actor: string;
  payload: Record<string, unknown>;
}

export interface Receipt {
  seq: number;
  leafHash: string;
  /** A signed checkpoint covering this entry, when the write produced one... */
  checkpoint: SignedCheckpoint | null;
  /** ...otherwise the time by which one will exist (the promise of a checkpoint). */
  checkpointDueBy: string | null;
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

export interface LedgerOptions {
  signingKey: SigningKey;
  checkpointEvery: number;
  checkpointIntervalMs: number;
  maxBatch: number;
}

interface PreparedInput {
  kind: LedgerKind;
  actor: string;
  payloadJson: string;
}

interface Pending {
  input: PreparedInput;
  resolve: (r: Receipt) => void;
  reject: (e: unknown) => void;
}

interface EntryRow {
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
export function entryCanonical(seq: number, time: string, prev: Buffer, input: PreparedInput): string {
  return `{"actor":${JSON.stringify(input.actor)},"kind":${JSON.stringify(input.kind)},"payload":${input.payloadJson},"prev":"${prev.toString('hex')}","seq":${seq},"time":"${time}","v":1}`;
}

function prepare(input: AppendInput): PreparedInput {
  if (!LEDGER_KINDS.includes(input.kind)) throw new ValidationError(`ledger kind must be one of ${LEDGER_KINDS.join(', ')}`, 'kind');
  if (typeof input.actor !== 'string' || input.actor.length === 0) throw new ValidationError('ledger actor must be a non-empty string', 'actor');
  if (input.payload === null || typeof input.payload !== 'object' || Array.isArray(input.payload)) {
    throw new ValidationError('ledger payload must be a JSON object', 'payload');
  }
  return { kind: input.kind, actor: input.actor, payloadJson: canonicalJson(input.payload) };
}

interface Written {
  seq: number;
  leaf: Buffer;
}

interface NewRow {
  seq: number;
  kind: string;
  actor: string;
  recorded_at: string;
  canonical: Buffer;
  leaf_hash: Buffer;
  prev_hash: Buffer;
}

function buildRows(firstSeq: number, prevLeaf: Buffer, inputs: PreparedInput[]): NewRow[] {
  const time = new Date().toISOString();
  let prev = prevLeaf;
  return inputs.map((input, i) => {
    const seq = firstSeq + i;
    const canonical = Buffer.from(entryCanonical(seq, time, prev, input), 'utf8');
    const row = { seq, kind: input.kind, actor: input.actor, recorded_at: time, canonical, leaf_hash: leafHash(canonical), prev_hash: prev };
    prev = row.leaf_hash;
    return row;
  });
}

async function insertRows(trx: Knex.Transaction, rows: NewRow[]): Promise<void> {
  // 7 parameters a row; stay far below PostgreSQL's 65535-parameter limit.
  for (let i = 0; i < rows.length; i += 1000) await trx('ledger_entries').insert(rows.slice(i, i + 1000));
}

/**
 * The batch travels as a few binary parameters instead of per-row arrays: all canonical bytes
 * concatenated (split by offset and length), and the leaf and previous hashes as 32-byte runs.
 */
const LOCKED_INSERT = `WITH head_lock AS (SELECT pg_advisory_xact_lock(?))
  INSERT INTO ledger_entries (seq, kind, actor, recorded_at, canonical, leaf_hash, prev_hash)
  SELECT ?::bigint + u.i - 1, u.kind, u.actor, ?::timestamptz,
         substring(?::bytea FROM u.off + 1 FOR u.len),
         substring(?::bytea FROM (u.i::int - 1) * 32 + 1 FOR 32),
         substring(?::bytea FROM (u.i::int - 1) * 32 + 1 FOR 32)
  FROM head_lock, unnest(?::text[], ?::text[], ?::int[], ?::int[]) WITH ORDINALITY AS u(kind, actor, off, len, i)`;

export function rowToEntry(row: EntryRow): LedgerEntry {
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

export class Ledger {
  private readonly tree = new MerkleTree();
  private queue: Pending[] = [];
  private flushing: Promise<void> | null = null;
  private latest: SignedCheckpoint | null = null;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  private constructor(private readonly db: Database, private readonly options: LedgerOptions) {}

  /** Opens the ledger (its migrations must have run), loads the tree and publishes the key. */
  static async open(db: Database, options: LedgerOptions): Promise<Ledger> {
    const ledger = new Ledger(db, options);
    await ledger.sync();
    ledger.latest = await ledger.latestCheckpointFromDb();
    await ledger.publishKey();
    ledger.timer = setInterval(() => {
      ledger.checkpointIfStale().catch(() => { /* retried on the next tick */ });
    }, options.checkpointIntervalMs);
    ledger.timer.unref();
    return ledger;
  }

  get knex(): Knex {
    return this.db.knex;
  }

  get signingKey(): SigningKey {
    return this.options.signingKey;
  }

  /** Appends one entry through group commit. Resolves once the entry is committed. */
  append(input: AppendInput): Promise<Receipt> {
    if (this.closed) return Promise.reject(new Error('ledger is closed'));
    let prepared: PreparedInput;
    try {
      prepared = prepare(input);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<Receipt>((resolve, reject) => {
      this.queue.push({ input: prepared, resolve, reject });
      this.kick();
    });
  }

  /** Starts the writer unless it is running; it restarts itself if entries arrived as it finished. */
  private kick(): void {
    if (this.flushing || this.queue.length === 0) return;
    this.flushing = this.flush().finally(() => {
      this.flushing = null;
      this.kick();
    });
  }

  /**
   * Appends inside the caller's transaction, so the entry commits or rolls back with the
   * caller's own writes (an ingestion batch and its ledger entry are one unit). The tree
   * catches up lazily after the commit.
   */
  async appendWithin(trx: Knex.Transaction, inputs: AppendInput[]): Promise<Array<{ seq: number; leafHash: string }>> {
    const prepared = inputs.map(prepare);
    const written = await this.writeRows(trx, prepared);
    trx.executionPromise.then(() => this.sync()).catch(() => { /* rolled back: nothing to learn */ });
    return written.map((w) => ({ seq: w.seq, leafHash: w.leaf.toString('hex') }));
  }

  /** Takes up to maxBatch queued appends and builds their rows on top of the given head. */
  private takeBatch(firstSeq: number, prevLeaf: Buffer): { batch: Pending[]; rows: NewRow[] } {
    const batch = this.queue.splice(0, this.options.maxBatch);
    return { batch, rows: buildRows(firstSeq, prevLeaf, batch.map((p) => p.input)) };
  }

  /**
   * The group-commit writer. While PostgreSQL commits one batch, the next is already hashed on
   * top of it (it is sent only after the first commits, and rebuilt if the head moved).
   */
  private async flush(): Promise<void> {
    let next: { batch: Pending[]; rows: NewRow[] } | null = null;
    while (next || this.queue.length > 0) {
      const size = this.tree.size;
      const current = next ?? this.takeBatch(size, size === 0 ? GENESIS_PREV : this.tree.leaf(size - 1));
      next = null;
      const sending = this.writeBatch(current.rows, current.batch.map((p) => p.input));
      sending.catch(() => { /* handled below */ });
      await new Promise((resolve) => setImmediate(resolve)); // let the query go out first
      // Only a full-enough batch is worth building early; a small one is better filled after the commit.
      if (this.queue.length >= this.options.maxBatch / 2) {
        const last = current.rows.at(-1)!;
        next = this.takeBatch(last.seq + 1, last.leaf_hash);
      }
      try {
        const written = await sending;
        await this.catchUp(written);
        const checkpoint = this.tree.size - (this.latest?.treeSize ?? 0) >= this.options.checkpointEvery ? await this.checkpointNow() : null;
        const dueBy = checkpoint ? null : new Date(Date.now() + this.options.checkpointIntervalMs).toISOString();
        current.batch.forEach((p, i) => p.resolve({ seq: written[i]!.seq, leafHash: written[i]!.leaf.toString('hex'), checkpoint, checkpointDueBy: dueBy }));
      } catch (err) {
        for (const p of current.batch) p.reject(err);
      }
      // The next batch was built on this one's last leaf; if the head is elsewhere now, rebuild it.
      if (next && next.rows[0]!.seq !== this.tree.size) {
        this.queue.unshift(...next.batch);
        next = null;
      }
    }
  }

  /**
   * Fast path: one round trip that takes the head lock and inserts rows built on the head this
   * process knows. If another writer moved the head, UNIQUE(seq)/UNIQUE(prev_hash) refuse the
   * insert and we fall back to reading the head under the lock.
   */
  private async writeBatch(rows: NewRow[], inputs: PreparedInput[]): Promise<Written[]> {
    try {
      // One statement, one round trip: it takes the head lock (held until it commits) and inserts.
      const offsets: number[] = [];
      let offset = 0;
      for (const r of rows) {
        offsets.push(offset);
        offset += r.canonical.length;
      }
      await this.db.knex.raw(LOCKED_INSERT, [
        HEAD_LOCK,
        rows[0]!.seq,
        rows[0]!.recorded_at,
        Buffer.concat(rows.map((r) => r.canonical)),
        Buffer.concat(rows.map((r) => r.leaf_hash)),
        Buffer.concat(rows.map((r) => r.prev_hash)),
        rows.map((r) => r.kind),
        rows.map((r) => r.actor),
        offsets,
        rows.map((r) => r.canonical.length),
      ]);
      return rows.map((r) => ({ seq: r.seq, leaf: r.leaf_hash }));
    } catch (err) {
      if ((err as { code?: string }).code !== '23505') throw err; // only a moved head is retried
    }
    await this.sync();
    return this.db.knex.transaction((trx) => this.writeRows(trx, inputs));
  }

  /** Takes the head lock, reads the head, and inserts the entries after it. */
  private async writeRows(trx: Knex.Transaction, inputs: PreparedInput[]): Promise<Written[]> {
    await trx.raw('SELECT pg_advisory_xact_lock(?)', [HEAD_LOCK]);
    const head = (await trx('ledger_entries').select('seq', 'leaf_hash').orderBy('seq', 'desc').first()) as Pick<EntryRow, 'seq' | 'leaf_hash'> | undefined;
    const rows = buildRows(head ? Number(head.seq) + 1 : 0, head ? asBuffer(head.leaf_hash) : GENESIS_PREV, inputs);
    await insertRows(trx, rows);
    return rows.map((r) => ({ seq: r.seq, leaf: r.leaf_hash }));
  }

  private async catchUp(written: Written[]): Promise<void> {
    if (written.length > 0 && written[0]!.seq === this.tree.size) {
      for (const w of written) this.tree.append(w.leaf);
    } else {
      await this.sync();
    }
  }

  /** Loads every committed leaf the in-memory tree does not have yet. */
  async sync(): Promise<void> {
    for (;;) {
      const rows = (await this.db.knex('ledger_entries')
        .select('seq', 'leaf_hash')
        .where('seq', '>=', this.tree.size)
        .orderBy('seq')
        .limit(50_000)) as Array<Pick<EntryRow, 'seq' | 'leaf_hash'>>;
      for (const r of rows) {
        if (Number(r.seq) !== this.tree.size) return; // a gap: the verifier's business, not ours
        this.tree.append(asBuffer(r.leaf_hash));
      }
      if (rows.length < 50_000) return;
    }
  }

  get size(): number {
    return this.tree.size;
  }

  root(size = this.tree.size): Buffer {
    return size === 0 ? EMPTY_ROOT : this.tree.root(size);
  }

  /** Signs a checkpoint over everything committed so far (or returns the one that already covers it). */
  async checkpointNow(): Promise<SignedCheckpoint | null> {
    await this.sync();
    const size = this.tree.size;
    if (size === 0) return null;
    if (this.latest && this.latest.treeSize >= size) return this.latest;
    const checkpoint = signCheckpoint(this.options.signingKey, size, this.tree.root(size));
    await this.db.knex('ledger_checkpoints')
      .insert({
        tree_size: size,
        root_hash: Buffer.from(checkpoint.rootHash, 'hex'),
        signed_at: checkpoint.timestamp,
        key_id: checkpoint.keyId,
        signature: Buffer.from(checkpoint.signature, 'base64'),
      })
      .onConflict('tree_size')
      .ignore();
    // Another process may have signed this size first; theirs is the one on record.
    this.latest = await this.latestCheckpointFromDb();
    return this.latest;
  }

  private async checkpointIfStale(): Promise<void> {
    if (this.closed) return;
    await this.sync();
    if (this.tree.size > (this.latest?.treeSize ?? 0)) await this.checkpointNow();
  }

  async latestCheckpoint(): Promise<SignedCheckpoint | null> {
    this.latest = await this.latestCheckpointFromDb();
    return this.latest;
  }

  private async latestCheckpointFromDb(): Promise<SignedCheckpoint | null> {
    const row = await this.db.knex('ledger_checkpoints').orderBy('tree_size', 'desc').first();
    return row ? checkpointFromRow(row) : null;
  }

  async checkpointAt(treeSize: number): Promise<SignedCheckpoint | null> {
    const row = await this.db.knex('ledger_checkpoints').where({ tree_size: treeSize }).first();
    return row ? checkpointFromRow(row) : null;
  }

  async publicKeys(): Promise<Array<{ keyId: string; publicKey: string }>> {
    const rows = await this.db.knex('ledger_keys').select('key_id', 'public_key').orderBy('created_at');
    return rows.map((r: { key_id: string; public_key: string }) => ({ keyId: r.key_id, publicKey: r.public_key }));
  }

  /** Records this process's signing key, once, both in ledger_keys and as a 'key' entry. */
  private async publishKey(): Promise<void> {
    const { keyId, publicKeyBase64 } = this.options.signingKey;
    const inserted = await this.db.knex('ledger_keys').insert({ key_id: keyId, public_key: publicKeyBase64 }).onConflict('key_id').ignore().returning('key_id');
    if (inserted.length > 0) {
      await this.append({ kind: 'key', actor: 'system:ledger', payload: { event: 'checkpoint-key-published', keyId, algorithm: 'Ed25519', publicKey: publicKeyBase64 } });
    }
  }

  async getEntry(seq: number): Promise<LedgerEntry> {
    const row = await this.db.knex('ledger_entries').where({ seq }).first();
    if (!row) throw new NotFoundError(`no ledger entry with seq ${seq}`);
    return rowToEntry(row as EntryRow);
  }

  /** The entry with a proof of inclusion in a signed checkpoint (signing a new one if none covers it yet). */
  async entryWithProof(seq: number): Promise<{ entry: LedgerEntry; proof: { leafIndex: number; treeSize: number; hashes: string[] }; checkpoint: SignedCheckpoint }> {
    const entry = await this.getEntry(seq);
    await this.sync();
    let checkpoint = this.latest;
    if (!checkpoint || checkpoint.treeSize <= seq) checkpoint = await this.checkpointNow();
    if (!checkpoint || checkpoint.treeSize <= seq) throw new NotFoundError(`ledger entry ${seq} is not yet covered by a checkpoint`);
    const hashes = this.tree.inclusionProof(seq, checkpoint.treeSize).map((h) => h.toString('hex'));
    return { entry, proof: { leafIndex: seq, treeSize: checkpoint.treeSize, hashes }, checkpoint };
  }

  async consistency(from: number, to: number): Promise<{ from: number; to: number; fromRoot: string; toRoot: string; hashes: string[] }> {
    await this.sync();
    if (!Number.isInteger(from) || from < 1) throw new ValidationError('"from" must be an integer >= 1', 'from');
    if (!Number.isInteger(to) || to < from) throw new ValidationError('"to" must be an integer >= "from"', 'to');
    if (to > this.tree.size) throw new ValidationError(`"to" must be at most the tree size ${this.tree.size}`, 'to');
    return {
      from,
      to,
      fromRoot: this.tree.root(from).toString('hex'),
      toRoot: this.tree.root(to).toString('hex'),
      hashes: this.tree.consistencyProof(from, to).map((h) => h.toString('hex')),
    };
  }

  /** Waits for queued appends, signs a final checkpoint and stops the timer. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    while (this.flushing) await this.flushing;
    this.closed = true;
    await this.checkpointNow().catch(() => null);
  }
}

export function checkpointFromRow(row: { tree_size: number; root_hash: Buffer | Uint8Array; signed_at: Date; key_id: string; signature: Buffer | Uint8Array }): SignedCheckpoint {
  return {
    origin: CHECKPOINT_ORIGIN,
    treeSize: Number(row.tree_size),
    rootHash: asBuffer(row.root_hash).toString('hex'),
    timestamp: new Date(row.signed_at).toISOString(),
    keyId: row.key_id,
    signature: asBuffer(row.signature).toString('base64'),
  };
}
