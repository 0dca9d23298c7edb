/**
 * Candidate Observations (and CSV rows) -> ICS record drafts in canonical units, or per-entry errors with a
 * JSON pointer and a reason. Nothing here touches the database; references the upload does not resolve and
 * pseudonymisation are left to the ingest service.
 *
 * Each entry ends as exactly one of: drafts (some of them possibly with errors for other components), errors only
 * (rejected), or `expanded` (a panel without a value of its own, whose members carry the data).
 */
import type { CodeableConcept, Observation, ObservationComponent } from '@medplum/fhirtypes';
import { LOINC_SYSTEM, catalogue, type Indicator, type Panel } from './catalogue';
import { UnitError, ValueError } from './errors';
import { toUtcInstant } from './fhir-time';
import { validateIcsRecord, type IcsRecordDraft, type SubjectIdentifier } from './ics-record';
import { EntryFailure, checkedDraft } from './normalise-draft';
import { normaliseCsvRow, csvRowSourceId, type RowContext } from './normalise-csv';
import { normalisePatient } from './normalise-patient';
import type { EntryError, InheritedContext, PanelMembers, ParsedItem, ParseResult, PatientScope, RejectedEntry } from './parse/types';
import { describeAjvErrors, validatorFor } from './schemas';
import { resolveSubject, type SubjectResult } from './subject';
import { cleanUnit, toCanonical } from './units';

export type { EntryError, IcsRecordDraft, RowContext };
export { csvRowSourceId, normaliseCsvRow, resolveSubject, validateIcsRecord, type SubjectResult };

export const UCUM_SYSTEM = 'http://unitsofmeasure.org';
/** Observation statuses that are ingested; everything else is reported and skipped. */
export const INGESTED_STATUSES = ['final', 'amended', 'corrected'] as const;

export interface NormaliseContext {
  provider: string;
  sourceSystem: string;
  /** The upload's Patients the subject may name. */
  scope?: PatientScope;
  ref: string;
  pointer: string;
  /** The Bundle entry's fullUrl: relative references resolve against its service base. */
  fullUrl?: string;
  /** subject / effective[x] / performer from a panel or DiagnosticReport listing this Observation, used when it lacks them. */
  inherited?: InheritedContext;
  /** For a panel: how many of its members the upload holds. */
  panel?: PanelMembers;
}

export interface NormaliseResult {
  records: IcsRecordDraft[];
  errors: EntryError[];
  /** A panel with no value of its own: not a rejection, its members are the data. */
  expanded?: PanelMembers;
}

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const INVISIBLE = /[\u200B-\u200D\u2060\uFEFF\u00AD]/g;

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

const MAX_PERFORMERS = 10;

/** Observation.performer as strings: each reference, else identifier (system|value), else display. */
function performersOf(raw: unknown): string[] | undefined {
  if (!Array.isArray(raw)) return undefined;
  const out = raw.flatMap((p): string[] => {
    if (!isObject(p)) return [];
    const id = isObject(p.identifier) ? p.identifier : undefined;
    const candidates = [p.reference, id && typeof id.system === 'string' && typeof id.value === 'string' ? `${id.system}|${id.value}` : undefined, p.display];
    const first = candidates.find((c): c is string => typeof c === 'string' && c.trim() !== '');
    return first ? [first.trim().slice(0, 1024)] : [];
  });
  return out.length ? out.slice(0, MAX_PERFORMERS) : undefined;
}

/** The members of a panel (hasMember references), or 0. */
function memberCount(resource: Obj): number {
  return Array.isArray(resource.hasMember) ? resource.hasMember.length : 0;
}

const hasOwnValue = (r: Obj) => r.valueQuantity !== undefined || VALUE_KEYS.some((k) => r[k] !== undefined) || (Array.isArray(r.component) && r.component.length > 0);

/** The resource with what a panel or report gives filled in where it is silent, and where its subject resolves. */
function withInherited(resource: Obj, ctx: NormaliseContext): { view: Obj; subjectContext?: string } {
  const view: Obj = { ...resource };
  const inh = ctx.inherited;
  let subjectContext = ctx.fullUrl;
  if (!inh) return { view, ...(subjectContext ? { subjectContext } : {}) };
  if (view.subject === undefined && inh.subject !== undefined) {
    view.subject = inh.subject;
    subjectContext = inh.fullUrl;
  }
  if (EFFECTIVE_KEYS.every((k) => view[k] === undefined)) {
    for (const k of ['effectiveDateTime', 'effectivePeriod', 'effectiveInstant'] as const) if (inh[k] !== undefined) view[k] = inh[k];
  }
  if (view.performer === undefined && inh.performer !== undefined) view.performer = inh.performer;
  return { view, ...(subjectContext ? { subjectContext } : {}) };
}

