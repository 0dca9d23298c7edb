/** LedgerCrypto on node:crypto: the server's fast path. */
import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import type { LedgerCrypto } from './crypto';

const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const keyCache = new Map<string, KeyObject>();

function publicKeyObject(raw: Uint8Array): KeyObject {
  const id = Buffer.from(raw).toString('base64');
  let key = keyCache.get(id);
  if (!key) {
    key = createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' });
    keyCache.set(id, key);
  }
  return key;
}

export const nodeCrypto: LedgerCrypto = {
  sha256: (data) => createHash('sha256').update(data).digest(),
  sha256Parts: (...parts) => {
    const h = createHash('sha256');
    for (const p of parts) h.update(p);
    return h.digest();
  },
  verifyEd25519: (publicKey, message, signature) => {
    if (publicKey.length !== 32 || signature.length !== 64) return false;
    try {
      return verify(null, message, publicKeyObject(publicKey), signature);
    } catch {
      return false;
    }
  },
};
