/**
 * Checks of everything a compute node receives, before any of it is used: each function takes the
 * parsed JSON body and returns a typed value or throws ValidationError naming the field.
 */
import { LINEAR_MEASURES, PRODUCT_MEASURES, type LinearMeasure, type Measure, type ProductMeasure } from '../mpc/aggregates';
import { COMPARISON_OPS, type ComparisonOp, type ValueDomain } from '../mpc/compare';
import type { FilterTree } from '../mpc/filters';
import { MAX_MASK_BITS } from '../mpc/preprocessing';
import { histogramKey } from '../mpc/histogram';
import { ROUND_NAMES, isRoundName } from '../mpc/rounds';
import { ValidationError } from '../storage-layer/errors';
import { MAX_HISTOGRAM_EDGES, MAX_ROUND_VALUES, type CentreSpec, type ClampedRequest, type ClampSpec, type FilteredRequest, type FilterLeafSpec, type HistogramRequest, type LinearRequest, type NoiseByMeasure, type NoiseSpec, type PeerMessage, type ProductRequest, type RecordFilter, type ShareBatch, type ShareBatchItem } from './wire';

const QUERY_ID = /^[A-Za-z0-9_-]{8,80}$/;
/** Largest number of records in one share batch. */
export const MAX_ITEMS = 100_000;
/** Largest filter: leaves, and depth of and/or nesting. */
const MAX_FILTER_LEAVES = 16;
/** The gateway allows 4 levels; `=` becomes an and of ≥ and ≤ (one more) and a quantile's round wraps the filter (one more). */
const MAX_FILTER_DEPTH = 6;
const MAX_SEALED_CHARS = 64 * 1024 * 1024;
const MAX_WINDOW_SECONDS = 366 * 86400;
const MAX_PER_PATIENT = 10_000;

type Body = Record<string, unknown>;
const asBody = (x: unknown): Body => (typeof x === 'object' && x !== null ? (x as Body) : {});

function str(x: unknown, field: string, max = 200): string {
  if (typeof x !== 'string' || x.length === 0 || x.length > max) throw new ValidationError(`${field} must be a non-empty string`, field);
  return x;
}

function instantOrNull(x: unknown, field: string): string | null {
  if (x === null || x === undefined) return null;
  if (typeof x !== 'string' || Number.isNaN(Date.parse(x))) throw new ValidationError(`${field} must be an instant or null`, field);
  return x;
}

export function parseQueryId(x: unknown): string {
  if (typeof x !== 'string' || !QUERY_ID.test(x)) throw new ValidationError('queryId must be 8 to 80 characters [A-Za-z0-9_-]', 'queryId');
  return x;
}

function flag(x: unknown, field: string): boolean {
  if (x === undefined || x === null) return false;
  if (typeof x !== 'boolean') throw new ValidationError(`${field} must be a boolean`, field);
  return x;
}

/** An item's source: true for `patient`, false when absent (a provider's record). */
function source(x: unknown, k: number): boolean {
  if (x === undefined || x === null) return false;
  if (x !== 'patient') throw new ValidationError(`items[${k}].source must be "patient" or absent`, 'source');
  return true;
}

export function parseFilter(body: Body): RecordFilter {
  const cohort = body.cohort;
  if (cohort !== null && cohort !== undefined) {
    if (!Array.isArray(cohort) || cohort.some((p) => typeof p !== 'string' || p.length === 0 || p.length > 200)) {
      throw new ValidationError('cohort must be an array of pseudonyms or null', 'cohort');
    }
  }
  const perPatient = body.perPatient ?? null;
  if (perPatient !== null && (!Number.isInteger(perPatient) || (perPatient as number) < 1 || (perPatient as number) > MAX_PER_PATIENT)) {
    throw new ValidationError(`perPatient must be an integer in [1, ${MAX_PER_PATIENT}] or null`, 'perPatient');
  }
  return {
    indicator: str(body.indicator, 'indicator'),
    from: instantOrNull(body.from, 'from'),
    to: instantOrNull(body.to, 'to'),
    cohort: (cohort as string[] | null | undefined) ?? null,
    perPatient: perPatient as number | null,
    includePatientReported: flag(body.includePatientReported, 'includePatientReported'),
  };
}

