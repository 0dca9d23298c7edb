/**
 * `hgd ingest PATH...`: sends FHIR JSON, NDJSON and CSV files (or folders of them) to a gateway's
 * POST /ingest, large NDJSON/CSV files in chunks of N lines, one POST (one server transaction) a chunk.
 *
 * - Resumable: a state file records, per target (gateway URL + provider org) and per file (path, size,
 *   mtime, SHA-256 of the content, chunk size), the chunks the gateway acknowledged; a re-run skips them.
 *   Re-sending a chunk whose answer was lost is safe: the gateway stores nothing twice.
 * - Retries a chunk with backoff on connection errors, timeouts and 5xx (the gateway may be restarting),
 *   never on 4xx. A 413 splits the chunk in halves. A 401/403 stops the run (every chunk would fail alike).
 * - NDJSON: a chunk whose Observations reference a Patient (`Patient/<id>`) that sits in another chunk
 *   (or in another .ndjson file of the same folder, as in a bulk-data export) gets that Patient line
 *   appended, so the reference resolves server-side as it would have in one upload. Patients whose id
 *   maps to different identifiers in that folder are never carried.
 * - Errors the gateway reports for a chunk ("line N", "row N") are mapped back to the file's own lines.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import cliProgress from 'cli-progress';

export type FileFormat = 'fhir-json' | 'ndjson' | 'csv';

const CONTENT_TYPE: Record<FileFormat, string> = {
  'fhir-json': 'application/fhir+json',
  ndjson: 'application/fhir+ndjson',
  csv: 'text/csv',
};
const FORMAT_BY_EXTENSION: Record<string, FileFormat> = { '.json': 'fhir-json', '.ndjson': 'ndjson', '.csv': 'csv' };
const STATE_VERSION = 1;

export interface IngestOptions {
  paths: string[];
  url: string;
  token: string;
  stateFile: string;
  /** Lines (NDJSON) or data rows (CSV) a chunk; default 2000. */
  chunkLines?: number;
  /** No progress bar; periodic plain lines instead (as when stdout is not a TTY). */
  quiet?: boolean;
  /** Chunks in flight at once; default 2. */
  concurrency?: number;
  /** Attempts after the first on connection errors / 5xx; default 5 (backoff 0.5 s, 1 s, 2 s, 4 s, 8 s). */
  retries?: number;
  retryDelayMs?: number;
  /** Per-request timeout; default 120 s. */
  timeoutMs?: number;
  /** Where to write the quarantine report; default ./hgd-ingest-report.json. */
  reportFile?: string;
  /** Where lines go (default console.log). */
  log?: (line: string) => void;
  /** Period of the plain progress lines; default 2 s. */
  progressIntervalMs?: number;
}

export interface BatchResult {
  batchId: string;
  status: 'stored' | 'rejected';
  accepted: number;
  duplicate: number;
  rejected: number;
  quarantine: string | null;
}

export interface EntryErrorInFile {
  ref: string;
  pointer: string;
  reason: string;
  /** 1-based physical line of the file, when known. */
  line?: number;
}

export interface QuarantinedBatch {
  file: string;
  chunk: number;
  /** First and last physical line of the chunk in the file. */
  lines: [number, number];
  batchId: string;
  url: string;
  rejected: number;
  /** The reasons, mapped to the file's lines (only for chunks sent in this run; earlier ones: see url). */
  errors?: EntryErrorInFile[];
  earlierRun?: boolean;
}

export interface ChunkFailure {
  file: string;
  chunk: number;
  lines: [number, number];
  error: string;
}

export interface IngestRunSummary {
  ok: boolean;
  files: number;
  skippedFiles: Array<{ path: string; reason: string }>;
  chunks: number;
  /** Chunks acknowledged in this run. */
  sent: number;
  /** Chunks skipped because an earlier run had them acknowledged. */
  resumed: number;
  /** Chunks that could not be sent (or were never tried after a fatal error). */
  failed: number;
  accepted: number;
  duplicate: number;
  rejected: number;
  /** Entries (NDJSON lines, CSV rows, JSON files) sent in this run. */
  entriesSent: number;
  millis: number;
  quarantine: QuarantinedBatch[];
  failures: ChunkFailure[];
  reportFile: string | null;
  stateFile: string;
}

