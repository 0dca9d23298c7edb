/** One CSV row -> one ICS record draft, or the errors of its fields (pointers '/N/<column>'). */
import { createHash } from 'node:crypto';
import { LOINC_SYSTEM, catalogue, type Indicator } from './catalogue';
import { UnitError, ValueError } from './errors';
import { toUtcInstant } from './fhir-time';
import type { IcsRecordDraft } from './ics-record';
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

/** One CSV row -> one draft, or the errors of every field that is wrong. */
export function normaliseCsvRow(item: CsvItem, ctx: RowContext): { records: IcsRecordDraft[]; errors: EntryError[] } {
  const f = item.fields;
  const errors: EntryError[] = [];
  const err: Fail = (column, reason) => errors.push({ ref: item.ref, pointer: `${item.pointer}/${escapePointer(column)}`, reason, line: item.line });
  const subject = rowSubject(f, ctx, err);
  const indicator = rowIndicator(f, err);
  const measured = rowValue(f, indicator, err);
  const times = rowTimes(f, err);
  if (errors.length > 0 || !subject || !indicator || !measured || !times) return { records: [], errors };
  try {
    const draft = checkedDraft({
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
    return { records: [draft], errors };
  } catch (e) {
    if (!(e instanceof EntryFailure)) throw e;
    return { records: [], errors: [{ ref: item.ref, pointer: item.pointer, reason: e.reason, line: item.line }] };
  }
}
