/** LedgerCrypto on @noble/hashes and @noble/curves: no node:crypto, no Buffer (for the browser). */
import { sha256 } from '@noble/hashes/sha2.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import type { LedgerCrypto } from './crypto';

export const nobleCrypto: LedgerCrypto = {
  sha256: (data) => sha256(data),
  sha256Parts: (...parts) => {
    const h = sha256.create();
    for (const p of parts) h.update(p);
    return h.digest();
  },
  verifyEd25519: (publicKey, message, signature) => {
    try {
      return ed25519.verify(signature, message, publicKey);
    } catch {
      return false;
    }
  },
};
