/**
 * FHIR bulk-data NDJSON: one resource per line. Blank lines are skipped; a line that is not a JSON object is an
 * error for that line only. Observations become candidates, Patients feed the patient map, others are ignored.
 * Refs are 'line N' (1-based line of the file) and pointers start with '/N'.
 */
import { addPatient } from './fhir';
import { MAX_JSON_DEPTH, nestedDeeperThan } from './nesting';
import type { EntryError, FhirItem, ParseResult, PatientMap } from './types';

export type NdjsonParseResult = ParseResult<FhirItem> & { kind: 'ndjson' };

export function parseNdjson(body: string | Buffer): NdjsonParseResult {
  const text = (Buffer.isBuffer(body) ? body.toString('utf8') : body).replace(/^\uFEFF/, '');
  const items: FhirItem[] = [];
  const errors: EntryError[] = [];
  const ignored: Array<{ ref: string; resourceType: string }> = [];
  const patients: PatientMap = new Map();

  text.split(/\r\n|\n|\r/).forEach((line, i) => {
    const n = i + 1;
    const ref = `line ${n}`;
    const pointer = `/${n}`;
    if (line.trim() === '') return;
    let resource: unknown;
    try {
      resource = JSON.parse(line);
    } catch (err) {
      errors.push({ ref, pointer, reason: `not valid JSON: ${(err as Error).message}` });
      return;
    }
    if (nestedDeeperThan(resource)) {
      errors.push({ ref, pointer, reason: `JSON nested deeper than ${MAX_JSON_DEPTH} levels is not a FHIR resource HGD accepts` });
      return;
    }
    if (typeof resource !== 'object' || resource === null || Array.isArray(resource)) {
      errors.push({ ref, pointer, reason: 'line must hold one FHIR resource (a JSON object)' });
      return;
    }
    const r = resource as Record<string, unknown>;
    if (r.resourceType === 'Observation') items.push({ kind: 'fhir', ref, pointer, resource: r });
    else if (r.resourceType === 'Patient') addPatient(patients, r, undefined);
    else ignored.push({ ref, resourceType: typeof r.resourceType === 'string' ? r.resourceType : 'unknown' });
  });

  return { kind: 'ndjson', items, patients, errors, ignored };
}
