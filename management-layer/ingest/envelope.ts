/**
 * Encryption at rest: AES-256-GCM with a random 96-bit nonce. A sealed value is
 * nonce (12) ‖ tag (16) ‖ ciphertext, bound to `aad` (the record id, the pseudonym...).
 */
import { createCipheriv, createDecipheriv, createHmac, createSecretKey, hkdfSync, randomBytes, randomFillSync, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ValidationError } from '../errors';
import { isLegacySystem } from '../patient-systems';

const keyObjects = new WeakMap<Buffer, KeyObject>();

/**
 * The KeyObject of a raw key, made once per Buffer. node:crypto checks a Buffer key far more slowly than a
 * KeyObject (on Node 24 about 25 µs a cipher or HMAC, several times the work itself; bench/ingest.ts leads
 * with it in its profile). Keys are never changed in place, so the cached object stays equal to its Buffer.
 */
function keyObject(key: Buffer): KeyObject {
  let k = keyObjects.get(key);
  if (!k) {
    k = createSecretKey(key);
    keyObjects.set(key, k);
  }
  return k;
}

/** Nonces are drawn from the CSPRNG 4 KiB at a time (one call per 341 nonces, not one each); a nonce is public. */
const noncePool = Buffer.alloc(4092);
let noncePos = noncePool.length;

function randomNonce(): Buffer {
  if (noncePos === noncePool.length) {
    randomFillSync(noncePool);
    noncePos = 0;
  }
  noncePos += 12;
  return Buffer.from(noncePool.subarray(noncePos - 12, noncePos)); // a copy: the pool is refilled in place
}

export function seal(key: Buffer, plaintext: Buffer, aad: string): Buffer {
  const nonce = randomNonce();
  const cipher = createCipheriv('aes-256-gcm', keyObject(key), nonce);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([nonce, cipher.getAuthTag(), body]);
}

export function open(key: Buffer, sealed: Buffer, aad: string): Buffer {
  const decipher = createDecipheriv('aes-256-gcm', keyObject(key), sealed.subarray(0, 12));
  decipher.setAAD(Buffer.from(aad, 'utf8'));
  decipher.setAuthTag(sealed.subarray(12, 28));
  return Buffer.concat([decipher.update(sealed.subarray(28)), decipher.final()]);
}

/** Keys derived from the master key; the master key itself only wraps and derives. */
export interface KeyRing {
  /** Wraps per-patient data keys. */
  wrapKey: Buffer;
  /** HMAC key turning a provider's patient identifier into a pseudonym. */
  pseudonymKey: Buffer;
  /** Encrypts quarantined entries (they are the provider's raw input) and the reasons they were rejected. */
  quarantineKey: Buffer;
  /** HMAC key for the provider's references kept in patient_links (a reference names a patient at its provider). */
  linkKey: Buffer;
  /** HMAC key for batch digests (what was sent, what came of it), so a digest reveals nothing about the content. */
  batchKey: Buffer;
  /** Encrypts what remote monitoring keeps: alert details and webhook secrets (monitoring/at-rest.ts). */
  monitoringKey: Buffer;
}

function parseKey(text: string): Buffer {
  const t = text.trim();
  const key = /^[0-9a-f]{64}$/i.test(t) ? Buffer.from(t, 'hex') : Buffer.from(t, 'base64');
  if (key.length !== 32) throw new Error('the master key must be 32 bytes, given as 64 hex characters or base64');
  return key;
}

export function loadMasterKey(configured: string | undefined, file: string): Buffer {
  if (configured) return parseKey(configured);
  if (!fs.existsSync(file)) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    try {
      fs.writeFileSync(file, randomBytes(32).toString('base64'), { mode: 0o600, flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  return parseKey(fs.readFileSync(file, 'utf8'));
}

export function deriveKeyRing(master: Buffer): KeyRing {
  const derive = (label: string) => Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), `hgd/${label}`, 32));
  return {
    wrapKey: derive('patient-key-wrap'),
    pseudonymKey: derive('pseudonym'),
    quarantineKey: derive('quarantine'),
    linkKey: derive('patient-link'),
    batchKey: derive('batch-digest'),
    monitoringKey: derive('monitoring-at-rest'),
  };
}

/** HMAC-SHA256 of `system|value` under the pseudonym key, for any system (legacy ones included). */
export function rawPseudonym(keys: KeyRing, system: string, value: string): string {
  return createHmac('sha256', keyObject(keys.pseudonymKey)).update(`${system}|${value}`).digest('hex');
}

/**
 * The pseudonym of a provider's patient identifier: HMAC-SHA256, hex. Deterministic, not reversible without the key.
 * Refuses the legacy made-up systems (patient-systems.ts): nobody is that patient, so nobody gets its token.
 */
export function pseudonymFor(keys: KeyRing, system: string, value: string): string {
  if (isLegacySystem(system)) {
    throw new ValidationError(`"${system}" is not a patient identifier system: HGD made such identities up for subjects it could not identify, and no longer does`, 'patientIdentifier');
  }
  return rawPseudonym(keys, system, value);
}

/** A keyed digest (hex) of the given parts, for the tables: equal inputs give equal digests, nothing else is learnt. */
export function keyedDigest(key: Buffer, ...parts: Array<string | Buffer>): string {
  const h = createHmac('sha256', keyObject(key));
  for (const part of parts) {
    const bytes = typeof part === 'string' ? Buffer.from(part, 'utf8') : part;
    h.update(Buffer.from(String(bytes.length))).update(':').update(bytes);
  }
  return h.digest('hex');
}
