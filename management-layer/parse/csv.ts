/**
 * Long-format CSV: one value per row, header
 *   patient_id, code_system, code, value, unit, effective_start, effective_end   (+ optional source_id)
 * Header names are matched case-insensitively, in any order; unknown columns are ignored. The delimiter (',', ';'
 * or tab) is detected from the header line and named in errors. Quoting, CRLF/LF/CR and a UTF-8 BOM are handled
 * by csv-parse. Rows count the file's data rows from 1 (the header and blank rows are not counted); pointers are
 * '/N/<column>'; `line` is the row's first line in the file. `position` says where a part of a file starts.
 */
import { parse } from 'csv-parse/sync';
import { ParseError } from '../errors';
import {
  CSV_COLUMNS, CSV_OPTIONAL_COLUMNS, csvParseOptions, delimiterName, detectCsvDelimiter, firstNonBlankLine, headerName, isBlankRecord,
} from './csv-dialect';
import type { CsvFields, CsvItem, ParseResult, RejectedEntry, SentEntry, SourcePosition } from './types';

export { CSV_COLUMNS, CSV_OPTIONAL_COLUMNS };

export type CsvParseResult = ParseResult<CsvItem> & { kind: 'csv' };

interface Parsed {
  record: string[];
  info: { lines: number; bytes: number };
}

const LINE_BREAK = /\r\n|\n|\r/g;

/** A record's own text: the bytes it was read from without the blank lines before it and its line break. */
function recordText(slice: Buffer): string {
  return slice.toString('utf8').replace(/^\uFEFF/, '').replace(/^(?:\r\n|\n|\r)+/, '').replace(/(?:\r\n|\n|\r)$/, '');
}

/** Every record with its last line and its bytes (blank records included, to be skipped by the caller). */
function readRecords(buf: Buffer, delimiter: string): Array<Parsed & { slice: Buffer }> {
  let parsed: Parsed[];
  try {
    parsed = parse(buf, { ...csvParseOptions(delimiter), info: true }) as unknown as Parsed[];
  } catch (err) {
    const e = err as Error & { lines?: number };
    throw new ParseError(`CSV could not be read${e.lines ? ` (line ${e.lines})` : ''} with delimiter ${delimiterName(delimiter)}: ${e.message}`, '');
  }
  let prev = 0;
  return parsed.map((p) => {
    const slice = buf.subarray(prev, p.info.bytes);
    prev = p.info.bytes;
    return { ...p, slice };
  });
}

/** Column name -> index; throws naming missing or repeated columns and the delimiter the header was read with. */
function headerIndex(header: string[], delimiter: string): Map<string, number> {
  const index = new Map<string, number>();
  const duplicates: string[] = [];
  header.map(headerName).forEach((name, i) => {
    if (index.has(name)) duplicates.push(name);
    else index.set(name, i);
  });
  const missing = CSV_COLUMNS.filter((c) => !index.has(c));
  if (missing.length > 0) {
    const found = header.length === 1 ? 'one column' : `${header.length} columns`;
    throw new ParseError(
      `CSV header is missing required column${missing.length > 1 ? 's' : ''}: ${missing.join(', ')} (expected ${CSV_COLUMNS.join(', ')}; `
      + `the header was read with delimiter ${delimiterName(delimiter)} and has ${found}; HGD detects ",", ";" and tab)`,
      `/0/${missing[0]}`,
    );
  }
  const relevant = [...CSV_COLUMNS, ...CSV_OPTIONAL_COLUMNS] as readonly string[];
  const dup = duplicates.find((d) => relevant.includes(d));
  if (dup) throw new ParseError(`CSV header has column ${dup} more than once`, `/0/${dup}`);
  return index;
}

function fieldsOf(record: string[], index: Map<string, number>): CsvFields {
  const get = (c: string): string => {
    const at = index.get(c);
    return at === undefined ? '' : (record[at] ?? '').trim();
  };
  const fields: CsvFields = {
    patient_id: get('patient_id'), code_system: get('code_system'), code: get('code'), value: get('value'), unit: get('unit'),
    effective_start: get('effective_start'), effective_end: get('effective_end'),
  };
  if (index.has('source_id') && get('source_id') !== '') fields.source_id = get('source_id');
  return fields;
}

export function parseCsv(body: string | Buffer, position: SourcePosition = {}): CsvParseResult {
  const buf = Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
  const delimiter = detectCsvDelimiter(firstNonBlankLine(buf.subarray(0, 64 * 1024).toString('utf8')));
  const records = readRecords(buf, delimiter).filter((r) => !isBlankRecord(r.record));
  const header = records.shift();
  if (!header) throw new ParseError('CSV is empty: expected a header row', '/0');
  const index = headerIndex(header.record, delimiter);

  // Body line -> file line, body data row -> file row.
  const fileLine = (bodyLine: number) => (position.firstLine === undefined ? bodyLine : position.firstLine + bodyLine - header.info.lines - 1);
  const firstRow = position.firstRow ?? 1;
  const items: CsvItem[] = [];
  const errors: RejectedEntry[] = [];
  records.forEach((r, i) => {
    const row = firstRow + i;
    const text = r.slice.includes(0x22) ? recordText(r.slice) : undefined; // only a quoted field can span lines
    const startLine = r.info.lines - (text?.match(LINE_BREAK)?.length ?? 0);
    const at = { ref: `row ${row}`, pointer: `/${row}`, line: fileLine(startLine) };
    const sent: SentEntry = { shape: 'row', text: () => text ?? recordText(r.slice) };
    if (r.record.length !== header.record.length) {
      errors.push({ ...at, reason: `row has ${r.record.length} fields but the header has ${header.record.length} (delimiter ${delimiterName(delimiter)})`, sent });
      return;
    }
    items.push({ kind: 'csv', ...at, row, fields: fieldsOf(r.record, index), sent });
  });

  return { kind: 'csv', items, patients: new Map(), links: [], errors, ignored: [], csvHeader: recordText(header.slice) };
}
