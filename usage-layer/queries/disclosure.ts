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
 *    A query's epsilon ε is split: contributors ε/5, the aggregate the rest (mean: half each to sum and
 *    count). The splits are exact in micro-units and add up to ε.
 *      variance, stddev  noisy count (sensitivity 1), Σx (max |x|) and Σx² (max |x|², encoded at 2·scale);
 *                 the aggregate's epsilon split in thirds; variance clamped to ≥ 0;
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
import { ValidationError } from '../../storage-layer/errors';
import type { AggregateKind } from '../coordinator';
import { discreteLaplaceVariance, laplaceScale, sampleDiscreteLaplace } from '../mpc/dp-noise';

export const AGGREGATES: readonly AggregateKind[] = ['count', 'sum', 'mean', 'variance', 'stddev', 'histogram', 'covariance', 'correlation'];
export const PAIR_AGGREGATES: readonly AggregateKind[] = ['covariance', 'correlation'];
export const DP_AGGREGATES: readonly AggregateKind[] = AGGREGATES;

export type NoisedMeasure = 'count' | 'sum' | 'sumSquares' | 'histogram' | 'sumX' | 'sumY' | 'sumXX' | 'sumYY' | 'sumXY' | 'contributors';

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

/** Refuses aggregates without a DP release, with the reason. */
export function requireDpAggregate(aggregate: AggregateKind): void {
  if (!DP_AGGREGATES.includes(aggregate)) {
    throw new ValidationError(`${aggregate} is not available under differential privacy: it has no noise plan`, 'aggregate');
  }
}

/** The largest change one record can make to a sum of this indicator. */
export function sumSensitivity(ind: Indicator): number {
  return Math.max(Math.abs(ind.range.min), Math.abs(ind.range.max));
}

const MICRO = 1_000_000;

/** Splits ε over the released measures (exactly, in micro-units). */
export function planPrivacy(aggregate: AggregateKind, ind: Indicator, epsilon: number, ind2?: Indicator): PrivacyPlan {
  requireDpAggregate(aggregate);
  const total = Math.round(epsilon * MICRO);
  const contributors = Math.floor(total / 5);
  const rest = total - contributors;
  const eps = (micro: number) => micro / MICRO;
  const parts: NoisePart[] = [];
  /** Equal shares of `micro`, the remainder to the first measure, so that they add up exactly. */
  const splitEvenly = (micro: number, measures: Array<[NoisedMeasure, number]>) => {
    const each = Math.floor(micro / measures.length);
    measures.forEach(([measure, sensitivity], k) => parts.push({ measure, epsilon: eps(k === 0 ? micro - each * (measures.length - 1) : each), sensitivity, addedBy: 'compute-nodes' }));
  };
  switch (aggregate) {
    case 'count':
      parts.push({ measure: 'count', epsilon: eps(rest), sensitivity: 1, addedBy: 'compute-nodes' });
      break;
    case 'sum':
      parts.push({ measure: 'sum', epsilon: eps(rest), sensitivity: sumSensitivity(ind), addedBy: 'compute-nodes' });
      break;
    case 'mean': {
      const half = Math.floor(rest / 2);
      parts.push({ measure: 'sum', epsilon: eps(half), sensitivity: sumSensitivity(ind), addedBy: 'compute-nodes' });
      parts.push({ measure: 'count', epsilon: eps(rest - half), sensitivity: 1, addedBy: 'compute-nodes' });
      break;
    }
    case 'histogram':
      parts.push({ measure: 'histogram', epsilon: eps(rest), sensitivity: 1, addedBy: 'compute-nodes' });
      break;
    case 'variance':
    case 'stddev': {
      const m = sumSensitivity(ind);
      splitEvenly(rest, [['count', 1], ['sum', m], ['sumSquares', m * m]]);
      break;
    }
    case 'covariance':
    case 'correlation': {
      if (!ind2) throw new ValidationError(`${aggregate} needs a second indicator`, 'indicators');
      const [mx, my] = [sumSensitivity(ind), sumSensitivity(ind2)];
      const all: Array<[NoisedMeasure, number]> = [['count', 1], ['sumX', mx], ['sumY', my], ['sumXX', mx * mx], ['sumYY', my * my], ['sumXY', mx * my]];
      splitEvenly(rest, aggregate === 'covariance' ? all.filter(([m]) => m !== 'sumXX' && m !== 'sumYY') : all);
      break;
    }
    default:
      throw new ValidationError(`${aggregate} has no privacy plan`, 'aggregate');
  }
  parts.push({ measure: 'contributors', epsilon: eps(contributors), sensitivity: 1, addedBy: 'gateway' });
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
