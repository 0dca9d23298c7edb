/**
 * The resume state of `hgd ingest`: per target (gateway URL + provider) and per file (path, size, mtime,
 * SHA-256 of the content, chunk size), the chunks the gateway acknowledged. Written atomically.
 */
import fs from 'node:fs';
import type { FileFormat } from './files';

const STATE_VERSION = 1;

export interface BatchResult {
  batchId: string;
  status: 'stored' | 'rejected';
  accepted: number;
  duplicate: number;
  rejected: number;
  quarantine: string | null;
}

export interface ChunkState {
  batches: BatchResult[];
  /** First and last physical line of the chunk. */
  lines: [number, number];
  at: string;
}

export interface FileState {
  path: string;
  format: FileFormat;
  size: number;
  mtimeMs: number;
  sha256: string;
  chunkLines: number;
  chunks: number;
  acked: Record<string, ChunkState>;
}

export interface StateDoc {
  version: number;
  /** target ("<url> org=<org>" or "<url> key=<keyid>") -> absolute path -> state */
  targets: Record<string, Record<string, FileState>>;
}

export function readState(file: string): StateDoc {
  if (!fs.existsSync(file)) return { version: STATE_VERSION, targets: {} };
  let doc: StateDoc;
  try {
    doc = JSON.parse(fs.readFileSync(file, 'utf8')) as StateDoc;
  } catch (err) {
    throw new Error(`the state file ${file} is not valid JSON (${(err as Error).message}); move it away to start over`);
  }
  if (doc.version !== STATE_VERSION || typeof doc.targets !== 'object' || doc.targets === null) {
    throw new Error(`the state file ${file} has an unknown layout (version ${String(doc.version)}); move it away to start over`);
  }
  return doc;
}

/** Atomic: a crash leaves the old state or the new one, never half of one. */
export function writeState(file: string, doc: StateDoc): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(doc));
  fs.renameSync(tmp, file);
}

/** Who the chunks go to, to keep different providers' progress apart (the claims are not verified here). */
export function targetOf(url: string, auth: { token?: string; apiKey?: string }): string {
  if (auth.apiKey) return `${url} key=${/^hgd_([0-9a-f]{16})_/.exec(auth.apiKey.trim())?.[1] ?? '?'}`;
  try {
    const payload = JSON.parse(Buffer.from((auth.token ?? '').split('.')[1] ?? '', 'base64url').toString('utf8')) as { org?: unknown };
    return `${url} org=${typeof payload.org === 'string' ? payload.org : '?'}`;
  } catch {
    return `${url} org=?`;
  }
}
