/**
 * Both halves of a share batch (POST /shares, parties/wire.ts ShareBatch): the dealer seals one node's
 * shares of a chunk of records into the batch, the node opens it. The envelope (parties/sealing.ts) is
 * sealed to the node's X25519 key with shareBatchAad (node, dealing, record ids), and holds the
 * node's shares item by item, 16 bytes each: x and x² (a legacy batch also one-hot entries, wire.ts).
 * Fixed vectors: test/vectors/share-batch.json.
 */
import type { KeyObject } from 'node:crypto';
import { ELEMENT_BYTES, packElements, unpackElements } from '../mpc/codec';
import { ValidationError } from '../storage-layer/errors';
import type { EncryptionKey } from './key-directory';
import { openSealed, sealToParty, type SealRandomness } from './sealing';
import { elementsPerItem, shareBatchAad, type ShareBatch, type ShareBatchItem } from './wire';

/** What the dealer sends every node besides its sealed shares: the chunk's metadata (sealed on the wire by the transport). */
export interface ShareBatchMetadata {
  dealing: string;
  items: ShareBatchItem[];
}

/**
 * The batch for node `node`: `shares` (its shares of every item, in order) sealed to `key`.
 * `randomness` is for the fixed vectors only (see SealRandomness).
 */
export function sealShareBatch(node: number, meta: ShareBatchMetadata, shares: readonly bigint[], key: KeyObject, randomness?: SealRandomness): ShareBatch {
  const plain = packElements(shares);
  const aad = shareBatchAad(node, meta.dealing, meta.items.map((i) => i.recordId));
  const sealed = sealToParty(key, plain, aad, randomness);
  plain.fill(0);
  return { v: 1, dealing: meta.dealing, items: meta.items, sealed };
}

/**
 * The JSON bodies of one chunk's batches, exactly JSON.stringify(batch), with the clear metadata (the same
 * for every node, about half of each body) serialised once for all nodes instead of once per node.
 */
export function shareBatchBodies(meta: ShareBatchMetadata): (batch: ShareBatch) => string {
  const head = JSON.stringify({ v: 1, dealing: meta.dealing, items: meta.items }).slice(0, -1);
  return (batch) => {
    if (batch.dealing !== meta.dealing || batch.items !== meta.items) throw new ValidationError('the batch was not sealed from this metadata', 'items');
    return `${head},"sealed":${JSON.stringify(batch.sealed)}}`;
  };
}

/**
 * Opens a (parsed, wire-parse.ts parseShareBatch) batch at node `node`: its shares of every item, in
 * order. Throws SealError (another node's envelope, other metadata, tampered), ValidationError (not
 * as many elements as the items need) or ShareEncodingError (an element ≥ P).
 */
export function openShareBatch(key: EncryptionKey, node: number, batch: ShareBatch): bigint[] {
  const plain = openSealed(key, batch.sealed, shareBatchAad(node, batch.dealing, batch.items.map((i) => i.recordId)));
  try {
    const expected = batch.items.reduce((acc, it) => acc + elementsPerItem(it, batch.histograms), 0);
    if (plain.length !== expected * ELEMENT_BYTES) {
      throw new ValidationError(`sealed shares hold ${plain.length / ELEMENT_BYTES} elements, expected ${expected}`, 'sealed');
    }
    return unpackElements(plain);
  } finally {
    plain.fill(0);
  }
}
