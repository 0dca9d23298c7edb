/**
 * The key directory of the MPC deployment: every party's Ed25519 signing and X25519 encryption public
 * keys (every request and answer body between the parties is sealed to its recipient, sealed-body.ts).
 *
 * Layout under `config.nodes.keysDir` (one file per party, so parties that start together never race
 * on a shared file; each file is written to a temporary name and renamed into place):
 *   gateway.pub.json   { "party": "gateway", "sign": "<raw Ed25519 public key, base64>", "encrypt": "<raw X25519 public key, base64>" }
 *   node-1.pub.json    { "party": "node-1", "sign": "...", "encrypt": "..." }
 * Private keys stay with their owner: node-<i>-ed25519.pem, node-<i>-x25519.pem, and the gateway's
 * gateway-nodes-ed25519.pem, gateway-nodes-x25519.pem (PKCS#8, mode 0600).
 * `readKeyDirectory` returns the combined view { parties: { gateway: {sign}, 'node-1': {sign, encrypt} } }.
 *
 * Trust assumption (deployment): whoever can write to keysDir can impersonate a party. In production the
 * directory is distributed out of band (read-only mount, configuration management).
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ValidationError } from '../storage-layer/errors';
import { loadOrCreatePrivateKey, publicKeyFromBase64, type SigningKey } from '../storage-layer/signing-key';

export interface PartyKeys {
  /** Raw 32-byte Ed25519 public key, base64. */
  sign: string;
  /** Raw 32-byte X25519 public key, base64 (a party without one can be neither asked nor answered). */
  encrypt?: string;
}

export interface KeyDirectoryView {
  parties: Record<string, PartyKeys>;
}

export interface EncryptionKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** Raw 32-byte X25519 public key, base64. */
  publicKeyBase64: string;
}

/** A party as it sends and receives: its name and its two private keys. */
export interface PartyIdentity {
  party: string;
  signingKey: SigningKey;
  encryptionKey: EncryptionKey;
}

/** Where the other parties' public keys are found (a KeyDirectory, or fixed keys in tests). */
export interface PartyKeyLookup {
  signingKey(party: string): KeyObject | undefined;
  encryptionKey(party: string): KeyObject | undefined;
}

const PARTY = /^(?:gateway|node-[1-9][0-9]{0,3})$/;
const SUFFIX = '.pub.json';
const X25519_SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

export function nodeParty(id: number): string {
  return `node-${id}`;
}

/** The node id of 'node-<id>', undefined for any other party. */
export function nodeIdOfParty(party: string): number | undefined {
  const m = /^node-([1-9][0-9]{0,3})$/.exec(party);
  return m ? Number(m[1]) : undefined;
}

export function nodeKeyFiles(keysDir: string, id: number): { signing: string; encryption: string } {
  return {
    signing: path.join(keysDir, `node-${id}-ed25519.pem`),
    encryption: path.join(keysDir, `node-${id}-x25519.pem`),
  };
}

export function x25519PublicKeyFromBase64(raw: string): KeyObject {
  const bytes = Buffer.from(raw, 'base64');
  if (bytes.length !== 32) throw new ValidationError('an X25519 public key has 32 bytes', 'encrypt');
  return createPublicKey({ key: Buffer.concat([X25519_SPKI_PREFIX, bytes]), format: 'der', type: 'spki' });
}

export function rawX25519PublicKey(key: KeyObject): Buffer {
  return key.export({ format: 'der', type: 'spki' }).subarray(X25519_SPKI_PREFIX.length);
}

function fromPrivate(privateKey: KeyObject): EncryptionKey {
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, publicKeyBase64: rawX25519PublicKey(publicKey).toString('base64') };
}

/** Loads the X25519 key at `file`, or creates it there (mode 0600, atomically: concurrent starts agree). */
export function loadOrCreateEncryptionKey(file: string): EncryptionKey {
  return fromPrivate(loadOrCreatePrivateKey(file, 'x25519'));
}