// ------------------------------------------------------------------------------------------------
// State file

interface ChunkState {
  batches: BatchResult[];
  /** First and last physical line of the chunk. */
  lines: [number, number];
  at: string;
}

interface FileState {
  path: string;
  format: FileFormat;
  size: number;
  mtimeMs: number;
  sha256: string;
  chunkLines: number;
  chunks: number;
  acked: Record<string, ChunkState>;
}

interface StateDoc {
  version: number;
  /** target ("<url> org=<org>") -> absolute path -> state */
  targets: Record<string, Record<string, FileState>>;
}

function readState(file: string): StateDoc {
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
function writeState(file: string, doc: StateDoc): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(doc));
  fs.renameSync(tmp, file);
}

/** The org claim of a JWT (not verified: only to keep the state of different providers apart). */
function orgOfToken(token: string): string {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { org?: unknown };
    return typeof payload.org === 'string' ? payload.org : '?';
  } catch {
    return '?';
  }
}

// ------------------------------------------------------------------------------------------------
// Files, records, chunks

interface InputFile {
  path: string;
  display: string;
  format: FileFormat;
}

async function collectFiles(paths: string[]): Promise<{ files: InputFile[]; skipped: Array<{ path: string; reason: string }> }> {
  const files: InputFile[] = [];
  const skipped: Array<{ path: string; reason: string }> = [];
  const seen = new Set<string>();
  const visit = async (p: string, explicit: boolean): Promise<void> => {
    let stat: fs.Stats;
    try {
      stat = await fs.promises.stat(p);
    } catch {
      skipped.push({ path: p, reason: 'not found' });
      return;
    }
    if (stat.isDirectory()) {
      const names = (await fs.promises.readdir(p)).sort();
      for (const name of names) {
        if (name.startsWith('.')) continue;
        await visit(path.join(p, name), false);
      }
      return;
    }
    if (!stat.isFile()) {
      skipped.push({ path: p, reason: 'not a regular file' });
      return;
    }
    const format = FORMAT_BY_EXTENSION[path.extname(p).toLowerCase()];
    if (!format) {
      skipped.push({ path: p, reason: `not .json, .ndjson or .csv${explicit ? '' : ' (in a folder)'}` });
      return;
    }
    const abs = path.resolve(p);
    if (seen.has(abs)) return;
    seen.add(abs);
    files.push({ path: abs, display: path.relative(process.cwd(), abs) || abs, format });
  };
  for (const p of paths) await visit(p, true);
  return { files, skipped };
}

/** One NDJSON line or one CSV record (which may span lines inside quotes). */
interface Rec {
  text: string;
  /** 1-based physical line where it starts. */
  line: number;
  /** 1-based data row (CSV: the header is not counted, as the gateway counts). */
  row: number;
}

const countQuotes = (s: string): number => {
  let n = 0;
  for (let i = s.indexOf('"'); i !== -1; i = s.indexOf('"', i + 1)) n++;
  return n;
};

/** The file's records, in order, with the SHA-256 of its exact bytes once the stream ends. */
async function* readRecords(file: InputFile, digest?: (hex: string) => void): AsyncGenerator<Rec & { header?: true }> {
  const stream = fs.createReadStream(file.path);
  const hash = createHash('sha256');
  stream.on('data', (chunk) => hash.update(chunk));
  const rl = readline.createInterface({ input: stream, crlfDelay: Infinity });
  let lineNo = 0;
  let row = 0;
  let pending: { text: string; line: number; quotes: number } | null = null;
  let headerSeen = false;
  for await (const raw of rl) {
    lineNo++;
    const line = lineNo === 1 ? raw.replace(/^\uFEFF/, '') : raw;
    if (file.format === 'ndjson') {
      if (line.trim() === '') continue;
      row++;
      yield { text: line, line: lineNo, row };
      continue;
    }
    // CSV: a record ends where the quotes balance.
    if (pending) {
      pending.text += `\n${line}`;
      pending.quotes += countQuotes(line);
    } else {
      pending = { text: line, line: lineNo, quotes: countQuotes(line) };
    }
    if (pending.quotes % 2 === 1) continue;
    const rec = pending;
    pending = null;
    if (/^[\s,]*$/.test(rec.text)) continue; // the gateway skips empty records without counting them
    if (!headerSeen) {
      headerSeen = true;
      yield { text: rec.text, line: rec.line, row: 0, header: true };
      continue;
    }
    row++;
    yield { text: rec.text, line: rec.line, row };
  }
  if (pending) {
    row++;
    yield { text: pending.text, line: pending.line, row }; // unbalanced quote: let the gateway say so
  }
  digest?.(hash.digest('hex'));
}

