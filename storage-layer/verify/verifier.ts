/**
 * The auditor's verifier. It trusts nothing the database says about itself, and takes the keys it
 * trusts only from its caller (configuration or a file; verify/trust.ts). Browser-safe: rows come
 * from an EntrySource and hashing and signatures from a LedgerCrypto, so the web app can run it.
 *
 * Steps, in seq order, stopping at the first damage (which names its entry):
 *   1. every row: checkEntry (leaf hash recomputed, chain link, columns) and, with trust, every
 *      'key' entry publishes a trusted key (a planted key is named at its entry);
 *   2. with a record of leaf hashes held outside the database (an exported checkpoint with its
 *      leaves), each entry equals its record: the first one that differs is named exactly;
 *   3. at each checkpoint's size (stored in the database, exported, or a witness's own state):
 *      its signature by a trusted log key, its cosignatures by trusted witnesses, and its root
 *      against the rebuilt tree;
 *   4. the ledger is at least as long as every trusted checkpoint (a cut tail is named at its first
 *      missing entry).
 * A root alone cannot say which leaf changed: without a leaf record, a rewrite that also re-chains
 * every later entry is named at the first entry after the last checkpoint that still matches.
 */
import type { LedgerCrypto } from '../crypto';
import { equalBytes, toBase64 } from '../bytes';
import { MerkleTreeCore, treeHasher, type TreeHasher } from '../merkle-core';
import { parseCheckpointBody, parseNote, verifyCosignatures, verifyLogSignature } from '../note';
import { checkEntry, type EntryBody, type EntryRow } from './entry-check';
import type { Damage, DamageKind } from './damage';
import type { Trust } from './trust';

export interface EntrySource {
  /** The largest stored seq, -1 when there is none. */
  maxSeq(): Promise<number>;
  /** Rows with from <= seq < to, in seq order. */
  page(from: number, to: number): Promise<EntryRow[]>;
  /** Every stored checkpoint note (log signature and cosignature lines). */
  checkpoints(): Promise<string[]>;
}

/** A checkpoint kept outside the database: an exported file, or a witness's latest cosigned state. */
export interface ExternalCheckpoint {
  label: string;
  note: string;
  /** The leaf hashes of entries 0..treeSize-1 (32 bytes each, concatenated), when the holder kept them. */
  leaves?: Uint8Array;
}

export interface VerifyInput {
  source: EntrySource;
  crypto: LedgerCrypto;
  /** Without trust only the chain and the roots are checked; no signature is. */
  trust?: Trust;
  external?: ExternalCheckpoint[];
  pageSize?: number;
}

export interface VerifyReport {
  ok: boolean;
  entries: number;
  /** Whether signatures were checked against trusted keys. */
  trusted: boolean;
  checkpointsChecked: number;
  witnessedCheckpoints: number;
  externalCheckpointsChecked: number;
  latestCheckpointSize: number | null;
  latestWitnessedSize: number | null;
  damage: Damage | null;
  millis: number;
}

interface Claim {
  size: number;
  root: Uint8Array;
  label: string;
  witnessed: boolean;
  external: boolean;
  leaves?: Uint8Array;
  /** Why its signature does not count; reported when the tree reaches its size, so earlier damage is named first. */
  invalid?: string;
}

class Found extends Error {
  constructor(readonly damage: Damage) {
    super(damage.detail);
  }
}

const damaged = (seq: number, kind: DamageKind, detail: string) => new Found({ seq, kind, detail });

/** Parses and authenticates one checkpoint note. */
function claimOf(note: string, label: string, external: boolean, input: VerifyInput): Claim {
  let parsed;
  let body;
  try {
    parsed = parseNote(note);
    body = parseCheckpointBody(parsed.body);
  } catch (err) {
    throw damaged(0, 'bad-checkpoint', `${label} is not a checkpoint note: ${(err as Error).message}`);
  }
  const { trust, crypto } = input;
  const claim: Claim = { size: body.treeSize, root: body.rootHash, label, witnessed: false, external };
  if (!trust) return claim;
  if (body.origin !== trust.origin || !verifyLogSignature(crypto, parsed, trust.logKeys)) {
    return { ...claim, invalid: `${label} (size ${body.treeSize}) has no valid signature by a trusted log key for origin ${trust.origin}` };
  }
  const cosigned = verifyCosignatures(crypto, parsed.body, parsed.signatures, trust.witnesses).length;
  return { ...claim, witnessed: trust.quorum > 0 && cosigned >= trust.quorum };
}

function externalLeaves(hasher: TreeHasher, claim: Claim, leaves: Uint8Array): Uint8Array {
  if (leaves.length !== claim.size * 32) throw damaged(0, 'bad-checkpoint', `${claim.label}: its leaf record holds ${leaves.length / 32} hashes for a tree of ${claim.size}`);
  const tree = new MerkleTreeCore(hasher);
  for (let i = 0; i < claim.size; i++) tree.append(leaves.subarray(i * 32, i * 32 + 32));
  if (!equalBytes(tree.root(), claim.root)) throw damaged(0, 'bad-checkpoint', `${claim.label}: its leaf record does not hash to its root`);
  return leaves;
}

