/**
 * The RFC 9162 Merkle tree of merkle-core.ts bound to node:crypto, with Buffer results for the
 * server code. Browser-safe code (the verifier) uses merkle-core.ts with an injected hash.
 */
import { nodeCrypto } from './node-crypto';
import { MerkleTreeCore, treeHasher, verifyConsistencyWith, verifyInclusionWith } from './merkle-core';

export { HASH_SIZE } from './merkle-core';
export const nodeTreeHasher = treeHasher(nodeCrypto);
export const EMPTY_ROOT = Buffer.from(nodeTreeHasher.empty);

const asBuf = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

export function leafHash(data: Uint8Array): Buffer {
  return asBuf(nodeTreeHasher.leaf(data));
}

/** The tree on node:crypto; leaves, roots and proofs come back as Buffers. */
export class MerkleTree extends MerkleTreeCore {
  constructor() {
    super(nodeTreeHasher);
  }

  override leaf(index: number): Buffer {
    return asBuf(super.leaf(index));
  }

  override root(size = this.size): Buffer {
    return asBuf(super.root(size));
  }

  override inclusionProof(index: number, size = this.size): Buffer[] {
    return super.inclusionProof(index, size).map(asBuf);
  }

  override consistencyProof(from: number, to = this.size): Buffer[] {
    return super.consistencyProof(from, to).map(asBuf);
  }
}

export function verifyInclusion(leaf: Uint8Array, index: number, size: number, proof: Uint8Array[], root: Uint8Array): boolean {
  return verifyInclusionWith(nodeTreeHasher, leaf, index, size, proof, root);
}

export function verifyConsistency(from: number, to: number, oldRoot: Uint8Array, newRoot: Uint8Array, proof: Uint8Array[]): boolean {
  return verifyConsistencyWith(nodeTreeHasher, from, to, oldRoot, newRoot, proof);
}
