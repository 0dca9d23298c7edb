/**
 * The files `hgd ingest` sends: found under the given paths, read as records (NDJSON lines, CSV rows) with the
 * file line each starts on and the row number the gateway gives it, and scanned once for size, digest and the
 * Patients of a folder's NDJSON files.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { detectCsvDelimiter, isBlankRecordText } from '../../management-layer/parse/csv-dialect';

export type FileFormat = 'fhir-json' | 'ndjson' | 'csv';

const FORMAT_BY_EXTENSION: Record<string, FileFormat> = { '.json': 'fhir-json', '.ndjson': 'ndjson', '.csv': 'csv' };

export interface InputFile {
  path: string;
  display: string;
  format: FileFormat;
}

/** One NDJSON line or one CSV record (which may span lines inside quotes). */
export interface Rec {
  text: string;
  /** 1-based line of the file where it starts. */
  line: number;
  /** Physical lines it spans. */
  lines: number;
  /** 1-based data row (CSV: the header and blank rows are not counted, as the gateway counts). */
  row: number;
}

export async function collectFiles(paths: string[]): Promise<{ files: InputFile[]; skipped: Array<{ path: string; reason: string }> }> {
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
      for (const name of (await fs.promises.readdir(p)).sort()) if (!name.startsWith('.')) await visit(path.join(p, name), false);
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

const countQuotes = (s: string): number => {
  let n = 0;
  for (let i = s.indexOf('"'); i !== -1; i = s.indexOf('"', i + 1)) n++;
  return n;
};

/** Groups a CSV file's lines into records: a record ends where its quotes balance (RFC 4180 doubles them). */
class CsvRecords {
  private pending: { text: string; line: number; lines: number; quotes: number } | null = null;
  private delimiter: string | null = null;
  private row = 0;

  /** The record the line completes, if any; the header comes with `header: true`. */
  push(line: string, lineNo: number): (Rec & { header?: true }) | undefined {
    if (this.pending) {
      this.pending.text += `\n${line}`;
      this.pending.lines++;
      this.pending.quotes += countQuotes(line);
    } else {
      this.pending = { text: line, line: lineNo, lines: 1, quotes: countQuotes(line) };
    }
    if (this.pending.quotes % 2 === 1) return undefined;
    return this.complete();
  }

  /** An unbalanced quote at the end: let the gateway say so. */
  end(): Rec | undefined {
    return this.pending ? this.complete() : undefined;
  }

  private complete(): (Rec & { header?: true }) | undefined {
    const rec = this.pending!;
    this.pending = null;
    if (this.delimiter === null) {
      if (rec.text.trim() === '') return undefined;
      this.delimiter = detectCsvDelimiter(rec.text);
      return { text: rec.text, line: rec.line, lines: rec.lines, row: 0, header: true };
    }
    if (isBlankRecordText(rec.text, this.delimiter)) return undefined; // the gateway skips it without counting it
    this.row++;
    return { text: rec.text, line: rec.line, lines: rec.lines, row: this.row };
  }
}

/** The file's records, in order, with the SHA-256 of its exact bytes once the stream ends. */
export async function* readRecords(file: InputFile, digest?: (hex: string) => void): AsyncGenerator<Rec & { header?: true }> {
  const stream = fs.createReadStream(file.path);
  const hash = createHash('sha256');
  stream.on('data', (chunk) => hash.update(chunk));
  const rl = readline.createInterface({ input: stream, crlfDelay: Infinity });
  const csv = file.format === 'csv' ? new CsvRecords() : null;
  let lineNo = 0;
  let row = 0;
  for await (const raw of rl) {
    lineNo++;
    const line = lineNo === 1 ? raw.replace(/^\uFEFF/, '') : raw;
    if (csv) {
      const rec = csv.push(line, lineNo);
      if (rec) yield rec;
    } else if (line.trim() !== '') {
      yield { text: line, line: lineNo, lines: 1, row: ++row };
    }
  }
  const last = csv?.end();
  if (last) yield last;
  digest?.(hash.digest('hex'));
}

export interface PatientLine {
  text: string;
  identifier: string;
}

/** Patient lines of a folder's NDJSON files, by "Patient/<id>"; null = ambiguous (never carried). */
export type PatientRegistry = Map<string, PatientLine | null>;

export function patientOf(text: string): { key: string; identifier: string | null } | null {
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

export interface Scanned {
  file: InputFile;
  size: number;
  mtimeMs: number;
  sha256: string;
  records: number;
  chunks: number;
}

/** Pass 1: size, mtime, SHA-256, record count; Patient lines into the folder's registry. */
export async function scanFile(file: InputFile, chunkLines: number, registry: PatientRegistry): Promise<Scanned> {
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
    if (file.format !== 'ndjson') continue;
    const p = patientOf(rec.text);
    if (!p?.identifier) continue;
    const known = registry.get(p.key);
    if (known === undefined) registry.set(p.key, { text: rec.text, identifier: p.identifier });
    else if (known !== null && known.identifier !== p.identifier) registry.set(p.key, null);
  }
  return { file, size: stat.size, mtimeMs: stat.mtimeMs, sha256, records, chunks: Math.ceil(records / chunkLines) };
}
