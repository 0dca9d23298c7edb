/**
 * `npm run bench -- privacy`: the error of released statistics against the plaintext truth, over
 * repeated releases, for 10,000 synthetic patients with realistic values, at ε = 1 per query, all
 * consenting, one record per patient (L = 1), catalogue bounds. The mechanism is the production one:
 * the privacy plan (usage-layer/queries/disclosure.ts), each of three compute nodes' full-scale
 * discrete-Laplace noise with the exact sampler (mpc/dp-noise.ts) at each measure's fixed-point scale,
 * and the registry's formulas and post-processing (mpc/aggregates.ts). What the network adds (shares,
 * rounds) does not change the released value, so it is left out to afford many repetitions.
 * Baseline in the same run: the record-level plan the project had before (uncentred sums, an even ε
 * split) over the same data.
 */
import { getIndicator, type Indicator } from '../management-layer/catalogue';
import { aggregateSpec, measureScale, type AggregateKind, type Measure, type OpenedMeasures } from '../mpc/aggregates';
import { laplaceScale, sampleDiscreteLaplace } from '../mpc/dp-noise';
import { toFixed } from '../mpc/fixed-point';
import { planPrivacy, type PrivacyPlan } from '../usage-layer/queries/disclosure';
import { machine, printTable } from './support';

const PATIENTS = 10_000;
const RUNS = Number(process.env.HGD_BENCH_PRIVACY_RUNS ?? 200);
const NODES = 3;

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

/** Exact fixed-point sums of the data, centred around c (0 = uncentred). */
function sums(d: Data, cx: number, cy: number) {
  const sx = d.ind.scale;
  const sy = d.ind2.scale;
  const X = d.x.map((v) => toFixed(v, sx) - toFixed(cx, sx));
  const Y = d.y.map((v) => toFixed(v, sy) - toFixed(cy, sy));
  const total = (f: (i: number) => bigint) => X.reduce((acc, _, i) => acc + f(i), 0n);
  return {
    count: BigInt(X.length),
    sum: total((i) => X[i] as bigint), sumSquares: total((i) => (X[i] as bigint) ** 2n),
    sumX: total((i) => X[i] as bigint), sumY: total((i) => Y[i] as bigint),
    sumXX: total((i) => (X[i] as bigint) ** 2n), sumYY: total((i) => (Y[i] as bigint) ** 2n), sumXY: total((i) => (X[i] as bigint) * (Y[i] as bigint)),
  };
}

/** One release: every DP measure gets NODES independent samples at its scale. */
function release(kind: AggregateKind, plan: PrivacyPlan, d: Data, exact: ReturnType<typeof sums>): number | null {
  const spec = aggregateSpec(kind);
  const sx = d.ind.scale;
  const sy = d.ind2.scale;
  const opened: OpenedMeasures = { count: exact.count, ...(plan.centre ? { centre: plan.centre } : {}) };
  const noisy = (m: Measure, value: bigint): bigint => {
    const p = plan.parts.find((q) => q.measure === m);
    if (!p) return value;
    const b = laplaceScale(p.epsilon, p.sensitivity, measureScale(m, sx, sy));
    let v = value;
    for (let k = 0; k < NODES; k++) v += sampleDiscreteLaplace(b);
    return v;
  };
  opened.count = noisy('count', exact.count);
  for (const m of spec.measures) {
    if (m === 'histogram' || m === 'count') continue;
    opened[m] = { value: noisy(m, exact[m]), scale: measureScale(m, sx, sy) };
  }
  const v = spec.finish(opened);
  return v === null ? null : spec.release(v, d.ind.range);
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

/** The record-level plan of before: uncentred sums, measures split evenly, L = 1. */
function oldPlan(kind: AggregateKind, d: Data): PrivacyPlan {
  const plan = planPrivacy({ aggregate: kind, ind: d.ind, ind2: d.ind2, epsilon: 1, perPatient: 1 });
  const m = (r: { min: number; max: number }) => Math.max(Math.abs(r.min), Math.abs(r.max));
  const [mx, my] = [m(d.ind.range), m(d.ind2.range)];
  const sens: Record<string, number> = { count: 1, sum: mx, sumSquares: mx * mx, sumX: mx, sumY: my, sumXX: mx * mx, sumYY: my * my, sumXY: mx * my };
  const nodeParts = plan.parts.filter((p) => p.addedBy === 'compute-nodes');
  const each = 0.8 / nodeParts.length;
  return { ...plan, centre: null, parts: [...nodeParts.map((p) => ({ ...p, epsilon: each, sensitivity: sens[p.measure] as number })), ...plan.parts.filter((p) => p.addedBy === 'gateway')] };
}

export async function runPrivacyBench(): Promise<void> {
  const d = syntheticData();
  const rows = [];
  const kinds: Array<{ kind: AggregateKind; relative: boolean; target: string }> = [
    { kind: 'count', relative: true, target: '' },
    { kind: 'mean', relative: true, target: '' },
    { kind: 'variance', relative: true, target: 'p95 relative error <= 5 %' },
    { kind: 'correlation', relative: false, target: 'p95 absolute error <= 0.1' },
  ];
  for (const { kind, relative, target } of kinds) {
    const t = truth(kind, d);
    const measure = (plan: PrivacyPlan) => {
      const exact = sums(d, plan.centre?.x ?? 0, plan.centre?.y ?? 0);
      const errs = Array.from({ length: RUNS }, () => {
        const v = release(kind, plan, d, exact);
        return v === null ? Infinity : Math.abs(v - t) / (relative ? Math.abs(t) : 1);
      });
      return p95(errs);
    };
    const now = measure(planPrivacy({ aggregate: kind, ind: d.ind, ind2: d.ind2, epsilon: 1, perPatient: 1 }));
    const before = measure(oldPlan(kind, d));
    const unit = relative ? '% (p95 relative)' : '(p95 absolute)';
    const fmt = (e: number) => (relative ? 100 * e : e);
    rows.push({ measure: `${kind} of ${kind === 'correlation' ? 'systolic BP and BMI' : 'systolic BP'} (truth ${t.toFixed(4)})`, value: fmt(now), unit, baseline: `record-level plan before: ${fmt(before).toFixed(4)}`, target });
  }
  printTable(`Released error vs plaintext truth: ${PATIENTS.toLocaleString('en-US')} patients, ε = 1, L = 1, ${RUNS} releases each (${machine()})`, rows);
}
