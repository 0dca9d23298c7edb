/**
 * `npm run bench -- privacy`: the error of released statistics against the plaintext truth, over
 * repeated releases, for 10,000 synthetic patients with realistic values, at ε = 1 per query, all
 * consenting, one record per patient (L = 1), catalogue bounds. The mechanism is the production one:
 * the privacy plan (usage-layer/queries/disclosure.ts: the gate's noisy count, the pilot means and
 * centrePlan for the pilot kinds), each of three compute nodes' noise part with the exact samplers
 * (mpc/dp-noise.ts: NB(½) − NB(½) per node, t = 1) at each measure's fixed-point scale, and the
 * registry's formulas, floors and post-processing (mpc/aggregates.ts). What the network adds (shares,
 * rounds) does not change the released value, so it is left out to afford many repetitions.
 * Baseline in the same run: the plan on main before this change (one phase centred at the midpoint,
 * gate ε/5, weights count 1 : Σ 3 : Σ² 5 and count 1 : Σx 2 : Σy 2 : Σx² 4 : Σy² 4 : Σxy 5, full-scale
 * discrete Laplace from each of the three nodes).
 */
import { getIndicator, type Indicator } from '../management-layer/catalogue';
import { countHalfWidth, releaseInterval } from '../mpc/intervals';
import { aggregateSpec, centreOf, measureScale, type AggregateKind, type Centre, type Measure, type OpenedMeasures, type ValueRange } from '../mpc/aggregates';
import { honestParts, laplaceScale, sampleDiscreteLaplace, sampleNoisePart } from '../mpc/dp-noise';
import { toFixed } from '../mpc/fixed-point';
import * as stats from '../mpc/statistics';
import { boundsFromPilot, spreadFloor } from '../usage-layer/queries/auto-bounds';
import { AUTO_BOUNDS_STDS, boundsPlan, centrePlan, correlationFloors, mainParts, noisePartScale, part, planPrivacy, releaseNoise, valueBounds, type NoisePart, type PrivacyPlan } from '../usage-layer/queries/disclosure';
import { centreNoise, pilotError, pilotOpened, pilotValue, type CentresNoise } from '../usage-layer/queries/pilot';
import { machine, printTable } from './support';

const PATIENTS = 10_000;
const RUNS = Number(process.env.HGD_BENCH_PRIVACY_RUNS ?? 200);
const NODES = 3;
const T = 1;
/** Who noises a release here: three nodes' parts, t = 1. */
const BY = { participants: NODES, t: T };
const EPSILON = 1;

/** mulberry32 + Box–Muller: reproducible synthetic data. */
function gaussian(seed: number): () => number {
  let a = seed >>> 0;
  const u = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
}

interface Data { x: number[]; y: number[]; ind: Indicator; ind2: Indicator }

function syntheticData(): Data {
  const g = gaussian(2026);
  const ind = getIndicator('bp_systolic') as Indicator;
  const ind2 = getIndicator('bmi') as Indicator;
  const round = (v: number, scale: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, Math.round(v * 10 ** scale) / 10 ** scale));
  const x: number[] = [];
  const y: number[] = [];
  for (let i = 0; i < PATIENTS; i++) {
    const z1 = g();
    const z2 = 0.2 * z1 + Math.sqrt(1 - 0.04) * g(); // correlation ≈ 0.2
    x.push(round(125 + 16 * z1, ind.scale, ind.range.min, ind.range.max));
    y.push(round(27 + 5 * z2, ind2.scale, ind2.range.min, ind2.range.max));
  }
  return { x, y, ind, ind2 };
}

/** Exact fixed-point raw moments of the data (Σx, Σx², Σy, Σy², Σxy at the values' scales). */
interface Moments { n: bigint; x: bigint; xx: bigint; y: bigint; yy: bigint; xy: bigint }

