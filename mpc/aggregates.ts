/**
 * The registry of aggregate kinds: the one place that says, for each kind, which measures the compute
 * nodes compute and the coordinator opens, which of them a differentially private release noises (and
 * with what sensitivity and fixed-point scale), the final formula, and how many nodes it needs. The
 * query JSON Schema's enum, the privacy plan (usage-layer/queries/disclosure.ts), the node dispatch and
 * the coordinator all derive from it; test/aggregate-registry.test.ts fails if any of them disagrees.
 *
 * Measures. Linear kinds sum ingest-time shares: `sum` (Σx), `sumSquares` (Σx², dealt at ingest),
 * `histogram` (one-hot sums); `count` is the number of matching records, which every node knows from
 * metadata, so it is only ever opened as a noisy sharing. Product kinds pair two indicators and need
 * Σxy from the product protocol (mpc/products.ts); their `count` is the number of pairs.
 */
import * as stats from './statistics';
import type { Scaled } from './statistics';

export const AGGREGATE_KINDS = ['count', 'sum', 'mean', 'variance', 'stddev', 'histogram', 'covariance', 'correlation'] as const;
export type AggregateKind = (typeof AGGREGATE_KINDS)[number];

export const LINEAR_MEASURES = ['count', 'sum', 'sumSquares', 'histogram'] as const;
export type LinearMeasure = (typeof LINEAR_MEASURES)[number];
export const PRODUCT_MEASURES = ['count', 'sumX', 'sumY', 'sumXX', 'sumYY', 'sumXY'] as const;
export type ProductMeasure = (typeof PRODUCT_MEASURES)[number];
export type Measure = LinearMeasure | ProductMeasure;

/** Public bounds of one record's values: the largest |x| (and |y|) the catalogue's range allows. */
export interface ValueBounds {
  maxAbsX: number;
  maxAbsY?: number;
}

/** The largest change one record (one pair) can make to a measure, in natural units. */
export function measureSensitivity(measure: Measure, b: ValueBounds): number {
  const x = b.maxAbsX;
  const y = b.maxAbsY ?? 0;
  const table: Record<Measure, number> = { count: 1, histogram: 1, sum: x, sumX: x, sumSquares: x * x, sumXX: x * x, sumY: y, sumYY: y * y, sumXY: x * y };
  return table[measure];
}

/** The fixed-point scale a measure is encoded at, from the scales of the values. */
export function measureScale(measure: Measure, scaleX: number, scaleY = 0): number {
  const table: Record<Measure, number> = { count: 0, histogram: 0, sum: scaleX, sumX: scaleX, sumSquares: 2 * scaleX, sumXX: 2 * scaleX, sumY: scaleY, sumYY: 2 * scaleY, sumXY: scaleX + scaleY };
  return table[measure];
}

/** Opened measures as signed fixed-point integers; `count` is exact or noisy. */
export type OpenedMeasures = { count: bigint } & Partial<Record<Exclude<Measure, 'count'>, Scaled>>;

/** The catalogue range of the (first) indicator, for post-processing a noisy release. */
export interface ReleaseRange {
  min: number;
  max: number;
}

export interface AggregateSpec {
  kind: AggregateKind;
  protocol: 'linear' | 'product';
  indicators: 1 | 2;
  /** Measures the nodes compute and the coordinator opens (besides the count). */
  measures: readonly Measure[];
  /** Measures a differentially private release noises; each gets an equal part of the aggregate's ε. */
  dpMeasures: readonly Measure[];
  /** Nodes that must take part: t + 1 to open a linear sum, 2t + 1 for the product protocol. */
  nodesNeeded(t: number): number;
  /** The statistic from the opened measures; null where undefined. Histograms have none. */
  finish(m: OpenedMeasures): number | null;
  /** Post-processing of a noisy release with public bounds (never touches the privacy guarantee). */
  release(value: number, range: ReleaseRange): number;
}

const linear = (t: number) => t + 1;
const product = (t: number) => 2 * t + 1;
const keep = (v: number) => v;
const need = (m: OpenedMeasures, k: Exclude<Measure, 'count'>): Scaled => {
  const x = m[k];
  if (!x) throw new Error(`measure ${k} was not opened`);
  return x;
};
const width = (r: ReleaseRange) => r.max - r.min;
const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

export const AGGREGATES: Readonly<Record<AggregateKind, AggregateSpec>> = Object.freeze({
  count: {
    kind: 'count', protocol: 'linear', indicators: 1, measures: [], dpMeasures: ['count'], nodesNeeded: linear,
    finish: (m) => Number(m.count), release: (v) => Math.max(0, v),
  },
  sum: {
    kind: 'sum', protocol: 'linear', indicators: 1, measures: ['sum'], dpMeasures: ['sum'], nodesNeeded: linear,
    finish: (m) => stats.toNumber(need(m, 'sum')), release: keep,
  },
  mean: {
    kind: 'mean', protocol: 'linear', indicators: 1, measures: ['sum'], dpMeasures: ['sum', 'count'], nodesNeeded: linear,
    finish: (m) => stats.mean(m.count, need(m, 'sum')), release: (v, r) => clamp(v, r.min, r.max),
  },
  variance: {
    kind: 'variance', protocol: 'linear', indicators: 1, measures: ['sum', 'sumSquares'], dpMeasures: ['count', 'sum', 'sumSquares'], nodesNeeded: linear,
    finish: (m) => stats.variance(m.count, need(m, 'sum'), need(m, 'sumSquares')), release: (v, r) => clamp(v, 0, width(r) ** 2),
  },
  stddev: {
    kind: 'stddev', protocol: 'linear', indicators: 1, measures: ['sum', 'sumSquares'], dpMeasures: ['count', 'sum', 'sumSquares'], nodesNeeded: linear,
    finish: (m) => stats.stddev(m.count, need(m, 'sum'), need(m, 'sumSquares')), release: (v, r) => clamp(v, 0, width(r)),
  },
  histogram: {
    kind: 'histogram', protocol: 'linear', indicators: 1, measures: ['histogram'], dpMeasures: ['histogram'], nodesNeeded: linear,
    finish: () => null, release: keep,
  },
  covariance: {
    kind: 'covariance', protocol: 'product', indicators: 2, measures: ['sumX', 'sumY', 'sumXY'], dpMeasures: ['count', 'sumX', 'sumY', 'sumXY'], nodesNeeded: product,
    finish: (m) => stats.covariance(m.count, need(m, 'sumX'), need(m, 'sumY'), need(m, 'sumXY')), release: keep,
  },
  correlation: {
    kind: 'correlation', protocol: 'product', indicators: 2, measures: ['sumX', 'sumY', 'sumXX', 'sumYY', 'sumXY'], dpMeasures: ['count', 'sumX', 'sumY', 'sumXX', 'sumYY', 'sumXY'], nodesNeeded: product,
    finish: (m) => stats.correlation(m.count, need(m, 'sumX'), need(m, 'sumY'), need(m, 'sumXX'), need(m, 'sumYY'), need(m, 'sumXY')), release: (v) => clamp(v, -1, 1),
  },
});

export function isAggregateKind(x: unknown): x is AggregateKind {
  return typeof x === 'string' && (AGGREGATE_KINDS as readonly string[]).includes(x);
}

export function aggregateSpec(kind: AggregateKind): AggregateSpec {
  return AGGREGATES[kind];
}

/** Measures a query of this kind may noise: the ones it opens, and the count. */
export function noisableMeasures(kind: AggregateKind): Measure[] {
  return ['count', ...AGGREGATES[kind].measures];
}
