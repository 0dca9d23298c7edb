/**
 * The `filter` of POST /queries (schema/api/query.schema.json): predicates `{indicator, op, value}` on
 * each patient's latest value of an indicator in the query's window, combined with `{and: […]}` and
 * `{or: […]}`. The schema checks the shape; here: known indicators, a kind that takes a filter
 * (mpc/aggregates.ts `filterable`), the size limits, and the catalogue domain each leaf compares in.
 */
import { getIndicator } from '../../management-layer/catalogue';
import { aggregateSpec, type AggregateKind } from '../../mpc/aggregates';
import { filterLeaves, isAnd, isOr, mapLeaves, type FilterTree } from '../../mpc/filters';
import type { FilterLeafSpec } from '../../parties/wire';
import { ValidationError } from '../../storage-layer/errors';

const MAX_LEAVES = 16;
const MAX_DEPTH = 4;

function depthOf(t: FilterTree): number {
  if (isAnd(t)) return 1 + Math.max(...t.and.map(depthOf));
  if (isOr(t)) return 1 + Math.max(...t.or.map(depthOf));
  return 1;
}

/** Checks a schema-valid filter for `aggregate`; returns it unchanged. */
export function checkQueryFilter(filter: FilterTree, aggregate: AggregateKind): FilterTree {
  if (!aggregateSpec(aggregate).filterable) throw new ValidationError(`"filter" applies to count, sum, mean, variance and stddev, not ${aggregate}`, 'filter');
  const leaves = filterLeaves(filter);
  if (leaves.length > MAX_LEAVES) throw new ValidationError(`"filter" has ${leaves.length} predicates; at most ${MAX_LEAVES}`, 'filter');
  if (depthOf(filter) > MAX_DEPTH) throw new ValidationError(`"filter" nests and/or at most ${MAX_DEPTH} levels deep`, 'filter');
  for (const l of leaves) {
    if (!getIndicator(l.indicator)) throw new ValidationError(`filter: unknown indicator ${JSON.stringify(l.indicator)}`, 'filter');
    if (!Number.isFinite(l.value)) throw new ValidationError(`filter: the value for ${l.indicator} must be a finite number`, 'filter');
  }
  return filter;
}

/** The filter as the nodes get it: every leaf with its indicator's catalogue range and scale. */
export function filterWithDomains(filter: FilterTree): FilterTree<FilterLeafSpec> {
  return mapLeaves(filter, (l) => {
    const ind = getIndicator(l.indicator);
    if (!ind) throw new ValidationError(`filter: unknown indicator ${JSON.stringify(l.indicator)}`, 'filter');
    return { indicator: l.indicator, op: l.op, value: l.value, domain: { min: ind.range.min, max: ind.range.max, scale: ind.scale } };
  });
}