function moments(d: Data): Moments {
  const X = d.x.map((v) => toFixed(v, d.ind.scale));
  const Y = d.y.map((v) => toFixed(v, d.ind2.scale));
  const total = (f: (i: number) => bigint) => X.reduce((acc, _, i) => acc + f(i), 0n);
  const at = (a: bigint[], i: number) => a[i] as bigint;
  return { n: BigInt(X.length), x: total((i) => at(X, i)), xx: total((i) => at(X, i) ** 2n), y: total((i) => at(Y, i)), yy: total((i) => at(Y, i) ** 2n), xy: total((i) => at(X, i) * at(Y, i)) };
}

/** The measures around a centre (natural units), exactly: Σ(x − c) = Σx − nc, Σ(x − c)² = Σx² − 2cΣx + nc², … */
function around(m: Moments, d: Data, c: Centre): Record<Exclude<Measure, 'count' | 'histogram'>, bigint> {
  const cx = toFixed(c.x, d.ind.scale);
  const cy = toFixed(c.y ?? 0, d.ind2.scale);
  const sumXX = m.xx - 2n * cx * m.x + m.n * cx * cx;
  return {
    sum: m.x - m.n * cx, sumX: m.x - m.n * cx, sumY: m.y - m.n * cy, sumSquares: sumXX, sumXX,
    sumYY: m.yy - 2n * cy * m.y + m.n * cy * cy, sumXY: m.xy - cy * m.x - cx * m.y + m.n * cx * cy,
  };
}

/** The noise of one release element: every node's part (production) or full scale from each (the baseline). */
function nodesNoise(p: NoisePart, scale: number, fullScale = false): bigint {
  const b = laplaceScale(p.epsilon, p.sensitivity, scale);
  const parts = fullScale ? 1 : honestParts(NODES, T, b);
  let z = 0n;
  for (let k = 0; k < NODES; k++) z += sampleNoisePart(b, parts);
  return z;
}

interface Release { value: number | null; bucketError?: number }

/** One production release of `kind`: the gate, the pilot (pilot kinds), the main measures. */
function release(kind: AggregateKind, d: Data, m: Moments): Release {
  const spec = aggregateSpec(kind);
  const submitted = planPrivacy({ aggregate: kind, ind: d.ind, ind2: d.ind2, epsilon: EPSILON, perPatient: 1 });
  const gate = Number(m.n + sampleDiscreteLaplace(laplaceScale(part(submitted, 'contributors').epsilon, 1, 0)));
  let plan: PrivacyPlan = submitted;
  let centreError = 0;
  let noiseOfCentre: CentresNoise | undefined;
  if (spec.pilot) {
    const mid: Centre = { x: centreOf(d.ind.range, d.ind.scale), y: centreOf(d.ind2.range, d.ind2.scale) };
    const atMid = around(m, d, mid);
    const pilot = (measure: 'pilotSumX' | 'pilotSumY', exact: bigint, ind: Indicator) => {
      const p = part(submitted, measure);
      return pilotValue(ind, { value: exact + nodesNoise(p, noisePartScale(p, d.ind, d.ind2)), scale: ind.scale }, gate);
    };
    const x = pilot('pilotSumX', atMid.sumX, d.ind);
    centreError = pilotError(part(submitted, 'pilotSumX'), d.ind, gate, BY);
    noiseOfCentre = { x: centreNoise(part(submitted, 'pilotSumX'), d.ind, gate, BY), ...(spec.indicators === 2 ? { y: centreNoise(part(submitted, 'pilotSumY'), d.ind2, gate, BY) } : {}) };
    plan = centrePlan(submitted, valueBounds(d.ind, d.ind2), spec.indicators === 2 ? { x, y: pilot('pilotSumY', atMid.sumY, d.ind2) } : { x });
  }
  // Every released bucket: below e_0, the B interior ones, at or above e_B (usage-layer/coordinator/edge-histogram.ts).
  if (kind === 'histogram') return { value: null, bucketError: Math.max(...bucketsOf(d.ind).map(() => Math.abs(Number(nodesNoise(part(plan, 'histogram'), 0))))) };
  const exact = around(m, d, plan.centre ?? { x: 0, y: 0 });
  const noisy = (p: NoisePart) => (p.measure === 'count' ? m.n : exact[p.measure as keyof typeof exact]) + nodesNoise(p, noisePartScale(p, d.ind, d.ind2));
  let opened: OpenedMeasures = { count: m.n, ...(plan.centre ? { centre: plan.centre } : {}) };
  for (const p of mainParts(plan)) {
    if (p.measure === 'count') opened.count = noisy(p);
    else opened[p.measure as Exclude<Measure, 'count'>] = { value: noisy(p), scale: measureScale(p.measure as Measure, d.ind.scale, d.ind2.scale) };
  }
  if (spec.pilot) opened = pilotOpened(kind, plan, opened, { contributors: gate, centreError, centreNoise: noiseOfCentre, by: BY, ind: d.ind, ind2: d.ind2 });
  const v = spec.finish(opened);
  return { value: v === null ? null : spec.release(v, d.ind.range) };
}

