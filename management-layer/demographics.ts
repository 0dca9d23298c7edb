/**
 * Demographics (the catalogue's `kind: "demographic"` indicators): a value as a Patient element or a CSV column
 * gives it -> the integer HGD stores, and the ICS record draft that carries it.
 *
 * - birth_year (from birthDate / birth_date): a FHIR date (YYYY, YYYY-MM or YYYY-MM-DD) stored as its year. Data
 *   minimisation: nothing finer than the month is kept anywhere (provenance.valueAsReceived is YYYY-MM or YYYY),
 *   and only the year is secret-shared. A date after the upload, or a year outside the catalogue range, is refused.
 * - sex (from gender / sex): a FHIR administrative-gender code, stored as the catalogue's `codes` say
 *   (unknown 0, female 1, male 2, other 3). FHIR codes are case-sensitive; a CSV cell is matched ignoring case.
 *
 * One value per patient: a record's effective time is the Patient's meta.lastUpdated, else the time of the upload.
 * Its idempotency keys (ingest/record-store.ts) hold the value and not the time, so sending the same value again is
 * a duplicate and a different value is a newer record (the latest counts in queries: one record per patient).
 */
import { catalogue, type Indicator } from './catalogue';
import type { IcsRecordDraft, SubjectIdentifier } from './ics-record';
import { EntryFailure, checkedDraft } from './normalise-draft';

/** provenance.code of a demographic: the FHIR Patient element it came from (also for a CSV column). */
export const PATIENT_ELEMENT_SYSTEM = 'http://hl7.org/fhir/StructureDefinition/Patient';

const FHIR_DATE = /^(?<y>[0-9]{4})(?:-(?<m>0[1-9]|1[0-2])(?:-(?<d>0[1-9]|[12][0-9]|3[01]))?)?$/;

export interface DemographicValue {
  value: number;
  /** What is kept of the value as sent: the birth date truncated to the month, or the code. */
  asReceived: string;
}

const daysInMonth = (year: number, month: number) => new Date(Date.UTC(year, month, 0)).getUTCDate();

/** A FHIR date -> its year, refused when it is not a date, lies after `receivedAt`, or its year is out of range. */
function birthYear(ind: Indicator, raw: unknown, receivedAt: string): DemographicValue {
  const g = typeof raw === 'string' ? FHIR_DATE.exec(raw.trim())?.groups : undefined;
  if (!g?.y) throw new EntryFailure('', `${JSON.stringify(raw)} is not a FHIR date (YYYY, YYYY-MM or YYYY-MM-DD)`);
  const year = Number(g.y);
  if (g.d && Number(g.d) > daysInMonth(year, Number(g.m))) throw new EntryFailure('', `"${String(raw).trim()}" is not a calendar date`);
  const asReceived = g.m ? `${g.y}-${g.m}` : g.y; // data minimisation: the day is dropped
  if (asReceived > receivedAt.slice(0, asReceived.length)) throw new EntryFailure('', `birth date ${asReceived} is after the upload (${receivedAt.slice(0, 10)})`);
  if (year < ind.range.min || year > ind.range.max) {
    throw new EntryFailure('', `birth year ${year} is outside the plausible range ${ind.range.min} to ${ind.range.max}`);
  }
  return { value: year, asReceived };
}

/** A code -> its integer; `ignoreCase` for CSV cells. */
function coded(ind: Indicator, raw: unknown, ignoreCase: boolean): DemographicValue {
  const codes = ind.codes ?? {};
  const given = typeof raw === 'string' ? raw.trim() : raw;
  const code = typeof given === 'string' && ignoreCase ? given.toLowerCase() : given;
  if (typeof code !== 'string' || !Object.hasOwn(codes, code)) {
    throw new EntryFailure('', `${JSON.stringify(raw)} is not a FHIR administrative-gender code (${Object.keys(codes).join(', ')})`);
  }
  return { value: codes[code] as number, asReceived: code };
}

/** The value a demographic stores for what was sent; throws EntryFailure (pointer '') with the reason. */
export function demographicValue(ind: Indicator, raw: unknown, opts: { receivedAt: string; ignoreCase?: boolean }): DemographicValue {
  return ind.source?.fhir === 'birthDate' ? birthYear(ind, raw, opts.receivedAt) : coded(ind, raw, opts.ignoreCase ?? false);
}

/** Where a demographic record comes from, and its effective time. */
export interface DemographicOrigin {
  subject: SubjectIdentifier;
  legacySubject?: SubjectIdentifier;
  effective: string;
  provider: string;
  sourceSystem: string;
  sourceId: string;
  sourceVersion: string | null;
}

/** The checked draft of one demographic value. */
export function demographicDraft(ind: Indicator, v: DemographicValue, o: DemographicOrigin): IcsRecordDraft {
  return checkedDraft({
    subject: o.subject,
    ...(o.legacySubject ? { legacySubject: o.legacySubject } : {}),
    indicator: ind.name,
    effectiveStart: o.effective,
    effectiveEnd: null,
    value: v.value,
    unit: ind.canonicalUnit,
    provenance: {
      provider: o.provider,
      sourceSystem: o.sourceSystem,
      sourceId: o.sourceId,
      sourceVersion: o.sourceVersion,
      code: { system: PATIENT_ELEMENT_SYSTEM, code: ind.source!.fhir },
      valueAsReceived: v.asReceived,
      unitAsReceived: '',
    },
  });
}

/** The demographics read from CSV columns: column name -> indicator. */
export function demographicColumns(): Map<string, Indicator> {
  return new Map(catalogue().demographics().map((ind) => [ind.source!.csv, ind]));
}
