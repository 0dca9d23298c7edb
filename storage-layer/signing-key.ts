/**
 * The ledger's Ed25519 checkpoint-signing key: created on first start, persisted with mode
 * 0600 under the data folder, and identified by the SHA-256 of its raw public key.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export interface SigningKey {
  keyId: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** Raw 32-byte Ed25519 public key, base64. */
  publicKeyBase64: string;
}

export function publicKeyFromBase64(raw: string): KeyObject {
  // SPKI prefix for Ed25519 (RFC 8410) followed by the 32 raw bytes.
  const der = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(raw, 'base64')]);
  return createPublicKey({ key: der, format: 'der', type: 'spki' });
}

export function rawPublicKey(key: KeyObject): Buffer {
  return key.export({ format: 'der', type: 'spki' }).subarray(12);
}

export function keyIdOf(publicKeyBase64: string): string {
  return createHash('sha256').update(Buffer.from(publicKeyBase64, 'base64')).digest('hex').slice(0, 16);
}

function fromPrivate(privateKey: KeyObject): SigningKey {
  const publicKey = createPublicKey(privateKey);
  const publicKeyBase64 = rawPublicKey(publicKey).toString('base64');
  return { keyId: keyIdOf(publicKeyBase64), privateKey, publicKey, publicKeyBase64 };
}

export function generateSigningKey(): SigningKey {
  return fromPrivate(generateKeyPairSync('ed25519').privateKey);
}

/**
 * Loads the private key of `type` at `file`, or creates it there (PKCS#8 PEM, mode 0600,
 * atomically: when two starting processes race, both end up with the one that was linked first).
 */
export function loadOrCreatePrivateKey(file: string, type: 'ed25519' | 'x25519'): KeyObject {
  if (!fs.existsSync(file)) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const pem = (type === 'ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('x25519')).privateKey.export({ format: 'pem', type: 'pkcs8' });
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, pem, { mode: 0o600 });
    try {
      fs.linkSync(tmp, file); // fails if another process won the race: then use theirs
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      fs.unlinkSync(tmp);
    }
  }
  return createPrivateKey(fs.readFileSync(file));
}

/** Loads the Ed25519 signing key at `file`, or creates it there. */
export function loadOrCreateSigningKey(file: string): SigningKey {
  return fromPrivate(loadOrCreatePrivateKey(file, 'ed25519'));
}

export function signBytes(key: SigningKey, message: Uint8Array): Buffer {
  return sign(null, message, key.privateKey);
}

export function verifyBytes(publicKey: KeyObject, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    return verify(null, message, publicKey, signature);
  } catch {
    return false;
  }
}
