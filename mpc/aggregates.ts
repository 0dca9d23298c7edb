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
 *
 * Pilot kinds (variance, stddev, covariance, correlation) run in two phases: a pilot noisy mean of each
 * indicator (centred at the range's midpoint), then the kind's second moments around that public
 * centre m̂ (Σ(x − m̂)², Σ(x − m̂)(y − m̂y)), computed linearly in shares. Around the mean no Σ(x − m̂)
 * is needed, whose noise the formula would multiply by 2|x̄ − c|; the price is a sensitivity of
 * max|x − m̂|² instead of r² (docs/privacy.md compares the two).
 * Filters. A `filterable` kind also runs with a cohort filter (mpc/filters.ts): the same measures and
 * formula, but every measure becomes Σ_p b_p·m_p over patients p, b_p the patient's shared filter bit
 * (mpc/compare.ts) and m_p the patient's share of the measure over its records. `count` is then
 * Σ_p b_p·n_p (n_p public to the nodes: linear in b), no longer known to any node, so it is opened
 * only as a noisy sharing; the sums are products of two shared values (zero and reshare rounds). The
 * privacy plan is the same: one patient still moves each measure by at most its sensitivity.
 * A filtered pilot kind (variance, stddev) filters its pilot mean too and noises a count of its own:
 * the gate's count is the unfiltered cohort's (usage-layer/queries/disclosure.ts).
 */
import * as stats from './statistics';
import type { Scaled } from './statistics';

export const AGGREGATE_KINDS = ['count', 'sum', 'mean', 'variance', 'stddev', 'histogram', 'covariance', 'correlation', 'median', 'quantile'] as const;
export type AggregateKind = (typeof AGGREGATE_KINDS)[number];

export const LINEAR_MEASURES = ['count', 'sum', 'sumSquares'] as const;
export type LinearMeasure = (typeof LINEAR_MEASURES)[number];
export const PRODUCT_MEASURES = ['count', 'sumX', 'sumY', 'sumXX', 'sumYY', 'sumXY'] as const;
export type ProductMeasure = (typeof PRODUCT_MEASURES)[number];
/** `histogram`: a histogram's buckets, each a noisy filtered count (usage-layer/coordinator/edge-histogram.ts). */
export type Measure = LinearMeasure | ProductMeasure | 'histogram';

export interface ValueRange {
  min: number;
  max: number;
}

/** Public bounds of one record's values: the catalogue ranges of the (two) indicators. */
export interface ValueBounds {
  x: ValueRange;
  y?: ValueRange;
}

/** The public points the centred kinds compute around: sums of x − c instead of x. */
export interface Centre {
  x: number;
  y?: number;
}

/** The midpoint of a range, rounded to the values' fixed-point scale so that it is exact in shares. */
export function centreOf(range: ValueRange, scale: number): number {
  const f = 10 ** scale;
  return Math.round(((range.min + range.max) / 2) * f) / f;
}

/** Largest |v − c| over the range (|v| when there is no centre). */
function spread(range: ValueRange, c = 0): number {
  return Math.max(Math.abs(range.min - c), Math.abs(range.max - c));
}

export interface SensitivityOptions {
  /** The centre, for the centred kinds (mpc/aggregates.ts AggregateSpec.centred). */
  centre?: Centre;
  /** Contribution bound L: at most this many records (pairs) of one patient enter the query. */
  perPatient: number;
}

/**
 * The largest change one PATIENT can make to a measure, in natural units: L records (pairs), each
 * moving a count by 1, a sum by its largest (centred) deviation, a sum of squares or products by the
 * product of those. Neighbouring data sets differ by one patient's records.
 */
export function measureSensitivity(measure: Measure, b: ValueBounds, o: SensitivityOptions): number {
  const x = spread(b.x, o.centre?.x);
  const y = b.y ? spread(b.y, o.centre?.y) : 0;
  const perRecord: Record<Measure, number> = { count: 1, histogram: 1, sum: x, sumX: x, sumSquares: x * x, sumXX: x * x, sumY: y, sumYY: y * y, sumXY: x * y };
  return o.perPatient * perRecord[measure];
}

/** The fixed-point scale a measure is encoded at, from the scales of the values. */
export function measureScale(measure: Measure, scaleX: number, scaleY = 0): number {
  const table: Record<Measure, number> = { count: 0, histogram: 0, sum: scaleX, sumX: scaleX, sumSquares: 2 * scaleX, sumXX: 2 * scaleX, sumY: scaleY, sumYY: 2 * scaleY, sumXY: scaleX + scaleY };
  return table[measure];
}

/**
 * Opened measures as signed fixed-point integers; `count` is exact or noisy. For a centred kind the
 * sums are of x − centre.x (and y − centre.y), and `centre` says so. `floors` are the public positive
 * values a correlation raises a noisy Σ(x − m̂)² to (fixed point; default 1). `centreError` is the
 * public expected square of a pilot centre's error, E(m̂ − x̄)² (natural units²), that a variance
 * subtracts (mpc/statistics.ts varianceAbout). `centreNoise` is the public noise of the pilot sums the
 * centre came from, so that a release's interval also varies the centre (mpc/intervals.ts).
 */
export type OpenedMeasures = { count: bigint; centre?: Centre; floors?: { sumXX: bigint; sumYY: bigint }; centreError?: number; centreNoise?: { x: CentreNoise; y?: CentreNoise } } & Partial<Record<Exclude<Measure, 'count'>, Scaled>>;

/**
 * The noise on the pilot sum Σ(x − c) a centre m̂ = c + Σ/n was taken from: NB(shape) − NB(shape) with
 * scale b in fixed point of 10^−scale (mpc/dp-noise.ts), over the pilot's count n.
 */
export interface CentreNoise {
  b: number;
  shape: number;
  scale: number;
  n: number;
}

/** The catalogue range of the (first) indicator, for post-processing a noisy release. */
export interface ReleaseRange {
  min: number;
  max: number;
}

export interface AggregateSpec {
  kind: AggregateKind;
  /**
   * How the nodes compute it: sums of stored shares (linear), the product protocol for Σxy (product),
   * or one filtered count a bucket on secure comparisons (comparisons: the histogram).
   */
  protocol: 'linear' | 'product' | 'comparisons';
  indicators: 1 | 2;
  /**
   * Measures the nodes compute and the coordinator opens (besides the count) for an exact query; a
   * noised one computes and opens only the measures it noises (`queriedMeasures`).
   */
  measures: readonly Measure[];
  /**
   * Measures a differentially private release noises, and the weight of each in the ε split. A pilot
   * kind noises only its second moments (around the pilot centre) and the count.
   */
  dpMeasures: readonly Measure[];
  epsilonWeights: readonly number[];
  /**
   * Computed on x − c around the centre of the public range (translation-invariant statistics, and the
   * mean adds c back): the sensitivity is half the range instead of the largest |x|.
   */
  centred: boolean;
  /**
   * Pilot kinds: the centre is a pilot noisy mean of each indicator, with these ε weights (beside
   * `epsilonWeights`); null: the centre (if any) is the midpoint.
   */
  pilot: { x: number; y?: number } | null;
  /** Nodes that must take part: t + 1 to open a linear sum, 2t + 1 for the product protocol. */
  nodesNeeded(t: number): number;
  /** Runs with a cohort filter (then on all three nodes: comparisons and products, see above). */
  filterable: boolean;
  /**
   * Runs with values clamped into bounds the researcher declared (usage-layer/coordinator/clamped.ts;
   * all three nodes): the sensitivities follow from the declared bounds, there is no pilot, and the
   * kind noises these measures (the full formula around the bounds' midpoint when centred) with these
   * ε weights. null: the kind takes no bounds.
   */
  clamped: { dpMeasures: readonly Measure[]; epsilonWeights: readonly number[] } | null;
  /**
   * Rank kinds (median, quantile): a noisy binary search of counts of x ≥ t by secure comparisons
   * (mpc/quantiles.ts), its `count` ε split over the rounds; L = 1; all three nodes. No `finish`.
   * Filtered (or grouped), every round's count is of x ≥ t among the filter's patients, and the rank is
   * of a noisy filtered total N̂ of its own (usage-layer/queries/disclosure.ts: the `pilotCountX` part).
   */
  rankSearch: boolean;
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

/** With Σ(x − c) opened, the full formula (any centre); without it (a noised pilot kind), around the pilot centre. */
function varianceOf(m: OpenedMeasures): number | null {
  if (!m.sumSquares) return null; // a noised query that noised neither moment opened none
  return m.sum ? stats.variance(m.count, m.sum, need(m, 'sumSquares')) : stats.varianceAbout(m.count, need(m, 'sumSquares'), m.centreError);
}

function correlationOf(m: OpenedMeasures): number | null {
  if (!m.sumXX || !m.sumYY || !m.sumXY) return null;
  if (m.sumX && m.sumY) return stats.correlation(m.count, m.sumX, m.sumY, need(m, 'sumXX'), need(m, 'sumYY'), need(m, 'sumXY'), m.floors);
  return m.count < 2n ? null : stats.correlationAbout(need(m, 'sumXX'), need(m, 'sumYY'), need(m, 'sumXY'), m.floors?.sumXX, m.floors?.sumYY);
}
const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
/**
 * Clamped variance: Σd², Σd and the count around the bounds' midpoint. Weights from the error terms'
 * sizes (half-width h, mean offset |x̄ − c| ≈ h/4): Σd² ~ h², Σd ~ 2·h·|x̄ − c|, count ~ E d²; ε_i ∝ √term.
 */
const CLAMPED_VARIANCE = { dpMeasures: ['count', 'sum', 'sumSquares'], epsilonWeights: [1, 2, 3] } as const;

export const AGGREGATES: Readonly<Record<AggregateKind, AggregateSpec>> = Object.freeze({
  count: {
    kind: 'count', protocol: 'linear', indicators: 1, measures: [], dpMeasures: ['count'], epsilonWeights: [1], centred: false, pilot: null, nodesNeeded: linear, filterable: true, clamped: null, rankSearch: false,
    finish: (m) => Number(m.count), release: (v) => Math.max(0, v),
  },
  sum: {
    kind: 'sum', protocol: 'linear', indicators: 1, measures: ['sum'], dpMeasures: ['sum'], epsilonWeights: [1], centred: false, pilot: null, nodesNeeded: linear, filterable: true, clamped: { dpMeasures: ['sum'], epsilonWeights: [1] }, rankSearch: false,
    finish: (m) => stats.toNumber(need(m, 'sum')), release: keep,
  },
  mean: {
    kind: 'mean', protocol: 'linear', indicators: 1, measures: ['sum'], dpMeasures: ['sum', 'count'], epsilonWeights: [1, 1], centred: true, pilot: null, nodesNeeded: linear, filterable: true, clamped: { dpMeasures: ['sum', 'count'], epsilonWeights: [1, 1] }, rankSearch: false,
    finish: (m) => { const v = stats.mean(m.count, need(m, 'sum')); return v === null ? null : v + (m.centre?.x ?? 0); }, release: (v, r) => clamp(v, r.min, r.max),
  },
  variance: {
    kind: 'variance', protocol: 'linear', indicators: 1, measures: ['sum', 'sumSquares'], dpMeasures: ['count', 'sumSquares'], epsilonWeights: [8, 87], centred: true, pilot: { x: 3 }, nodesNeeded: linear, filterable: true, clamped: CLAMPED_VARIANCE, rankSearch: false,
    finish: (m) => varianceOf(m), release: (v, r) => clamp(v, 0, width(r) ** 2),
  },
  stddev: {
    kind: 'stddev', protocol: 'linear', indicators: 1, measures: ['sum', 'sumSquares'], dpMeasures: ['count', 'sumSquares'], epsilonWeights: [8, 87], centred: true, pilot: { x: 3 }, nodesNeeded: linear, filterable: true, clamped: CLAMPED_VARIANCE, rankSearch: false,
    finish: (m) => { const v = varianceOf(m); return v === null ? null : Math.sqrt(v); }, release: (v, r) => clamp(v, 0, width(r)),
  },
  // One filtered count a bucket on secure comparisons (usage-layer/coordinator/edge-histogram.ts): all three nodes.
  histogram: {
    kind: 'histogram', protocol: 'comparisons', indicators: 1, measures: ['histogram'], dpMeasures: ['histogram'], epsilonWeights: [1], centred: false, pilot: null, nodesNeeded: product, filterable: false, clamped: null, rankSearch: false,
    finish: () => null, release: keep,
  },
  covariance: {
    kind: 'covariance', protocol: 'product', indicators: 2, measures: ['sumX', 'sumY', 'sumXY'], dpMeasures: ['count', 'sumXY'], epsilonWeights: [8, 88], centred: true, pilot: { x: 1, y: 1 }, nodesNeeded: product, filterable: false, clamped: { dpMeasures: ['count', 'sumX', 'sumY', 'sumXY'], epsilonWeights: [1, 1, 1, 3] }, rankSearch: false,
    finish: (m) => (!m.sumXY ? null : m.sumX && m.sumY ? stats.covariance(m.count, m.sumX, m.sumY, m.sumXY) : stats.covarianceAbout(m.count, m.sumXY)), release: keep,
  },
  correlation: {
    kind: 'correlation', protocol: 'product', indicators: 2, measures: ['sumX', 'sumY', 'sumXX', 'sumYY', 'sumXY'], dpMeasures: ['count', 'sumXX', 'sumYY', 'sumXY'], epsilonWeights: [8, 4, 12, 70], centred: true, pilot: { x: 1, y: 1 }, nodesNeeded: product, filterable: false, clamped: { dpMeasures: ['count', 'sumX', 'sumY', 'sumXX', 'sumYY', 'sumXY'], epsilonWeights: [1, 1, 1, 3, 3, 10] }, rankSearch: false,
    finish: (m) => correlationOf(m), release: (v) => clamp(v, -1, 1),
  },
  // Rank kinds: `count` is the noisy count of each search round (ε split over the rounds, coordinator/quantile.ts).
  median: {
    kind: 'median', protocol: 'linear', indicators: 1, measures: [], dpMeasures: ['count'], epsilonWeights: [1], centred: false, pilot: null, nodesNeeded: product, filterable: true, clamped: null, rankSearch: true,
    finish: () => null, release: (v, r) => clamp(v, r.min, r.max),
  },
  quantile: {
    kind: 'quantile', protocol: 'linear', indicators: 1, measures: [], dpMeasures: ['count'], epsilonWeights: [1], centred: false, pilot: null, nodesNeeded: product, filterable: true, clamped: null, rankSearch: true,
    finish: () => null, release: (v, r) => clamp(v, r.min, r.max),
  },
});

/** Nodes a filtered query needs: the product protocol's 2t + 1, and exactly three for the comparisons. */
export function filteredNodesNeeded(t: number): number {
  return product(t);
}

/** The measures a clamped query of this kind computes and opens besides the count (all its noised ones when exact). */
export function clampedMeasures(kind: AggregateKind, noised: readonly string[] | null): Measure[] {
  const c = AGGREGATES[kind].clamped;
  if (!c) return [];
  const all = c.dpMeasures.filter((m) => m !== 'count');
  return noised ? all.filter((m) => noised.includes(m)) : all;
}

export function isAggregateKind(x: unknown): x is AggregateKind {
  return typeof x === 'string' && (AGGREGATE_KINDS as readonly string[]).includes(x);
}

export function aggregateSpec(kind: AggregateKind): AggregateSpec {
  return AGGREGATES[kind];
}

/**
 * The measures a query of this kind computes and opens (besides the count): all of the kind's when
 * exact; with noise only those the noise names, so that nothing is ever opened without noise.
 */
export function queriedMeasures(kind: AggregateKind, noised: readonly string[] | null): Measure[] {
  const all = AGGREGATES[kind].measures;
  return noised ? all.filter((m) => noised.includes(m)) : [...all];
}

/** Measures a query of this kind may noise: the ones it opens, and the count. */
export function noisableMeasures(kind: AggregateKind): Measure[] {
  return ['count', ...AGGREGATES[kind].measures];
}