/** Bounds a researcher declares (options.bounds): systolic BP [80, 200] mmHg, BMI [15, 45] kg/m². */
const DECLARED = { x: { min: 80, max: 200 }, y: { min: 15, max: 45 } };

/** The data as the nodes see it after clamping into bounds (usage-layer/node/clamped.ts); the declared ones by default. */
function clampedData(d: Data, b: { x: ValueRange; y: ValueRange } = DECLARED): Data {
  const c = (v: number, r: ValueRange) => Math.min(r.max, Math.max(r.min, v));
  return { ...d, x: d.x.map((v) => c(v, b.x)), y: d.y.map((v) => c(v, b.y)) };
}

/** One slot per released histogram bucket of `ind` (its edges' B interior buckets, below and above). */
const bucketsOf = (ind: Indicator): null[] => new Array<null>(ind.histogramEdges.length + 1).fill(null);

/** The clamped measures of `plan` over data already clamped into its bounds, noised, and the kind's formula. */
function clampedOpen(kind: AggregateKind, plan: PrivacyPlan, d: Data, m: Moments, range: { min: number; max: number }): Release {
  const spec = aggregateSpec(kind);
  const exact = around(m, d, plan.centre ?? { x: 0, y: 0 });
  // A correlation's floors, as the gateway applies them (query-service.ts compute).
  const floors = kind === 'correlation' ? { floors: correlationFloors(plan, d.ind.scale, d.ind2.scale, BY) } : {};
  const opened: OpenedMeasures = { count: m.n, ...(plan.centre ? { centre: plan.centre } : {}), ...floors };
  for (const p of mainParts(plan)) {
    const noisy = (p.measure === 'count' ? m.n : exact[p.measure as keyof typeof exact]) + nodesNoise(p, noisePartScale(p, d.ind, d.ind2));
    if (p.measure === 'count') opened.count = noisy;
    else opened[p.measure as Exclude<Measure, 'count'>] = { value: noisy, scale: measureScale(p.measure as Measure, d.ind.scale, d.ind2.scale) };
  }
  const v = spec.finish(opened);
  return { value: v === null ? null : spec.release(v, range) };
}

/** One release with declared bounds: no pilot, the clamped measures around the bounds' midpoint (disclosure.ts). */
function clampedRelease(kind: AggregateKind, d: Data, m: Moments): Release {
  const declared = aggregateSpec(kind).indicators === 2 ? DECLARED : { x: DECLARED.x };
  return clampedOpen(kind, planPrivacy({ aggregate: kind, ind: d.ind, ind2: d.ind2, epsilon: EPSILON, perPatient: 1, declared }), d, m, DECLARED.x);
}

/**
 * One release with automatic bounds (usage-layer/queries/auto-bounds.ts): the gate, each indicator's
 * pilot Σ(x − c) and Σ(x − c)² around the midpoint with the plan's parts, the bounds m̂ ± 4σ̂, then the
 * clamped measures over the data clamped into them.
 */
