/**
 * Long-format CSV: one value per row, header
 *   patient_id, code_system, code, value, unit, effective_start, effective_end   (+ optional source_id)
 * plus, optionally, the demographic columns (birth_date, sex: the catalogue's `source.csv`); a header of patient_id
 * and demographic columns alone is a demographics file (one patient a row, no observation columns).
 * Header names are matched case-insensitively, in any order; unknown columns are ignored. The delimiter (',', ';'
 * or tab) is detected from the header line and named in errors. Quoting, CRLF/LF/CR and a UTF-8 BOM are handled
 * by csv-parse. Rows count the file's data rows from 1 (the header and blank rows are not counted); pointers are
 * '/N/<column>'; `line` is the row's first line in the file. `position` says where a part of a file starts.
 */
import { parse } from 'csv-parse/sync';
import { demographicColumns } from '../demographics';
import { ParseError } from '../errors';
import {
  CSV_COLUMNS, CSV_OPTIONAL_COLUMNS, csvParseOptions, delimiterName, detectCsvDelimiter, firstNonBlankLine, headerName, isBlankRecord,
} from './csv-dialect';
import type { CsvFields, CsvItem, ParseResult, RejectedEntry, SentEntry, SourcePosition } from './types';

export { CSV_COLUMNS, CSV_OPTIONAL_COLUMNS };

export type CsvParseResult = ParseResult<CsvItem> & { kind: 'csv' };

interface Parsed {
  record: string[];
  info: { bytes: number };
}

const CR = 0x0d;
const LF = 0x0a;

/**
 * Line breaks (CRLF, LF or CR, as an editor counts them) in buf[from, to), and how many of them come before the
 * first other byte. (csv-parse's own line count takes a CRLF inside quotes for two lines.)
 */
function lineBreaks(buf: Buffer, from: number, to: number): { total: number; leading: number } {
  let total = 0;
  let leading = -1;
  for (let i = from; i < to; i++) {
    const b = buf[i];
    if (b === CR || b === LF) {
      total++;
      if (b === CR && buf[i + 1] === LF && i + 1 < to) i++;
    } else if (leading < 0) {
      leading = total;
    }
  }
  return { total, leading: leading < 0 ? total : leading };
}

/** A record's own text: the bytes it was read from without the blank lines before it and its line break. */
function recordText(slice: Buffer): string {
  return slice.toString('utf8').replace(/^\uFEFF/, '').replace(/^(?:\r\n|\n|\r)+/, '').replace(/(?:\r\n|\n|\r)$/, '');
}

/** Every record with its first line and its bytes (blank records included, to be skipped by the caller). */
function readRecords(buf: Buffer, delimiter: string): Array<Parsed & { slice: Buffer; line: number }> {
  let parsed: Parsed[];
  try {
    parsed = parse(buf, { ...csvParseOptions(delimiter), info: true }) as unknown as Parsed[];
  } catch (err) {
    const e = err as Error & { lines?: number };
    throw new ParseError(`CSV could not be read${e.lines ? ` (line ${e.lines})` : ''} with delimiter ${delimiterName(delimiter)}: ${e.message}`, '');
  }
  let prev = 0;
  let line = 1;
  return parsed.map((p) => {
    const breaks = lineBreaks(buf, prev, p.info.bytes);
    const record = { ...p, slice: buf.subarray(prev, p.info.bytes), line: line + breaks.leading };
    line += breaks.total;
    prev = p.info.bytes;
    return record;
  });
}

interface Header {
  index: Map<string, number>;
  /** The demographic columns the header has. */
  demographics: string[];
  demographicsOnly: boolean;
}