function parseCentre(x: unknown, pair: boolean): CentreSpec | null {
  if (x === null || x === undefined) return null;
  const o = asBody(x);
  const finite = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
  if (!finite(o.x) || (pair && !finite(o.y)) || (!pair && o.y !== undefined)) throw new ValidationError(`centre must be {x${pair ? ', y' : ''}} with finite numbers`, 'centre');
  return pair ? { x: o.x as number, y: o.y as number } : { x: o.x as number };
}

/** Distinct node ids in [1, n], including `self`, at least `min` of them; sorted. */
export function parseParticipants(x: unknown, n: number, self: number, min: number): number[] {
  if (!Array.isArray(x) || x.some((v) => !Number.isInteger(v) || v < 1 || v > n) || new Set(x).size !== x.length) {
    throw new ValidationError(`participants must be distinct node ids in [1, ${n}]`, 'participants');
  }
  if (!x.includes(self)) throw new ValidationError(`participants must include this node (${self})`, 'participants');
  if (x.length < min) throw new ValidationError(`at least ${min} participants are needed`, 'participants');
  return [...(x as number[])].sort((a, b) => a - b);
}

function parseNoiseSpec(x: unknown, field: string): NoiseSpec {
  const o = asBody(x);
  const ok = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v > 0;
  if (typeof x !== 'object' || x === null || !ok(o.epsilon) || !ok(o.sensitivity)) throw new ValidationError(`${field} needs epsilon > 0 and sensitivity > 0`, field);
  return { epsilon: o.epsilon as number, sensitivity: o.sensitivity as number };
}

/** A per-measure noise map whose keys are among `allowed`. */
function parseNoiseMap<M extends string>(x: unknown, allowed: readonly string[], field: string): NoiseByMeasure<M> {
  if (typeof x !== 'object' || x === null || Array.isArray(x) || Object.keys(x).length === 0) throw new ValidationError(`${field} must map measures to {epsilon, sensitivity}`, field);
  const out: Record<string, NoiseSpec> = {};
  for (const [k, v] of Object.entries(x)) {
    if (!allowed.includes(k)) throw new ValidationError(`${field}.${k}: only ${allowed.join(', ')} can be noised here`, field);
    out[k] = parseNoiseSpec(v, `${field}.${k}`);
  }
  return out as NoiseByMeasure<M>;
}

function parseMeasures<M extends string>(x: unknown, allowed: readonly M[], min: number): M[] {
  if (!Array.isArray(x) || x.length < min || x.some((m) => !allowed.includes(m as M)) || new Set(x).size !== x.length) {
    throw new ValidationError(`measures must be a list of distinct measures among ${allowed.join(', ')}`, 'measures');
  }
  return x as M[];
}

export function parseLinearRequest(raw: unknown, n: number, self: number, t: number): LinearRequest {
  const body = asBody(raw);
  const measures = parseMeasures(body.measures, LINEAR_MEASURES, 1);
  const req: LinearRequest = { queryId: parseQueryId(body.queryId), ...parseFilter(body), measures, centre: parseCentre(body.centre, false) };
  if (body.noise !== null && body.noise !== undefined) {
    req.noise = parseNoiseMap<LinearMeasure>(body.noise, measures, 'noise');
    req.participants = parseParticipants(body.participants, n, self, t + 1);
  }
  return req;
}

export function parseProductRequest(raw: unknown, n: number, self: number, t: number): ProductRequest {
  const body = asBody(raw);
  const windowSeconds = parseWindowSeconds(body.windowSeconds);
  const measures = parseMeasures(body.measures, PRODUCT_MEASURES, 0);
  return {
    queryId: parseQueryId(body.queryId),
    ...parseFilter(body),
    indicator2: str(body.indicator2, 'indicator2'),
    windowSeconds,
    participants: parseParticipants(body.participants, n, self, 2 * t + 1),
    measures,
    noise: body.noise ? parseNoiseMap<ProductMeasure>(body.noise, ['count', ...measures], 'noise') : null,
    centre: parseCentre(body.centre, true),
  };
}