function autoRelease(kind: AggregateKind, d: Data, m: Moments): Release {
  const pair = aggregateSpec(kind).indicators === 2;
  const submitted = planPrivacy({ aggregate: kind, ind: d.ind, ind2: d.ind2, epsilon: EPSILON, perPatient: 1, autoBounds: true });
  const gate = Number(m.n + sampleDiscreteLaplace(laplaceScale(part(submitted, 'contributors').epsilon, 1, 0)));
  const atMid = around(m, d, { x: centreOf(d.ind.range, d.ind.scale), y: centreOf(d.ind2.range, d.ind2.scale) });
  const pilot = (axis: 'X' | 'Y', ind: Indicator, sum: bigint, squares: bigint) => {
    const noisy = (measure: 'pilotSumX' | 'pilotSumY' | 'pilotSquaresX' | 'pilotSquaresY', exact: bigint, scale: number) => ({ value: exact + nodesNoise(part(submitted, measure), scale), scale });
    return boundsFromPilot(ind, { n: gate, sum: noisy(`pilotSum${axis}`, sum, ind.scale), squares: noisy(`pilotSquares${axis}`, squares, 2 * ind.scale), floor: spreadFloor(submitted, ind, axis, BY) }, AUTO_BOUNDS_STDS);
  };
  const bounds = { x: pilot('X', d.ind, atMid.sumX, atMid.sumXX), ...(pair ? { y: pilot('Y', d.ind2, atMid.sumY, atMid.sumYY) } : {}) };
  const plan = boundsPlan(submitted, { aggregate: kind, ind: d.ind, ind2: d.ind2 }, bounds);
  const dc = clampedData(d, { x: bounds.x, y: bounds.y ?? d.ind2.range });
  return clampedOpen(kind, plan, dc, moments(dc), bounds.x);
}

/** One release with the plan on main before this change (see the header). */
function baselineRelease(kind: AggregateKind, d: Data, m: Moments): Release {
  const weights: Partial<Record<AggregateKind, Array<[Measure, number]>>> = {
    count: [['count', 1]], mean: [['sum', 1], ['count', 1]], histogram: [['histogram', 1]],
    variance: [['count', 1], ['sum', 3], ['sumSquares', 5]], stddev: [['count', 1], ['sum', 3], ['sumSquares', 5]],
    correlation: [['count', 1], ['sumX', 2], ['sumY', 2], ['sumXX', 4], ['sumYY', 4], ['sumXY', 5]],
  };
  const w = weights[kind] as Array<[Measure, number]>;
  const total = w.reduce((a, [, x]) => a + x, 0);
  const c: Centre = { x: centreOf(d.ind.range, d.ind.scale), y: centreOf(d.ind2.range, d.ind2.scale) };
  const r = (v: number) => Math.max(Math.abs(d.ind.range.min - v), Math.abs(d.ind.range.max - v));
  const ry = Math.max(Math.abs(d.ind2.range.min - (c.y as number)), Math.abs(d.ind2.range.max - (c.y as number)));
  const rx = kind === 'count' || kind === 'histogram' ? 1 : r(c.x);
  const sens: Record<string, number> = { count: 1, histogram: 1, sum: rx, sumX: rx, sumY: ry, sumSquares: rx * rx, sumXX: rx * rx, sumYY: ry * ry, sumXY: rx * ry };
  const exact = around(m, d, c);
  const noisy = (measure: Measure, scale: number) => {
    const [, weight] = w.find(([x]) => x === measure) as [Measure, number];
    const p: NoisePart = { measure, epsilon: (0.8 * weight) / total, sensitivity: sens[measure] as number, addedBy: 'compute-nodes' };
    const base = measure === 'count' ? m.n : measure === 'histogram' ? 0n : exact[measure as keyof typeof exact];
    return base + nodesNoise(p, scale, true);
  };
  if (kind === 'histogram') return { value: null, bucketError: Math.max(...bucketsOf(d.ind).map(() => Math.abs(Number(noisy('histogram', 0))))) };
  const sx = d.ind.scale;
  const sy = d.ind2.scale;
  const S = (measure: Measure) => ({ value: noisy(measure, measureScale(measure, sx, sy)), scale: measureScale(measure, sx, sy) });
  const n = noisy('count', 0);
  const value = {
    count: () => Number(n), mean: () => { const v = stats.mean(n, S('sum')); return v === null ? null : v + c.x; },
    variance: () => stats.variance(n, S('sum'), S('sumSquares')), stddev: () => stats.stddev(n, S('sum'), S('sumSquares')),
    correlation: () => stats.correlation(n, S('sumX'), S('sumY'), S('sumXX'), S('sumYY'), S('sumXY')),
  }[kind as 'count']();
  return { value: value === null ? null : aggregateSpec(kind).release(value, d.ind.range) };
}

