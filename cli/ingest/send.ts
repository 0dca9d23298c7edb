/**
 * One chunk to POST /ingest: its body (the file's lines, padded so the gateway's line numbers are the file's,
 * with HGD-First-Line / HGD-First-Row saying where it starts), the provider's credentials (Bearer token or
 * X-API-Key), retries with backoff on connection errors, timeouts and 5xx, a 413 split in halves.
 */
import type { FileFormat, InputFile, PatientRegistry, Rec } from './files';
import { patientOf } from './files';
import type { BatchResult } from './state';

const CONTENT_TYPE: Record<FileFormat, string> = {
  'fhir-json': 'application/fhir+json',
  ndjson: 'application/fhir+ndjson',
  csv: 'text/csv',
};

export interface EntryErrorInFile {
  ref: string;
  pointer: string;
  reason: string;
  /** 1-based line of the file, when the gateway gives one. */
  line?: number;
}

export interface Chunk {
  file: InputFile;
  index: number;
  records: Rec[];
  /** CSV header record, repeated in every chunk. */
  header?: string;
  /** Patient lines from elsewhere that this chunk's Observations reference. */
  registry?: PatientRegistry;
  /** For JSON files: the whole document. */
  whole?: Buffer;
}

/** The gateway will not take the chunk as it is (4xx): sending it again as it is will not help. */
export class RefusedError extends Error {
  constructor(message: string, readonly status: number) {
    super(message);
  }
}
/** The run cannot go on: the credentials were refused, every chunk would fail alike. */
export class FatalError extends Error {}
/** The gateway did not answer at all, even after the retries: transient, the chunks after it would fail alike. */
export class UnreachableError extends FatalError {}

export type PostResult = Array<BatchResult & { errors: EntryErrorInFile[] }>;

export interface SendContext {
  url: string;
  auth: { token?: string; apiKey?: string };
  retries: number;
  retryDelayMs: number;
  timeoutMs: number;
  onRetry(chunk: Chunk, attempt: number, why: string): void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const RELATIVE_PATIENT_REF = /"reference"\s*:\s*"(Patient\/[A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?"/g;

export const spanOf = (c: Chunk): [number, number] => {
  const last = c.records[c.records.length - 1];
  return c.records.length ? [c.records[0]!.line, last!.line + last!.lines - 1] : [1, 1];
};

/** The records' texts on the file's own lines: blank lines where the file had lines that are not records. */
function padded(records: Rec[]): string[] {
  const out: string[] = [];
  records.forEach((r, i) => {
    const prev = records[i - 1];
    if (prev) for (let gap = r.line - (prev.line + prev.lines); gap > 0; gap--) out.push('');
    out.push(r.text);
  });
  return out;
}

/**
 * A carried Patient line with only what links it (id, identifier): its demographics (birthDate, gender) are
 * stored from its own chunk, where its line number is the file's; a copy appended here would be an entry at a
 * line number the file does not have.
 */
function linkOnly(text: string): string {
  const r = JSON.parse(text) as Record<string, unknown>;
  return JSON.stringify({ resourceType: 'Patient', id: r.id, identifier: r.identifier });
}

/** Patient lines of the folder this chunk's Observations reference but do not hold (appended after them, link only). */
function carriedPatients(records: Rec[], registry: PatientRegistry): string[] {
  const present = new Set<string>();
  const wanted = new Set<string>();
  for (const r of records) {
    const p = patientOf(r.text);
    if (p) present.add(p.key);
    else if (r.text.includes('"Patient/')) for (const m of r.text.matchAll(RELATIVE_PATIENT_REF)) wanted.add(m[1]!);
  }
  return [...wanted].flatMap((key) => {
    const carried = present.has(key) ? undefined : registry.get(key);
    return carried ? [linkOnly(carried.text)] : [];
  });
}

/** The request body and the headers saying where it starts in the file. */
export function bodyOf(chunk: Chunk, records: Rec[]): { body: string | Buffer; headers: Record<string, string> } {
  if (chunk.whole) return { body: chunk.whole, headers: {} };
  const first = records[0]!;
  if (chunk.file.format === 'csv') {
    return { body: `${chunk.header ?? ''}\n${padded(records).join('\n')}\n`, headers: { 'HGD-First-Line': String(first.line), 'HGD-First-Row': String(first.row) } };
  }
  const lines = [...padded(records), ...(chunk.registry ? carriedPatients(records, chunk.registry) : [])];
  return { body: `${lines.join('\n')}\n`, headers: { 'HGD-First-Line': String(first.line) } };
}

function authHeaders(auth: SendContext['auth']): Record<string, string> {
  return auth.apiKey ? { 'x-api-key': auth.apiKey } : { authorization: `Bearer ${auth.token ?? ''}` };
}

async function postOnce(ctx: SendContext, chunk: Chunk, req: ReturnType<typeof bodyOf>): Promise<{ status: number; json: Record<string, unknown> | null; text: string }> {
  const res = await fetch(`${ctx.url}/ingest`, {
    method: 'POST',
    headers: { ...authHeaders(ctx.auth), 'content-type': `${CONTENT_TYPE[chunk.file.format]}; charset=utf-8`, ...req.headers },
    body: req.body,
    signal: AbortSignal.timeout(ctx.timeoutMs),
  });
  const text = await res.text();
  let json: Record<string, unknown> | null = null;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = null;
  }
  return { status: res.status, json, text };
}

