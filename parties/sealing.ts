/**
 * Sealing data to one party (ECIES): an ephemeral X25519 key agreement with the party's public key,
 * HKDF-SHA256 to a 256-bit key, AES-256-GCM. Only the holder of the party's X25519 private key can
 * open the envelope; the sender cannot either once it has dropped the ephemeral key (it is never
 * stored). The associated data binds the envelope to its context (share batches: node, dealing and
 * record ids, share-batch.ts; round messages: round-message.ts; request and answer bodies:
 * sealed-body.ts), so an envelope cannot be replayed into another context.
 *
 * Envelope (one string): 'hgd-seal-v1.' + base64url( epk[32] ‖ iv[12] ‖ tag[16] ‖ ciphertext ).
 * HKDF: ikm = X25519(eph, node), salt = epk ‖ node public key, info = 'hgd-seal-v1'.
 */
import { createCipheriv, createDecipheriv, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';
import { ValidationError } from '../storage-layer/errors';
import { rawX25519PublicKey, x25519PublicKeyFromBase64, type EncryptionKey } from './key-directory';

export const SEAL_PREFIX = 'hgd-seal-v1.';
const INFO = Buffer.from('hgd-seal-v1', 'utf8');

/** An envelope is malformed, sealed to another key or for another context, or was tampered with. */
export class SealError extends ValidationError {
  constructor(message: string) {
    super(message, 'sealed');
  }
}

function deriveKey(shared: Buffer, epk: Buffer, recipient: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', shared, Buffer.concat([epk, recipient]), INFO, 32));
}

/**
 * The sender's randomness, injectable so that test/vectors/sealing.json can be replayed; never pass
 * it in production (a reused ephemeral key or IV breaks the scheme).
 */
export interface SealRandomness {
  /** The ephemeral X25519 private key. */
  ephemeralKey: KeyObject;
  /** The 12-byte AES-GCM IV. */
  iv: Uint8Array;
}

/** Encrypts `plaintext` to the X25519 public key `recipient`, bound to `aad`. */
export function sealToParty(recipient: KeyObject, plaintext: Uint8Array, aad: string, randomness?: SealRandomness): string {
  const ephemeral = randomness?.ephemeralKey ?? generateKeyPairSync('x25519').privateKey;
  const epk = rawX25519PublicKey(createPublicKey(ephemeral));
  const shared = diffieHellman({ privateKey: ephemeral, publicKey: recipient });
  const key = deriveKey(shared, epk, rawX25519PublicKey(recipient));
  const iv = randomness?.iv ?? randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return SEAL_PREFIX + Buffer.concat([epk, iv, cipher.getAuthTag(), ct]).toString('base64url');
}

/** Opens an envelope sealed to `key` with the same `aad`; throws SealError otherwise. */
export function openSealed(key: EncryptionKey, sealed: string, aad: string): Buffer {
  if (typeof sealed !== 'string' || !sealed.startsWith(SEAL_PREFIX)) throw new SealError('sealed data must be an hgd-seal-v1 envelope');
  const raw = Buffer.from(sealed.slice(SEAL_PREFIX.length), 'base64url');
  if (raw.length < 60) throw new SealError('sealed envelope is truncated');
  const epk = raw.subarray(0, 32);
  const iv = raw.subarray(32, 44);
  const tag = raw.subarray(44, 60);
  const ct = raw.subarray(60);
  try {
    const shared = diffieHellman({ privateKey: key.privateKey, publicKey: x25519PublicKeyFromBase64(epk.toString('base64')) });
    const k = deriveKey(shared, epk, Buffer.from(key.publicKeyBase64, 'base64'));
    const decipher = createDecipheriv('aes-256-gcm', k, iv);
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(ct), decipher.final()]);
  } catch {
    throw new SealError('sealed envelope cannot be opened by this party (wrong key, context or tampered)');
  }
}
