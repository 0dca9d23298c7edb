/**
 * The CSV dialect HGD reads, shared by the gateway's parser and `hgd ingest` (which must count rows as the gateway
 * does): the delimiter (',', ';' or tab) is detected from the header line, quoting is RFC 4180, and a row whose
 * fields are all blank is skipped without being counted.
 */
import { parse } from 'csv-parse/sync';

export const CSV_COLUMNS = ['patient_id', 'code_system', 'code', 'value', 'unit', 'effective_start', 'effective_end'] as const;
export const CSV_OPTIONAL_COLUMNS = ['source_id'] as const;
export const CSV_DELIMITERS = [',', ';', '\t'] as const;
export type CsvDelimiter = (typeof CSV_DELIMITERS)[number];

export const delimiterName = (d: string): string => (d === '\t' ? 'tab' : `"${d}"`);

/** Header names as matched: BOM and surrounding quotes/space removed, lower case. */
export const headerName = (h: string): string => h.replace(/^\uFEFF/, '').trim().replace(/^"(.*)"$/s, '$1').trim().toLowerCase();

/** The line's fields split at `d` outside double quotes (enough to read a header). */
function splitOutsideQuotes(line: string, d: string): string[] {
  const fields: string[] = [];
  let quoted = false;
  let start = 0;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '"') quoted = !quoted;
    else if (c === d && !quoted) {
      fields.push(line.slice(start, i));
      start = i + 1;
    }
  }
  fields.push(line.slice(start));
  return fields;
}

/**
 * The delimiter of a header line: the candidate under which most required columns appear; on a tie (or when
 * none appears) the one that occurs most often outside quotes; ',' when none occurs.
 */
export function detectCsvDelimiter(headerLine: string): CsvDelimiter {
  let best: { d: CsvDelimiter; columns: number; count: number } = { d: ',', columns: -1, count: -1 };
  for (const d of CSV_DELIMITERS) {
    const fields = splitOutsideQuotes(headerLine, d);
    const names = new Set(fields.map(headerName));
    const columns = CSV_COLUMNS.filter((c) => names.has(c)).length;
    const count = fields.length - 1;
    if (columns > best.columns || (columns === best.columns && count > best.count)) best = { d, columns, count };
  }
  return best.d;
}

/** The first line holding more than white space (BOM removed), or '' for a blank text. */
export function firstNonBlankLine(text: string): string {
  for (const line of text.replace(/^\uFEFF/, '').split(/\r\n|\n|\r/)) if (line.trim() !== '') return line;
  return '';
}

export function csvParseOptions(delimiter: string) {
  return { bom: true, delimiter, relax_column_count: true, skip_empty_lines: true, record_delimiter: ['\r\n', '\n', '\r'] };
}

export const isBlankRecord = (fields: string[]): boolean => fields.every((f) => f.trim() === '');

/** Whether one record's text (possibly several lines) is a blank row the gateway skips without counting it. */
export function isBlankRecordText(text: string, delimiter: string): boolean {
  if (!text.includes('"')) return isBlankRecord(text.split(delimiter));
  try {
    const records = parse(text, csvParseOptions(delimiter)) as string[][];
    return records.every(isBlankRecord);
  } catch {
    return false; // broken quoting: the gateway will say so
  }
}
