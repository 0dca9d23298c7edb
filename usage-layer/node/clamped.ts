/**
 * A clamped aggregate at one compute node (POST /aggregate/clamped), in steps:
 *   1. the values: the selected records of the indicator (at most L a patient), or the one-to-one
 *      pairs of two indicators (store.ts selectedValues, pairedValues), each at its domain's scale;
 *   2. two comparisons per value, [x ≥ lo] and [x ≥ hi], as one batch with the dealer's material
 *      (secure-ops.ts compareBatch; the first elements dealt), after a cohort filter's comparisons
 *      when there is a filter (filtered.ts: its leaves, then its and/or tree as products);
 *   3. clamp(x) = lo + b_lo·(x − lo) − b_hi·(x − hi): all products in one zero and one reshare round
 *      (mpc/clamp.ts);
 *   4. the measures over d = clamp(x) − c (c the public centre, or 0): Σd and, as degree-2t sums
 *      reduced in one more zero and reshare round, Σd², Σd_x·d_y; with a filter every term weighed by
 *      its patient's filter bit (the squares and cross products first reduced in a round of their own).
 * Only masked values are opened, among the nodes; what leaves the node is degree-t shares of the
 * measures, noised by the caller (service.ts) before answering.
 */
import { type Measure } from '../../mpc/aggregates';
import { clampedFromProducts, clampFactors, clampPlan, type ClampPlan } from '../../mpc/clamp';
import { STATISTICAL_BITS } from '../../mpc/compare';
import { ProtocolMismatchError } from '../../mpc/errors';
import { add, mod, sub } from '../../mpc/field';
import { toFixed } from '../../mpc/fixed-point';
import { firstElements } from '../../mpc/preprocessing';
import { localSumOfProducts } from '../../mpc/products';
import { rescale } from '../../mpc/rescale';
import { agreementRound, reshareRound, zeroRound } from '../../mpc/rounds';
import { openCompareMaterial } from '../../parties/compare-material';
import { runRounds, runStep } from '../../parties/round-runner';
import type { FilterTree } from '../../mpc/filters';
import type { ClampedRequest, ClampSpec, FilterLeafSpec } from '../../parties/wire';
import { compareBatch, multiplyElementwise, type SecureRun } from './secure-ops';
import { combineLeaves, leafBatch, orientedLeafBits, type LeafBatch } from './filtered';
import { pairedValues, selectedValues, type ValueShare } from './store';

export interface ClampedLocal {
  records: number;
  digest: string;
  /** Degree-t shares of the count (public to the nodes) and of the requested measures. */
  measures: Partial<Record<Measure, bigint>>;
  bytes: number;
}

interface Axis {
  spec: ClampSpec;
  plan: ClampPlan;
  /** The values at the domain's scale (field elements). */
  x: bigint[];
}

function axisOf(values: readonly ValueShare[], spec: ClampSpec, indicator: string): Axis {
  const x = values.map((v) => {
    if (v.scale > spec.domain.scale) throw new ProtocolMismatchError(`records of ${indicator} are stored at scale ${v.scale}, finer than the domain's ${spec.domain.scale}`);
    return rescale(v.share, spec.domain.scale - v.scale);
  });
  return { spec, plan: clampPlan(spec), x };
}

/** The comparisons of one query as one batch: the filter's (if any) first, then two a value, axis by axis. */
interface Batch {
  y: bigint[];
  thresholds: bigint[];
  valueBits: number;
  /** Elements of the filter (|leaves| · |cohort|) at the front. */
  filterElements: number;
}

function comparisonBatch(axes: Axis[], leaves: LeafBatch | null): Batch {
  // Element layout, axis by axis: [x_v ≥ lo] for every v, then [x_v ≥ hi] for every v.
  const y = axes.flatMap((a) => [...a.x, ...a.x].map((v) => add(v, mod(a.plan.offset))));
  const thresholds = axes.flatMap((a) => [...a.x.map(() => a.plan.thresholds[0]), ...a.x.map(() => a.plan.thresholds[1])]);
  const valueBits = Math.max(...axes.map((a) => a.plan.valueBits), leaves?.valueBits ?? 0);
  return { y: [...(leaves?.y ?? []), ...y], thresholds: [...(leaves?.thresholds ?? []), ...thresholds], valueBits, filterElements: leaves?.y.length ?? 0 };
}