function parseItem(x: unknown, k: number, histograms: Record<string, number[]>): ShareBatchItem {
  const it = asBody(x);
  const scale = it.scale;
  if (!Number.isInteger(scale) || (scale as number) < 0 || (scale as number) > 18) throw new ValidationError(`items[${k}].scale must be an integer in [0, 18]`, 'scale');
  const effectiveStart = instantOrNull(it.effectiveStart, `items[${k}].effectiveStart`);
  if (effectiveStart === null) throw new ValidationError(`items[${k}].effectiveStart is required`, 'effectiveStart');
  // Legacy one-hot entries (wire.ts ShareBatchItem.hist): counted to skip them, never stored.
  const hist = it.hist ?? null;
  if (hist !== null && (typeof hist !== 'string' || !histograms[hist])) throw new ValidationError(`items[${k}].hist names no histogram of the batch`, 'hist');
  return {
    recordId: str(it.recordId, 'recordId'),
    pseudonym: str(it.pseudonym, 'pseudonym'),
    indicator: str(it.indicator, 'indicator'),
    effectiveStart,
    effectiveEnd: instantOrNull(it.effectiveEnd, `items[${k}].effectiveEnd`),
    scale: scale as number,
    ...(hist !== null ? { hist: hist as string } : {}),
    ...(source(it.source, k) ? { source: 'patient' as const } : {}),
  };
}

function parseHistograms(x: unknown): Record<string, number[]> {
  const histograms: Record<string, number[]> = {};
  if (x === undefined) return histograms;
  for (const [key, edges] of Object.entries(asBody(x))) {
    if (!Array.isArray(edges) || edges.length < 2 || edges.some((e) => typeof e !== 'number' || !Number.isFinite(e)) || histogramKey(edges) !== key) {
      throw new ValidationError(`histogram ${key} does not match its edges`, 'histograms');
    }
    histograms[key] = edges;
  }
  return histograms;
}

/** A share batch's metadata and envelope (the envelope is opened by the receiving node). */
export function parseShareBatch(raw: unknown): ShareBatch {
  const body = asBody(raw);
  if (body.v !== 1) throw new ValidationError('unsupported share batch version', 'v');
  const dealing = body.dealing;
  if (typeof dealing !== 'string' || !/^[1-9][0-9]{0,15}$/.test(dealing)) throw new ValidationError('dealing must be a positive decimal integer', 'dealing');
  if (!Array.isArray(body.items) || body.items.length === 0 || body.items.length > MAX_ITEMS) {
    throw new ValidationError(`items must be an array of 1 to ${MAX_ITEMS} records`, 'items');
  }
  const histograms = parseHistograms(body.histograms);
  const items = body.items.map((it, k) => parseItem(it, k, histograms));
  if (new Set(items.map((i) => i.recordId)).size !== items.length) throw new ValidationError('a record id appears twice in the batch', 'items');
  return { v: 1, dealing, items, ...(body.histograms !== undefined ? { histograms } : {}), sealed: str(body.sealed, 'sealed', MAX_SEALED_CHARS) };
}

/** Characters of the largest sealed round message: MAX_ROUND_VALUES packed elements, base64url, plus the envelope. */
const MAX_SEALED_ROUND_CHARS = Math.ceil(((MAX_ROUND_VALUES * 16 + 60) * 4) / 3) + 64;

/** A round message; its envelope is still sealed (the node opens it, parties/round-message.ts). */
export function parsePeerMessage(raw: unknown): PeerMessage {
  const body = asBody(raw);
  if (body.v !== 1) throw new ValidationError('unsupported round message version', 'v');
  const queryId = parseQueryId(body.queryId);
  if (!isRoundName(body.round)) throw new ValidationError(`round must be one of the protocol rounds (${ROUND_NAMES.join(', ')}, optionally numbered .k)`, 'round');
  return { v: 1, queryId, round: body.round, sealed: str(body.sealed, 'sealed', MAX_SEALED_ROUND_CHARS) };
}

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** A pair kind's pairing window: seconds in [0, 1 year]. */
function parseWindowSeconds(x: unknown): number {
  if (!finite(x) || x < 0 || x > MAX_WINDOW_SECONDS) throw new ValidationError('windowSeconds must be a number of seconds in [0, 1 year]', 'windowSeconds');
  return x;
}

