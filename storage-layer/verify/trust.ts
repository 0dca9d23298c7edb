/**
 * What an auditor trusts, given from configuration or a file and never read from the ledger:
 * the log's origin and public keys, the witnesses' names and keys, and the quorum of cosignatures
 * that makes a checkpoint witnessed. Browser-safe.
 *
 * File form (JSON): {"origin": "...", "logKeys": ["<raw Ed25519, base64>"], "witnesses":
 * [{"name": "...", "publicKey": "<base64>"}], "quorum": 2}
 */
import { fromBase64 } from '../bytes';
import type { TrustedKey } from '../note';

export interface Trust {
  origin: string;
  logKeys: TrustedKey[];
  witnesses: TrustedKey[];
  quorum: number;
}

export interface TrustFile {
  origin: string;
  logKeys: string[];
  witnesses: Array<{ name: string; publicKey: string }>;
  quorum: number;
}

function key(field: string, value: unknown): Uint8Array {
  if (typeof value !== 'string') throw new Error(`trust: ${field} must be a base64 string`);
  const raw = fromBase64(value);
  if (raw.length !== 32) throw new Error(`trust: ${field} must be a raw 32-byte Ed25519 public key`);
  return raw;
}

export function trustFromFile(file: TrustFile): Trust {
  if (typeof file.origin !== 'string' || file.origin === '') throw new Error('trust: "origin" must be a non-empty string');
  if (!Array.isArray(file.logKeys) || file.logKeys.length === 0) throw new Error('trust: "logKeys" must list at least one key');
  const witnesses = Array.isArray(file.witnesses) ? file.witnesses : [];
  if (!Number.isInteger(file.quorum) || file.quorum < 0 || file.quorum > witnesses.length) throw new Error(`trust: "quorum" must be a whole number from 0 to ${witnesses.length}`);
  return {
    origin: file.origin,
    logKeys: file.logKeys.map((k, i) => ({ name: file.origin, publicKey: key(`logKeys[${i}]`, k) })),
    witnesses: witnesses.map((w, i) => {
      if (typeof w?.name !== 'string' || w.name === '') throw new Error(`trust: witnesses[${i}].name must be a non-empty string`);
      return { name: w.name, publicKey: key(`witnesses[${i}].publicKey`, w.publicKey) };
    }),
    quorum: file.quorum,
  };
}
