/**
 * Checkpoints as C2SP signed notes (c2sp.org/signed-note, c2sp.org/tlog-checkpoint) and witness
 * cosignatures (c2sp.org/tlog-cosignature, Ed25519 "cosignature/v1"). Browser-safe: hashing and
 * verification come from a LedgerCrypto.
 *
 *   <origin>\n<tree size>\n<base64 root hash>\n        the note body (the checkpoint)
 *   \n
 *   — <key name> base64(key ID || signature)\n        one line per signature
 *
 * The log signs the body with Ed25519 (signature type 0x01); a witness signs
 * "cosignature/v1\ntime <POSIX seconds>\n" || body (type 0x04) and its signature is
 * key ID || uint64 timestamp || Ed25519 signature. A key ID is SHA-256(name || "\n" || type || public key)[:4].
 */
import type { LedgerCrypto } from './crypto';
import { concatBytes, equalBytes, fromBase64, hashFromBase64, toBase64, utf8 } from './bytes';

export const SIG_ED25519 = 0x01;
export const SIG_COSIGNATURE_V1 = 0x04;
const EM_DASH = '\u2014';
const MAX_SIGNATURES = 32;

export interface CheckpointBody {
  origin: string;
  treeSize: number;
  rootHash: Uint8Array;
}

export interface NoteSignature {
  name: string;
  keyId: Uint8Array; // 4 bytes
  /** The bytes after the key ID (a signature, or timestamp || signature for a cosignature). */
  signature: Uint8Array;
  /** The whole line, with its final newline. */
  line: string;
}

export interface ParsedNote {
  body: string;
  signatures: NoteSignature[];
}

export class NoteFormatError extends Error {}

/** A trusted key: a name with an Ed25519 public key (raw, 32 bytes). */
export interface TrustedKey {
  name: string;
  publicKey: Uint8Array;
}

export function checkpointBody(c: CheckpointBody): string {
  return `${c.origin}\n${c.treeSize}\n${toBase64(c.rootHash)}\n`;
}

export function parseCheckpointBody(body: string): CheckpointBody {
  const lines = body.split('\n');
  if (lines.length < 4 || lines.at(-1) !== '' || lines.slice(0, -1).some((l) => l === '')) throw new NoteFormatError('a checkpoint has an origin, a size and a root hash line');
  const [origin, size, root] = lines as [string, string, string];
  if (!/^(0|[1-9][0-9]{0,15})$/.test(size)) throw new NoteFormatError('checkpoint tree size must be a decimal without leading zeroes');
  const rootHash = hashFromBase64(root, (why) => new NoteFormatError(why === 'base64' ? 'checkpoint root hash must be standard base64' : 'checkpoint root hash must be 32 bytes'));
  return { origin, treeSize: Number(size), rootHash };
}

export function keyId(crypto: LedgerCrypto, name: string, type: number, publicKey: Uint8Array): Uint8Array {
  return crypto.sha256(concatBytes(utf8(`${name}\n`), new Uint8Array([type]), publicKey)).subarray(0, 4);
}

export function signatureLine(name: string, id: Uint8Array, signature: Uint8Array): string {
  return `${EM_DASH} ${name} ${toBase64(concatBytes(id, signature))}\n`;
}

export function formatNote(body: string, lines: string[]): string {
  return `${body}\n${lines.join('')}`;
}

function parseSignatureLine(line: string): NoteSignature {
  const m = /^\u2014 (\S+) ([A-Za-z0-9+/=]+)$/.exec(line);
  if (!m || m[1]!.includes('+')) throw new NoteFormatError(`malformed signature line "${line.slice(0, 80)}"`);
  let raw: Uint8Array;
  try {
    raw = fromBase64(m[2]!);
  } catch {
    throw new NoteFormatError('signature is not standard base64');
  }
  if (raw.length < 5) throw new NoteFormatError('signature is too short');
  return { name: m[1]!, keyId: raw.subarray(0, 4), signature: raw.subarray(4), line: `${line}\n` };
}

/** Splits a note at its last blank line into the body (with its final newline) and the signature lines. */
export function parseNote(text: string): ParsedNote {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 && c !== 0x0a) throw new NoteFormatError('a note holds no control characters but newline');
  }
  if (!text.endsWith('\n')) throw new NoteFormatError('a note ends in a newline');
  const split = text.lastIndexOf('\n\n');
  if (split < 0) throw new NoteFormatError('a note has a blank line before its signatures');
  const lines = text.slice(split + 2, -1).split('\n');
  if (lines.length === 0 || lines.length > MAX_SIGNATURES) throw new NoteFormatError(`a note carries 1 to ${MAX_SIGNATURES} signatures`);
  return { body: text.slice(0, split + 1), signatures: lines.map(parseSignatureLine) };
}

/** The lines of a witness's add-checkpoint answer (or any list of signature lines). */
export function parseSignatureLines(text: string): NoteSignature[] {
  if (!text.endsWith('\n')) throw new NoteFormatError('signature lines end in a newline');
  return text.slice(0, -1).split('\n').map(parseSignatureLine);
}

/**
 * The log's signatures on the note that verify against a trusted key. Per signed-note, signatures
 * from unknown keys are ignored, and one from a known key that fails rejects the whole note.
 */
export function verifyLogSignature(crypto: LedgerCrypto, note: ParsedNote, trusted: TrustedKey[]): TrustedKey | null {
  let ok: TrustedKey | null = null;
  const body = utf8(note.body);
  for (const s of note.signatures) {
    const key = trusted.find((k) => k.name === s.name && equalBytes(keyId(crypto, k.name, SIG_ED25519, k.publicKey), s.keyId));
    if (!key) continue;
    if (!crypto.verifyEd25519(key.publicKey, body, s.signature)) return null;
    ok = key;
  }
  return ok;
}

export function cosignatureMessage(body: string, timestamp: number): Uint8Array {
  return utf8(`cosignature/v1\ntime ${timestamp}\n${body}`);
}

export interface VerifiedCosignature {
  witness: string;
  /** POSIX seconds. */
  timestamp: number;
  line: string;
}

/** Splits a cosignature's bytes into the timestamp and the Ed25519 signature. */
export function splitCosignature(sig: Uint8Array): { timestamp: number; signature: Uint8Array } | null {
  if (sig.length !== 8 + 64) return null;
  const t = new DataView(sig.buffer, sig.byteOffset, 8).getBigUint64(0);
  if (t > BigInt(Number.MAX_SAFE_INTEGER)) return null;
  return { timestamp: Number(t), signature: sig.subarray(8) };
}

/** The cosignatures on a checkpoint body that verify against the trusted witness keys (one per witness). */
export function verifyCosignatures(crypto: LedgerCrypto, body: string, signatures: NoteSignature[], witnesses: TrustedKey[]): VerifiedCosignature[] {
  const found = new Map<string, VerifiedCosignature>();
  for (const s of signatures) {
    const w = witnesses.find((k) => k.name === s.name && equalBytes(keyId(crypto, k.name, SIG_COSIGNATURE_V1, k.publicKey), s.keyId));
    const parts = w ? splitCosignature(s.signature) : null;
    if (!w || !parts || found.has(w.name)) continue;
    if (crypto.verifyEd25519(w.publicKey, cosignatureMessage(body, parts.timestamp), parts.signature)) {
      found.set(w.name, { witness: w.name, timestamp: parts.timestamp, line: s.line });
    }
  }
  return [...found.values()];
}
