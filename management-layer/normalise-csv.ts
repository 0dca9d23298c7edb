/**
 * One CSV row -> its ICS record drafts (the observation, and the demographics of birth_date / sex when the row
 * gives them), or the errors of its fields (pointers '/N/<column>').
 */
import { createHash } from 'node:crypto';
import { LOINC_SYSTEM, catalogue, type Indicator } from './catalogue';
import { UnitError, ValueError } from './errors';
import { demographicColumns, demographicDraft, demographicValue } from './demographics';
import { toUtcInstant } from './fhir-time';
import type { IcsRecordDraft, SubjectIdentifier } from './ics-record';
import { EntryFailure, checkedDraft } from './normalise-draft';
import type { CsvFields, CsvItem, EntryError } from './parse/types';
import { escapePointer } from './schemas';
import { csvSubject, type SubjectResult } from './subject';
import { toCanonical } from './units';

const NUMBER = /^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;
const LOINC_ALIASES = new Set(['http://loinc.org', 'loinc', 'ln']);

export interface RowContext {
  provider: string;
  sourceSystem: string;
  /** When the upload came in (UTC instant): the effective time of demographics. */
  receivedAt?: string;
}

/**
 * A CSV row without a `source_id` is identified by its content, so re-sending the same row is a
 * duplicate and a different row at the same position of a later file is not.
 */
export function csvRowSourceId(f: CsvFields): string {
  const content = [f.patient_id, f.code_system, f.code, f.value, f.unit, f.effective_start, f.effective_end].join('\u001f');
  return `csv-sha256:${createHash('sha256').update(content).digest('hex').slice(0, 32)}`;
}

type Fail = (column: string, reason: string) => void;

function rowSubject(f: CsvFields, ctx: RowContext, err: Fail): (SubjectResult & { ok: true }) | undefined {
  if (f.patient_id === '') {
    err('patient_id', 'patient_id is required');
    return undefined;
  }
  const s = csvSubject(f.patient_id, ctx.provider);
  if (!s.ok) err('patient_id', s.reason);
  return s.ok ? s : undefined;
}

function rowIndicator(f: CsvFields, err: Fail): Indicator | undefined {
  if (!LOINC_ALIASES.has(f.code_system.toLowerCase())) {
    err('code_system', `code_system must be ${LOINC_SYSTEM} (or LOINC / LN), got "${f.code_system}"`);
    return undefined;
  }
  if (f.code === '') {
    err('code', 'code is required');
    return undefined;
  }
  const cat = catalogue();
  const panel = cat.panelByCode(LOINC_SYSTEM, f.code);
  const indicator = cat.byCode(LOINC_SYSTEM, f.code);
  if (panel) err('code', `panel codes are not accepted in CSV: give one row per component (${Object.keys(panel.components).join(', ')})`);
  else if (!indicator) err('code', `unknown indicator code (${LOINC_SYSTEM}|${f.code})`);
  return panel ? undefined : indicator;
}

function rowValue(f: CsvFields, indicator: Indicator | undefined, err: Fail): { value: number; unit: string } | undefined {
  if (!NUMBER.test(f.value)) {
    err('value', f.value === '' ? 'value is required' : `value "${f.value}" is not a number`);
    return undefined;
  }
  if (!indicator) return undefined;
  try {
    return toCanonical(indicator, Number(f.value), f.unit);
  } catch (e) {
    if (e instanceof UnitError) err('unit', e.message);
    else if (e instanceof ValueError) err('value', e.message);
    else throw e;
    return undefined;
  }
}

function rowTimes(f: CsvFields, err: Fail): { start: string; end: string | null } | undefined {
  let start: string | undefined;
  let end: string | null = null;
  if (f.effective_start === '') err('effective_start', 'effective_start is required');
  else {
    const r = toUtcInstant(f.effective_start);
    if (r.ok) start = r.instant;
    else err('effective_start', r.reason);
  }
  if (f.effective_end !== '') {
    const r = toUtcInstant(f.effective_end);
    if (!r.ok) err('effective_end', r.reason);
    else if (start !== undefined && r.instant < start) err('effective_end', 'effective_end is before effective_start');
    else end = r.instant;
  }
  return start === undefined ? undefined : { start, end };
}

