/**
 * A checkpoint exported to a file kept outside the database (`hgd ledger checkpoint --export`):
 * the signed note with its cosignatures, the trust it was exported under, and the leaf hashes of
 * every entry it covers, so a later verification can name the first entry that differs from it
 * (a root alone says only that something before it changed). 32 bytes an entry: about 43 MB of
 * base64 at a million entries.
 */
import type { SignedCheckpoint } from './checkpoint';
import type { TrustFile } from './verify/trust';
import type { ExternalCheckpoint } from './verify/verifier';
import { fromBase64, toBase64 } from './bytes';

export interface ExportedCheckpoint extends SignedCheckpoint {
  /** The keys this checkpoint was exported under (for reference; a verifier takes its trust from configuration or --trust). */
  trust: TrustFile;
  /** Leaf hashes of entries 0..treeSize-1, 32 bytes each, concatenated, base64. */
  leaves: string;
}

export function exportCheckpoint(checkpoint: SignedCheckpoint, trust: TrustFile, leaves: Uint8Array): ExportedCheckpoint {
  return { ...checkpoint, trust, leaves: toBase64(leaves) };
}

export function parseExportedCheckpoint(text: string, label = 'the exported checkpoint'): ExternalCheckpoint & { trust?: TrustFile } {
  let c: Partial<ExportedCheckpoint>;
  try {
    c = JSON.parse(text) as Partial<ExportedCheckpoint>;
  } catch {
    throw new Error(`${label}: not JSON`);
  }
  if (typeof c.note !== 'string') throw new Error(`${label}: field "note" (the signed checkpoint note) is missing or not a string`);
  if (c.leaves !== undefined && typeof c.leaves !== 'string') throw new Error(`${label}: field "leaves" must be base64`);
  return { label, note: c.note, ...(c.leaves ? { leaves: fromBase64(c.leaves) } : {}), ...(c.trust ? { trust: c.trust } : {}) };
}
