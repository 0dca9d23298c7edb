/** FHIR R4 JSON uploads: one Observation, or a Bundle of Observations (with Patients and DiagnosticReports for context). */
import { ParseError } from '../errors';
import { MAX_JSON_DEPTH, nestedDeeperThan } from './nesting';
import { entryKeys, referenceKey } from './references';
import type { EntryError, FhirItem, InheritedContext, ParseResult, PatientIdentifier, PatientMap } from './types';

export const ACCEPTED_BUNDLE_TYPES = ['transaction', 'batch', 'collection', 'searchset'] as const;

export type FhirParseResult = ParseResult<FhirItem> & { kind: 'observation' | 'bundle' };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The first identifier of a Patient with both system and value, trimmed. */
export function patientIdentifier(patient: unknown): PatientIdentifier | undefined {
  if (!isObject(patient) || !Array.isArray(patient.identifier)) return undefined;
  for (const id of patient.identifier) {
    if (!isObject(id)) continue;
    const system = typeof id.system === 'string' ? id.system.trim() : '';
    const value = typeof id.value === 'string' ? id.value.trim() : '';
    if (system !== '' && value !== '') return { system, value };
  }
  return undefined;
}

/** Adds a Patient to the map under its keys; the first Patient seen under a key wins. */
export function addPatient(patients: PatientMap, resource: Record<string, unknown>, fullUrl: string | undefined): void {
  const identifier = patientIdentifier(resource);
  if (!identifier) return;
  for (const key of entryKeys('Patient', resource.id, fullUrl)) {
    if (!patients.has(key)) patients.set(key, identifier);
  }
}

function decode(body: unknown): unknown {
  if (typeof body === 'string' || Buffer.isBuffer(body)) {
    const text = (Buffer.isBuffer(body) ? body.toString('utf8') : body).replace(/^\uFEFF/, '');
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new ParseError(`body is not valid JSON: ${(err as Error).message}`, '');
    }
  }
  return body;
}

/**
 * Parses a FHIR JSON upload (object, JSON text or Buffer) into candidate Observations.
 * Throws ParseError when the upload as a whole is unusable (not JSON, not an Observation/Bundle, unsupported Bundle type).
 */
export function parseFhirJson(body: unknown): FhirParseResult {
  const doc = decode(body);
  if (nestedDeeperThan(doc)) throw new ParseError(`JSON nested deeper than ${MAX_JSON_DEPTH} levels is not a FHIR resource HGD accepts`, '');
  if (!isObject(doc)) throw new ParseError('expected a FHIR resource (a JSON object)', '');
  const patients: PatientMap = new Map();
  if (doc.resourceType === 'Observation') {
    return { kind: 'observation', items: [{ kind: 'fhir', ref: 'resource', pointer: '', resource: doc }], patients, errors: [], ignored: [] };
  }
  if (doc.resourceType !== 'Bundle') {
    throw new ParseError(`expected an Observation or a Bundle, got ${JSON.stringify(doc.resourceType ?? null)}`, '/resourceType');
  }
  const bundleType = doc.type;
  if (typeof bundleType !== 'string' || !(ACCEPTED_BUNDLE_TYPES as readonly string[]).includes(bundleType)) {
    throw new ParseError(
      `Bundle type ${JSON.stringify(bundleType ?? null)} is not accepted (accepted: ${ACCEPTED_BUNDLE_TYPES.join(', ')})`,
      '/type',
    );
  }
  if (doc.entry !== undefined && !Array.isArray(doc.entry)) throw new ParseError('Bundle.entry must be an array', '/entry');
  const entries: unknown[] = (doc.entry as unknown[] | undefined) ?? [];

  const items: FhirItem[] = [];
  const errors: EntryError[] = [];
  const ignored: Array<{ ref: string; resourceType: string }> = [];
  const reports: Array<{ ref: string; fullUrl?: string; resource: Record<string, unknown> }> = [];

  entries.forEach((entry, i) => {
    const pointer = `/entry/${i}`;
    if (!isObject(entry)) {
      errors.push({ ref: `entry[${i}]`, pointer, reason: 'entry must be an object' });
      return;
    }
    const fullUrl = typeof entry.fullUrl === 'string' && entry.fullUrl.trim() !== '' ? entry.fullUrl.trim() : undefined;
    const ref = fullUrl ?? `entry[${i}]`;
    const resource = entry.resource;
    if (!isObject(resource)) {
      errors.push({ ref, pointer: `${pointer}/resource`, reason: 'entry has no resource' });
      return;
    }
    switch (resource.resourceType) {
      case 'Observation':
        items.push({ kind: 'fhir', ref, pointer: `${pointer}/resource`, ...(fullUrl ? { fullUrl } : {}), resource });
        break;
      case 'Patient':
        addPatient(patients, resource, fullUrl);
        break;
      case 'DiagnosticReport':
        reports.push({ ref, ...(fullUrl ? { fullUrl } : {}), resource });
        break;
      default:
        ignored.push({ ref, resourceType: typeof resource.resourceType === 'string' ? resource.resourceType : 'unknown' });
    }
  });

  attachReportContext(items, reports);
  return { kind: 'bundle', bundleType, items, patients, errors, ignored };
}

/** Gives Observations listed in exactly one DiagnosticReport's result[] that report's subject and effective[x]. */
function attachReportContext(
  items: FhirItem[],
  reports: Array<{ ref: string; fullUrl?: string; resource: Record<string, unknown> }>,
): void {
  if (reports.length === 0) return;
  const byKey = new Map<string, FhirItem>();
  for (const item of items) {
    for (const key of entryKeys('Observation', (item.resource as Record<string, unknown>).id, item.fullUrl)) {
      if (!byKey.has(key)) byKey.set(key, item);
    }
  }
  const referencedBy = new Map<FhirItem, number[]>();
  reports.forEach((report, r) => {
    const results = Array.isArray(report.resource.result) ? report.resource.result : [];
    for (const res of results) {
      if (!isObject(res) || typeof res.reference !== 'string') continue;
      const item = byKey.get(referenceKey(res.reference, report.fullUrl));
      if (!item) continue;
      const list = referencedBy.get(item) ?? [];
      if (!list.includes(r)) list.push(r);
      referencedBy.set(item, list);
    }
  });
  for (const [item, list] of referencedBy) {
    if (list.length !== 1) continue;
    const report = reports[list[0] as number];
    if (!report) continue;
    const dr = report.resource;
    const inherited: InheritedContext = { from: report.ref, ...(report.fullUrl ? { fullUrl: report.fullUrl } : {}) };
    for (const key of ['subject', 'effectiveDateTime', 'effectivePeriod', 'effectiveInstant'] as const) {
      if (dr[key] !== undefined) inherited[key] = dr[key];
    }
    item.inherited = inherited;
  }
}
