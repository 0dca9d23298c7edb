/**
 * Candidate Observations (and CSV rows) -> ICS record drafts in canonical units, or per-entry errors with a
 * JSON pointer and a reason. Nothing here touches the database; pseudonymisation happens later.
 */
import { createHash } from 'node:crypto';
import type { CodeableConcept, Observation, ObservationComponent } from '@medplum/fhirtypes';
import { LOINC_SYSTEM, catalogue, type Indicator, type Panel } from './catalogue';
import { UnitError, ValueError } from './errors';
import { toUtcInstant } from './fhir-time';
import { PLACEHOLDER_PSEUDONYM, draftToRecord, validateIcsRecord, type IcsRecordDraft } from './ics-record';
import { referenceKey, referenceType, stripHistory } from './parse/references';
import type { CsvFields, CsvItem, EntryError, InheritedContext, ParseResult, PatientIdentifier, PatientMap } from './parse/types';
import { describeAjvErrors, escapePointer, validatorFor } from './schemas';
import { cleanUnit, toCanonical } from './units';

export type { EntryError, IcsRecordDraft };
export { validateIcsRecord };

/** Identifier system for patients known only by a FHIR reference that did not resolve to an identifier. */
export const FHIR_PATIENT_REF_SYSTEM = 'urn:hgd:fhir-patient-ref';
/** Identifier system for CSV patient_id values given without 'system|'. */
export const CSV_PATIENT_SYSTEM = 'urn:hgd:csv-patient';
export const UCUM_SYSTEM = 'http://unitsofmeasure.org';
/** Observation statuses that are ingested; everything else is reported and skipped. */
export const INGESTED_STATUSES = ['final', 'amended', 'corrected'] as const;

export interface NormaliseContext {
  provider: string;
  sourceSystem: string;
  patients?: PatientMap;
  ref: string;
  pointer: string;
  /** The Bundle entry's fullUrl: relative references resolve against its service base. */
  fullUrl?: string;
  /** subject / effective[x] from a DiagnosticReport listing this Observation, used when the Observation lacks them. */
  inherited?: InheritedContext;
}

export interface NormaliseResult {
  records: IcsRecordDraft[];
  errors: EntryError[];
}

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const INVISIBLE = /[\u200B-\u200D\u2060\uFEFF\u00AD]/g;