/** Writes `${keysDir}/${party}.pub.json` atomically (temporary file + rename); no-op when unchanged. */
export function publishPartyKeys(keysDir: string, party: string, keys: PartyKeys): void {
  if (!PARTY.test(party)) throw new ValidationError(`invalid party name ${party}`, 'party');
  const file = path.join(keysDir, `${party}${SUFFIX}`);
  const text = `${JSON.stringify({ party, ...keys })}\n`;
  try {
    if (fs.readFileSync(file, 'utf8') === text) return;
  } catch {
    // not published yet
  }
  fs.mkdirSync(keysDir, { recursive: true });
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  fs.writeFileSync(tmp, text, { mode: 0o644 });
  fs.renameSync(tmp, file);
}

/**
 * The gateway as a party: `signingKey`, and its X25519 key at `encryptionKeyFile` (created on first
 * use, mode 0600); publishes both public keys as gateway.pub.json.
 */
export function gatewayIdentity(keysDir: string, signingKey: SigningKey, encryptionKeyFile: string): PartyIdentity {
  const encryptionKey = loadOrCreateEncryptionKey(encryptionKeyFile);
  publishPartyKeys(keysDir, 'gateway', { sign: signingKey.publicKeyBase64, encrypt: encryptionKey.publicKeyBase64 });
  return { party: 'gateway', signingKey, encryptionKey };
}

/** All published public keys. Malformed files are skipped. */
export function readKeyDirectory(keysDir: string): KeyDirectoryView {
  const parties: Record<string, PartyKeys> = {};
  let names: string[];
  try {
    names = fs.readdirSync(keysDir);
  } catch {
    return { parties };
  }
  for (const name of names) {
    if (!name.endsWith(SUFFIX)) continue;
    const party = name.slice(0, -SUFFIX.length);
    if (!PARTY.test(party)) continue;
    try {
      const data = JSON.parse(fs.readFileSync(path.join(keysDir, name), 'utf8')) as Partial<PartyKeys> & { party?: string };
      if (data.party !== party || typeof data.sign !== 'string') continue;
      parties[party] = { sign: data.sign, ...(typeof data.encrypt === 'string' ? { encrypt: data.encrypt } : {}) };
    } catch {
      // skip a file being replaced or malformed
    }
  }
  return { parties };
}

/**
 * A cached reader of the key directory. It re-reads the folder when a party is unknown or the cache is
 * older than `maxAgeMs` (so a node that starts later, or a rotated key, is picked up).
 */
export class KeyDirectory implements PartyKeyLookup {
  private view: KeyDirectoryView = { parties: {} };
  private readAt = -Infinity;
  private readonly signKeys = new Map<string, KeyObject>();
  private readonly encryptKeys = new Map<string, KeyObject>();

  constructor(
    readonly keysDir: string,
    private readonly maxAgeMs = 5_000,
  ) {}

  refresh(): void {
    this.view = readKeyDirectory(this.keysDir);
    this.readAt = Date.now();
    this.signKeys.clear();
    this.encryptKeys.clear();
  }

  /** The keys of `party`; re-read when stale, or (at most once a second) when it or its `need` key is missing. */
  private entry(party: string, need: keyof PartyKeys = 'sign'): PartyKeys | undefined {
    const stale = Date.now() - this.readAt > this.maxAgeMs;
    if (stale || this.view.parties[party]?.[need] === undefined) {
      if (stale || Date.now() - this.readAt > 1_000) this.refresh();
    }
    return this.view.parties[party];
  }

  /** The parsed key of `party` from `cache`, parsing `raw` once; undefined when absent or malformed. */
  private cached(cache: Map<string, KeyObject>, party: string, raw: string | undefined, parse: (raw: string) => KeyObject): KeyObject | undefined {
    if (raw === undefined) return undefined;
    let key = cache.get(party);
    if (!key) {
      try {
        key = parse(raw);
      } catch {
        return undefined;
      }
      cache.set(party, key);
    }
    return key;
  }

  /** Ed25519 public key of `party`, undefined when unknown. */
  signingKey(party: string): KeyObject | undefined {
    return this.cached(this.signKeys, party, this.entry(party)?.sign, publicKeyFromBase64);
  }

  /** X25519 public key of `party`, undefined when unknown. */
  encryptionKey(party: string): KeyObject | undefined {
    return this.cached(this.encryptKeys, party, this.entry(party, 'encrypt')?.encrypt, x25519PublicKeyFromBase64);
  }

  parties(): KeyDirectoryView {
    this.entry('gateway');
    return this.view;
  }
}