function truth(kind: AggregateKind, d: Data): number {
  const n = d.x.length;
  const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / n;
  const mx = mean(d.x);
  const my = mean(d.y);
  const vx = d.x.reduce((s, v) => s + (v - mx) ** 2, 0) / (n - 1);
  const vy = d.y.reduce((s, v) => s + (v - my) ** 2, 0) / (n - 1);
  const cov = d.x.reduce((s, v, i) => s + (v - mx) * ((d.y[i] as number) - my), 0) / (n - 1);
  return { count: n, mean: mx, variance: vx, stddev: Math.sqrt(vx), covariance: cov, correlation: cov / Math.sqrt(vx * vy) }[kind as 'count'];
}

function p95(errors: number[]): number {
  const s = [...errors].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(0.95 * s.length))] as number;
}

/** p95 of the errors of RUNS releases (∞ for an undefined release). */
function p95Error(kind: AggregateKind, relative: boolean, t: number, one: () => Release): number {
  return p95(Array.from({ length: RUNS }, () => {
    const r = one();
    if (kind === 'histogram') return r.bucketError as number;
    return r.value === null ? Infinity : Math.abs(r.value - t) / (relative ? Math.abs(t) : 1);
  }));
}

/**
 * Half-widths of the 95 % intervals a release carries (mpc/intervals.ts with the production noise
 * descriptors, disclosure.ts releaseNoise), for the first n patients: around the exact values, since
 * the width hardly depends on the noise drawn. Pilot kinds are centred at the exact mean.
 */
function intervalRows(full: Data, n: number) {
  const d: Data = { ...full, x: full.x.slice(0, n), y: full.y.slice(0, n) };
  const m = moments(d);
  const half = (iv: [number, number] | null) => (iv ? (iv[1] - iv[0]) / 2 : Infinity);
  const row = (kind: AggregateKind) => {
    const spec = aggregateSpec(kind);
    const submitted = planPrivacy({ aggregate: kind, ind: d.ind, ind2: d.ind2, epsilon: EPSILON, perPatient: 1 });
    const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
    const plan = spec.pilot ? centrePlan(submitted, valueBounds(d.ind, d.ind2), { x: Math.round(mean(d.x)), y: Math.round(mean(d.y) * 10) / 10 }) : submitted;
    const noise = releaseNoise(plan, d.ind, d.ind2, BY);
    if (kind === 'histogram') return countHalfWidth(noise[0] as (typeof noise)[number], 4000);
    const exact = around(m, d, plan.centre ?? { x: 0, y: 0 });
    const opened: OpenedMeasures = { count: m.n, ...(plan.centre ? { centre: plan.centre } : {}) };
    for (const p of mainParts(plan)) if (p.measure !== 'count') opened[p.measure as Exclude<Measure, 'count'>] = { value: exact[p.measure as keyof typeof exact], scale: measureScale(p.measure as Measure, d.ind.scale, d.ind2.scale) };
    const released = spec.pilot ? pilotOpened(kind, plan, opened, { contributors: n, centreError: 0, by: BY, ind: d.ind, ind2: d.ind2 }) : opened;
    return half(releaseInterval(spec, released, noise, d.ind.range, 2000));
  };
  return (['count', 'histogram', 'mean', 'variance', 'correlation'] as const).map((kind) => ({ kind, halfWidth: row(kind) }));
}