class EntryFailure extends Error {
  constructor(readonly pointer: string, readonly reason: string) {
    super(reason);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Subject

export type SubjectResult = { ok: true; subject: PatientIdentifier } | { ok: false; pointer: string; reason: string };

/**
 * The patient identifier of an Observation.subject: a reference to a Patient in the upload that has an identifier,
 * else subject.identifier, else (for a RESTful Patient reference) { system: FHIR_PATIENT_REF_SYSTEM, value: reference }.
 * urn: references must resolve inside the upload; references to anything but a Patient are rejected.
 * Pointers are relative to the Observation.
 */
export function resolveSubject(subject: unknown, patients: PatientMap | undefined, contextFullUrl?: string): SubjectResult {
  if (!isObject(subject)) return { ok: false, pointer: '/subject', reason: 'subject is required' };
  const identifier = isObject(subject.identifier) ? subject.identifier : undefined;
  const fromIdentifier = (): PatientIdentifier | undefined => {
    const system = typeof identifier?.system === 'string' ? identifier.system.trim() : '';
    const value = typeof identifier?.value === 'string' ? identifier.value.trim() : '';
    return system && value ? { system, value } : undefined;
  };
  if (typeof subject.reference === 'string' && subject.reference.trim() !== '') {
    const reference = subject.reference.trim();
    if (reference.startsWith('#')) {
      return { ok: false, pointer: '/subject/reference', reason: 'contained Patient references are not supported' };
    }
    const type = referenceType(reference);
    if (type !== undefined && type !== 'Patient') {
      return { ok: false, pointer: '/subject/reference', reason: `subject must be a Patient, not a ${type}` };
    }
    const found = patients?.get(referenceKey(reference, contextFullUrl));
    if (found) return { ok: true, subject: found };
    const byIdentifier = fromIdentifier();
    if (byIdentifier) return { ok: true, subject: byIdentifier };
    if (type === 'Patient') return { ok: true, subject: { system: FHIR_PATIENT_REF_SYSTEM, value: stripHistory(reference) } };
    return {
      ok: false,
      pointer: '/subject/reference',
      reason: `subject reference "${reference}" does not resolve to a Patient with an identifier in this upload`,
    };
  }
  const byIdentifier = fromIdentifier();
  if (byIdentifier) return { ok: true, subject: byIdentifier };
  return { ok: false, pointer: '/subject', reason: 'subject needs a Patient reference or an identifier with system and value' };
}

// ---------------------------------------------------------------------------------------------------------------
// Effective time

const EFFECTIVE_KEYS = ['effectiveDateTime', 'effectivePeriod', 'effectiveInstant', 'effectiveTiming'] as const;

function effectiveTime(obs: Observation): { start: string; end: string | null } {
  const present = EFFECTIVE_KEYS.filter((k) => obs[k] !== undefined);
  if (present.length === 0) {
    throw new EntryFailure('/effectiveDateTime', 'effective time is required (effectiveDateTime, effectivePeriod or effectiveInstant)');
  }
  if (present.length > 1) throw new EntryFailure(`/${present[1]}`, `only one effective[x] is allowed, got ${present.join(' and ')}`);
  const key = present[0] as (typeof EFFECTIVE_KEYS)[number];
  if (key === 'effectiveTiming') throw new EntryFailure('/effectiveTiming', 'effectiveTiming is not supported');
  const instant = (v: unknown, pointer: string): string => {
    const r = toUtcInstant(v);
    if (!r.ok) throw new EntryFailure(pointer, r.reason);
    return r.instant;
  };
  if (key !== 'effectivePeriod') return { start: instant(obs[key], `/${key}`), end: null };
  const period = obs.effectivePeriod ?? {};
  if (period.start === undefined) throw new EntryFailure('/effectivePeriod/start', 'effectivePeriod.start is required');
  const start = instant(period.start, '/effectivePeriod/start');
  const end = period.end === undefined ? null : instant(period.end, '/effectivePeriod/end');
  if (end !== null && end < start) throw new EntryFailure('/effectivePeriod/end', 'effectivePeriod.end is before its start');
  return { start, end };
}

// ---------------------------------------------------------------------------------------------------------------
// Codes

interface Coding {
  system: string;
  code: string;
  display?: string;
}

function codings(concept: CodeableConcept | undefined): Coding[] {
  return (concept?.coding ?? []).flatMap((c): Coding[] => {
    if (typeof c.system !== 'string' || typeof c.code !== 'string') return [];
    const display = typeof c.display === 'string' ? c.display.replace(INVISIBLE, '').trim() : undefined;
    return [{ system: c.system.trim(), code: c.code.trim(), ...(display ? { display } : {}) }];
  });
}

type CodeMatch = { kind: 'panel'; panel: Panel; coding: Coding } | { kind: 'indicator'; indicator: Indicator; coding: Coding };

function matchCode(code: CodeableConcept): CodeMatch {
  const cat = catalogue();
  const all = codings(code);
  for (const c of all) {
    const panel = cat.panelByCode(c.system, c.code);
    if (panel) return { kind: 'panel', panel, coding: c };
  }
  const matches = all.flatMap((c) => {
    const indicator = cat.byCode(c.system, c.code);
    return indicator ? [{ indicator, coding: c }] : [];
  });
  const names = [...new Set(matches.map((m) => m.indicator.name))];
  if (names.length > 1) throw new EntryFailure('/code/coding', `codings map to different indicators: ${names.join(', ')}`);
  const first = matches[0];
  if (!first) {
    const given = all.map((c) => `${c.system}|${c.code}`).join(', ') || 'none';
    throw new EntryFailure('/code/coding', `unknown indicator code (${given})`);
  }
  return { kind: 'indicator', indicator: first.indicator, coding: first.coding };
}

// ---------------------------------------------------------------------------------------------------------------
// Values

interface Measured {
  value: number;
  unit: string;
  valueAsReceived: number;
  unitAsReceived: string;
}

const VALUE_KEYS = [
  'valueCodeableConcept', 'valueString', 'valueBoolean', 'valueInteger', 'valueRange', 'valueRatio', 'valueSampledData',
  'valueTime', 'valueDateTime', 'valuePeriod',
];

/** Reads valueQuantity of an Observation or component at `base` (a pointer relative to the Observation). */
function measure(holder: Observation | ObservationComponent, indicator: Indicator, base: string): Measured {
  const vq = holder.valueQuantity;
  if (vq === undefined) {
    if (holder.dataAbsentReason !== undefined) {
      const why = codings(holder.dataAbsentReason)[0]?.code ?? holder.dataAbsentReason.text ?? 'unspecified';
      throw new EntryFailure(`${base}/dataAbsentReason`, `no value: data absent (${why})`);
    }
    const other = VALUE_KEYS.find((k) => (holder as unknown as Obj)[k] !== undefined);
    if (other) throw new EntryFailure(`${base}/${other}`, `${indicator.name} needs a valueQuantity, got ${other}`);
    throw new EntryFailure(`${base}/valueQuantity`, `no value for ${indicator.name}`);
  }
  if (vq.comparator !== undefined) {
    throw new EntryFailure(`${base}/valueQuantity/comparator`, `values with comparator "${String(vq.comparator)}" are not exact and are not ingested`);
  }
  // The coded UCUM unit wins over the human-readable one ("lbs" / "[lb_av]", "C" / "Cel").
  const coded = typeof vq.code === 'string' && cleanUnit(vq.code) !== '' && (vq.system === undefined || vq.system === UCUM_SYSTEM);
  const unitPointer = coded ? `${base}/valueQuantity/code` : `${base}/valueQuantity/unit`;
  const unitAsReceived = coded ? (vq.code as string) : (vq.unit ?? '');
  if (cleanUnit(unitAsReceived) === '') throw new EntryFailure(`${base}/valueQuantity/unit`, `no unit given for ${indicator.name}`);
  const value = vq.value as number; // present and a number: checked by the schema
  try {
    const canonical = toCanonical(indicator, value, unitAsReceived);
    return { ...canonical, valueAsReceived: value, unitAsReceived };
  } catch (err) {
    if (err instanceof UnitError) throw new EntryFailure(unitPointer, err.message);
    if (err instanceof ValueError) throw new EntryFailure(`${base}/valueQuantity/value`, err.message);
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Drafts

function checkedDraft(draft: IcsRecordDraft): IcsRecordDraft {
  const issues = validateIcsRecord(draftToRecord(draft, PLACEHOLDER_PSEUDONYM));
  const first = issues[0];
  if (first) throw new EntryFailure('', `normalised record is invalid: ${first.pointer} ${first.reason}`);
  return draft;
}

/** One FHIR Observation -> drafts (one, or one per known component of a panel) and errors. */
export function normaliseObservation(resource: unknown, ctx: NormaliseContext): NormaliseResult {
  const records: IcsRecordDraft[] = [];
  const errors: EntryError[] = [];
  const fail = (pointer: string, reason: string): NormaliseResult => {
    errors.push({ ref: ctx.ref, pointer: ctx.pointer + pointer, reason });
    return { records, errors };
  };
  if (!isObject(resource)) return fail('', 'expected an Observation object');

  // Fill in what a DiagnosticReport gives, where the Observation itself is silent.
  const view: Obj = { ...resource };
  let subjectContext = ctx.fullUrl;
  const inh = ctx.inherited;
  if (inh) {
    if (view.subject === undefined && inh.subject !== undefined) {
      view.subject = inh.subject;
      subjectContext = inh.fullUrl;
    }
    if (EFFECTIVE_KEYS.every((k) => view[k] === undefined)) {
      for (const k of ['effectiveDateTime', 'effectivePeriod', 'effectiveInstant'] as const) {
        if (inh[k] !== undefined) view[k] = inh[k];
      }
    }
  }

  const validate = validatorFor('fhir-observation-subset.schema.json');
  if (!validate(view)) {
    for (const issue of describeAjvErrors(validate.errors)) fail(issue.pointer, issue.reason);
    return { records, errors };
  }
  const obs = view as unknown as Observation; // the subset HGD reads has been checked

  try {
    const status = obs.status;
    if (!(INGESTED_STATUSES as readonly string[]).includes(status)) {
      const why = status === 'entered-in-error' ? 'the Observation was entered in error' : 'it is not a final result';
      throw new EntryFailure('/status', `status "${status}" is not ingested: ${why} (ingested: ${INGESTED_STATUSES.join(', ')})`);
    }
    const sourceId = typeof obs.id === 'string' ? obs.id : ctx.fullUrl;
    if (!sourceId) throw new EntryFailure('/id', 'an Observation needs an id (or its Bundle entry a fullUrl) to be traceable');
    const sourceVersion = obs.meta?.versionId ?? null;

    const match = matchCode(obs.code);
    const subject = resolveSubject(obs.subject, ctx.patients, subjectContext);
    if (!subject.ok) throw new EntryFailure(subject.pointer, subject.reason);
    const { start, end } = effectiveTime(obs);

    const draft = (indicator: Indicator, coding: Coding, m: Measured): IcsRecordDraft => checkedDraft({
      subject: subject.subject,
      indicator: indicator.name,
      effectiveStart: start,
      effectiveEnd: end,
      value: m.value,
      unit: m.unit,
      provenance: {
        provider: ctx.provider,
        sourceSystem: ctx.sourceSystem,
        sourceId,
        sourceVersion,
        code: coding,
        valueAsReceived: m.valueAsReceived,
        unitAsReceived: m.unitAsReceived,
      },
    });

    if (match.kind === 'indicator') {
      records.push(draft(match.indicator, match.coding, measure(obs, match.indicator, '')));
      return { records, errors };
    }

    const components = obs.component ?? [];
    let known = 0;
    components.forEach((component, j) => {
      const hit = codings(component.code)
        .map((c) => ({ c, name: c.system === LOINC_SYSTEM && Object.hasOwn(match.panel.components, c.code) ? match.panel.components[c.code] : undefined }))
        .find((x) => x.name !== undefined);
      if (!hit) return; // components HGD does not know are ignored
      known++;
      const indicator = catalogue().byName(hit.name as string);
      if (!indicator) return; // cannot happen: the catalogue check ties components to indicators
      try {
        records.push(draft(indicator, hit.c, measure(component, indicator, `/component/${j}`)));
      } catch (err) {
        if (!(err instanceof EntryFailure)) throw err;
        fail(err.pointer, err.reason);
      }
    });
    if (known === 0) {
      throw new EntryFailure('/component', `panel ${match.panel.loinc} has no component HGD knows (${Object.keys(match.panel.components).join(', ')})`);
    }
  } catch (err) {
    if (!(err instanceof EntryFailure)) throw err;
    fail(err.pointer, err.reason);
  }
  return { records, errors };
}

// ---------------------------------------------------------------------------------------------------------------
// CSV rows

const NUMBER = /^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;
const LOINC_ALIASES = new Set(['http://loinc.org', 'loinc', 'ln']);

export interface RowContext {
  provider: string;
  sourceSystem: string;
}

/** One CSV row -> one draft or the errors of its fields (pointers '/N/<column>'). */
/**
 * A CSV row without a `source_id` is identified by its content, so re-sending the same row is a
 * duplicate and a different row at the same position of a later file is not.
 */
export function csvRowSourceId(f: CsvFields): string {
  const content = [f.patient_id, f.code_system, f.code, f.value, f.unit, f.effective_start, f.effective_end].join('\u001f');
  return `csv-sha256:${createHash('sha256').update(content).digest('hex').slice(0, 32)}`;
}

export function normaliseCsvRow(item: CsvItem, ctx: RowContext): NormaliseResult {
  const f = item.fields;
  const errors: EntryError[] = [];
  const err = (column: string, reason: string) => errors.push({ ref: item.ref, pointer: `${item.pointer}/${escapePointer(column)}`, reason });

  let subject: PatientIdentifier | undefined;
  if (f.patient_id === '') err('patient_id', 'patient_id is required');
  else {
    const bar = f.patient_id.indexOf('|');
    const system = bar < 0 ? CSV_PATIENT_SYSTEM : f.patient_id.slice(0, bar).trim();
    const value = bar < 0 ? f.patient_id : f.patient_id.slice(bar + 1).trim();
    if (system === '' || value === '') err('patient_id', 'patient_id must be "system|value" or a plain value');
    else subject = { system, value };
  }

  let indicator: Indicator | undefined;
  if (!LOINC_ALIASES.has(f.code_system.toLowerCase())) {
    err('code_system', `code_system must be ${LOINC_SYSTEM} (or LOINC / LN), got "${f.code_system}"`);
  } else if (f.code === '') err('code', 'code is required');
  else {
    const cat = catalogue();
    const panel = cat.panelByCode(LOINC_SYSTEM, f.code);
    indicator = cat.byCode(LOINC_SYSTEM, f.code);
    if (panel) err('code', `panel codes are not accepted in CSV: give one row per component (${Object.keys(panel.components).join(', ')})`);
    else if (!indicator) err('code', `unknown indicator code (${LOINC_SYSTEM}|${f.code})`);
  }

  let measured: { value: number; unit: string } | undefined;
  if (!NUMBER.test(f.value)) err('value', f.value === '' ? 'value is required' : `value "${f.value}" is not a number`);
  else if (indicator) {
    try {
      measured = toCanonical(indicator, Number(f.value), f.unit);
    } catch (e) {
      if (e instanceof UnitError) err('unit', e.message);
      else if (e instanceof ValueError) err('value', e.message);
      else throw e;
    }
  }

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

  if (errors.length > 0 || !subject || !indicator || !measured || start === undefined) return { records: [], errors };
  try {
    const draft = checkedDraft({
      subject,
      indicator: indicator.name,
      effectiveStart: start,
      effectiveEnd: end,
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
    return { records: [], errors: [{ ref: item.ref, pointer: item.pointer, reason: e.reason }] };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Whole uploads

/** Every candidate of a parsed upload -> drafts and errors (the parser's own errors first). */
export function normaliseAll(parsed: ParseResult, ctx: RowContext): NormaliseResult {
  const records: IcsRecordDraft[] = [];
  const errors: EntryError[] = [...parsed.errors];
  for (const item of parsed.items) {
    const r = item.kind === 'csv'
      ? normaliseCsvRow(item, ctx)
      : normaliseObservation(item.resource, {
        provider: ctx.provider,
        sourceSystem: ctx.sourceSystem,
        patients: parsed.patients,
        ref: item.ref,
        pointer: item.pointer,
        ...(item.fullUrl ? { fullUrl: item.fullUrl } : {}),
        ...(item.inherited ? { inherited: item.inherited } : {}),
      });
    records.push(...r.records);
    errors.push(...r.errors);
  }
  return { records, errors };
}
