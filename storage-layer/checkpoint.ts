/**
 * Signed checkpoints (tree heads): "the ledger `origin` had `treeSize` entries with Merkle root
 * `rootHash`", as a C2SP checkpoint note (note.ts) signed by the ledger key and, once witnesses
 * have checked it, cosigned by them. A checkpoint is witnessed when a quorum of the trusted
 * witnesses cosigned it.
 */
import { signBytes, type SigningKey } from './signing-key';
import { checkpointBody, formatNote, keyId, SIG_ED25519, signatureLine, type TrustedKey } from './note';
import { nodeCrypto } from './node-crypto';
import { fromBase64, toHex, utf8 } from './bytes';

export const DEFAULT_ORIGIN = 'hgd.local/ledger';

export interface Cosignature {
  witness: string;
  /** When the witness cosigned (its clock, whole seconds), ISO 8601. */
  timestamp: string;
  /** The note signature line, as the witness sent it. */
  line: string;
}

export interface SignedCheckpoint {
  origin: string;
  treeSize: number;
  rootHash: string; // hex
  /** When the log signed it (the log's clock; not part of the signed note). */
  signedAt: string;
  /** The log key's note key ID (4 bytes, hex). */
  keyId: string;
  /** The C2SP signed note: the checkpoint, the log's signature and every cosignature below it. */
  note: string;
  cosignatures: Cosignature[];
  /** When a quorum of the configured witnesses had cosigned it (the quorum-th cosignature's time); null until then. */
  witnessedAt: string | null;
}

export interface LogSignature {
  treeSize: number;
  rootHash: Uint8Array;
  keyId: string;
  signature: Uint8Array;
  /** The note with the log's signature only. */
  note: string;
}

/** The checkpoint's note with the log's signature only (what a witness is sent). */
export function logSignedNote(c: SignedCheckpoint): string {
  return c.note.slice(0, c.note.length - c.cosignatures.reduce((n, x) => n + x.line.length, 0));
}

export function logTrustedKey(origin: string, publicKeyBase64: string): TrustedKey {
  return { name: origin, publicKey: fromBase64(publicKeyBase64) };
}

/** Signs the checkpoint note for (treeSize, root) with the ledger key; its key name is the origin. */
export function signCheckpoint(key: SigningKey, origin: string, treeSize: number, root: Uint8Array): LogSignature {
  const body = checkpointBody({ origin, treeSize, rootHash: root });
  const id = keyId(nodeCrypto, origin, SIG_ED25519, fromBase64(key.publicKeyBase64));
  const signature = signBytes(key, utf8(body));
  return { treeSize, rootHash: root, keyId: toHex(id), signature, note: formatNote(body, [signatureLine(origin, id, signature)]) };
}
