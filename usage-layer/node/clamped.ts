/**
 * A clamped aggregate at one compute node (POST /aggregate/clamped), in steps:
 *   1. the values: the selected records of the indicator (at most L a patient), or the one-to-one
 *      pairs of two indicators (store.ts selectedValues, pairedValues), each at its domain's scale;
 *   2. two comparisons per value, [x ≥ lo] and [x ≥ hi], as one batch with the dealer's material
 *      (secure-ops.ts compareBatch; the first 2·values of the dealt elements);
 *   3. clamp(x) = lo + b_lo·(x − lo) − b_hi·(x − hi): all products in one zero and one reshare round
 *      (mpc/clamp.ts);
 *   4. the measures over d = clamp(x) − c (c the public centre, or 0): Σd and, as degree-2t sums
 *      reduced in one more zero and reshare round, Σd², Σd_x·d_y.
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
import { reshareRound, zeroRound } from '../../mpc/rounds';
import { openCompareMaterial } from '../../parties/compare-material';
import { runRounds } from '../../parties/round-runner';
import type { ClampedRequest, ClampSpec } from '../../parties/wire';
import { compareBatch, multiplyElementwise, type SecureRun } from './secure-ops';
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

/** Steps 2–3: every axis's values clamped (degree-t shares), and the bytes sent. */
async function clampAll(run: SecureRun, req: ClampedRequest, axes: Axis[]): Promise<{ clamped: bigint[][]; bytes: number }> {
  const valueBits = Math.max(...axes.map((a) => a.plan.valueBits));
  if (req.maskBits !== valueBits + STATISTICAL_BITS) throw new ProtocolMismatchError(`the material's ${req.maskBits}-bit masks do not fit values of ${valueBits} bits`);
  const m = axes.reduce((acc, a) => acc + 2 * a.x.length, 0);
  const dealt = openCompareMaterial(run.encryptionKey, run.ctx.self, req.queryId, req.material as string);
  if (m > dealt.m) throw new ProtocolMismatchError(`${m} comparisons are needed but ${dealt.m} were dealt (more values than perPatient a cohort patient?)`);
  // Element layout, axis by axis: [x_v ≥ lo] for every v, then [x_v ≥ hi] for every v.
  const y = axes.flatMap((a) => [...a.x, ...a.x].map((v) => add(v, mod(a.plan.offset))));
  const thresholds = axes.flatMap((a) => [...a.x.map(() => a.plan.thresholds[0]), ...a.x.map(() => a.plan.thresholds[1])]);
  const bits = await compareBatch(run, { m, maskBits: req.maskBits, valueBits, thresholds }, y, firstElements(dealt, m));
  const factors = axes.flatMap((a) => clampFactors(a.x, a.plan));
  const products = await multiplyElementwise(run, bits.bits, factors, 1);
  let at = 0;
  const clamped = axes.map((a) => {
    const mine = products.values.slice(at, at + 2 * a.x.length);
    at += 2 * a.x.length;
    return clampedFromProducts(mine, a.plan);
  });
  return { clamped, bytes: bits.bytes + products.bytes };
}

const sumOf = (xs: readonly bigint[]) => xs.reduce((acc, v) => add(acc, v), 0n);

/** Step 4: the requested measures over d = clamp(x) − c; the degree-2t ones reduced in one zero + reshare. */
async function measuresOf(run: SecureRun, req: ClampedRequest, axes: Axis[], clamped: bigint[][], records: number): Promise<{ measures: Partial<Record<Measure, bigint>>; bytes: number }> {
  const centre = [req.centre?.x, req.centre?.y];
  const d = clamped.map((xs, k) => {
    const c = centre[k] === undefined ? 0n : mod(toFixed(centre[k] as number, (axes[k] as Axis).spec.domain.scale));
    return xs.map((v) => sub(v, c));
  });
  const [dx, dy] = [d[0] as bigint[], d[1] ?? []];
  const linear: Partial<Record<Measure, () => bigint>> = { sum: () => sumOf(dx), sumX: () => sumOf(dx), sumY: () => sumOf(dy) };
  const quadratic: Partial<Record<Measure, () => bigint>> = { sumSquares: () => localSumOfProducts(dx, dx), sumXX: () => localSumOfProducts(dx, dx), sumYY: () => localSumOfProducts(dy, dy), sumXY: () => localSumOfProducts(dx, dy) };
  const measures: Partial<Record<Measure, bigint>> = { count: mod(BigInt(records)) };
  const squared = req.measures.filter((m) => quadratic[m]);
  for (const m of req.measures) if (linear[m]) measures[m] = (linear[m] as () => bigint)();
  const reduced = squared.length ? await runRounds([zeroRound(), reshareRound()], squared.map((m) => (quadratic[m] as () => bigint)()), run.ctx, run.transport) : { values: [], bytes: 0 };
  squared.forEach((m, k) => { measures[m] = reduced.values[k] as bigint; });
  return { measures, bytes: reduced.bytes };
}

/** Runs steps 1–4 and returns the node's degree-t shares of the clamped measures (not noised yet). */
export async function clampedMeasures(run: SecureRun, req: ClampedRequest): Promise<ClampedLocal> {
  const values = req.indicator2 ? await pairedValues(run.db, req, req.indicator2, req.windowSeconds) : await selectedValues(run.db, req);
  if (values.records === 0) return { records: 0, digest: values.digest, measures: Object.fromEntries(['count', ...req.measures].map((m) => [m, 0n])), bytes: 0 };
  const axes = [axisOf(values.x, req.clamp.x, req.indicator), ...(values.y && req.clamp.y ? [axisOf(values.y, req.clamp.y, req.indicator2 as string)] : [])];
  const c = await clampAll(run, req, axes);
  const m = await measuresOf(run, req, axes, c.clamped, values.records);
  return { records: values.records, digest: values.digest, measures: m.measures, bytes: c.bytes + m.bytes };
}
