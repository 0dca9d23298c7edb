/**
 * The dealer's comparison material on the wire (FilteredRequest.material): one node's part
 * (mpc/preprocessing.ts encodeMaterial) sealed to that node's X25519 key with hgd-seal-v1
 * (parties/sealing.ts) and the associated data 'hgd-compare-v1|node-<i>|<query id>', so that it opens
 * only at its node and only for its query. The coordinator never sees another node's part in clear
 * after sealing, and no node sees another node's part at all: two parts together would open r.
 */
import type { KeyObject } from 'node:crypto';
import { decodeMaterial, encodeMaterial, type CompareMaterial } from '../mpc/preprocessing';
import { nodeParty, type EncryptionKey } from './key-directory';
import { openSealed, sealToParty } from './sealing';

export function compareMaterialAad(node: number, queryId: string): string {
  return `hgd-compare-v1|${nodeParty(node)}|${queryId}`;
}

export function sealCompareMaterial(recipient: KeyObject, node: number, queryId: string, material: CompareMaterial): string {
  const plain = encodeMaterial(material);
  try {
    return sealToParty(recipient, plain, compareMaterialAad(node, queryId));
  } finally {
    plain.fill(0);
  }
}

/** Opens this node's material; SealError for another node's or query's envelope, ShareEncodingError for bad contents. */
export function openCompareMaterial(key: EncryptionKey, node: number, queryId: string, sealed: string): CompareMaterial {
  const plain = openSealed(key, sealed, compareMaterialAad(node, queryId));
  try {
    return decodeMaterial(plain);
  } finally {
    plain.fill(0);
  }
}
