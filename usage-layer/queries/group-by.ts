/**
 * Group-by over a demographic (`groupBy`: "sex" or "birth_decade") or over bands of an indicator's
 * latest value (`{indicator, edges}`) for count, mean, median and quantile: each group is
 * the same query with the group's predicate on the patient's latest demographic value added to its
 * filter (query-filter.ts), run and noised like any filtered query. A patient's latest demographic
 * value lies in at most one group, so the groups are disjoint by patient and every group is released
 * with the whole plan (parallel composition: a patient is charged the query's ε once). The threshold
 * applies to every group (a patient without a value of the grouping's indicator is in none): a group whose noisy count of records is below minCohort·L plus the count
 * part's margin is suppressed (decided on the released noisy count: post-processing; L records a
 * patient at most, so a released group has at least minCohort patients up to the noise).
 */
import { getIndicator } from '../../management-layer/catalogue';
import type { AggregateKind } from '../../mpc/aggregates';
import { bandPredicates } from '../../mpc/filters';
import { ValidationError } from '../../storage-layer/errors';
import type { QueryFilter, QueryFilterLeaf } from './query-filter';
import type { DeclaredBounds } from './declared-bounds';
import type { NoisePart } from './disclosure';

export const GROUP_BY = ['sex', 'birth_decade'] as const;
/** Bands of an indicator's latest value: below e_0, [e_j, e_{j+1}), at or above the last edge. */
export interface IndicatorBands {
  indicator: string;
  edges: number[];
}
export type GroupBy = (typeof GROUP_BY)[number] | IndicatorBands;

/** At most this many edges (edges + 1 groups, one filtered run each). */
export const MAX_BAND_EDGES = 8;

const isBands = (g: GroupBy): g is IndicatorBands => typeof g === 'object';

export interface Group {
  /** The group's label: a sex code's name, or a decade's first year ("1950s"). */
  label: string;
  predicate: QueryFilter;
}

/** The indicator a grouping reads (consent must cover it). */
export const groupIndicator = (g: GroupBy): string => (isBands(g) ? g.indicator : g === 'sex' ? 'sex' : 'birth_year');

function checkBands(g: IndicatorBands): IndicatorBands {
  const bad = (why: string) => new ValidationError(`groupBy: ${why}`, 'groupBy');
  const ind = getIndicator(g.indicator);
  if (!ind) throw bad(`unknown indicator ${JSON.stringify(g.indicator)}`);
  if (ind.codes) throw bad(`${g.indicator} is coded: group by "sex" instead`);
  if (g.edges.length < 1 || g.edges.length > MAX_BAND_EDGES) throw bad(`give 1 to ${MAX_BAND_EDGES} edges`);
  g.edges.forEach((e, k) => {
    if (!Number.isFinite(e) || e <= ind.range.min || e > ind.range.max) throw bad(`edge ${e} must lie inside ${g.indicator}'s range (${ind.range.min}, ${ind.range.max}]`);
    if (k > 0 && !(e > (g.edges[k - 1] as number))) throw bad('edges must be strictly increasing');
  });
  return { indicator: g.indicator, edges: [...g.edges] };
}

const GROUPED_KINDS: readonly AggregateKind[] = ['count', 'mean', 'median', 'quantile'];

/** Checks `groupBy` for the kind: count, mean, median and quantile. */
export function checkGroupBy(g: GroupBy, aggregate: AggregateKind): GroupBy {
  if (!GROUPED_KINDS.includes(aggregate)) throw new ValidationError(`"groupBy" applies to ${GROUPED_KINDS.join(', ')}, not ${aggregate}`, 'groupBy');
  return isBands(g) ? checkBands(g) : g;
}

/** An indicator's bands as groups: "< e_0", "e_j to e_{j+1}", "≥ e_last". */
function bandGroups(g: IndicatorBands): Group[] {
  const predicates = bandPredicates(g.edges, (op, value): QueryFilterLeaf => ({ indicator: g.indicator, op, value }));
  const label = (k: number) => (k === 0 ? `< ${g.edges[0]}` : k === g.edges.length ? `≥ ${g.edges[k - 1]}` : `${g.edges[k - 1]} to ${g.edges[k]}`);
  return predicates.map((predicate, k) => ({ label: label(k), predicate }));
}

/** The groups of a grouping, in order: the catalogue's sex codes, the decades of the birth-year range, or an indicator's bands. */
export function groupsOf(g: GroupBy): Group[] {
  if (isBands(g)) return bandGroups(g);
  const ind = getIndicator(groupIndicator(g));
  if (!ind) throw new Error(`the catalogue has no ${groupIndicator(g)}`);
  if (g === 'sex') return Object.keys(ind.codes ?? {}).map((code) => ({ label: code, predicate: { indicator: 'sex', op: '=', value: code } }));
  const groups: Group[] = [];
  for (let d = Math.floor(ind.range.min / 10) * 10; d <= ind.range.max; d += 10) {
    const leaf = (op: QueryFilterLeaf['op'], value: number): QueryFilterLeaf => ({ indicator: 'birth_year', op, value });
    groups.push({ label: `${d}s`, predicate: { and: [leaf('>=', d), leaf('<', d + 10)] } });
  }
  return groups;
}

/** The filter of one group's run: the query's filter (if any) and the group's predicate. */
export function groupFilter(filter: QueryFilter | null, group: Group): QueryFilter {
  return filter ? { and: [filter, group.predicate] } : group.predicate;
}

/** One group as released: suppressed groups show only their label. */
export interface ReleasedGroup {
  group: string;
  suppressed: boolean;
  value: number | null;
  interval?: [number, number] | null;
  records: number | null;
  /** Automatic bounds: the group's own, derived from its pilot. */
  clampedTo?: DeclaredBounds;
  /** With its own bounds, the group's noise: the sensitivities follow from them. */
  noise?: AppliedNoise[];
}

/** A noise part as applied to a release, with its standard deviation. */
export type AppliedNoise = NoisePart & { stdDev: number };

interface GroupRun {
  value: number | null;
  interval?: [number, number] | null;
  records: number | null;
  clampedTo?: DeclaredBounds;
  noise: AppliedNoise[];
}

/**
 * Runs every group (one after the other; each is a full filtered run) and applies the threshold to
 * each: `floor` is minCohort·L plus the count part's margin, compared with the group's noisy count.
 */
export async function runGroups<R extends GroupRun>(groups: Group[], filter: QueryFilter | null, floor: number, run: (f: QueryFilter) => Promise<R>): Promise<{ first: R; groups: ReleasedGroup[] }> {
  const released: ReleasedGroup[] = [];
  let first: R | undefined;
  for (const g of groups) {
    const r = await run(groupFilter(filter, g));
    first ??= r;
    const count = r.records ?? 0;
    const suppressed = count < floor;
    released.push(suppressed ? { group: g.label, suppressed, value: null, records: null } : { group: g.label, suppressed, value: r.value, interval: r.interval ?? null, records: r.records, ...(r.clampedTo ? { clampedTo: r.clampedTo, noise: r.noise } : {}) });
  }
  return { first: first as R, groups: released };
}