/** The batch of a 200/422 answer, with its errors (already numbered as the file's lines by the gateway). */
function batchOf(r: { status: number; json: Record<string, unknown> | null }): PostResult {
  const s = r.json as (BatchResult & { errors?: EntryErrorInFile[] }) | null;
  if (!s || typeof s.batchId !== 'string') throw new RefusedError(`the gateway answered ${r.status} without an ingest summary`, r.status);
  const errors = (s.errors ?? []).map((e) => ({ ref: e.ref, pointer: e.pointer, reason: e.reason, ...(typeof e.line === 'number' ? { line: e.line } : {}) }));
  return [{ batchId: s.batchId, status: s.status, accepted: s.accepted, duplicate: s.duplicate, rejected: s.rejected, quarantine: s.quarantine, errors }];
}

/** One POST with retries; a 413 splits the records in halves. */
export async function send(ctx: SendContext, chunk: Chunk, records: Rec[]): Promise<PostResult> {
  const req = bodyOf(chunk, records);
  for (let attempt = 0; ; attempt++) {
    let why: string;
    let unreachable = false;
    try {
      const r = await postOnce(ctx, chunk, req);
      if (r.status === 200 || r.status === 422) return batchOf(r);
      const message = typeof r.json?.message === 'string' ? r.json.message : r.text.slice(0, 200);
      if (r.status === 413 && records.length > 1) {
        const half = Math.ceil(records.length / 2);
        return [...(await send(ctx, chunk, records.slice(0, half))), ...(await send(ctx, chunk, records.slice(half)))];
      }
      if (r.status === 401 || r.status === 403) throw new FatalError(`the gateway refused the ${ctx.auth.apiKey ? 'API key' : 'token'} (${r.status}): ${message}`);
      if (r.status < 500) throw new RefusedError(`refused with ${r.status}: ${message}${r.status === 413 ? ' (a single entry is over the gateway\'s body limit)' : ''}`, r.status);
      why = `${r.status} ${message}`;
    } catch (err) {
      if (err instanceof FatalError || err instanceof RefusedError) throw err;
      const e = err as Error & { cause?: { code?: string; message?: string } };
      why = e.name === 'TimeoutError' ? `no answer within ${ctx.timeoutMs} ms` : (e.cause?.code ?? e.cause?.message ?? e.message);
      unreachable = true;
    }
    if (attempt >= ctx.retries) {
      const message = `gave up after ${attempt + 1} attempt${attempt ? 's' : ''}: ${why}`;
      throw unreachable ? new UnreachableError(`the gateway at ${ctx.url} is unreachable (${message})`) : new Error(message);
    }
    ctx.onRetry(chunk, attempt + 1, why);
    const delay = Math.min(ctx.retryDelayMs * 2 ** attempt, 30_000);
    await sleep(delay / 2 + Math.random() * (delay / 2));
  }
}
