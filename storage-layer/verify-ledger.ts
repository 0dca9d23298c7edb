/**
 * The auditor's verifier. It trusts nothing the database says about itself: it recomputes every
 * leaf hash from the stored canonical bytes, walks the chain, rebuilds the Merkle tree, checks
 * every signed checkpoint's signature and root (and the consistency between checkpoints), and
 * finally checks an exported checkpoint kept outside the database, which is what catches a
 * superuser who bypassed the triggers and rewrote or cut the tables.
 *
 * It stops at the first damage and names its seq and kind.
 */
import { asBuffer, type Database } from './db';
import { leafHash, MerkleTree, verifyConsistency } from './merkle';
import { CHECKPOINT_ORIGIN, verifyCheckpointSignature, type ExportedCheckpoint, type SignedCheckpoint } from './checkpoint';
import { GENESIS_PREV, checkpointFromRow } from './ledger';
import { keyIdOf } from './signing-key';

export type DamageKind = 'modified' | 'deleted' | 'reordered' | 'truncated' | 'bad-checkpoint';

export interface Damage {
  /** The first bad seq (or, for a rewrite caught only by a checkpoint root, the first seq it could be). */
  seq: number;
  kind: DamageKind;
  detail: string;
  /** When only a root disagrees, the damage lies somewhere in [seq, before). */
  before?: number;
}

export interface VerifyReport {
  ok: boolean;
  entries: number;
  checkpointsChecked: number;
  externalCheckpointChecked: boolean;
  latestCheckpointSize: number | null;
  damage: Damage | null;
  millis: number;
}

export interface VerifyOptions {
  /** A checkpoint exported earlier and kept outside the database. */
  external?: ExportedCheckpoint;
  pageSize?: number;
}

/** Hashes come back as hex text and the time as epoch ms: cheaper to read than bytea and dates. */
interface Row {
  seq: number;
  kind: string;
  actor: string;
  recorded_ms: number;
  canonical: Buffer | Uint8Array;
  leaf_hex: string;
  prev_hex: string;
}

interface Body {
  v?: unknown;
  seq?: unknown;
  kind?: unknown;
  actor?: unknown;
  time?: unknown;
  prev?: unknown;
  payload?: { event?: unknown; keyId?: unknown; publicKey?: unknown };
}

class Found extends Error {
  constructor(readonly damage: Damage) {
    super(damage.detail);
  }
}

const damaged = (seq: number, kind: DamageKind, detail: string, before?: number) =>
  new Found(before === undefined ? { seq, kind, detail } : { seq, kind, detail, before });