async function loadClaims(input: VerifyInput, hasher: TreeHasher): Promise<Claim[]> {
  const stored = (await input.source.checkpoints()).map((note, i) => claimOf(note, `stored checkpoint #${i + 1}`, false, input));
  const external = (input.external ?? []).map((e) => {
    const claim = claimOf(e.note, e.label, true, input);
    if (claim.invalid) throw damaged(0, 'bad-checkpoint', claim.invalid); // the auditor's own evidence must be sound
    return e.leaves ? { ...claim, leaves: externalLeaves(hasher, claim, e.leaves) } : claim;
  });
  return [...stored, ...external].sort((a, b) => a.size - b.size);
}

export async function verifyEntries(input: VerifyInput): Promise<VerifyReport> {
  const started = performance.now();
  const hasher = treeHasher(input.crypto);
  const tree = new MerkleTreeCore(hasher);
  const trustedKeys = new Set((input.trust?.logKeys ?? []).map((k) => toBase64(k.publicKey)));
  const counts = { checked: 0, witnessed: 0, external: 0 };
  let claims: Claim[] = [];
  let lastMatching = 0;
  let damage: Damage | null = null;

  const checkKeyEntry = (seq: number, body: EntryBody) => {
    if (!input.trust || body.kind !== 'key' || typeof body.payload?.publicKey !== 'string') return;
    if (!trustedKeys.has(body.payload.publicKey)) throw damaged(seq, 'untrusted-key', `entry ${seq} publishes checkpoint key ${body.payload.publicKey}, which the verifier was not given as trusted`);
  };
  const checkClaimsAt = (size: number, from: number) => {
    for (let i = from; i < claims.length && claims[i]!.size === size; i++) {
      const c = claims[i]!;
      if (c.invalid) throw damaged(size - 1, 'bad-checkpoint', c.invalid);
      if (!equalBytes(tree.root(size), c.root)) {
        throw damaged(lastMatching, 'modified', `entries from ${lastMatching} on no longer match ${c.label} at size ${size} (rewritten and re-chained; the last checkpoint that matches has size ${lastMatching}; a leaf record names the exact entry)`);
      }
      counts.checked++;
      if (c.witnessed) counts.witnessed++;
      if (c.external) counts.external++;
    }
    lastMatching = size;
  };
  try {
    claims = await loadClaims(input, hasher);
    const record = claims.filter((c) => c.leaves).at(-1);
    const pageSize = input.pageSize ?? 5_000;
    const maxSeq = await input.source.maxSeq();
    let claimIdx = 0;
    let pending: Promise<EntryRow[]> | null = maxSeq >= 0 ? input.source.page(0, pageSize) : null;
    for (let from = 0; pending; from += pageSize) {
      const rows = await pending;
      pending = from + pageSize <= maxSeq ? input.source.page(from + pageSize, from + 2 * pageSize) : null;
      pending?.catch(() => { /* awaited on the next turn; if we stop early it is simply dropped */ });
      for (const row of rows) {
        const seq = tree.size;
        const checked = checkEntry(row, seq, seq === 0 ? new Uint8Array(32) : tree.leaf(seq - 1), hasher.leaf);
        if (!checked.ok) throw new Found(checked.damage);
        if (record && seq < record.size && !equalBytes(checked.leaf, record.leaves!.subarray(seq * 32, seq * 32 + 32))) {
          throw damaged(seq, 'modified', `entry ${seq} differs from its record in ${record.label}`);
        }
        checkKeyEntry(seq, checked.body);
        tree.append(checked.leaf);
        while (claimIdx < claims.length && claims[claimIdx]!.size < tree.size) claimIdx++;
        if (claimIdx < claims.length && claims[claimIdx]!.size === tree.size) checkClaimsAt(tree.size, claimIdx);
      }
    }
    const beyond = claims.find((c) => c.size > tree.size && c.invalid);
    if (beyond) throw damaged(tree.size, 'bad-checkpoint', `${beyond.invalid}, beyond the end of the ledger`);
    const longest = claims.at(-1);
    if (longest && longest.size > tree.size) {
      throw damaged(tree.size, 'truncated', `the ledger ends at ${tree.size} entries but ${longest.label} covers ${longest.size}`);
    }
  } catch (err) {
    if (!(err instanceof Found)) throw err;
    damage = err.damage;
  }
  const stored = claims.filter((c) => !c.external);
  return {
    ok: damage === null,
    entries: tree.size,
    trusted: input.trust !== undefined,
    checkpointsChecked: counts.checked,
    witnessedCheckpoints: counts.witnessed,
    externalCheckpointsChecked: counts.external,
    latestCheckpointSize: stored.at(-1)?.size ?? null,
    latestWitnessedSize: claims.filter((c) => c.witnessed && c.size <= tree.size).at(-1)?.size ?? null,
    damage,
    millis: Math.round(performance.now() - started),
  };
}