/**
 * The same half-widths with automatic bounds: the plan around the bounds an exact pilot would give
 * (m ± 4 sd of the first n patients), the clamped measures at their exact values.
 */
function autoIntervalRows(full: Data, n: number) {
  const d: Data = { ...full, x: full.x.slice(0, n), y: full.y.slice(0, n) };
  const exactBounds = (xs: number[], ind: Indicator) => {
    const mid = centreOf(ind.range, ind.scale);
    const s1 = xs.reduce((a, v) => a + (v - mid), 0);
    const s2 = xs.reduce((a, v) => a + (v - mid) ** 2, 0);
    return boundsFromPilot(ind, { n, sum: { value: toFixed(s1, ind.scale), scale: ind.scale }, squares: { value: toFixed(s2, 2 * ind.scale), scale: 2 * ind.scale }, floor: 0 }, AUTO_BOUNDS_STDS);
  };
  const bounds = { x: exactBounds(d.x, d.ind), y: exactBounds(d.y, d.ind2) };
  const dc = clampedData(d, bounds);
  const m = moments(dc);
  return (['mean', 'variance', 'correlation'] as const).map((kind) => {
    const spec = aggregateSpec(kind);
    const b = spec.indicators === 2 ? bounds : { x: bounds.x };
    const plan = boundsPlan(planPrivacy({ aggregate: kind, ind: d.ind, ind2: d.ind2, epsilon: EPSILON, perPatient: 1, autoBounds: true }), { aggregate: kind, ind: d.ind, ind2: d.ind2 }, b);
    const exact = around(m, dc, plan.centre ?? { x: 0, y: 0 });
    const opened: OpenedMeasures = { count: m.n, ...(plan.centre ? { centre: plan.centre } : {}) };
    for (const p of mainParts(plan)) if (p.measure !== 'count') opened[p.measure as Exclude<Measure, 'count'>] = { value: exact[p.measure as keyof typeof exact], scale: measureScale(p.measure as Measure, d.ind.scale, d.ind2.scale) };
    const iv = releaseInterval(spec, opened, releaseNoise(plan, d.ind, d.ind2, BY), bounds.x, 2000);
    return { kind, halfWidth: iv ? (iv[1] - iv[0]) / 2 : Infinity };
  });
}

