/**
 * Signed checkpoints (tree heads): the statement "the ledger had `treeSize` entries with Merkle
 * root `rootHash` at `timestamp`", signed with the ledger key. The signed bytes are the RFC 8785
 * canonical JSON of the statement, so any client can re-create them.
 */
import { canonicalBytes } from './canonical-json';
import { publicKeyFromBase64, signBytes, verifyBytes, type SigningKey } from './signing-key';

export const CHECKPOINT_ORIGIN = 'hgd-ledger/v1';

export interface CheckpointStatement {
  origin: string;
  treeSize: number;
  rootHash: string; // hex
  timestamp: string; // ISO 8601 UTC
}

export interface SignedCheckpoint extends CheckpointStatement {
  keyId: string;
  signature: string; // base64 Ed25519 over canonicalBytes(statement)
}

/** A checkpoint as exported to a file kept outside the database; it carries the public key. */
export interface ExportedCheckpoint extends SignedCheckpoint {
  publicKey: string; // raw Ed25519, base64
}

export function statementOf(c: CheckpointStatement): CheckpointStatement {
  return { origin: c.origin, treeSize: c.treeSize, rootHash: c.rootHash, timestamp: c.timestamp };
}

export function signCheckpoint(key: SigningKey, treeSize: number, root: Buffer, at: Date = new Date()): SignedCheckpoint {
  const statement: CheckpointStatement = { origin: CHECKPOINT_ORIGIN, treeSize, rootHash: root.toString('hex'), timestamp: at.toISOString() };
  const signature = signBytes(key, canonicalBytes(statement)).toString('base64');
  return { ...statement, keyId: key.keyId, signature };
}

export function verifyCheckpointSignature(c: SignedCheckpoint, publicKeyBase64: string): boolean {
  return verifyBytes(publicKeyFromBase64(publicKeyBase64), canonicalBytes(statementOf(c)), Buffer.from(c.signature, 'base64'));
}

export function parseExportedCheckpoint(text: string): ExportedCheckpoint {
  const c = JSON.parse(text) as Partial<ExportedCheckpoint>;
  for (const field of ['origin', 'rootHash', 'timestamp', 'keyId', 'signature', 'publicKey'] as const) {
    if (typeof c[field] !== 'string') throw new Error(`exported checkpoint: field "${field}" is missing or not a string`);
  }
  if (!Number.isInteger(c.treeSize) || (c.treeSize as number) < 1) throw new Error('exported checkpoint: field "treeSize" must be a positive integer');
  return c as ExportedCheckpoint;
}