interface Checked {
  obs: Observation;
  sourceId: string;
  match: CodeMatch;
  subject: SubjectResult & { ok: true };
  start: string;
  end: string | null;
  performer?: string[];
}

/** The checks every value of the Observation shares: status, id, code, subject, time. Throws EntryFailure. */
function checkObservation(obs: Observation, ctx: NormaliseContext, subjectContext: string | undefined): Checked {
  const status = obs.status;
  if (!(INGESTED_STATUSES as readonly string[]).includes(status)) {
    const why = status === 'entered-in-error' ? 'the Observation was entered in error' : 'it is not a final result';
    throw new EntryFailure('/status', `status "${status}" is not ingested: ${why} (ingested: ${INGESTED_STATUSES.join(', ')})`);
  }
  const sourceId = typeof obs.id === 'string' ? obs.id : ctx.fullUrl;
  if (!sourceId) throw new EntryFailure('/id', 'an Observation needs an id (or its Bundle entry a fullUrl) to be traceable');
  const match = matchCode(obs.code);
  const subject = resolveSubject(obs.subject, ctx.scope, subjectContext);
  if (!subject.ok) throw new EntryFailure(subject.pointer, subject.reason);
  const { start, end } = effectiveTime(obs);
  const performer = performersOf((obs as unknown as Obj).performer);
  return { obs, sourceId, match, subject, start, end, ...(performer ? { performer } : {}) };
}

function draftOf(c: Checked, ctx: NormaliseContext, indicator: Indicator, coding: Coding, m: Measured): IcsRecordDraft {
  return checkedDraft({
    subject: c.subject.subject,
    ...(c.subject.legacy ? { legacySubject: c.subject.legacy as SubjectIdentifier } : {}),
    indicator: indicator.name,
    effectiveStart: c.start,
    effectiveEnd: c.end,
    value: m.value,
    unit: m.unit,
    provenance: {
      provider: ctx.provider,
      sourceSystem: ctx.sourceSystem,
      sourceId: c.sourceId,
      sourceVersion: c.obs.meta?.versionId ?? null,
      code: coding,
      valueAsReceived: m.valueAsReceived,
      unitAsReceived: m.unitAsReceived,
      ...(c.performer ? { performer: c.performer } : {}),
    },
  });
}

/** One draft per component the catalogue panel knows; a bad component is an error of its own. */
function panelDrafts(c: Checked, ctx: NormaliseContext, panel: Panel, out: NormaliseResult, fail: (p: string, r: string) => void): void {
  let known = 0;
  (c.obs.component ?? []).forEach((component, j) => {
    const hit = codings(component.code)
      .map((x) => ({ x, name: x.system === LOINC_SYSTEM && Object.hasOwn(panel.components, x.code) ? panel.components[x.code] : undefined }))
      .find((h) => h.name !== undefined);
    if (!hit) return; // components HGD does not know are ignored
    known++;
    const indicator = catalogue().byName(hit.name as string);
    if (!indicator) return; // cannot happen: the catalogue check ties components to indicators
    try {
      out.records.push(draftOf(c, ctx, indicator, hit.x, measure(component, indicator, `/component/${j}`)));
    } catch (err) {
      if (!(err instanceof EntryFailure)) throw err;
      fail(err.pointer, err.reason);
    }
  });
  if (known === 0) {
    throw new EntryFailure('/component', `panel ${panel.loinc} has no component HGD knows (${Object.keys(panel.components).join(', ')})`);
  }
}