export async function verifyLedger(db: Database, options: VerifyOptions = {}): Promise<VerifyReport> {
  const started = performance.now();
  const pageSize = options.pageSize ?? 5_000;
  const tree = new MerkleTree();
  const keys = new Map<string, string>(); // keyId -> public key, learnt from 'key' entries on the chain
  const checkpoints = (await db.knex('ledger_checkpoints').orderBy('tree_size')).map(checkpointFromRow);
  const external = options.external;
  if (external) keys.set(external.keyId, external.publicKey);
  let checkpointIdx = 0;
  let checkpointsChecked = 0;
  let previousCheckpoint: SignedCheckpoint | null = null;
  let prevHex = GENESIS_PREV.toString('hex');

  const checkCheckpoint = (c: SignedCheckpoint) => {
    const publicKey = keys.get(c.keyId);
    if (!publicKey || c.origin !== CHECKPOINT_ORIGIN || !verifyCheckpointSignature(c, publicKey)) {
      throw damaged(c.treeSize - 1, 'bad-checkpoint', `checkpoint at size ${c.treeSize} has no valid signature by a key published on the ledger`);
    }
    const root = tree.root(c.treeSize);
    if (root.toString('hex') !== c.rootHash) {
      const from = previousCheckpoint?.treeSize ?? 0;
      throw damaged(from, 'modified', `entries in [${from}, ${c.treeSize}) no longer match the signed checkpoint at size ${c.treeSize} (rewritten and re-chained)`, c.treeSize);
    }
    if (previousCheckpoint) {
      const proof = tree.consistencyProof(previousCheckpoint.treeSize, c.treeSize);
      if (!verifyConsistency(previousCheckpoint.treeSize, c.treeSize, Buffer.from(previousCheckpoint.rootHash, 'hex'), root, proof)) {
        throw damaged(previousCheckpoint.treeSize, 'modified', `checkpoint ${c.treeSize} is not consistent with checkpoint ${previousCheckpoint.treeSize}`);
      }
    }
    previousCheckpoint = c;
    checkpointsChecked++;
  };

  let damage: Damage | null = null;
  let externalChecked = false;
  try {
    // Pages are seq ranges, so the next page is fetched while this one is checked.
    const maxSeq = Number((await db.knex('ledger_entries').max('seq as max').first())?.max ?? -1);
    const fetchPage = (from: number) =>
      db.knex('ledger_entries')
        .select('seq', 'kind', 'actor', 'canonical')
        .select(db.knex.raw("(extract(epoch from recorded_at) * 1000)::bigint AS recorded_ms, encode(leaf_hash, 'hex') AS leaf_hex, encode(prev_hash, 'hex') AS prev_hex"))
        .where('seq', '>=', from)
        .andWhere('seq', '<', from + pageSize)
        .orderBy('seq')
        .then((rows: Row[]) => rows);
    let pending: Promise<Row[]> | null = maxSeq >= 0 ? fetchPage(0) : null;
    for (let from = 0; pending; from += pageSize) {
      const rows = await pending;
      pending = from + pageSize <= maxSeq ? fetchPage(from + pageSize) : null;
      pending?.catch(() => { /* awaited on the next turn; if we stop early it is simply dropped */ });
      for (const row of rows) {
        const expected = tree.size;
        const seq = Number(row.seq);
        if (seq !== expected) throw damaged(expected, 'deleted', `entry ${expected} is missing (next stored entry is ${seq})`);
        const canonical = asBuffer(row.canonical);
        const leaf = leafHash(canonical);
        const leafHex = leaf.toString('hex');
        if (leafHex !== row.leaf_hex) throw damaged(seq, 'modified', `entry ${seq}: stored bytes do not hash to its stored leaf hash`);
        let body: Body;
        try {
          body = JSON.parse(canonical.toString('utf8')) as Body;
        } catch {
          throw damaged(seq, 'modified', `entry ${seq}: stored bytes are not JSON`);
        }
        if (body.seq !== seq) {
          throw damaged(seq, typeof body.seq === 'number' ? 'reordered' : 'modified', `entry at seq ${seq} carries the bytes of entry ${String(body.seq)}`);
        }
        if (body.prev !== prevHex) {
          // This entry is intact but names a different predecessor: the predecessor was rewritten
          // (with a recomputed leaf hash), so the damage is at seq-1.
          throw damaged(Math.max(seq - 1, 0), 'modified', `entry ${seq} commits to a predecessor hash that entry ${seq - 1} no longer has`);
        }
        if (row.prev_hex !== prevHex) throw damaged(seq, 'modified', `entry ${seq}: prev_hash column differs from its hashed bytes`);
        if (body.kind !== row.kind || body.actor !== row.actor || typeof body.time !== 'string' || Date.parse(body.time) !== Number(row.recorded_ms)) {
          throw damaged(seq, 'modified', `entry ${seq}: kind, actor or time columns differ from its hashed bytes`);
        }
        if (body.kind === 'key' && typeof body.payload?.publicKey === 'string' && typeof body.payload.keyId === 'string') {
          if (keyIdOf(body.payload.publicKey) === body.payload.keyId) keys.set(body.payload.keyId, body.payload.publicKey);
        }
        tree.append(leaf);
        prevHex = leafHex;
        while (checkpointIdx < checkpoints.length && checkpoints[checkpointIdx]!.treeSize === tree.size) {
          checkCheckpoint(checkpoints[checkpointIdx]!);
          checkpointIdx++;
        }
      }
    }
    const size = tree.size;
    const latestSigned = checkpoints.at(-1);
    if (latestSigned && latestSigned.treeSize > size) {
      throw damaged(size, 'truncated', `the ledger ends at ${size} entries but a signed checkpoint covers ${latestSigned.treeSize}`);
    }
    if (external) {
      if (external.treeSize > size) throw damaged(size, 'truncated', `the ledger ends at ${size} entries but the exported checkpoint covers ${external.treeSize}`);
      if (!verifyCheckpointSignature(external, external.publicKey)) throw damaged(external.treeSize - 1, 'bad-checkpoint', 'the exported checkpoint\'s signature does not verify');
      if (tree.root(external.treeSize).toString('hex') !== external.rootHash) {
        // Every in-database checkpoint agreed (or was removed), so all we know is the range.
        const from = checkpoints.filter((c) => c.treeSize <= external.treeSize).at(-1)?.treeSize ?? 0;
        throw damaged(from, 'modified', `entries in [${from}, ${external.treeSize}) no longer match the exported checkpoint (rewritten and re-chained, checkpoints included)`, external.treeSize);
      }
      externalChecked = true;
    }
  } catch (err) {
    if (!(err instanceof Found)) throw err;
    damage = err.damage;
  }
  return {
    ok: damage === null,
    entries: tree.size,
    checkpointsChecked,
    externalCheckpointChecked: externalChecked,
    latestCheckpointSize: checkpoints.at(-1)?.treeSize ?? null,
    damage,
    millis: Math.round(performance.now() - started),
  };
}