function parseDomain(x: unknown, at: string, field: string): ValueDomain {
  const d = asBody(x);
  if (!finite(d.min) || !finite(d.max) || d.max < d.min || !Number.isInteger(d.scale) || (d.scale as number) < 0 || (d.scale as number) > 18) {
    throw new ValidationError(`${at} must be {min ≤ max, scale in [0, 18]}`, field);
  }
  return { min: d.min, max: d.max, scale: d.scale as number };
}

function parseFilterLeaf(o: Body, at: string): FilterLeafSpec {
  if (!(COMPARISON_OPS as readonly string[]).includes(o.op as string)) throw new ValidationError(`${at}.op must be one of ${COMPARISON_OPS.join(', ')}`, 'filter');
  if (!finite(o.value)) throw new ValidationError(`${at}.value must be a finite number`, 'filter');
  return { indicator: str(o.indicator, `${at}.indicator`), op: o.op as ComparisonOp, value: o.value, domain: parseDomain(o.domain, `${at}.domain`, 'filter') };
}

/** A filter tree of at most MAX_FILTER_LEAVES leaves and MAX_FILTER_DEPTH levels. */
export function parseFilterTree(x: unknown, at = 'filter', depth = 1, leaves = { count: 0 }): FilterTree<FilterLeafSpec> {
  const o = asBody(x);
  if (depth > MAX_FILTER_DEPTH) throw new ValidationError(`${at}: filters nest at most ${MAX_FILTER_DEPTH} levels`, 'filter');
  for (const key of ['and', 'or'] as const) {
    if (!(key in o)) continue;
    const children = o[key];
    if (!Array.isArray(children) || children.length === 0 || Object.keys(o).length !== 1) throw new ValidationError(`${at}.${key} must be the only key, with a non-empty list`, 'filter');
    const parsed = children.map((c, i) => parseFilterTree(c, `${at}.${key}[${i}]`, depth + 1, leaves));
    return key === 'and' ? { and: parsed } : { or: parsed };
  }
  if (++leaves.count > MAX_FILTER_LEAVES) throw new ValidationError(`${at}: a filter has at most ${MAX_FILTER_LEAVES} predicates`, 'filter');
  return parseFilterLeaf(o, at);
}

export function parseFilteredRequest(raw: unknown, n: number, self: number, t: number): FilteredRequest {
  const body = asBody(raw);
  const f = parseFilter(body);
  if (f.cohort === null) throw new ValidationError('a filtered query needs its cohort', 'cohort');
  const measures = parseMeasures(body.measures, ['sum', 'sumSquares'] as LinearMeasure[], 0);
  const maskBits = parseMaskBits(body.maskBits);
  const material = parseMaterial(body.material, f.cohort);
  return {
    queryId: parseQueryId(body.queryId),
    ...f,
    cohort: f.cohort,
    measures,
    filter: parseFilterTree(body.filter),
    maskBits,
    material,
    participants: parseParticipants(body.participants, n, self, 2 * t + 1),
    noise: body.noise ? parseNoiseMap<LinearMeasure>(body.noise, ['count', ...measures], 'noise') : null,
    centre: parseCentre(body.centre, false),
  };
}

function parseEdges(x: unknown, domain: ValueDomain): number[] {
  const ok = Array.isArray(x) && x.length >= 2 && x.length <= MAX_HISTOGRAM_EDGES
    && x.every((e, k) => finite(e) && e >= domain.min && e <= domain.max && (k === 0 || e > (x[k - 1] as number)));
  if (!ok) throw new ValidationError(`edges must be 2 to ${MAX_HISTOGRAM_EDGES} strictly increasing numbers inside the domain`, 'edges');
  return x as number[];
}

function parseBoolean(x: unknown, field: string): boolean {
  if (typeof x !== 'boolean') throw new ValidationError(`${field} must be true or false`, field);
  return x;
}