/** Column name -> index; throws naming missing or repeated columns and the delimiter the header was read with. */
function headerIndex(header: string[], delimiter: string): Header {
  const index = new Map<string, number>();
  const duplicates: string[] = [];
  header.map(headerName).forEach((name, i) => {
    if (index.has(name)) duplicates.push(name);
    else index.set(name, i);
  });
  const demographics = [...demographicColumns().keys()].filter((c) => index.has(c));
  const missing = CSV_COLUMNS.filter((c) => !index.has(c));
  const demographicsOnly = demographics.length > 0 && index.has('patient_id') && missing.length === CSV_COLUMNS.length - 1;
  if (missing.length > 0 && !demographicsOnly) {
    const found = header.length === 1 ? 'one column' : `${header.length} columns`;
    throw new ParseError(
      `CSV header is missing required column${missing.length > 1 ? 's' : ''}: ${missing.join(', ')} (expected ${CSV_COLUMNS.join(', ')}; `
      + `the header was read with delimiter ${delimiterName(delimiter)} and has ${found}; HGD detects ",", ";" and tab; `
      + `a demographics file has patient_id and ${[...demographicColumns().keys()].join(' and/or ')} only)`,
      `/0/${missing[0]}`,
    );
  }
  const relevant = [...CSV_COLUMNS, ...CSV_OPTIONAL_COLUMNS, ...demographics] as readonly string[];
  const dup = duplicates.find((d) => relevant.includes(d));
  if (dup) throw new ParseError(`CSV header has column ${dup} more than once`, `/0/${dup}`);
  return { index, demographics, demographicsOnly };
}

function fieldsOf(record: string[], { index, demographics }: Header): CsvFields {
  const get = (c: string): string => {
    const at = index.get(c);
    return at === undefined ? '' : (record[at] ?? '').trim();
  };
  const fields: CsvFields = {
    patient_id: get('patient_id'), code_system: get('code_system'), code: get('code'), value: get('value'), unit: get('unit'),
    effective_start: get('effective_start'), effective_end: get('effective_end'),
  };
  if (index.has('source_id') && get('source_id') !== '') fields.source_id = get('source_id');
  const given = demographics.filter((c) => get(c) !== '');
  if (given.length) fields.demographics = Object.fromEntries(given.map((c) => [c, get(c)]));
  return fields;
}

export function parseCsv(body: string | Buffer, position: SourcePosition = {}): CsvParseResult {
  const buf = Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
  const delimiter = detectCsvDelimiter(firstNonBlankLine(buf.subarray(0, 64 * 1024).toString('utf8')));
  const records = readRecords(buf, delimiter).filter((r) => !isBlankRecord(r.record));
  const header = records.shift();
  if (!header) throw new ParseError('CSV is empty: expected a header row', '/0');
  const columns = headerIndex(header.record, delimiter);

  // Body line -> file line, body data row -> file row.
  // The first body line after the header is the file's line `firstLine`.
  const hb = lineBreaks(header.slice, 0, header.slice.length);
  const last = header.slice[header.slice.length - 1];
  const afterHeader = header.line + hb.total - hb.leading - (last === CR || last === LF ? 1 : 0) + 1;
  const fileLine = (bodyLine: number) => (position.firstLine === undefined ? bodyLine : position.firstLine + bodyLine - afterHeader);
  const firstRow = position.firstRow ?? 1;
  const items: CsvItem[] = [];
  const errors: RejectedEntry[] = [];
  records.forEach((r, i) => {
    const row = firstRow + i;
    const at = { ref: `row ${row}`, pointer: `/${row}`, line: fileLine(r.line) };
    const sent: SentEntry = { shape: 'row', text: () => recordText(r.slice) };
    if (r.record.length !== header.record.length) {
      errors.push({ ...at, reason: `row has ${r.record.length} fields but the header has ${header.record.length} (delimiter ${delimiterName(delimiter)})`, sent });
      return;
    }
    items.push({ kind: 'csv', ...at, row, fields: fieldsOf(r.record, columns), ...(columns.demographicsOnly ? { demographicsOnly: true as const } : {}), sent });
  });

  return { kind: 'csv', items, patients: new Map(), links: [], errors, ignored: [], csvHeader: recordText(header.slice) };
}
