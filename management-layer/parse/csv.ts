/**
 * Long-format CSV: one value per row, header
 *   patient_id, code_system, code, value, unit, effective_start, effective_end   (+ optional source_id)
 * Header names are matched case-insensitively, in any order; unknown columns are ignored. Quoting, CRLF/LF/CR and a
 * UTF-8 BOM are handled by csv-parse. Row N counts data rows from 1 (the header is not counted); pointers are '/N/<column>'.
 */
import { parse } from 'csv-parse/sync';
import { ParseError } from '../errors';
import type { CsvFields, CsvItem, EntryError, ParseResult } from './types';

export const CSV_COLUMNS = ['patient_id', 'code_system', 'code', 'value', 'unit', 'effective_start', 'effective_end'] as const;
export const CSV_OPTIONAL_COLUMNS = ['source_id'] as const;

export type CsvParseResult = ParseResult<CsvItem> & { kind: 'csv' };

export function parseCsv(body: string | Buffer): CsvParseResult {
  const text = Buffer.isBuffer(body) ? body.toString('utf8') : body;
  let records: string[][];
  try {
    records = parse(text, {
      bom: true,
      relax_column_count: true,
      skip_empty_lines: true,
      record_delimiter: ['\r\n', '\n', '\r'],
    }) as string[][];
  } catch (err) {
    const e = err as Error & { lines?: number };
    throw new ParseError(`CSV could not be read${e.lines ? ` (line ${e.lines})` : ''}: ${e.message}`, '');
  }
  records = records.filter((r) => r.some((f) => f.trim() !== ''));
  const header = records.shift();
  if (!header) throw new ParseError('CSV is empty: expected a header row', '/0');

  const names = header.map((h) => h.replace(/^\uFEFF/, '').trim().toLowerCase());
  const index = new Map<string, number>();
  const duplicates: string[] = [];
  names.forEach((name, i) => {
    if (index.has(name)) duplicates.push(name);
    else index.set(name, i);
  });
  const missing = CSV_COLUMNS.filter((c) => !index.has(c));
  if (missing.length > 0) {
    throw new ParseError(
      `CSV header is missing required column${missing.length > 1 ? 's' : ''}: ${missing.join(', ')} (expected ${CSV_COLUMNS.join(', ')})`,
      `/0/${missing[0]}`,
    );
  }
  const relevant = [...CSV_COLUMNS, ...CSV_OPTIONAL_COLUMNS] as readonly string[];
  const dup = duplicates.find((d) => relevant.includes(d));
  if (dup) throw new ParseError(`CSV header has column ${dup} more than once`, `/0/${dup}`);

  const items: CsvItem[] = [];
  const errors: EntryError[] = [];
  records.forEach((record, i) => {
    const row = i + 1;
    const ref = `row ${row}`;
    if (record.length !== header.length) {
      errors.push({ ref, pointer: `/${row}`, reason: `row has ${record.length} fields but the header has ${header.length}` });
      return;
    }
    const get = (c: string): string => {
      const at = index.get(c);
      return at === undefined ? '' : (record[at] ?? '').trim();
    };
    const fields: CsvFields = {
      patient_id: get('patient_id'),
      code_system: get('code_system'),
      code: get('code'),
      value: get('value'),
      unit: get('unit'),
      effective_start: get('effective_start'),
      effective_end: get('effective_end'),
    };
    if (index.has('source_id') && get('source_id') !== '') fields.source_id = get('source_id');
    items.push({ kind: 'csv', ref, pointer: `/${row}`, row, fields });
  });

  return { kind: 'csv', items, patients: new Map(), errors, ignored: [] };
}
