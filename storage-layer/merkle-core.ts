/**
 * RFC 9162 (Certificate Transparency v2) Merkle tree over leaf hashes, with inclusion and
 * consistency proofs and their verification. Leaves hash as SHA-256(0x00 || data), interior
 * nodes as SHA-256(0x01 || left || right); the split is the largest power of two below n.
 *
 * The tree keeps every complete, aligned subtree hash (level h holds the hashes of the
 * subtrees of 2^h leaves), so appends are amortised O(1) and any root or proof for any
 * earlier size costs O(log n) hashes.
 *
 * The hash comes from a LedgerCrypto, so this file needs neither Buffer nor node:crypto
 * (merkle.ts binds it to node:crypto for the server).
 */
import type { LedgerCrypto } from './crypto';
import { equalBytes } from './bytes';

export const HASH_SIZE = 32;
const LEAF_PREFIX = new Uint8Array([0]);
const NODE_PREFIX = new Uint8Array([1]);

export interface TreeHasher {
  leaf(data: Uint8Array): Uint8Array;
  node(left: Uint8Array, right: Uint8Array): Uint8Array;
  empty: Uint8Array;
}

export function treeHasher(crypto: LedgerCrypto): TreeHasher {
  return {
    leaf: (data) => crypto.sha256Parts(LEAF_PREFIX, data),
    node: (left, right) => crypto.sha256Parts(NODE_PREFIX, left, right),
    empty: crypto.sha256(new Uint8Array(0)),
  };
}

/** Largest power of two strictly below n (n >= 2). */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** One level of complete subtree hashes, packed in a growable byte array. */
class HashLevel {
  private buf = new Uint8Array(HASH_SIZE * 1024);
  count = 0;

  push(hash: Uint8Array): void {
    if ((this.count + 1) * HASH_SIZE > this.buf.length) {
      const bigger = new Uint8Array(this.buf.length * 2);
      bigger.set(this.buf);
      this.buf = bigger;
    }
    this.buf.set(hash, this.count * HASH_SIZE);
    this.count++;
  }

  get(i: number): Uint8Array {
    return this.buf.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE);
  }
}

export class MerkleTreeCore {
  private levels: HashLevel[] = [new HashLevel()];

  constructor(readonly hasher: TreeHasher) {}

  get size(): number {
    return this.levels[0]!.count;
  }

  /** Appends a leaf hash (already SHA-256(0x00 || data)). Returns its index. */
  append(hash: Uint8Array): number {
    if (hash.length !== HASH_SIZE) throw new Error('leaf hash must be 32 bytes');
    const index = this.size;
    this.levels[0]!.push(hash);
    let h = 0;
    let i = index;
    // Each time the new node completes a pair, the parent subtree becomes complete.
    while (i % 2 === 1) {
      const level = this.levels[h]!;
      const parent = this.hasher.node(level.get(i - 1), level.get(i));
      h++;
      if (!this.levels[h]) this.levels.push(new HashLevel());
      this.levels[h]!.push(parent);
      i = (i - 1) / 2;
    }
    return index;
  }

  leaf(index: number): Uint8Array {
    if (index < 0 || index >= this.size) throw new RangeError(`no leaf ${index}`);
    return this.levels[0]!.get(index);
  }

  /** MTH(D[lo:hi]). */
  private rangeHash(lo: number, hi: number): Uint8Array {
    const n = hi - lo;
    if (n === 0) return this.hasher.empty;
    // A complete, aligned subtree is cached.
    if ((n & (n - 1)) === 0 && lo % n === 0) return this.levels[Math.log2(n)]!.get(lo / n);
    const k = splitPoint(n);
    return this.hasher.node(this.rangeHash(lo, lo + k), this.rangeHash(lo + k, hi));
  }

  root(size = this.size): Uint8Array {
    this.checkSize(size);
    return this.rangeHash(0, size);
  }

  /** RFC 9162 2.1.3.1 PATH(m, D[n]). */
  inclusionProof(index: number, size = this.size): Uint8Array[] {
    this.checkSize(size);
    if (!Number.isInteger(index) || index < 0 || index >= size) throw new RangeError(`leaf ${index} is not in a tree of size ${size}`);
    const proof: Uint8Array[] = [];
    const walk = (m: number, lo: number, hi: number): void => {
      const n = hi - lo;
      if (n <= 1) return;
      const k = splitPoint(n);
      if (m < k) {
        walk(m, lo, lo + k);
        proof.push(this.rangeHash(lo + k, hi));
      } else {
        walk(m - k, lo + k, hi);
        proof.push(this.rangeHash(lo, lo + k));
      }
    };
    walk(index, 0, size);
    return proof;
  }

  /** RFC 9162 2.1.4.1 PROOF(m, D[n]). */
  consistencyProof(from: number, to = this.size): Uint8Array[] {
    this.checkSize(to);
    if (!Number.isInteger(from) || from < 1 || from > to) throw new RangeError(`no consistency proof from ${from} to ${to}`);
    const proof: Uint8Array[] = [];
    const sub = (m: number, lo: number, hi: number, complete: boolean): void => {
      const n = hi - lo;
      if (m === n) {
        if (!complete) proof.push(this.rangeHash(lo, hi));
        return;
      }
      const k = splitPoint(n);
      if (m <= k) {
        sub(m, lo, lo + k, complete);
        proof.push(this.rangeHash(lo + k, hi));
      } else {
        sub(m - k, lo + k, hi, false);
        proof.push(this.rangeHash(lo, lo + k));
      }
    };
    if (from < to) sub(from, 0, to, true);
    return proof;
  }

  private checkSize(size: number): void {
    if (!Number.isInteger(size) || size < 0 || size > this.size) throw new RangeError(`tree size ${size} is not between 0 and ${this.size}`);
  }
}

/** RFC 9162 2.1.3.2: verifies that `leaf` is at `index` in the tree of `size` leaves with `root`. */
export function verifyInclusionWith(hasher: TreeHasher, leaf: Uint8Array, index: number, size: number, proof: Uint8Array[], root: Uint8Array): boolean {
  if (index >= size || index < 0) return false;
  let fn = index;
  let sn = size - 1;
  let r: Uint8Array = leaf;
  for (const p of proof) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = hasher.node(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = hasher.node(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && equalBytes(r, root);
}

/** RFC 9162 2.1.4.2: verifies that the tree of size `to` with `newRoot` extends the one of size `from`. */
export function verifyConsistencyWith(hasher: TreeHasher, from: number, to: number, oldRoot: Uint8Array, newRoot: Uint8Array, proof: Uint8Array[]): boolean {
  if (from < 1 || from > to) return false;
  if (from === to) return proof.length === 0 && equalBytes(oldRoot, newRoot);
  if (proof.length === 0) return false;
  let path = proof;
  // If `from` is an exact power of two, the old root is the first node of the path.
  if ((from & (from - 1)) === 0) path = [oldRoot, ...proof];
  let fn = from - 1;
  let sn = to - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr: Uint8Array = path[0]!;
  let sr: Uint8Array = path[0]!;
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = hasher.node(c, fr);
      sr = hasher.node(c, sr);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      sr = hasher.node(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && equalBytes(fr, oldRoot) && equalBytes(sr, newRoot);
}
