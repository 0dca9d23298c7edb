/**
 * The `filter` of POST /queries (schema/api/query.schema.json): predicates `{indicator, op, value}` on
 * each patient's latest value of an indicator in the query's window, combined with `{and: […]}` and
 * `{or: […]}`. The schema checks the shape; here: known indicators, a kind that takes a filter
 * (mpc/aggregates.ts `filterable`), the size limits, and the catalogue domain each leaf compares in.
 * `=` is two comparisons (≥ and ≤); a coded demographic (sex) takes its code as the value ("female").
 */
import { getIndicator, type Indicator } from '../../management-layer/catalogue';
import { AGGREGATE_KINDS, aggregateSpec, type AggregateKind } from '../../mpc/aggregates';
import type { ComparisonOp } from '../../mpc/compare';
import { filterLeaves, isAnd, isOr, mapLeaves, type FilterTree } from '../../mpc/filters';
import type { FilterLeafSpec } from '../../parties/wire';
import { ValidationError } from '../../storage-layer/errors';

/** A predicate as the researcher writes it. */
export interface QueryFilterLeaf {
  indicator: string;
  op: ComparisonOp | '=';
  value: number | string;
}

export type QueryFilter = FilterTree<QueryFilterLeaf>;

/** Kinds that take a filter (mpc/aggregates.ts `filterable`). */
const FILTERABLE = AGGREGATE_KINDS.filter((k) => aggregateSpec(k).filterable);

/** Comparisons of one filter (the nodes' limit, parties/wire-parse.ts). */
const MAX_LEAVES = 16;
const MAX_DEPTH = 4;

function depthOf(t: QueryFilter): number {
  if (isAnd(t)) return 1 + Math.max(...t.and.map(depthOf));
  if (isOr(t)) return 1 + Math.max(...t.or.map(depthOf));
  return 1;
}

/** The number a leaf compares with: the value, or a coded indicator's code for it. */
function numericValue(l: QueryFilterLeaf, ind: Indicator): number {
  if (typeof l.value === 'number') {
    if (!Number.isFinite(l.value)) throw new ValidationError(`filter: the value for ${l.indicator} must be a finite number`, 'filter');
    return l.value;
  }
  const code = ind.codes?.[l.value];
  if (code === undefined) throw new ValidationError(`filter: ${l.indicator} has no code ${JSON.stringify(l.value)}${ind.codes ? ` (codes: ${Object.keys(ind.codes).join(', ')})` : '; give a number'}`, 'filter');
  return code;
}

const indicatorOf = (name: string): Indicator => {
  const ind = getIndicator(name);
  if (!ind) throw new ValidationError(`filter: unknown indicator ${JSON.stringify(name)}`, 'filter');
  return ind;
};

/**
 * Checks a schema-valid filter for `aggregate` (a filterable kind, or a histogram: its buckets are
 * filtered counts, coordinator/edge-histogram.ts); returns it unchanged.
 */
export function checkQueryFilter(filter: QueryFilter, aggregate: AggregateKind): QueryFilter {
  const histogram = aggregate === 'histogram';
  if (!aggregateSpec(aggregate).filterable && !histogram) throw new ValidationError(`"filter" applies to ${FILTERABLE.join(', ')} and histogram, not ${aggregate}`, 'filter');
  const leaves = filterLeaves(filter);
  // A rank kind adds its own comparison [x ≥ t] to every round's filter, a histogram a bucket's two,
  // one level up (coordinator/quantile.ts, edge-histogram.ts).
  const own = aggregateSpec(aggregate).rankSearch ? 1 : histogram ? 2 : 0;
  const ownDepth = Math.min(own, 1);
  if (depthOf(filter) > MAX_DEPTH - ownDepth) throw new ValidationError(`"filter" nests and/or at most ${MAX_DEPTH - ownDepth} levels deep${own ? ` for ${aggregate}` : ''}`, 'filter');
  const comparisons = leaves.reduce((n, l) => n + (l.op === '=' ? 2 : 1), 0);
  if (comparisons > MAX_LEAVES - own) throw new ValidationError(`"filter" needs ${comparisons} comparisons (= counts two); at most ${MAX_LEAVES - own}${own ? ` for ${aggregate}` : ''}`, 'filter');
  for (const l of leaves) numericValue(l, indicatorOf(l.indicator));
  return filter;
}

/** The filter as the nodes get it: numeric values, `=` as ≥ and ≤, every leaf with its catalogue range and scale. */
export function filterWithDomains(filter: QueryFilter): FilterTree<FilterLeafSpec> {
  return mapLeaves(filter, (l): FilterTree<FilterLeafSpec> => {
    const ind = indicatorOf(l.indicator);
    const value = numericValue(l, ind);
    const leaf = (op: ComparisonOp): FilterLeafSpec => ({ indicator: l.indicator, op, value, domain: { min: ind.range.min, max: ind.range.max, scale: ind.scale } });
    return l.op === '=' ? { and: [leaf('>='), leaf('<=')] } : leaf(l.op);
  });
}
