/** ICS records: the normalised, pseudonymous form every ingested value ends up in (schema/ics-record.schema.json). */
import { catalogue } from './catalogue';
import { ValidationError } from './errors';
import { describeAjvErrors, validatorFor, type SchemaIssue } from './schemas';

export interface Provenance {
  provider: string;
  sourceSystem: string;
  sourceId: string;
  sourceVersion: string | null;
  code: { system: string; code: string; display?: string };
  valueAsReceived: number | string;
  unitAsReceived: string;
  /** Who performed the observation (references, identifiers or names), its own or its panel's / report's. */
  performer?: string[];
  /** Set on a patient's own upload (management-layer/patient-source.ts); absent for a provider's. */
  origin?: 'patient-reported';
  /** The device that measured a patient-reported value, when known. */
  device?: string;
}

/** A patient identifier as the provider gives it (or as HGD scopes it: see patient-systems.ts). */
export interface SubjectIdentifier {
  system: string;
  value: string;
}

/** A FHIR subject reference the upload does not resolve: looked up in the provider's links before storing. */
export interface SubjectReference {
  reference: string;
  /** Keys of the provider's links to try, in order. */
  linkKeys: string[];
}

export type DraftSubject = SubjectIdentifier | SubjectReference;

export const isSubjectReference = (s: DraftSubject): s is SubjectReference => 'linkKeys' in s;

/** A normalised value before pseudonymisation: it still carries the provider's patient identifier. */
export interface IcsRecordDraft {
  subject: DraftSubject;
  /**
   * The identity HGD made up for this subject before migration management-002 (a reference-only subject, a plain
   * CSV patient_id), under which older records of the same provider may still be stored.
   */
  legacySubject?: SubjectIdentifier;
  indicator: string;
  effectiveStart: string;
  effectiveEnd: string | null;
  value: number;
  unit: string;
  provenance: Provenance;
}

/** What is stored: the draft with the subject replaced by a pseudonym (lower-case hex). */
export interface IcsRecord extends Omit<IcsRecordDraft, 'subject' | 'legacySubject'> {
  patient: string;
}

export type { SchemaIssue };

/** The record for a draft once its subject has been pseudonymised. */
export function draftToRecord(draft: IcsRecordDraft, patient: string): IcsRecord {
  const { subject: _subject, legacySubject: _legacy, ...rest } = draft;
  return { patient, ...rest };
}

/**
 * Problems with a record: the JSON Schema, then the catalogue (known indicator, canonical unit, plausible range,
 * one of the codes of a coded demographic, no more decimals than the indicator's scale, effectiveEnd not before
 * effectiveStart). Empty when valid.
 */
export function validateIcsRecord(record: unknown): SchemaIssue[] {
  const validate = validatorFor('ics-record.schema.json');
  if (!validate(record)) return describeAjvErrors(validate.errors);
  const r = record as IcsRecord;
  const issues: SchemaIssue[] = [];
  const ind = catalogue().byName(r.indicator);
  if (!ind) return [{ pointer: '/indicator', reason: `unknown indicator "${r.indicator}"` }];
  if (r.unit !== ind.canonicalUnit) issues.push({ pointer: '/unit', reason: `must be ${ind.canonicalUnit}, the canonical unit of ${ind.name}` });
  if (r.value < ind.range.min || r.value > ind.range.max) {
    issues.push({ pointer: '/value', reason: `outside the plausible range ${ind.range.min} to ${ind.range.max}` });
  }
  if (ind.codes && !Object.values(ind.codes).includes(r.value)) {
    issues.push({ pointer: '/value', reason: `is not one of the codes of ${ind.name} (${Object.entries(ind.codes).map(([c, v]) => `${c} ${v}`).join(', ')})` });
  }
  if (!Number.isInteger(Number((r.value * 10 ** ind.scale).toPrecision(15)))) {
    issues.push({ pointer: '/value', reason: `has more than ${ind.scale} decimal digits` });
  }
  if (r.effectiveEnd !== null && Date.parse(r.effectiveEnd) < Date.parse(r.effectiveStart)) {
    issues.push({ pointer: '/effectiveEnd', reason: 'is before effectiveStart' });
  }
  return issues;
}

/** Throws ValidationError (field = JSON pointer of the first problem) unless the record is valid. */
export function assertIcsRecord(record: unknown): asserts record is IcsRecord {
  const issues = validateIcsRecord(record);
  const first = issues[0];
  if (first) {
    throw new ValidationError(`invalid ICS record: ${issues.map((i) => `${i.pointer || '/'} ${i.reason}`).join('; ')}`, first.pointer);
  }
}

/** A pseudonym-shaped placeholder, so drafts can be checked against the record schema before pseudonymisation. */
export const PLACEHOLDER_PSEUDONYM = '0'.repeat(64);
