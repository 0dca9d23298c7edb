/**
 * Who an Observation or CSV row is about. A subject is a patient identifier (the provider's system and value),
 * never an identity HGD makes up:
 * - a FHIR reference resolves to the identifier of the Patient it names in the upload, else to the Observation's
 *   own subject.identifier, else it stays a reference that the ingest service looks up in the links the provider's
 *   earlier Patients left (scoped by provider: A's Patient/1 is not B's Patient/1), and rejects when there is none;
 * - a CSV patient_id is "system|value", or a plain value scoped by provider (csvPatientSystem).
 * Systems HGD reserves (urn:hgd:) are refused from providers.
 */
import type { DraftSubject, SubjectIdentifier } from './ics-record';
import { LEGACY_CSV_PATIENT_SYSTEM, LEGACY_FHIR_REFERENCE_SYSTEM, csvPatientSystem, isReservedSystem } from './patient-systems';
import { lookupPatient } from './parse/patients';
import { isAbsoluteReference, referenceKey, referenceType, stripHistory } from './parse/references';
import type { PatientScope } from './parse/types';

export type SubjectResult =
  | { ok: true; subject: DraftSubject; legacy?: SubjectIdentifier }
  | { ok: false; pointer: string; reason: string };

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

const reservedReason = (system: string) => `identifier system "${system}" is reserved for identities HGD assigns: give the provider's own identifier system`;

type GivenIdentifier = { ok: SubjectIdentifier } | { reserved: string } | undefined;

/** subject.identifier: usable, reserved (with its system), or undefined when incomplete. */
function identifierOf(raw: unknown): GivenIdentifier {
  if (!isObject(raw)) return undefined;
  const system = typeof raw.system === 'string' ? raw.system.trim() : '';
  const value = typeof raw.value === 'string' ? raw.value.trim() : '';
  if (!system || !value) return undefined;
  return isReservedSystem(system) ? { reserved: system } : { ok: { system, value } };
}

const refused = (system: string): SubjectResult => ({ ok: false, pointer: '/subject/identifier/system', reason: reservedReason(system) });

/** A Patient reference the upload does not resolve: the keys to look it up under in the provider's links. */
function linkKeysOf(reference: string, key: string): string[] {
  const written = stripHistory(reference);
  return !isAbsoluteReference(written) && written !== key ? [key, written] : [key];
}

function fromReference(reference: string, identifier: GivenIdentifier, scope: PatientScope | undefined, contextFullUrl?: string): SubjectResult {
  if (reference.startsWith('#')) return { ok: false, pointer: '/subject/reference', reason: 'contained Patient references are not supported' };
  const type = referenceType(reference);
  if (type !== undefined && type !== 'Patient') return { ok: false, pointer: '/subject/reference', reason: `subject must be a Patient, not a ${type}` };
  const key = referenceKey(reference, contextFullUrl);
  const legacy = type === 'Patient' ? { legacy: { system: LEGACY_FHIR_REFERENCE_SYSTEM, value: stripHistory(reference) } } : {};
  const found = lookupPatient(scope, key);
  if (found) return { ok: true, subject: found, ...legacy };
  if (identifier && 'reserved' in identifier) return refused(identifier.reserved);
  if (identifier) return { ok: true, subject: identifier.ok, ...legacy };
  if (type === 'Patient') return { ok: true, subject: { reference, linkKeys: linkKeysOf(reference, key) }, ...legacy };
  return { ok: false, pointer: '/subject/reference', reason: `subject reference "${reference}" does not resolve to a Patient with an identifier in this upload` };
}

/**
 * The subject of an Observation (pointers relative to it): see the header. `scope` holds the upload's Patients
 * the reference may name; `contextFullUrl` is the fullUrl relative references resolve against.
 */
export function resolveSubject(subject: unknown, scope: PatientScope | undefined, contextFullUrl?: string): SubjectResult {
  if (!isObject(subject)) return { ok: false, pointer: '/subject', reason: 'subject is required' };
  const identifier = identifierOf(subject.identifier);
  if (typeof subject.reference === 'string' && subject.reference.trim() !== '') {
    return fromReference(subject.reference.trim(), identifier, scope, contextFullUrl);
  }
  if (identifier && 'reserved' in identifier) return refused(identifier.reserved);
  if (identifier) return { ok: true, subject: identifier.ok };
  return { ok: false, pointer: '/subject', reason: 'subject needs a Patient reference or an identifier with system and value' };
}

/** The subject of a CSV patient_id: "system|value", or a plain value scoped by the provider. */
export function csvSubject(patientId: string, provider: string): SubjectResult {
  const bar = patientId.indexOf('|');
  if (bar < 0) {
    return { ok: true, subject: { system: csvPatientSystem(provider), value: patientId }, legacy: { system: LEGACY_CSV_PATIENT_SYSTEM, value: patientId } };
  }
  const system = patientId.slice(0, bar).trim();
  const value = patientId.slice(bar + 1).trim();
  if (system === '' || value === '') return { ok: false, pointer: '', reason: 'patient_id must be "system|value" or a plain value' };
  if (isReservedSystem(system)) return { ok: false, pointer: '', reason: reservedReason(system) };
  return { ok: true, subject: { system, value } };
}