/** Step 2: every comparison of the query in one batch with the dealer's material (its first elements). */
async function compareAll(run: SecureRun, req: ClampedRequest, batch: Batch): Promise<{ bits: bigint[]; bytes: number }> {
  if (req.maskBits !== batch.valueBits + STATISTICAL_BITS) throw new ProtocolMismatchError(`the material's ${req.maskBits}-bit masks do not fit values of ${batch.valueBits} bits`);
  const m = batch.y.length;
  const dealt = openCompareMaterial(run.encryptionKey, run.ctx.self, req.queryId, req.material as string);
  if (m > dealt.m) throw new ProtocolMismatchError(`${m} comparisons are needed but ${dealt.m} were dealt (more values than perPatient a cohort patient?)`);
  return compareBatch(run, { m, maskBits: req.maskBits, valueBits: batch.valueBits, thresholds: batch.thresholds }, batch.y, firstElements(dealt, m));
}

/** Step 3: clamp(x) for every axis from its comparison bits, the products numbered `k`. */
async function clampAll(run: SecureRun, axes: Axis[], bits: readonly bigint[], k: number): Promise<{ clamped: bigint[][]; bytes: number }> {
  const factors = axes.flatMap((a) => clampFactors(a.x, a.plan));
  const products = await multiplyElementwise(run, bits, factors, k);
  let at = 0;
  const clamped = axes.map((a) => {
    const mine = products.values.slice(at, at + 2 * a.x.length);
    at += 2 * a.x.length;
    return clampedFromProducts(mine, a.plan);
  });
  return { clamped, bytes: products.bytes };
}

const sumOf = (xs: readonly bigint[]) => xs.reduce((acc, v) => add(acc, v), 0n);

/** d = clamp(x) − c per axis (c the public centre, or 0). */
function deviations(req: ClampedRequest, axes: Axis[], clamped: bigint[][]): Record<'x' | 'y', bigint[]> {
  const centre = [req.centre?.x, req.centre?.y];
  const d = clamped.map((xs, k) => {
    const c = centre[k] === undefined ? 0n : mod(toFixed(centre[k] as number, (axes[k] as Axis).spec.domain.scale));
    return xs.map((v) => sub(v, c));
  });
  return { x: d[0] as bigint[], y: d[1] ?? [] };
}

const LINEAR: Partial<Record<Measure, 'x' | 'y'>> = { sum: 'x', sumX: 'x', sumY: 'y' };
const QUADRATIC: Partial<Record<Measure, ['x' | 'y', 'x' | 'y']>> = { sumSquares: ['x', 'x'], sumXX: ['x', 'x'], sumYY: ['y', 'y'], sumXY: ['x', 'y'] };

/** Step 4 without a filter: Σd and, as degree-2t sums reduced in one zero + reshare, Σd², Σd_x·d_y. */
async function measuresOf(run: SecureRun, req: ClampedRequest, d: Record<'x' | 'y', bigint[]>, records: number): Promise<{ measures: Partial<Record<Measure, bigint>>; bytes: number }> {
  const measures: Partial<Record<Measure, bigint>> = { count: mod(BigInt(records)) };
  for (const m of req.measures) if (LINEAR[m]) measures[m] = sumOf(d[LINEAR[m]]);
  const squared = req.measures.filter((m) => QUADRATIC[m]);
  const local = squared.map((m) => localSumOfProducts(d[(QUADRATIC[m] as ['x', 'x'])[0]], d[(QUADRATIC[m] as ['x', 'x'])[1]]));
  const reduced = squared.length ? await runRounds([zeroRound(), reshareRound()], local, run.ctx, run.transport) : { values: [], bytes: 0 };
  squared.forEach((m, k) => { measures[m] = reduced.values[k] as bigint; });
  return { measures, bytes: reduced.bytes };
}