export function parseHistogramRequest(raw: unknown, n: number, self: number, t: number): HistogramRequest {
  const body = asBody(raw);
  const f = parseFilter(body);
  if (f.cohort === null) throw new ValidationError('a histogram needs its cohort', 'cohort');
  const domain = parseDomain(body.domain, 'domain', 'domain');
  return {
    queryId: parseQueryId(body.queryId),
    ...f,
    cohort: f.cohort,
    edges: parseEdges(body.edges, domain),
    below: parseBoolean(body.below, 'below'),
    above: parseBoolean(body.above, 'above'),
    domain,
    filter: body.filter === null || body.filter === undefined ? null : parseFilterTree(body.filter),
    maskBits: parseMaskBits(body.maskBits),
    material: parseMaterial(body.material, f.cohort),
    participants: parseParticipants(body.participants, n, self, 2 * t + 1),
    noise: body.noise ? parseNoiseMap<'histogram'>(body.noise, ['histogram'], 'noise') : null,
  };
}

function parseClampSpec(x: unknown, at: string): ClampSpec {
  const o = asBody(x);
  const domain = parseDomain(o.domain, `${at}.domain`, 'clamp');
  if (!finite(o.min) || !finite(o.max) || o.min >= o.max || o.min < domain.min || o.max > domain.max) {
    throw new ValidationError(`${at} must be {min < max} inside its domain [${domain.min}, ${domain.max}]`, 'clamp');
  }
  return { min: o.min, max: o.max, domain };
}

/** The dealer's sealed comparison material: given exactly when the cohort is not empty. */
function parseMaterial(x: unknown, cohort: readonly string[]): string | null {
  const material = x === null ? null : str(x, 'material', MAX_SEALED_CHARS);
  if ((material === null) !== (cohort.length === 0)) throw new ValidationError('material must be given exactly when the cohort is not empty', 'material');
  return material;
}

function parseMaskBits(x: unknown): number {
  if (!Number.isInteger(x) || (x as number) < 2 || (x as number) > MAX_MASK_BITS) throw new ValidationError(`maskBits must be an integer in [2, ${MAX_MASK_BITS}]`, 'maskBits');
  return x as number;
}

export function parseClampedRequest(raw: unknown, n: number, self: number, t: number): ClampedRequest {
  const body = asBody(raw);
  const f = parseFilter(body);
  if (f.cohort === null) throw new ValidationError('a clamped query needs its cohort', 'cohort');
  const perPatient = f.perPatient;
  if (perPatient === null || perPatient === undefined) throw new ValidationError('a clamped query needs its contribution bound perPatient', 'perPatient');
  const pair = body.indicator2 !== null && body.indicator2 !== undefined;
  const windowSeconds = pair ? parseWindowSeconds(body.windowSeconds) : 0;
  const measures = parseMeasures<Measure>(body.measures, pair ? PRODUCT_MEASURES : (['sum', 'sumSquares'] as Measure[]), 0);
  const clamp = asBody(body.clamp);
  if (pair !== (clamp.y !== undefined && clamp.y !== null)) throw new ValidationError('clamp must bound y exactly when the query pairs two indicators', 'clamp');
  const material = parseMaterial(body.material, f.cohort);
  return {
    queryId: parseQueryId(body.queryId),
    ...f,
    cohort: f.cohort,
    perPatient,
    indicator2: pair ? str(body.indicator2, 'indicator2') : null,
    windowSeconds,
    clamp: { x: parseClampSpec(clamp.x, 'clamp.x'), ...(pair ? { y: parseClampSpec(clamp.y, 'clamp.y') } : {}) },
    filter: body.filter === undefined || body.filter === null ? null : parseFilterTree(body.filter),
    measures,
    maskBits: parseMaskBits(body.maskBits),
    material,
    participants: parseParticipants(body.participants, n, self, 2 * t + 1),
    noise: body.noise ? parseNoiseMap<Measure>(body.noise, ['count', ...measures], 'noise') : null,
    centre: parseCentre(body.centre, pair),
  };
}
