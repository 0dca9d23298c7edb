/** Checks of a coordinator query, and its noise as one per-measure map. */
import { aggregateSpec, isAggregateKind, noisableMeasures, AGGREGATE_KINDS } from '../../mpc/aggregates';
import type { NoiseSpec } from '../../parties/wire';
import { ValidationError } from '../../storage-layer/errors';
import type { AggregateNoise, AggregateQuery } from './types';

/** Kinds that accept the single `{epsilon, sensitivity}` form: those with one measure to noise. */
const SINGLE_NOISE_KINDS = ['count', 'sum', 'histogram'] as const;

/** True for the single-measure form `{epsilon, sensitivity}`. */
function isSingleNoise(x: unknown): x is NoiseSpec {
  return typeof x === 'object' && x !== null && typeof (x as NoiseSpec).epsilon === 'number';
}

const positive = (spec: NoiseSpec | undefined) => Boolean(spec) && (spec as NoiseSpec).epsilon > 0 && (spec as NoiseSpec).sensitivity > 0;

function validateNoise(q: AggregateQuery): void {
  if (!q.noise) return;
  if (isSingleNoise(q.noise)) {
    if (!(SINGLE_NOISE_KINDS as readonly string[]).includes(q.aggregate)) throw new ValidationError('noise is supported for count, sum and histogram (per-measure noise for the others)', 'noise');
    if (!positive(q.noise)) throw new ValidationError('noise needs epsilon > 0 and sensitivity > 0', 'noise');
    return;
  }
  const entries = Object.entries(q.noise);
  if (entries.length === 0) throw new ValidationError('noise names no measure', 'noise');
  const allowed: string[] = noisableMeasures(q.aggregate);
  for (const [m, spec] of entries) {
    if (!allowed.includes(m)) throw new ValidationError(`noise.${m}: ${q.aggregate} can noise ${allowed.join(', ')}`, 'noise');
    if (!positive(spec)) throw new ValidationError(`noise.${m} needs epsilon > 0 and sensitivity > 0`, 'noise');
  }
}

export function validateQuery(q: AggregateQuery): void {
  if (!q || typeof q.indicator !== 'string' || q.indicator.length === 0) throw new ValidationError('indicator is required', 'indicator');
  if (!isAggregateKind(q.aggregate)) throw new ValidationError(`aggregate must be one of ${AGGREGATE_KINDS.join(', ')}`, 'aggregate');
  for (const f of ['from', 'to'] as const) {
    const v = q[f];
    if (v !== undefined && v !== null && (typeof v !== 'string' || Number.isNaN(Date.parse(v)))) throw new ValidationError(`${f} must be an instant`, f);
  }
  if (q.cohort !== undefined && q.cohort !== null && (!Array.isArray(q.cohort) || q.cohort.some((p) => typeof p !== 'string'))) {
    throw new ValidationError('cohort must be a list of pseudonyms', 'cohort');
  }
  if (aggregateSpec(q.aggregate).indicators === 2 && (typeof q.indicator2 !== 'string' || q.indicator2.length === 0)) {
    throw new ValidationError(`${q.aggregate} needs indicator2`, 'indicator2');
  }
  if (q.nodes !== undefined && q.nodes !== 'all' && q.nodes !== 'minimal') throw new ValidationError("nodes must be 'all' or 'minimal'", 'nodes');
  validateNoise(q);
}

/** The query's noise as a per-measure map (the single form names the aggregate's one measure). */
export function noiseMap(q: AggregateQuery): AggregateNoise | null {
  if (!q.noise) return null;
  if (isSingleNoise(q.noise)) return { [q.aggregate]: q.noise } as AggregateNoise;
  return q.noise;
}
