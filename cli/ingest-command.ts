/**
 * `hgd ingest PATH...`: sends FHIR JSON, NDJSON and CSV files (or folders of them) to a gateway's
 * POST /ingest, large NDJSON/CSV files in chunks of N lines, one POST (one server transaction) a chunk.
 *
 * - Resumable: a state file (cli/ingest/state.ts) records, per target and per file, the chunks the gateway
 *   acknowledged; a re-run skips them. Re-sending a chunk whose answer was lost is safe: the gateway answers a
 *   repeated batch from the first one and stores nothing twice.
 * - Retries a chunk with backoff on connection errors, timeouts and 5xx (the gateway may be restarting),
 *   never on 4xx. A 413 splits the chunk in halves. A 401/403 stops the run (every chunk would fail alike).
 *   Only transient failures end with "run the same command again to resume"; a refused chunk needs a fix first.
 * - NDJSON: a chunk whose Observations reference a Patient (`Patient/<id>`) that sits in another chunk
 *   (or in another .ndjson file of the same folder, as in a bulk-data export) gets that Patient line
 *   appended (its id and identifier only: its birthDate and gender are stored from its own chunk), so the
 *   reference resolves server-side as it would have in one upload. Patients whose id
 *   maps to different identifiers in that folder are never carried.
 * - Line numbers are the file's everywhere: a chunk keeps the file's lines (HGD-First-Line, HGD-First-Row), so
 *   the gateway's answer, its quarantine and this report agree.
 *
 * The run, by step: settingsOf → scanAll → syncState → (earlier quarantine) → chunksOf + workers → finish.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { collectFiles, readRecords, scanFile, type PatientRegistry, type Rec, type Scanned } from './ingest/files';
import { Progress } from './ingest/progress';
import { FatalError, RefusedError, UnreachableError, send, spanOf, type Chunk, type EntryErrorInFile, type SendContext } from './ingest/send';
import { readState, targetOf, writeState, type FileState, type StateDoc } from './ingest/state';

export type { FileFormat } from './ingest/files';
export type { BatchResult } from './ingest/state';
export type { EntryErrorInFile } from './ingest/send';

export interface IngestOptions {
  paths: string[];
  url: string;
  /** A provider's JWT (sent as Bearer), or an API key (sent as X-API-Key); exactly one. */
  token?: string;
  apiKey?: string;
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

export interface QuarantinedBatch {
  file: string;
  chunk: number;
  /** First and last physical line of the chunk in the file. */
  lines: [number, number];
  batchId: string;
  url: string;
  rejected: number;
  /** The reasons, with the file's lines (only for chunks sent in this run; earlier ones: see url). */
  errors?: EntryErrorInFile[];
  earlierRun?: boolean;
}

export interface ChunkFailure {
  file: string;
  chunk: number;
  lines: [number, number];
  error: string;
  /** A connection error, timeout or 5xx: the same command may succeed later. Otherwise the gateway refused it. */
  transient: boolean;
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
  /** Why the run stopped early, if it did. */
  stopped: string | null;
}

// ------------------------------------------------------------------------------------------------
// Steps

interface Settings {
  url: string;
  auth: { token?: string; apiKey?: string };
  chunkLines: number;
  concurrency: number;
  stateFile: string;
  reportFile: string;
  log: (line: string) => void;
}

