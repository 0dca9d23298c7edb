/**
 * Histograms, with the catalogue's edges or the researcher's, on secure comparisons: each
 * bucket is a filtered count (filtered.ts) over each cohort patient's latest value in the window, with
 * the bucket's predicate e_j ≤ x < e_{j+1} (below: x < e_0; above: x ≥ e_B). The query runs with
 * L = 1, so a patient is one value and lies in exactly one bucket: the buckets are disjoint by patient
 * and each is noised with the full ε and sensitivity 1 (parallel composition; neighbours differ by
 * adding or removing one patient, which changes one bucket by 1). Nodes see no bucket bit: the bits
 * are shared, only the noisy counts are opened. With a cohort filter every bucket's predicate is
 * joined to it (and): still disjoint by patient.
 */
import type { ValueDomain } from '../../mpc/compare';
import { bandPredicates, type FilterTree } from '../../mpc/filters';
import { ValidationError } from '../../storage-layer/errors';
import type { FilterLeafSpec, NoiseSpec } from '../../parties/wire';
import { emptyBytes, type CoordinatorContext } from './context';
import { runFiltered } from './filtered';
import type { AggregateQuery, AggregateResult } from './types';
import { noiseMap } from './validate';

/** At most this many edges (B + 2 filtered runs). */
export const MAX_EDGES = 20;

/** Throws (400, field `options.edges`) unless the edges are 2..MAX_EDGES strictly increasing numbers inside the range. */
export function checkEdgesInRange(edges: readonly number[], domain: ValueDomain): void {
  const bad = (why: string) => new ValidationError(`options.edges: ${why}`, 'options.edges');
  if (!Array.isArray(edges) || edges.length < 2 || edges.length > MAX_EDGES) throw bad(`give 2 to ${MAX_EDGES} edges`);
  edges.forEach((e, k) => {
    if (typeof e !== 'number' || !Number.isFinite(e)) throw bad('every edge must be a finite number');
    if (e < domain.min || e > domain.max) throw bad(`${e} is outside the indicator's range [${domain.min}, ${domain.max}]`);
    if (k > 0 && !(e > (edges[k - 1] as number))) throw bad('edges must be strictly increasing');
  });
}

/** The bucket predicates in order: below e_0, [e_0, e_1), …, [e_{B−1}, e_B), at or above e_B. */
export function bucketFilters(indicator: string, edges: readonly number[], domain: ValueDomain): Array<FilterTree<FilterLeafSpec>> {
  return bandPredicates(edges, (op, value): FilterLeafSpec => ({ indicator, op, value, domain }));
}

export async function runEdgeHistogram(ctx: CoordinatorContext, q: AggregateQuery, started: number): Promise<AggregateResult> {
  const { edges, domain } = q;
  if (!edges || !domain) throw new ValidationError('a histogram needs its edges (the catalogue\'s or the researcher\'s) and the indicator\'s domain', 'edges');
  checkEdgesInRange(edges, domain);
  const noise = noiseMap(q)?.histogram as NoiseSpec | undefined;
  const counts: number[] = [];
  const bytes = emptyBytes();
  let last: AggregateResult | undefined;
  // One filtered count per bucket; the same noise spec for each (disjoint by patient, see above).
  for (const bucket of bucketFilters(q.indicator, edges, domain)) {
    // With a cohort filter each bucket counts among the patients it selects.
    const filter = q.filter ? { and: [q.filter, bucket] } : bucket;
    last = await runFiltered(ctx, { ...q, aggregate: 'count', perPatient: 1, filter, ...(noise ? { noise: { count: noise } } : {}) }, performance.now());
    counts.push(last.count ?? 0);
    for (const k of Object.keys(bytes) as Array<keyof typeof bytes>) bytes[k] += last.bytes[k];
  }
  const r = last as AggregateResult;
  const interior = counts.slice(1, -1);
  return {
    ...r, aggregate: 'histogram', value: null, count: null, opened: undefined, noised: Boolean(noise), bytes, ms: performance.now() - started,
    // `records`: the sum of the (noisy, when noised) bucket counts; no node knows the exact number.
    histogram: { edges: [...edges], counts: interior, below: counts[0] as number, above: counts[counts.length - 1] as number, records: counts.reduce((x, y) => x + y, 0) },
  };
}
