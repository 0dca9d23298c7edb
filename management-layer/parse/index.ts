/** Provider uploads -> candidate Observations / rows. */
import { ParseError } from '../errors';
import { parseCsv } from './csv';
import { parseFhirJson } from './fhir';
import { parseNdjson } from './ndjson';
import type { ParseResult, SourcePosition } from './types';

export { parseCsv, parseFhirJson, parseNdjson };
export type * from './types';

export const UPLOAD_FORMATS = ['fhir-json', 'ndjson', 'csv'] as const;
export type UploadFormat = (typeof UPLOAD_FORMATS)[number];

/** The format for a Content-Type header (parameters ignored), or undefined when unsupported. */
export function formatForContentType(contentType: string | undefined): UploadFormat | undefined {
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase();
  if (type === 'application/fhir+json' || type === 'application/json') return 'fhir-json';
  if (type === 'application/fhir+ndjson' || type === 'application/x-ndjson' || type === 'application/ndjson') return 'ndjson';
  if (type === 'text/csv') return 'csv';
  return undefined;
}

export function parseUpload(format: UploadFormat, body: unknown, position: SourcePosition = {}): ParseResult {
  switch (format) {
    case 'fhir-json':
      return parseFhirJson(body);
    case 'ndjson':
    case 'csv':
      if (typeof body !== 'string' && !Buffer.isBuffer(body)) throw new ParseError(`a ${format} upload must be text`, '');
      return format === 'csv' ? parseCsv(body, position) : parseNdjson(body, position);
    default:
      throw new ParseError(`unsupported upload format ${String(format)}`, '');
  }
}
