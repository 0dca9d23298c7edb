/**
 * A FHIR Patient with a birthDate or a gender -> the drafts of its demographics (demographics.ts), under the
 * Patient's own identifier (its first with system and value outside urn:hgd:), or per-field errors:
 * - a Patient without such an identifier: one error at /identifier, nothing stored;
 * - a meta.lastUpdated that is not a FHIR instant: one error at /meta/lastUpdated, nothing stored;
 * - an invalid birthDate or gender: an error at that field; the other demographic is still stored.
 */
import { catalogue } from './catalogue';
import { demographicDraft, demographicValue, type DemographicOrigin } from './demographics';
import { toUtcInstant } from './fhir-time';
import { EntryFailure } from './normalise-draft';
import { patientIdentifier } from './parse/patients';
import type { EntryError } from './parse/types';
import type { IcsRecordDraft } from './ics-record';

export interface PatientContext {
  provider: string;
  sourceSystem: string;
  ref: string;
  pointer: string;
  fullUrl?: string;
  /** When the upload came in: the effective time of a Patient without meta.lastUpdated. */
  receivedAt: string;
}

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The origin shared by the Patient's demographics; throws EntryFailure. */
function originOf(patient: Obj, ctx: PatientContext): DemographicOrigin {
  const subject = patientIdentifier(patient);
  if (!subject) {
    throw new EntryFailure('/identifier', 'a Patient\'s birthDate and gender are stored under its identifier: it needs one with system and value (systems under urn:hgd: are reserved)');
  }
  const meta = isObject(patient.meta) ? patient.meta : {};
  let effective = ctx.receivedAt;
  if (meta.lastUpdated !== undefined) {
    const r = toUtcInstant(meta.lastUpdated);
    if (!r.ok) throw new EntryFailure('/meta/lastUpdated', `meta.lastUpdated ${r.reason}`);
    effective = r.instant;
  }
  const id = typeof patient.id === 'string' && patient.id.trim() !== '' ? `Patient/${patient.id.trim()}` : undefined;
  return {
    subject,
    effective,
    provider: ctx.provider,
    sourceSystem: ctx.sourceSystem,
    sourceId: id ?? ctx.fullUrl ?? `Patient?identifier=${subject.system}|${subject.value}`,
    sourceVersion: typeof meta.versionId === 'string' ? meta.versionId : null,
  };
}

/** One Patient -> a draft per demographic it gives, and an error per one it gives wrong. */
export function normalisePatient(patient: Obj, ctx: PatientContext): { records: IcsRecordDraft[]; errors: EntryError[] } {
  const records: IcsRecordDraft[] = [];
  const errors: EntryError[] = [];
  const fail = (pointer: string, reason: string) => errors.push({ ref: ctx.ref, pointer: ctx.pointer + pointer, reason });
  let origin: DemographicOrigin;
  try {
    origin = originOf(patient, ctx);
  } catch (err) {
    if (!(err instanceof EntryFailure)) throw err;
    fail(err.pointer, err.reason);
    return { records, errors };
  }
  for (const ind of catalogue().demographics()) {
    const element = ind.source!.fhir;
    if (patient[element] === undefined) continue;
    try {
      records.push(demographicDraft(ind, demographicValue(ind, patient[element], { receivedAt: ctx.receivedAt }), origin));
    } catch (err) {
      if (!(err instanceof EntryFailure)) throw err;
      fail(`/${element}${err.pointer}`, `${element}: ${err.reason}`);
    }
  }
  return { records, errors };
}