/** The columns of an observation (every required one but patient_id). */
const OBSERVATION_FIELDS = ['code_system', 'code', 'value', 'unit', 'effective_start', 'effective_end'] as const;

/** A row of a long-format file gives an observation unless those columns are all blank and it gives demographics. */
const givesObservation = (item: CsvItem): boolean =>
  !item.demographicsOnly && (!item.fields.demographics || OBSERVATION_FIELDS.some((c) => item.fields[c] !== ''));

type Subject = SubjectResult & { ok: true };

/** The row's observation -> its draft, or undefined with the errors of every field that is wrong. */
function rowObservation(item: CsvItem, subject: Subject | undefined, ctx: RowContext, err: Fail): IcsRecordDraft | undefined {
  const f = item.fields;
  let failures = 0;
  const count: Fail = (column, reason) => {
    failures++;
    err(column, reason);
  };
  const indicator = rowIndicator(f, count);
  const measured = rowValue(f, indicator, count);
  const times = rowTimes(f, count);
  if (failures > 0 || !subject || !indicator || !measured || !times) return undefined;
  try {
    return checkedDraft({
      subject: subject.subject,
      ...(subject.legacy ? { legacySubject: subject.legacy } : {}),
      indicator: indicator.name,
      effectiveStart: times.start,
      effectiveEnd: times.end,
      value: measured.value,
      unit: measured.unit,
      provenance: {
        provider: ctx.provider,
        sourceSystem: ctx.sourceSystem,
        sourceId: f.source_id ?? csvRowSourceId(f),
        sourceVersion: null,
        code: { system: LOINC_SYSTEM, code: f.code },
        valueAsReceived: f.value,
        unitAsReceived: f.unit,
      },
    });
  } catch (e) {
    if (!(e instanceof EntryFailure)) throw e;
    err('', e.reason);
    return undefined;
  }
}

/** The row's birth_date / sex -> their drafts (effective at the upload), each bad one an error of its column. */
function rowDemographics(item: CsvItem, subject: Subject, ctx: RowContext & { receivedAt: string }, err: Fail): IcsRecordDraft[] {
  const out: IcsRecordDraft[] = [];
  const columns = demographicColumns();
  for (const [column, text] of Object.entries(item.fields.demographics ?? {})) {
    const ind = columns.get(column)!;
    try {
      const value = demographicValue(ind, text, { receivedAt: ctx.receivedAt, ignoreCase: true });
      out.push(demographicDraft(ind, value, {
        subject: subject.subject as SubjectIdentifier, ...(subject.legacy ? { legacySubject: subject.legacy } : {}), effective: ctx.receivedAt,
        provider: ctx.provider, sourceSystem: ctx.sourceSystem, sourceId: csvDemographicSourceId(item.fields.patient_id, column), sourceVersion: null,
      }));
    } catch (e) {
      if (!(e instanceof EntryFailure)) throw e;
      err(column, `${column}: ${e.reason}`);
    }
  }
  return out;
}

/** A patient's demographic column is identified by the patient and the column (its value is in the record's keys). */
function csvDemographicSourceId(patientId: string, column: string): string {
  return `csv-sha256:${createHash('sha256').update([patientId, column].join('\u001f')).digest('hex').slice(0, 32)}`;
}

/** One CSV row -> its drafts, or the errors of every field that is wrong. */
export function normaliseCsvRow(item: CsvItem, ctx: RowContext): { records: IcsRecordDraft[]; errors: EntryError[] } {
  const errors: EntryError[] = [];
  const err: Fail = (column, reason) => errors.push({ ref: item.ref, pointer: column === '' ? item.pointer : `${item.pointer}/${escapePointer(column)}`, reason, line: item.line });
  const subject = rowSubject(item.fields, ctx, err);
  const records: IcsRecordDraft[] = [];
  if (givesObservation(item)) {
    const draft = rowObservation(item, subject, ctx, err);
    if (draft) records.push(draft);
  } else if (!item.fields.demographics) {
    err([...demographicColumns().keys()][0]!, `the row gives none of ${[...demographicColumns().keys()].join(', ')}`);
  }
  if (subject) records.push(...rowDemographics(item, subject, { ...ctx, receivedAt: ctx.receivedAt ?? new Date().toISOString() }, err));
  return { records, errors };
}