interface PatientLine {
  text: string;
  identifier: string;
}

/** Patient lines of a folder's NDJSON files, by "Patient/<id>"; null = ambiguous (never carried). */
type PatientRegistry = Map<string, PatientLine | null>;

function patientOf(text: string): { key: string; identifier: string | null } | null {
  if (!text.includes('"Patient"')) return null;
  let r: { resourceType?: unknown; id?: unknown; identifier?: unknown };
  try {
    r = JSON.parse(text) as typeof r;
  } catch {
    return null;
  }
  if (r.resourceType !== 'Patient' || typeof r.id !== 'string' || r.id === '') return null;
  let identifier: string | null = null;
  if (Array.isArray(r.identifier)) {
    for (const id of r.identifier as Array<{ system?: unknown; value?: unknown }>) {
      if (typeof id?.system === 'string' && typeof id.value === 'string' && id.system.trim() && id.value.trim()) {
        identifier = `${id.system.trim()}|${id.value.trim()}`;
        break;
      }
    }
  }
  return { key: `Patient/${r.id}`, identifier };
}

const RELATIVE_PATIENT_REF = /"reference"\s*:\s*"(Patient\/[A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?"/g;

interface Scanned {
  file: InputFile;
  size: number;
  mtimeMs: number;
  sha256: string;
  records: number;
  chunks: number;
}

/** Pass 1: size, mtime, SHA-256, record count; Patient lines into the folder's registry. */
async function scanFile(file: InputFile, chunkLines: number, registry: PatientRegistry): Promise<Scanned> {
  const stat = await fs.promises.stat(file.path);
  if (file.format === 'fhir-json') {
    const sha256 = createHash('sha256').update(await fs.promises.readFile(file.path)).digest('hex');
    return { file, size: stat.size, mtimeMs: stat.mtimeMs, sha256, records: 1, chunks: 1 };
  }
  let sha256 = '';
  let records = 0;
  for await (const rec of readRecords(file, (hex) => (sha256 = hex))) {
    if ('header' in rec) continue;
    records++;
    if (file.format === 'ndjson') {
      const p = patientOf(rec.text);
      if (!p?.identifier) continue;
      const known = registry.get(p.key);
      if (known === undefined) registry.set(p.key, { text: rec.text, identifier: p.identifier });
      else if (known !== null && known.identifier !== p.identifier) registry.set(p.key, null);
    }
  }
  return { file, size: stat.size, mtimeMs: stat.mtimeMs, sha256, records, chunks: Math.ceil(records / chunkLines) };
}

