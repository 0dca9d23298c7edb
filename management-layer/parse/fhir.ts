/**
 * FHIR R4 JSON uploads: one Observation, one Patient (to link the provider's references to an identifier), or a
 * Bundle of Observations with Patients, DiagnosticReports and panels for context (see bundle.ts).
 */
import { MalformedJsonError, ParseError } from '../errors';
import { ACCEPTED_BUNDLE_TYPES, MAX_BUNDLE_NESTING, isAcceptedBundleType, walkBundle, type BundleWalk } from './bundle';
import { MAX_JSON_DEPTH, nestedDeeperThan } from './nesting';
import { PatientCollector, hasDemographics } from './patients';
import type { FhirItem, ParseResult, PatientMap } from './types';

export { ACCEPTED_BUNDLE_TYPES, MAX_BUNDLE_NESTING };
export { patientIdentifier } from './patients';

export type FhirParseResult = ParseResult<FhirItem> & { kind: 'observation' | 'patient' | 'bundle' };

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function decode(body: unknown): unknown {
  if (typeof body === 'string' || Buffer.isBuffer(body)) {
    const text = (Buffer.isBuffer(body) ? body.toString('utf8') : body).replace(/^\uFEFF/, '');
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new MalformedJsonError(`body is not valid JSON: ${(err as Error).message}`);
    }
  }
  return body;
}

const empty = () => ({ patients: new Map() as PatientMap, links: [], errors: [], ignored: [] });

function loneObservation(doc: Obj): FhirParseResult {
  const item: FhirItem = { kind: 'fhir', ref: 'resource', pointer: '', resource: doc, scope: { patients: new Map() }, sent: { shape: 'resource', text: () => JSON.stringify(doc) } };
  return { kind: 'observation', items: [item], ...empty() };
}

/** A lone Patient links the provider's references to its identifier, and is an item when it carries demographics. */
function lonePatient(doc: Obj): FhirParseResult {
  const collector = new PatientCollector();
  const patients: PatientMap = new Map();
  collector.add(patients, doc, undefined);
  const links = collector.links();
  const sent = { shape: 'resource' as const, text: () => JSON.stringify(doc) };
  if (hasDemographics(doc)) {
    // Its entry's outcome is its demographics' (a missing identifier is their error).
    return { kind: 'patient', items: [{ kind: 'fhir', ref: 'resource', pointer: '', resource: doc, sent }], patients, links, errors: [], ignored: [] };
  }
  const errors = links.length ? [] : [{
    ref: 'resource', pointer: '/identifier',
    reason: 'a Patient is uploaded to link the provider\'s references to it: it needs an id and an identifier with system and value',
    sent,
  }];
  return { kind: 'patient', items: [], patients, links, errors, ignored: [] };
}

/**
 * Parses a FHIR JSON upload (object, JSON text or Buffer) into candidate Observations.
 * Throws ParseError when the upload as a whole is unusable (not JSON, not an Observation/Patient/Bundle,
 * unsupported Bundle type).
 */
export function parseFhirJson(body: unknown): FhirParseResult {
  const doc = decode(body);
  if (nestedDeeperThan(doc)) throw new ParseError(`JSON nested deeper than ${MAX_JSON_DEPTH} levels is not a FHIR resource HGD accepts`, '');
  if (!isObject(doc)) throw new ParseError('expected a FHIR resource (a JSON object)', '');
  if (doc.resourceType === 'Observation') return loneObservation(doc);
  if (doc.resourceType === 'Patient') return lonePatient(doc);
  if (doc.resourceType !== 'Bundle') {
    throw new ParseError(`expected an Observation, a Patient or a Bundle, got ${JSON.stringify(doc.resourceType ?? null)}`, '/resourceType');
  }
  if (!isAcceptedBundleType(doc.type)) {
    throw new ParseError(`Bundle type ${JSON.stringify(doc.type ?? null)} is not accepted (accepted: ${ACCEPTED_BUNDLE_TYPES.join(', ')})`, '/type');
  }
  if (doc.entry !== undefined && !Array.isArray(doc.entry)) throw new ParseError('Bundle.entry must be an array', '/entry');
  const walk: BundleWalk = { items: [], errors: [], ignored: [], collector: new PatientCollector() };
  const scope = walkBundle(doc, { pointer: '', refPrefix: '', depth: 0 }, walk);
  return { kind: 'bundle', bundleType: doc.type, items: walk.items, patients: scope.patients, links: walk.collector.links(), errors: walk.errors, ignored: walk.ignored };
}