/**
 * Step 4 with a filter, b_r the filter bit of record r's patient: count = Σ b_r; Σ b_r·d_r; and for
 * the quadratic measures d_r·d'_r first reduced to degree t (products numbered `k`), then Σ b_r·(d·d')_r;
 * all the degree-2t sums reduced in one zero + reshare.
 */
async function filteredMeasuresOf(run: SecureRun, req: ClampedRequest, d: Record<'x' | 'y', bigint[]>, b: readonly bigint[], k: number): Promise<{ measures: Partial<Record<Measure, bigint>>; bytes: number }> {
  const squared = req.measures.filter((m) => QUADRATIC[m]);
  const n = b.length;
  const products = squared.length
    ? await multiplyElementwise(run, squared.flatMap((m) => d[(QUADRATIC[m] as ['x', 'x'])[0]]), squared.flatMap((m) => d[(QUADRATIC[m] as ['x', 'x'])[1]]), k)
    : { values: [], bytes: 0 };
  const terms = req.measures.map((m) => (LINEAR[m] ? d[LINEAR[m]] : products.values.slice(squared.indexOf(m) * n, (squared.indexOf(m) + 1) * n)));
  const local = terms.map((t) => localSumOfProducts(b, t));
  const reduced = local.length ? await runRounds([zeroRound(), reshareRound()], local, run.ctx, run.transport) : { values: [], bytes: 0 };
  const measures: Partial<Record<Measure, bigint>> = { count: sumOf(b) };
  req.measures.forEach((m, i) => { measures[m] = reduced.values[i] as bigint; });
  return { measures, bytes: products.bytes + reduced.bytes };
}

/** The filter's bit for every value's patient (from the first elements of the batch's bits). */
async function recordBits(run: SecureRun, req: ClampedRequest, leaves: LeafBatch, bits: readonly bigint[], patients: readonly string[]): Promise<{ b: bigint[]; bytes: number; next: number }> {
  const byLeaf = orientedLeafBits(bits, leaves, req.cohort.length);
  const combined = await combineLeaves(run, req.filter as FilterTree<FilterLeafSpec>, byLeaf);
  const index = new Map(req.cohort.map((p, i) => [p, i]));
  return { b: patients.map((p) => combined.bits[index.get(p) as number] as bigint), bytes: combined.bytes, next: combined.next };
}

/** Runs steps 1–4 and returns the node's degree-t shares of the clamped measures (not noised yet). */
export async function clampedMeasures(run: SecureRun, req: ClampedRequest): Promise<ClampedLocal> {
  const values = req.indicator2 ? await pairedValues(run.db, req, req.indicator2, req.windowSeconds) : await selectedValues(run.db, req);
  // Every vector below is as long as the selection: the nodes agree on it first (all stop at once if not).
  const summary = [String(values.records), ...values.digest.split(':')].map((x) => mod(BigInt(x))); // a pair's digest is "x:y"
  const agreed = await runStep(agreementRound(), summary, run.ctx, run.transport);
  if (values.records === 0) return { records: 0, digest: values.digest, measures: Object.fromEntries(['count', ...req.measures].map((m) => [m, 0n])), bytes: agreed.bytes };
  const axes = [axisOf(values.x, req.clamp.x, req.indicator), ...(values.y && req.clamp.y ? [axisOf(values.y, req.clamp.y, req.indicator2 as string)] : [])];
  const leaves = req.filter ? await leafBatch(run, req, req.filter) : null;
  const batch = comparisonBatch(axes, leaves);
  const bits = await compareAll(run, req, batch);
  const filter = leaves ? await recordBits(run, req, leaves, bits.bits.slice(0, batch.filterElements), values.patients) : null;
  const k = filter?.next ?? 1;
  const c = await clampAll(run, axes, bits.bits.slice(batch.filterElements), k);
  const d = deviations(req, axes, c.clamped);
  const m = filter ? await filteredMeasuresOf(run, req, d, filter.b, k + 1) : await measuresOf(run, req, d, values.records);
  return { records: values.records, digest: values.digest, measures: m.measures, bytes: agreed.bytes + bits.bytes + (filter?.bytes ?? 0) + c.bytes + m.bytes };
}