interface Chunk {
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

const spanOf = (c: Chunk): [number, number] => (c.records.length ? [c.records[0]!.line, c.records[c.records.length - 1]!.line] : [1, 1]);

function bodyOf(chunk: Chunk, records: Rec[]): string | Buffer {
  if (chunk.whole) return chunk.whole;
  if (chunk.file.format === 'csv') return `${chunk.header ?? ''}\n${records.map((r) => r.text).join('\n')}\n`;
  const lines = records.map((r) => r.text);
  if (chunk.registry) {
    const present = new Set<string>();
    const wanted = new Set<string>();
    for (const r of records) {
      const p = patientOf(r.text);
      if (p) present.add(p.key);
      else if (r.text.includes('"Patient/')) for (const m of r.text.matchAll(RELATIVE_PATIENT_REF)) wanted.add(m[1]!);
    }
    for (const key of wanted) {
      const carried = present.has(key) ? undefined : chunk.registry.get(key);
      if (carried) lines.push(carried.text); // appended, so the chunk's own line numbers stay as they are
    }
  }
  return `${lines.join('\n')}\n`;
}

/** "line N" / "row N" / "/N/..." of a chunk -> the file's own numbering. */
function mapError(chunk: Chunk, records: Rec[], e: { ref: string; pointer: string; reason: string }): EntryErrorInFile {
  if (chunk.whole) return { ...e };
  const m = /^(line|row) (\d+)$/.exec(e.ref);
  const rec = m ? records[Number(m[2]) - 1] : undefined;
  if (!m || !rec) return { ...e };
  const fileNo = chunk.file.format === 'csv' ? rec.row : rec.line;
  const pointer = e.pointer.replace(/^\/\d+/, `/${fileNo}`);
  return { ref: `${m[1]} ${fileNo}`, pointer, reason: e.reason, line: rec.line };
}

// ------------------------------------------------------------------------------------------------
// Sending

class FatalError extends Error {}
/** The gateway did not answer at all, even after the retries: the chunks after it would fail alike. */
class UnreachableError extends FatalError {}
class RefusedError extends Error {
  constructor(message: string, readonly status: number) {
    super(message);
  }
}

type PostResult = Array<BatchResult & { errors: EntryErrorInFile[] }>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface SendContext {
  url: string;
  token: string;
  retries: number;
  retryDelayMs: number;
  timeoutMs: number;
  onRetry(chunk: Chunk, attempt: number, why: string): void;
}

async function postOnce(ctx: SendContext, chunk: Chunk, body: string | Buffer): Promise<{ status: number; json: Record<string, unknown> | null; text: string }> {
  const res = await fetch(`${ctx.url}/ingest`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ctx.token}`, 'content-type': `${CONTENT_TYPE[chunk.file.format]}; charset=utf-8` },
    body,
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

/** One POST with retries; a 413 splits the records in halves. */
async function send(ctx: SendContext, chunk: Chunk, records: Rec[]): Promise<PostResult> {
  const body = bodyOf(chunk, records);
  for (let attempt = 0; ; attempt++) {
    let why: string;
    let unreachable = false;
    try {
      const r = await postOnce(ctx, chunk, body);
      if (r.status === 200 || r.status === 422) {
        const s = r.json as (BatchResult & { errors?: Array<{ ref: string; pointer: string; reason: string }> }) | null;
        if (!s || typeof s.batchId !== 'string') throw new RefusedError(`the gateway answered ${r.status} without an ingest summary`, r.status);
        const batch: BatchResult = { batchId: s.batchId, status: s.status, accepted: s.accepted, duplicate: s.duplicate, rejected: s.rejected, quarantine: s.quarantine };
        return [{ ...batch, errors: (s.errors ?? []).map((e) => mapError(chunk, records, e)) }];
      }
      const message = typeof r.json?.message === 'string' ? r.json.message : r.text.slice(0, 200);
      if (r.status === 413 && records.length > 1) {
        const half = Math.ceil(records.length / 2);
        const a = await send(ctx, chunk, records.slice(0, half));
        const b = await send(ctx, chunk, records.slice(half));
        return [...a, ...b];
      }
      if (r.status === 401 || r.status === 403) throw new FatalError(`the gateway refused the token (${r.status}): ${message}`);
      if (r.status < 500) {
        const hint = r.status === 413 ? ' (a single entry is over the gateway\'s body limit)' : '';
        throw new RefusedError(`refused with ${r.status}: ${message}${hint}`, r.status);
      }
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

// ------------------------------------------------------------------------------------------------
// The run

export async function runIngest(opts: IngestOptions): Promise<IngestRunSummary> {
  const t0 = performance.now();
  const log = opts.log ?? ((line: string) => console.log(line));
  const chunkLines = opts.chunkLines ?? 2000;
  if (!Number.isInteger(chunkLines) || chunkLines < 1) throw new Error('--chunk must be a positive integer');
  const concurrency = Math.max(1, opts.concurrency ?? 2);
  const url = opts.url.replace(/\/+$/, '');
  if (!/^https?:\/\//.test(url)) throw new Error(`--url must be an http(s) URL, got "${opts.url}"`);
  if (!opts.token) throw new Error('no token: pass --token or set HGD_TOKEN (a provider token, e.g. from `hgd admin token --role provider --org ORG`)');
  const stateFile = path.resolve(opts.stateFile);
  const reportFile = path.resolve(opts.reportFile ?? 'hgd-ingest-report.json');

  const { files, skipped } = await collectFiles(opts.paths);
  for (const s of skipped) log(`skipping ${s.path}: ${s.reason}`);
  if (files.length === 0 && skipped.length === 0) log('no files given');

  // Pass 1: fingerprints, sizes, Patient registries (one per folder).
  const registries = new Map<string, PatientRegistry>();
  const scanned: Scanned[] = [];
  for (const f of files) {
    const dir = path.dirname(f.path);
    if (!registries.has(dir)) registries.set(dir, new Map());
    const s = await scanFile(f, chunkLines, registries.get(dir)!);
    if (s.chunks === 0) log(`${f.display} holds no entries: nothing to send`);
    scanned.push(s);
  }

  const state = readState(stateFile);
  const target = `${url} org=${orgOfToken(opts.token)}`;
  const targetState = (state.targets[target] ??= {});
  for (const s of scanned) {
    const known = targetState[s.file.path];
    const same = known && known.sha256 === s.sha256 && known.size === s.size && known.chunkLines === chunkLines && known.format === s.file.format;
    if (known && !same) {
      log(`${s.file.display} changed since the last run (or --chunk did): sending it again from the start (the gateway skips what it already has)`);
    }
    if (!same) {
      targetState[s.file.path] = { path: s.file.path, format: s.file.format, size: s.size, mtimeMs: s.mtimeMs, sha256: s.sha256, chunkLines, chunks: s.chunks, acked: {} };
    } else {
      known.mtimeMs = s.mtimeMs;
    }
  }
  fs.mkdirSync(path.dirname(stateFile), { recursive: true });
  writeState(stateFile, state);

  const summary: IngestRunSummary = {
    ok: true, files: files.length, skippedFiles: skipped, chunks: scanned.reduce((n, s) => n + s.chunks, 0),
    sent: 0, resumed: 0, failed: 0, accepted: 0, duplicate: 0, rejected: 0, entriesSent: 0, millis: 0,
    quarantine: [], failures: [], reportFile: null, stateFile,
  };
  const totalEntries = scanned.reduce((n, s) => n + s.records, 0);
  let entriesDone = 0;
  let chunksDone = 0;
  const changedDuringRun = new Set<string>();

  // Progress: a bar on a terminal, plain lines otherwise.
  const useBar = !opts.quiet && process.stdout.isTTY === true;
  const rate = () => summary.entriesSent / Math.max(0.001, (performance.now() - t0) / 1000);
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  const bar = useBar
    ? new cliProgress.SingleBar({
      stream: process.stdout,
      format: 'ingest {bar} {percentage}% | {value}/{total} entries | {rate}/s | chunks {chunks} | accepted {accepted} rejected {rejected} | eta {eta_formatted}',
      hideCursor: true,
    }, cliProgress.Presets.shades_classic)
    : null;
  const payload = () => ({ rate: fmt(rate()), chunks: `${chunksDone}/${summary.chunks}`, accepted: fmt(summary.accepted), rejected: fmt(summary.rejected) });
  const say = (line: string) => {
    if (bar) bar.stop();
    log(line);
    if (bar) bar.start(totalEntries, entriesDone, payload());
  };
  bar?.start(totalEntries, 0, payload());
  const plainLine = () => `ingest: ${fmt(entriesDone)}/${fmt(totalEntries)} entries (${totalEntries ? Math.floor((entriesDone / totalEntries) * 100) : 100}%), ${chunksDone}/${summary.chunks} chunks, ${fmt(rate())} entries/s, accepted ${fmt(summary.accepted)}, duplicate ${fmt(summary.duplicate)}, rejected ${fmt(summary.rejected)}`;
  const ticker = bar ? null : setInterval(() => log(plainLine()), opts.progressIntervalMs ?? 2000);
  const progressed = (entries: number) => {
    entriesDone += entries;
    chunksDone++;
    bar?.update(entriesDone, payload());
  };

  // Earlier runs' quarantined batches stay in the report.
  for (const s of scanned) {
    const fs_ = targetState[s.file.path]!;
    for (const [idx, c] of Object.entries(fs_.acked)) {
      for (const b of c.batches) {
        if (b.quarantine) summary.quarantine.push({ file: s.file.display, chunk: Number(idx), batchId: b.batchId, url: url + b.quarantine, rejected: b.rejected, earlierRun: true, lines: c.lines ?? [0, 0] });
      }
    }
  }

  // Pass 2: chunks, skipping the acknowledged ones.
  let fatal: string | null = null;
  async function* chunks(): AsyncGenerator<Chunk> {
    for (const s of scanned) {
      const fileState = targetState[s.file.path]!;
      if (s.file.format === 'fhir-json') {
        if (fileState.acked['0']) {
          summary.resumed++;
          progressed(1);
          continue;
        }
        const whole = await fs.promises.readFile(s.file.path);
        if (createHash('sha256').update(whole).digest('hex') !== s.sha256) changedDuringRun.add(s.file.path);
        yield { file: s.file, index: 0, records: [{ text: '', line: 1, row: 1 }], whole };
        continue;
      }
      if (Object.keys(fileState.acked).length === s.chunks) {
        // All acknowledged: no need to read it again.
        summary.resumed += s.chunks;
        entriesDone += s.records;
        chunksDone += s.chunks;
        bar?.update(entriesDone, payload());
        continue;
      }
      const registry = s.file.format === 'ndjson' ? registries.get(path.dirname(s.file.path)) : undefined;
      let header: string | undefined;
      let batch: Rec[] = [];
      let index = 0;
      const emit = function* (): Generator<Chunk> {
        const records = batch;
        batch = [];
        const i = index++;
        if (fileState.acked[String(i)]) {
          summary.resumed++;
          progressed(records.length);
          return;
        }
        yield { file: s.file, index: i, records, ...(header !== undefined ? { header } : {}), ...(registry?.size ? { registry } : {}) };
      };
      for await (const rec of readRecords(s.file, (hex) => { if (hex !== s.sha256) changedDuringRun.add(s.file.path); })) {
        if (fatal) return;
        if ('header' in rec) {
          header = rec.text;
          continue;
        }
        batch.push(rec);
        if (batch.length >= chunkLines) yield* emit();
      }
      if (batch.length > 0) yield* emit();
    }
  }

  const ctx: SendContext = {
    url,
    token: opts.token,
    retries: opts.retries ?? 5,
    retryDelayMs: opts.retryDelayMs ?? 500,
    timeoutMs: opts.timeoutMs ?? 120_000,
    onRetry: (chunk, attempt, why) => say(`${chunk.file.display} chunk ${chunk.index + 1}: ${why}; retrying (${attempt}/${opts.retries ?? 5})`),
  };
  const source = chunks();
  const worker = async () => {
    for (;;) {
      if (fatal) return;
      const next = await source.next();
      if (next.done) return;
      const chunk = next.value;
      const entries = chunk.records.length;
      try {
        const result = await send(ctx, chunk, chunk.records);
        const fileState = targetState[chunk.file.path]!;
        fileState.acked[String(chunk.index)] = { batches: result.map(({ errors: _e, ...b }) => b), lines: spanOf(chunk), at: new Date().toISOString() };
        writeState(stateFile, state);
        summary.sent++;
        summary.entriesSent += entries;
        for (const b of result) {
          summary.accepted += b.accepted;
          summary.duplicate += b.duplicate;
          summary.rejected += b.rejected;
          if (b.quarantine) {
            summary.quarantine.push({ file: chunk.file.display, chunk: chunk.index, lines: spanOf(chunk), batchId: b.batchId, url: url + b.quarantine, rejected: b.rejected, errors: b.errors });
          }
        }
        progressed(entries);
      } catch (err) {
        if (err instanceof FatalError) fatal = err.message;
        summary.failures.push({ file: chunk.file.display, chunk: chunk.index, lines: spanOf(chunk), error: (err as Error).message });
        say(`${chunk.file.display} chunk ${chunk.index + 1} (lines ${spanOf(chunk).join('-')}) NOT sent: ${(err as Error).message}`);
        chunksDone++;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    await source.return(undefined); // closes the file being read when the run stopped early
    if (ticker) clearInterval(ticker);
    bar?.stop();
  }
  if (!bar) log(plainLine());

  // A file that changed while it was being read: its acknowledgements may not match its content.
  for (const p of changedDuringRun) {
    delete targetState[p];
    log(`${path.relative(process.cwd(), p)} changed while it was being sent: its progress is forgotten, the next run sends it again (safely)`);
  }
  if (changedDuringRun.size) writeState(stateFile, state);

  summary.failed = summary.chunks - summary.sent - summary.resumed;
  summary.ok = summary.failed === 0 && changedDuringRun.size === 0;
  summary.millis = performance.now() - t0;
  summary.quarantine.sort((a, b) => a.file.localeCompare(b.file) || a.chunk - b.chunk);

  if (summary.quarantine.length || summary.failures.length) {
    const report = {
      generatedAt: new Date().toISOString(),
      gateway: url,
      stateFile,
      howToFetch: `curl -H "Authorization: Bearer $HGD_TOKEN" '<url>'   (add ?format=ndjson for the rejected entries as sent)`,
      totals: { files: summary.files, chunks: summary.chunks, sent: summary.sent, resumed: summary.resumed, failed: summary.failed, accepted: summary.accepted, duplicate: summary.duplicate, rejected: summary.rejected },
      quarantine: summary.quarantine,
      failures: summary.failures,
    };
    fs.mkdirSync(path.dirname(reportFile), { recursive: true });
    fs.writeFileSync(reportFile, `${JSON.stringify(report, null, 2)}\n`);
    summary.reportFile = reportFile;
  }

  for (const line of summaryLines(summary, fatal)) log(line);
  return summary;
}

export function summaryLines(s: IngestRunSummary, fatal: string | null = null): string[] {
  const fmt = (n: number) => n.toLocaleString('en-US');
  const secs = s.millis / 1000;
  const lines = [
    `${s.ok ? 'done' : 'INCOMPLETE'}: ${fmt(s.files)} file${s.files === 1 ? '' : 's'}${s.skippedFiles.length ? ` (${s.skippedFiles.length} skipped)` : ''}, ${fmt(s.chunks)} chunks: ${fmt(s.sent)} sent, ${fmt(s.resumed)} already acknowledged (resumed), ${fmt(s.failed)} not sent; ${secs.toFixed(1)} s, ${fmt(Math.round(s.entriesSent / Math.max(secs, 0.001)))} entries/s`,
    `  accepted ${fmt(s.accepted)}, duplicate ${fmt(s.duplicate)}, rejected ${fmt(s.rejected)} (this run)`,
  ];
  if (s.quarantine.length) {
    lines.push(`  quarantine: ${s.quarantine.length} batch${s.quarantine.length === 1 ? '' : 'es'} with rejected entries:`);
    for (const q of s.quarantine.slice(0, 20)) {
      const where = q.file.endsWith('.json') ? '' : ` chunk ${q.chunk + 1} (lines ${q.lines.join('-')})`;
      lines.push(`    ${q.url}  ${q.file}${where}${q.earlierRun ? ', earlier run' : ''}: ${q.rejected} rejected`);
    }
    if (s.quarantine.length > 20) lines.push(`    ... and ${s.quarantine.length - 20} more`);
  }
  if (s.reportFile) lines.push(`  report: ${s.reportFile}`);
  if (fatal) lines.push(`  stopped: ${fatal}`);
  if (!s.ok) lines.push(`  ${fmt(s.failed)} chunk${s.failed === 1 ? '' : 's'} could not be sent; run the same command again to resume (state: ${s.stateFile})`);
  return lines;
}

/** `hgd ingest` options as commander hands them over. */
export interface IngestCliOptions {
  url: string;
  token?: string;
  state: string;
  chunk: string;
  concurrency: string;
  retries: string;
  report: string;
  quiet?: boolean;
}

function positiveInt(raw: string, name: string, min = 1): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer >= ${min}, got "${raw}"`);
  return n;
}

/** The command: returns the exit code (0 = every chunk acknowledged, even with rejected entries). */
export async function ingestCommand(paths: string[], o: IngestCliOptions): Promise<number> {
  const summary = await runIngest({
    paths,
    url: o.url,
    token: o.token ?? '',
    stateFile: o.state,
    chunkLines: positiveInt(o.chunk, '--chunk'),
    concurrency: positiveInt(o.concurrency, '--concurrency'),
    retries: positiveInt(o.retries, '--retries', 0),
    reportFile: o.report,
    quiet: o.quiet === true,
  });
  return summary.ok ? 0 : 1;
}