function settingsOf(opts: IngestOptions): Settings {
  const chunkLines = opts.chunkLines ?? 2000;
  if (!Number.isInteger(chunkLines) || chunkLines < 1) throw new Error('--chunk must be a positive integer');
  const url = opts.url.replace(/\/+$/, '');
  if (!/^https?:\/\//.test(url)) throw new Error(`--url must be an http(s) URL, got "${opts.url}"`);
  if (opts.token && opts.apiKey) throw new Error('give a token (--token, HGD_TOKEN) or an API key (--api-key, HGD_API_KEY), not both');
  if (!opts.token && !opts.apiKey) {
    throw new Error('no credentials: pass --token or set HGD_TOKEN (e.g. from `hgd admin token --role provider --org ORG`), or pass --api-key or set HGD_API_KEY (from `hgd admin key create --org ORG`)');
  }
  return {
    url,
    auth: opts.apiKey ? { apiKey: opts.apiKey } : { token: opts.token! },
    chunkLines,
    concurrency: Math.max(1, opts.concurrency ?? 2),
    stateFile: path.resolve(opts.stateFile),
    reportFile: path.resolve(opts.reportFile ?? 'hgd-ingest-report.json'),
    log: opts.log ?? ((line: string) => console.log(line)),
  };
}

/** Pass 1: the files, their fingerprints and sizes, and the Patient registry of each folder. */
async function scanAll(paths: string[], s: Settings) {
  const { files, skipped } = await collectFiles(paths);
  for (const f of skipped) s.log(`skipping ${f.path}: ${f.reason}`);
  if (files.length === 0 && skipped.length === 0) s.log('no files given');
  const registries = new Map<string, PatientRegistry>();
  const scanned: Scanned[] = [];
  for (const f of files) {
    const dir = path.dirname(f.path);
    if (!registries.has(dir)) registries.set(dir, new Map());
    const sc = await scanFile(f, s.chunkLines, registries.get(dir)!);
    if (sc.chunks === 0) s.log(`${f.display} holds no entries: nothing to send`);
    scanned.push(sc);
  }
  return { files, skipped, scanned, registries };
}

/** The target's state, with files that changed since the last run (or whose chunking did) started afresh. */
function syncState(s: Settings, scanned: Scanned[]): { state: StateDoc; files: Record<string, FileState> } {
  const state = readState(s.stateFile);
  const files = (state.targets[targetOf(s.url, s.auth)] ??= {});
  for (const sc of scanned) {
    const known = files[sc.file.path];
    const same = known && known.sha256 === sc.sha256 && known.size === sc.size && known.chunkLines === s.chunkLines && known.format === sc.file.format;
    if (known && !same) s.log(`${sc.file.display} changed since the last run (or --chunk did): sending it again from the start (the gateway skips what it already has)`);
    if (same) known.mtimeMs = sc.mtimeMs;
    else files[sc.file.path] = { path: sc.file.path, format: sc.file.format, size: sc.size, mtimeMs: sc.mtimeMs, sha256: sc.sha256, chunkLines: s.chunkLines, chunks: sc.chunks, acked: {} };
  }
  fs.mkdirSync(path.dirname(s.stateFile), { recursive: true });
  writeState(s.stateFile, state);
  return { state, files };
}

/** Earlier runs' quarantined batches stay in the report. */
function earlierQuarantine(s: Settings, scanned: Scanned[], files: Record<string, FileState>): QuarantinedBatch[] {
  return scanned.flatMap((sc) => Object.entries(files[sc.file.path]!.acked).flatMap(([idx, c]) => c.batches.flatMap((b) => (b.quarantine
    ? [{ file: sc.file.display, chunk: Number(idx), batchId: b.batchId, url: s.url + b.quarantine, rejected: b.rejected, earlierRun: true, lines: c.lines ?? [0, 0] }]
    : []))));
}

/** What the chunk source and the workers share while the run goes on. */
interface RunState {
  s: Settings;
  stateDoc: StateDoc;
  files: Record<string, FileState>;
  registries: Map<string, PatientRegistry>;
  summary: IngestRunSummary;
  progress: Progress;
  changed: Set<string>;
  fatal: string | null;
}

/** Pass 2: the chunks still to send, file by file, skipping the acknowledged ones. */
async function* chunksOf(run: RunState, scanned: Scanned[]): AsyncGenerator<Chunk> {
  for (const sc of scanned) {
    const state = run.files[sc.file.path]!;
    if (sc.file.format === 'fhir-json') {
      if (state.acked['0']) {
        run.summary.resumed++;
        run.progress.advance(1);
        continue;
      }
      const whole = await fs.promises.readFile(sc.file.path);
      if (createHash('sha256').update(whole).digest('hex') !== sc.sha256) run.changed.add(sc.file.path);
      yield { file: sc.file, index: 0, records: [{ text: '', line: 1, lines: 1, row: 1 }], whole };
      continue;
    }
    if (Object.keys(state.acked).length === sc.chunks) {
      run.summary.resumed += sc.chunks; // all acknowledged: no need to read it again
      run.progress.advance(sc.records, sc.chunks);
      continue;
    }
    yield* chunksOfFile(run, sc, state);
  }
}

async function* chunksOfFile(run: RunState, sc: Scanned, state: FileState): AsyncGenerator<Chunk> {
  const registry = sc.file.format === 'ndjson' ? run.registries.get(path.dirname(sc.file.path)) : undefined;
  let header: string | undefined;
  let batch: Rec[] = [];
  let index = 0;
  const emit = (): Chunk | undefined => {
    const records = batch;
    batch = [];
    const i = index++;
    if (state.acked[String(i)]) {
      run.summary.resumed++;
      run.progress.advance(records.length);
      return undefined;
    }
    return { file: sc.file, index: i, records, ...(header !== undefined ? { header } : {}), ...(registry?.size ? { registry } : {}) };
  };
  for await (const rec of readRecords(sc.file, (hex) => { if (hex !== sc.sha256) run.changed.add(sc.file.path); })) {
    if (run.fatal) return;
    if ('header' in rec) {
      header = rec.text;
      continue;
    }
    batch.push(rec);
    if (batch.length >= run.s.chunkLines) {
      const c = emit();
      if (c) yield c;
    }
  }
  if (batch.length > 0) {
    const c = emit();
    if (c) yield c;
  }
}

/** Sends one chunk and books its answer (or its failure). */
async function sendChunk(run: RunState, ctx: SendContext, chunk: Chunk): Promise<void> {
  const { summary } = run;
  try {
    const result = await send(ctx, chunk, chunk.records);
    run.files[chunk.file.path]!.acked[String(chunk.index)] = { batches: result.map(({ errors: _e, ...b }) => b), lines: spanOf(chunk), at: new Date().toISOString() };
    writeState(run.s.stateFile, run.stateDoc);
    summary.sent++;
    summary.entriesSent += chunk.records.length;
    for (const b of result) {
      summary.accepted += b.accepted;
      summary.duplicate += b.duplicate;
      summary.rejected += b.rejected;
      if (b.quarantine) summary.quarantine.push({ file: chunk.file.display, chunk: chunk.index, lines: spanOf(chunk), batchId: b.batchId, url: ctx.url + b.quarantine, rejected: b.rejected, errors: b.errors });
    }
    run.progress.advance(chunk.records.length);
  } catch (err) {
    if (err instanceof FatalError) run.fatal = err.message;
    const transient = err instanceof UnreachableError || !(err instanceof FatalError || err instanceof RefusedError);
    summary.failures.push({ file: chunk.file.display, chunk: chunk.index, lines: spanOf(chunk), error: (err as Error).message, transient });
    run.progress.say(`${chunk.file.display} chunk ${chunk.index + 1} (lines ${spanOf(chunk).join('-')}) NOT sent: ${(err as Error).message}`);
    run.progress.advance(0);
  }
}

/** A file that changed while it was read: its acknowledgements may not match its content, so they are dropped. */
function forgetChanged(run: RunState): void {
  for (const p of run.changed) {
    delete run.files[p];
    run.s.log(`${path.relative(process.cwd(), p)} changed while it was being sent: its progress is forgotten, the next run sends it again (safely)`);
  }
  if (run.changed.size) writeState(run.s.stateFile, run.stateDoc);
}

/** The report file, written when entries were rejected or chunks not sent. */
function writeReport(s: Settings, summary: IngestRunSummary): void {
  if (!summary.quarantine.length && !summary.failures.length) return;
  const credentials = s.auth.apiKey ? '-H "X-API-Key: $HGD_API_KEY"' : '-H "Authorization: Bearer $HGD_TOKEN"';
  const report = {
    generatedAt: new Date().toISOString(),
    gateway: s.url,
    stateFile: summary.stateFile,
    howToFetch: `curl ${credentials} '<url>'   (add ?format=ndjson, ?format=csv or ?format=json for the rejected entries as sent)`,
    totals: { files: summary.files, chunks: summary.chunks, sent: summary.sent, resumed: summary.resumed, failed: summary.failed, accepted: summary.accepted, duplicate: summary.duplicate, rejected: summary.rejected },
    quarantine: summary.quarantine,
    failures: summary.failures,
  };
  fs.mkdirSync(path.dirname(s.reportFile), { recursive: true });
  fs.writeFileSync(s.reportFile, `${JSON.stringify(report, null, 2)}\n`);
  summary.reportFile = s.reportFile;
}

export async function runIngest(opts: IngestOptions): Promise<IngestRunSummary> {
  const t0 = performance.now();
  const s = settingsOf(opts);
  const { files, skipped, scanned, registries } = await scanAll(opts.paths, s);
  const { state, files: fileStates } = syncState(s, scanned);
  const summary: IngestRunSummary = {
    ok: true, files: files.length, skippedFiles: skipped, chunks: scanned.reduce((n, sc) => n + sc.chunks, 0),
    sent: 0, resumed: 0, failed: 0, accepted: 0, duplicate: 0, rejected: 0, entriesSent: 0, millis: 0,
    quarantine: earlierQuarantine(s, scanned, fileStates), failures: [], reportFile: null, stateFile: s.stateFile, stopped: null,
  };
  const progress = new Progress(scanned.reduce((n, sc) => n + sc.records, 0), summary.chunks, summary, s.log, { quiet: opts.quiet === true, intervalMs: opts.progressIntervalMs ?? 2000 });
  const run: RunState = { s, stateDoc: state, files: fileStates, registries, summary, progress, changed: new Set(), fatal: null };
  const retries = opts.retries ?? 5;
  const ctx: SendContext = {
    url: s.url, auth: s.auth, retries, retryDelayMs: opts.retryDelayMs ?? 500, timeoutMs: opts.timeoutMs ?? 120_000,
    onRetry: (chunk, attempt, why) => progress.say(`${chunk.file.display} chunk ${chunk.index + 1}: ${why}; retrying (${attempt}/${retries})`),
  };
  const source = chunksOf(run, scanned);
  const worker = async () => {
    while (!run.fatal) {
      const next = await source.next();
      if (next.done) return;
      await sendChunk(run, ctx, next.value);
    }
  };
  try {
    await Promise.all(Array.from({ length: s.concurrency }, worker));
  } finally {
    await source.return(undefined); // closes the file being read when the run stopped early
    progress.stop();
  }
  forgetChanged(run);
  summary.failed = summary.chunks - summary.sent - summary.resumed;
  summary.ok = summary.failed === 0 && run.changed.size === 0;
  summary.stopped = run.fatal;
  summary.millis = performance.now() - t0;
  summary.quarantine.sort((a, b) => a.file.localeCompare(b.file) || a.chunk - b.chunk);
  writeReport(s, summary);
  for (const line of summaryLines(summary)) s.log(line);
  return summary;
}

/** What to do next, from the kinds of failure: resume after transient ones only. */
function adviceLines(s: IngestRunSummary): string[] {
  if (s.ok) return [];
  const fmt = (n: number) => n.toLocaleString('en-US');
  const refused = s.failures.filter((f) => !f.transient).length;
  const transient = s.failures.filter((f) => f.transient).length;
  const untried = s.failed - refused - transient;
  const lines: string[] = [];
  if (refused) lines.push(`  ${fmt(refused)} chunk${refused === 1 ? ' was' : 's were'} refused by the gateway: fix what it says (see the report) before sending again; resuming as they are would fail the same way`);
  if (transient || (untried > 0 && !refused)) lines.push(`  ${fmt(s.failed - refused)} chunk${s.failed - refused === 1 ? '' : 's'} could not be sent; run the same command again to resume (state: ${s.stateFile})`);
  else if (untried > 0) lines.push(`  ${fmt(untried)} chunk${untried === 1 ? ' was' : 's were'} not tried after the run stopped`);
  if (!s.failures.length && s.failed === 0) lines.push(`  a file changed while it was sent: run the same command again (state: ${s.stateFile})`);
  return lines;
}

export function summaryLines(s: IngestRunSummary): string[] {
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
  if (s.stopped) lines.push(`  stopped: ${s.stopped}`);
  return [...lines, ...adviceLines(s)];
}

/** `hgd ingest` options as commander hands them over (url, token, apiKey default to the Config's client). */
export interface IngestCliOptions {
  url?: string;
  token?: string;
  apiKey?: string;
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
export async function ingestCommand(paths: string[], o: IngestCliOptions, client: { url: string; token: string | undefined; apiKey: string | undefined }): Promise<number> {
  // Flags win over the environment; a flag for one kind of credential drops the other kind from the environment.
  const token = o.token ?? (o.apiKey ? undefined : client.token);
  const apiKey = o.apiKey ?? (o.token ? undefined : client.apiKey);
  const summary = await runIngest({
    paths,
    url: o.url ?? client.url,
    ...(token ? { token } : {}),
    ...(apiKey ? { apiKey } : {}),
    stateFile: o.state,
    chunkLines: positiveInt(o.chunk, '--chunk'),
    concurrency: positiveInt(o.concurrency, '--concurrency'),
    retries: positiveInt(o.retries, '--retries', 0),
    reportFile: o.report,
    quiet: o.quiet === true,
  });
  return summary.ok ? 0 : 1;
}
