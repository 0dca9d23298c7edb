/**
 * Fixed keys and sealing randomness for the vectors under test/vectors/: every key is derived from a
 * 32-byte seed written in the vector file (an Ed25519 seed or a raw X25519 private key), so a vector
 * can be replayed by any implementation. Seeds are SHA-256('hgd-vectors|' + label). For tests only.
 */
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import type { EncryptionKey } from '../../parties/key-directory';
import { rawX25519PublicKey } from '../../parties/key-directory';
import type { SealRandomness } from '../../parties/sealing';
import { keyIdOf, rawPublicKey, type SigningKey } from '../../storage-layer/signing-key';

const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

/** A fixed 32-byte seed, hex. */
export function seedOf(label: string): string {
  return createHash('sha256').update(`hgd-vectors|${label}`).digest('hex');
}

export function ed25519FromSeed(seedHex: string): SigningKey {
  const privateKey = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, Buffer.from(seedHex, 'hex')]), format: 'der', type: 'pkcs8' });
  const publicKey = createPublicKey(privateKey);
  const publicKeyBase64 = rawPublicKey(publicKey).toString('base64');
  return { keyId: keyIdOf(publicKeyBase64), privateKey, publicKey, publicKeyBase64 };
}

export function x25519FromSeed(seedHex: string): EncryptionKey {
  const privateKey = createPrivateKey({ key: Buffer.concat([X25519_PKCS8_PREFIX, Buffer.from(seedHex, 'hex')]), format: 'der', type: 'pkcs8' });
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, publicKeyBase64: rawX25519PublicKey(publicKey).toString('base64') };
}

/** The sender's randomness of one envelope, as written in a vector. */
export interface SealRandomnessVector {
  /** Raw X25519 private key of the ephemeral key pair, hex. */
  ephemeralSeed: string;
  /** The 12-byte AES-GCM IV, hex. */
  iv: string;
}

export function sealRandomnessOf(v: SealRandomnessVector): SealRandomness {
  return { ephemeralKey: x25519FromSeed(v.ephemeralSeed).privateKey, iv: Buffer.from(v.iv, 'hex') };
}

/** Fixed randomness for the envelope labelled `label`. */
export function sealRandomnessVector(label: string): SealRandomnessVector {
  return { ephemeralSeed: seedOf(`${label}/ephemeral`), iv: seedOf(`${label}/iv`).slice(0, 24) };
}
