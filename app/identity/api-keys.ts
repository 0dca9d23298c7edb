/**
 * Providers' API keys: `hgd_<keyid>_<secret>`, keyid 16 hex digits, secret 64 hex digits (32 random
 * bytes). The store keeps the keyid and the SHA-256 of the secret (the secret has full entropy, so a
 * fast hash suffices); comparison is constant-time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const KEY_FORMAT = /^hgd_([0-9a-f]{16})_([0-9a-f]{64})$/;

export interface NewApiKey {
  keyId: string;
  /** The whole key, to be shown once. */
  key: string;
  secretSha256: string;
}

export function secretDigest(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

export function generateApiKey(): NewApiKey {
  const keyId = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('hex');
  return { keyId, key: `hgd_${keyId}_${secret}`, secretSha256: secretDigest(secret) };
}

export function parseApiKey(key: string): { keyId: string; secret: string } | undefined {
  const m = KEY_FORMAT.exec(key.trim());
  return m ? { keyId: m[1]!, secret: m[2]! } : undefined;
}

export function secretMatches(secret: string, storedSha256: string): boolean {
  const a = Buffer.from(secretDigest(secret), 'hex');
  const b = Buffer.from(storedSha256, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}