export async function runPrivacyBench(): Promise<void> {
  const d = syntheticData();
  const small = intervalRows(d, 1000);
  const large = intervalRows(d, PATIENTS);
  printTable(`95 % interval half-widths (ε = ${EPSILON}, L = 1, three nodes, t = 1; baseline column: 1,000 patients)`, large.map((r, i) => ({
    measure: `${r.kind}${r.kind === 'histogram' ? ' bucket' : ''} (${r.kind === 'correlation' ? 'systolic BP and BMI' : 'systolic BP'})`,
    value: r.halfWidth, unit: `± at ${PATIENTS.toLocaleString('en-US')} patients`, baseline: `± ${(small[i] as { halfWidth: number }).halfWidth.toPrecision(3)} at 1,000 patients`,
  })));
  const autoSmall = autoIntervalRows(d, 1000);
  printTable(`95 % interval half-widths with automatic bounds (options.bounds: "auto"; baseline column: 1,000 patients)`, autoIntervalRows(d, PATIENTS).map((r, i) => ({
    measure: `${r.kind} (${r.kind === 'correlation' ? 'systolic BP and BMI' : 'systolic BP'})`,
    value: r.halfWidth, unit: `± at ${PATIENTS.toLocaleString('en-US')} patients`, baseline: `± ${(autoSmall[i] as { halfWidth: number }).halfWidth.toPrecision(3)} at 1,000 patients`,
  })));
  const m = moments(d);
  const rows = [];
  const kinds: Array<{ kind: AggregateKind; relative: boolean; target: string }> = [
    { kind: 'count', relative: true, target: '' },
    { kind: 'mean', relative: true, target: '' },
    { kind: 'histogram', relative: false, target: '' },
    { kind: 'variance', relative: true, target: 'p95 relative error <= 5 %' },
    { kind: 'stddev', relative: true, target: '' },
    { kind: 'correlation', relative: false, target: 'p95 absolute error <= 0.1' },
  ];
  for (const { kind, relative, target } of kinds) {
    const t = kind === 'histogram' ? 0 : truth(kind, d);
    const now = p95Error(kind, relative, t, () => release(kind, d, m));
    const before = p95Error(kind, relative, t, () => baselineRelease(kind, d, m));
    const unit = kind === 'histogram' ? '(p95 of the largest bucket error, records)' : relative ? '% (p95 relative)' : '(p95 absolute)';
    const fmt = (e: number) => (relative ? 100 * e : e);
    const what = kind === 'correlation' ? 'systolic BP and BMI' : 'systolic BP';
    rows.push({ measure: `${kind} of ${what}${kind === 'histogram' ? '' : ` (truth ${t.toFixed(4)})`}`, value: fmt(now), unit, baseline: `plan before: ${fmt(before).toFixed(4)}`, target });
  }
  printTable(`Released error vs plaintext truth: ${PATIENTS.toLocaleString('en-US')} patients, ε = ${EPSILON}, L = 1, ${RUNS} releases each (${machine()})`, rows);
  // Declared bounds: the error against the truth of the raw (unclamped) data, so clamping's bias counts.
  const dc = clampedData(d);
  const mc = moments(dc);
  const clampedRows = (['mean', 'variance', 'correlation'] as const).map((kind) => {
    const relative = kind !== 'correlation';
    const t = truth(kind, d);
    const fmt = (e: number) => (relative ? 100 * e : e);
    const declared = kind === 'correlation' ? `[${DECLARED.x.min}, ${DECLARED.x.max}] × [${DECLARED.y.min}, ${DECLARED.y.max}]` : `[${DECLARED.x.min}, ${DECLARED.x.max}]`;
    return {
      measure: `${kind}, declared bounds ${declared}`,
      value: fmt(p95Error(kind, relative, t, () => clampedRelease(kind, dc, mc))),
      unit: relative ? '% (p95 relative)' : '(p95 absolute)',
      baseline: `catalogue bounds: ${fmt(p95Error(kind, relative, t, () => release(kind, d, m))).toFixed(4)}`,
      target: kind === 'variance' ? 'p95 relative error <= 5 %' : kind === 'correlation' ? 'p95 absolute error <= 0.05' : '',
    };
  });
  printTable(`Declared bounds (options.bounds, values clamped at the nodes) vs the catalogue's range, same data and ε (bias of clamping included)`, clampedRows);
  // Automatic bounds: nothing declared; the error against the raw truth, so the derived bounds' bias counts.
  const autoRows = (['mean', 'variance', 'stddev', 'correlation'] as const).map((kind) => {
    const relative = kind !== 'correlation';
    const t = truth(kind, d);
    const fmt = (e: number) => (relative ? 100 * e : e);
    return {
      measure: `${kind}, automatic bounds (m̂ ± ${AUTO_BOUNDS_STDS}σ̂ from a pilot)`,
      value: fmt(p95Error(kind, relative, t, () => autoRelease(kind, d, m))),
      unit: relative ? '% (p95 relative)' : '(p95 absolute)',
      baseline: `catalogue bounds: ${fmt(p95Error(kind, relative, t, () => release(kind, d, m))).toFixed(4)}`,
      target: kind === 'variance' ? 'p95 relative error <= 5 %' : kind === 'correlation' ? 'p95 absolute error <= 0.1' : '',
    };
  });
  printTable(`Automatic bounds (options.bounds: "auto"): the researcher declares nothing, same data and ε (bias of clamping included)`, autoRows);
}
