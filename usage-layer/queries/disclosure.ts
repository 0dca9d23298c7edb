/**
 * Disclosure control for research queries.
 *
 * 1. Minimum cohort: fewer distinct contributing patients than the study's minCohort → the query is
 *    suppressed; the answer says "fewer than k contributors", never the count, and no aggregate is
 *    computed. (The threshold uses the exact count, as is usual for small-cell suppression; the
 *    suppression itself therefore tells that the count is below k, and the query is charged its
 *    epsilon like any other.)
 * 2. Differential privacy, pure ε-DP with the discrete Laplace mechanism, neighbouring data sets
 *    differing by ONE RECORD (event-level DP, the unit the compute nodes aggregate):
 *      count      sensitivity 1, noised in shares by every compute node;
 *      sum        sensitivity max(|range.min|, |range.max|) of the indicator's catalogue range;
 *      histogram  sensitivity 1 (a record moves one bucket by one), every bucket noised;
 *      mean       noisy sum / noisy count, the aggregate's epsilon split in halves (sequential
 *                 composition), clamped to the indicator's range (post-processing);
 *      contributors (distinct patients, reported with every released result) sensitivity 1, noised by
 *                 the gateway (which knows the exact count from the records' clear metadata).
 *    A query's epsilon ε is split: contributors ε/5, the aggregate the rest, evenly over the measures
 *    the registry (mpc/aggregates.ts) lists as the kind's dpMeasures (mean: sum and count). The splits
 *    are exact in micro-units and add up to ε.
 *      variance, stddev  noisy count (sensitivity 1), Σx (max |x|) and Σx² (max |x|², encoded at 2·scale);
 *                 the aggregate's epsilon split in thirds; variance clamped to [0, range²];
 *      covariance noisy pairs (1), Σx, Σy, Σxy (max|x|·max|y| at scaleX + scaleY): quarters;
 *      correlation noisy pairs, Σx, Σy, Σx², Σy², Σxy: sixths; clamped to [−1, 1].
 *    For pair aggregates the sensitivities assume one PAIR is added or removed (a new record of the
 *    second indicator could re-pair several records of the same patient: a documented limitation).
 *    Σx² and Σxy are noised in shares after the degree reduction, before opening.
 * 3. Budget: every study has an epsilon budget; a query reserves its ε atomically before it runs
 *    (UPDATE … WHERE spent + ε <= budget), a refused query spends nothing, a failed one (nothing
 *    released) gets its ε back.
 */
import type { Indicator } from '../../management-layer/catalogue';
import { aggregateSpec, measureSensitivity, type AggregateKind, type Measure, type ValueBounds } from '../../mpc/aggregates';
import { discreteLaplaceVariance, laplaceScale, sampleDiscreteLaplace } from '../../mpc/dp-noise';
import { ValidationError } from '../../storage-layer/errors';

export type NoisedMeasure = Measure | 'contributors';

export interface NoisePart {
  measure: NoisedMeasure;
  epsilon: number;
  /** In natural units of the measure. */
  sensitivity: number;
  /** Who adds the noise: every compute node in shares, or the gateway (contributors). */
  addedBy: 'compute-nodes' | 'gateway';
}

export interface PrivacyPlan {
  epsilon: number;
  mechanism: 'discrete-laplace';
  neighbours: 'add or remove one record';
  parts: NoisePart[];
}

/** The largest change one record can make to a sum of this indicator. */
function sumSensitivity(ind: Indicator): number {
  return Math.max(Math.abs(ind.range.min), Math.abs(ind.range.max));
}

/** The public bounds of one record of the query's indicator(s): the catalogue ranges. */
export function valueBounds(ind: Indicator, ind2?: Indicator): ValueBounds {
  return { maxAbsX: sumSensitivity(ind), ...(ind2 ? { maxAbsY: sumSensitivity(ind2) } : {}) };
}

const MICRO = 1_000_000;

/**
 * Splits ε over the released measures (exactly, in micro-units): contributors ε/5, the rest evenly over
 * the kind's DP measures (mpc/aggregates.ts dpMeasures), the remainder to the first.
 */
export function planPrivacy(aggregate: AggregateKind, ind: Indicator, epsilon: number, ind2?: Indicator): PrivacyPlan {
  const spec = aggregateSpec(aggregate);
  if (spec.indicators === 2 && !ind2) throw new ValidationError(`${aggregate} needs a second indicator`, 'indicators');
  const total = Math.round(epsilon * MICRO);
  const contributors = Math.floor(total / 5);
  const rest = total - contributors;
  const bounds = valueBounds(ind, ind2);
  const each = Math.floor(rest / spec.dpMeasures.length);
  const parts: NoisePart[] = spec.dpMeasures.map((measure, k) => ({
    measure,
    epsilon: (k === 0 ? rest - each * (spec.dpMeasures.length - 1) : each) / MICRO,
    sensitivity: measureSensitivity(measure, bounds),
    addedBy: 'compute-nodes',
  }));
  parts.push({ measure: 'contributors', epsilon: contributors / MICRO, sensitivity: 1, addedBy: 'gateway' });
  for (const p of parts) {
    if (!(p.epsilon > 0)) throw new ValidationError(`epsilon ${epsilon} is too small to split over ${parts.length} measures`, 'options.epsilon');
  }
  return { epsilon, mechanism: 'discrete-laplace', neighbours: 'add or remove one record', parts };
}

export function part(plan: PrivacyPlan, measure: NoisedMeasure): NoisePart {
  const p = plan.parts.find((x) => x.measure === measure);
  if (!p) throw new Error(`the privacy plan has no ${measure} part`);
  return p;
}

/**
 * Standard deviation (natural units) of the total noise on one released element: `sources`
 * independent discrete Laplace samples of scale sensitivity·10^scale/ε each (every compute node adds
 * its own full-scale noise; see usage-layer/mpc/dp-noise.ts).
 */
export function noiseStdDev(p: NoisePart, scale: number, sources: number): number {
  const b = (p.sensitivity * 10 ** scale) / p.epsilon;
  return Math.sqrt(sources * discreteLaplaceVariance(b)) / 10 ** scale;
}

/**
 * The distinct-contributor count as released: exact + Lap_Z(1/ε), exact sampler (no floating point),
 * then clamped to at least minCohort (post-processing: a released result has at least that many).
 */
export function noisyContributors(exact: number, p: NoisePart, minCohort: number): number {
  const noisy = BigInt(exact) + sampleDiscreteLaplace(laplaceScale(p.epsilon, p.sensitivity, 0));
  return Math.max(minCohort, Number(noisy));
}