/** One FHIR Observation -> drafts (one, or one per known component of a panel), errors, or a panel expanded. */
export function normaliseObservation(resource: unknown, ctx: NormaliseContext): NormaliseResult {
  const out: NormaliseResult = { records: [], errors: [] };
  const fail = (pointer: string, reason: string): NormaliseResult => {
    out.errors.push({ ref: ctx.ref, pointer: ctx.pointer + pointer, reason });
    return out;
  };
  if (!isObject(resource)) return fail('', 'expected an Observation object');
  const members = memberCount(resource);
  if (members > 0 && !hasOwnValue(resource)) return { ...out, expanded: { members, inUpload: ctx.panel?.inUpload ?? 0 } };

  const { view, subjectContext } = withInherited(resource, ctx);
  const validate = validatorFor('fhir-observation-subset.schema.json');
  if (!validate(view)) {
    for (const issue of describeAjvErrors(validate.errors)) fail(issue.pointer, issue.reason);
    return out;
  }
  try {
    const c = checkObservation(view as unknown as Observation, ctx, subjectContext); // the subset HGD reads has been checked
    if (c.match.kind === 'indicator') out.records.push(draftOf(c, ctx, c.match.indicator, c.match.coding, measure(c.obs, c.match.indicator, '')));
    else panelDrafts(c, ctx, c.match.panel, out, fail);
  } catch (err) {
    if (!(err instanceof EntryFailure)) throw err;
    fail(err.pointer, err.reason);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Whole uploads

/** One entry of an upload with what became of it: a candidate item, or an entry the parser already rejected. */
export interface NormalisedEntry extends NormaliseResult {
  item?: ParsedItem;
  rejected?: RejectedEntry;
}

export interface NormalisedUpload {
  records: IcsRecordDraft[];
  errors: EntryError[];
  entries: NormalisedEntry[];
}

const withLine = (errors: EntryError[], line: number | undefined): EntryError[] => (line === undefined ? errors : errors.map((e) => ({ ...e, line })));

/** A Patient item (it carries demographics): normalise-patient.ts. */
function normalisePatientItem(item: ParsedItem & { kind: 'fhir' }, ctx: RowContext & { receivedAt: string }): NormaliseResult {
  const r = normalisePatient(item.resource as Obj, {
    provider: ctx.provider, sourceSystem: ctx.sourceSystem, ref: item.ref, pointer: item.pointer, receivedAt: ctx.receivedAt, ...(item.fullUrl ? { fullUrl: item.fullUrl } : {}),
  });
  return { ...r, errors: withLine(r.errors, item.line) };
}

function normaliseItem(item: ParsedItem, ctx: RowContext & { receivedAt: string }): NormaliseResult {
  if (item.kind === 'csv') return normaliseCsvRow(item, ctx);
  if (isObject(item.resource) && item.resource.resourceType === 'Patient') return normalisePatientItem(item, ctx);
  const r = normaliseObservation(item.resource, {
    provider: ctx.provider,
    sourceSystem: ctx.sourceSystem,
    ref: item.ref,
    pointer: item.pointer,
    ...(item.scope ? { scope: item.scope } : {}),
    ...(item.fullUrl ? { fullUrl: item.fullUrl } : {}),
    ...(item.inherited ? { inherited: item.inherited } : {}),
    ...(item.panel ? { panel: item.panel } : {}),
  });
  return { ...r, errors: withLine(r.errors, item.line) };
}

/** Orders JSON pointers as their entries appear in the upload ('/entry/2/...' before '/entry/10/...'). */
function documentOrder(a: string, b: string): number {
  const x = a.split('/');
  const y = b.split('/');
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] === y[i]) continue;
    const [m, n] = [Number(x[i]), Number(y[i])];
    return Number.isInteger(m) && Number.isInteger(n) ? m - n : (x[i]! < y[i]! ? -1 : 1);
  }
  return x.length - y.length;
}

/**
 * Every entry of a parsed upload -> drafts and errors, entries in the order of the upload. `ctx.receivedAt`
 * (default: now) is the effective time of demographics that give none of their own.
 */
export function normaliseAll(parsed: ParseResult, rowContext: RowContext): NormalisedUpload {
  const ctx = { ...rowContext, receivedAt: rowContext.receivedAt ?? new Date().toISOString() };
  const entries: NormalisedEntry[] = parsed.errors.map((rejected) => {
    const { sent: _sent, ...error } = rejected;
    return { rejected, records: [], errors: [error] };
  });
  for (const item of parsed.items) entries.push({ item, ...normaliseItem(item, ctx) });
  if (parsed.errors.length) entries.sort((a, b) => documentOrder((a.item ?? a.rejected)!.pointer, (b.item ?? b.rejected)!.pointer));
  return { records: entries.flatMap((e) => e.records), errors: entries.flatMap((e) => e.errors), entries };
}
