/**
 * FHIR bulk-data NDJSON: one resource per line. Blank lines are skipped (but counted); a line that is not a JSON
 * object is an error for that line only. Observations become candidates, Patients feed the patient map (every
 * line's Observation sees every Patient of the upload) and, with a birthDate or gender, are candidates too
 * (their demographics), a Bundle line is an error (send Bundles as FHIR JSON),
 * others are ignored. Refs are 'line N' and pointers start with '/N', N the line of the provider's file
 * (`firstLine` when the body is a part of it).
 */
import { MAX_JSON_DEPTH, nestedDeeperThan } from './nesting';
import { PatientCollector, hasDemographics } from './patients';
import type { FhirItem, ParseResult, PatientScope, RejectedEntry, SentEntry, SourcePosition } from './types';

export type NdjsonParseResult = ParseResult<FhirItem> & { kind: 'ndjson' };

/** One line as sent. */
const sentLine = (line: string): SentEntry => ({ shape: 'line', text: () => line });

/** The resource of one line, or why the line is not one. */
function readLine(line: string): { resource: Record<string, unknown> } | { reason: string } {
  let resource: unknown;
  try {
    resource = JSON.parse(line);
  } catch (err) {
    return { reason: `not valid JSON: ${(err as Error).message}` };
  }
  if (nestedDeeperThan(resource)) return { reason: `JSON nested deeper than ${MAX_JSON_DEPTH} levels is not a FHIR resource HGD accepts` };
  if (typeof resource !== 'object' || resource === null || Array.isArray(resource)) return { reason: 'line must hold one FHIR resource (a JSON object)' };
  return { resource: resource as Record<string, unknown> };
}

export function parseNdjson(body: string | Buffer, position: SourcePosition = {}): NdjsonParseResult {
  const text = (Buffer.isBuffer(body) ? body.toString('utf8') : body).replace(/^\uFEFF/, '');
  const items: FhirItem[] = [];
  const errors: RejectedEntry[] = [];
  const ignored: Array<{ ref: string; resourceType: string }> = [];
  const scope: PatientScope = { patients: new Map() };
  const collector = new PatientCollector();
  const first = position.firstLine ?? 1;

  text.split(/\r\n|\n|\r/).forEach((line, i) => {
    if (line.trim() === '') return;
    const n = first + i;
    const at = { ref: `line ${n}`, pointer: `/${n}`, line: n };
    const read = readLine(line);
    if ('reason' in read) {
      errors.push({ ...at, reason: read.reason, sent: sentLine(line) });
      return;
    }
    const r = read.resource;
    if (r.resourceType === 'Observation') items.push({ kind: 'fhir', ...at, resource: r, scope, sent: sentLine(line) });
    else if (r.resourceType === 'Patient') {
      collector.add(scope.patients, r, undefined);
      if (hasDemographics(r)) items.push({ kind: 'fhir', ...at, resource: r, sent: sentLine(line) });
    }
    else if (r.resourceType === 'Bundle') errors.push({ ...at, reason: 'an NDJSON line holds one resource, not a Bundle: send Bundles as application/fhir+json', sent: sentLine(line) });
    else ignored.push({ ref: at.ref, resourceType: typeof r.resourceType === 'string' ? r.resourceType : 'unknown' });
  });

  return { kind: 'ndjson', items, patients: scope.patients, links: collector.links(), errors, ignored };
}
