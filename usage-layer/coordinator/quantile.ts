/**
 * Median and quantiles (mpc/quantiles.ts): a noisy binary search over the catalogue range, each round
 * one filtered count of {x ≥ t} (filtered.ts: secure comparisons against the public t, noised in
 * shares by the nodes) over each cohort patient's latest value, L = 1. The count's noise spec is the
 * whole search's: every round gets ε/k. `quantile.total` is the released (noisy) number of
 * contributors the rank q·N is taken of: post-processing of the gate's release, no extra ε; with a
 * filter, the filter's noisy total (the query service's own noised count). Every round then counts
 * x ≥ t among the filter's patients.
 */
import type { ValueDomain } from '../../mpc/compare';
import { nextThreshold, searchResult, searchRounds, searchStep, type SearchState } from '../../mpc/quantiles';
import type { NoiseSpec } from '../../parties/wire';
import { ValidationError } from '../../storage-layer/errors';
import { emptyBytes, type CoordinatorContext } from './context';
import { runFiltered } from './filtered';
import type { AggregateQuery, AggregateResult, SearchRound } from './types';
import { noiseMap } from './validate';

/** Fixed-point units of a domain: lo (the minimum) and the span. */
function units(d: ValueDomain): { lo: number; span: number } {
  const f = 10 ** d.scale;
  const lo = Math.ceil(Math.round(d.min * f * 1e6) / 1e6);
  return { lo, span: Math.floor(Math.round(d.max * f * 1e6) / 1e6) - lo };
}

/** A unit threshold as the shortest decimal of its value (comparisonPlan reads the decimal digits). */
const valueOf = (u: number, d: ValueDomain): number => Number((u / 10 ** d.scale).toFixed(d.scale));

function checkQuantile(q: AggregateQuery): { p: number; total: number; domain: ValueDomain } {
  const p = q.quantile?.q;
  if (typeof p !== 'number' || !(p > 0 && p < 1)) throw new ValidationError('quantile.q must be in (0, 1)', 'quantile.q');
  if (!q.domain) throw new ValidationError('a quantile needs the indicator domain', 'domain');
  return { p, total: q.quantile!.total, domain: q.domain };
}

export async function runQuantile(ctx: CoordinatorContext, q: AggregateQuery, started: number): Promise<AggregateResult> {
  const { p, total, domain } = checkQuantile(q);
  const { lo, span } = units(domain);
  const k = searchRounds(span);
  const whole = noiseMap(q)?.count as NoiseSpec | undefined;
  const noise = whole ? { noise: { count: { epsilon: whole.epsilon / k, sensitivity: whole.sensitivity } } } : {};
  let state: SearchState = { lo: 0, hi: span };
  const rounds: SearchRound[] = [];
  const bytes = emptyBytes();
  let last: AggregateResult | undefined;
  for (let round = 0; round < k; round++) {
    const t = nextThreshold(state);
    const leaf = { indicator: q.indicator, op: '>=' as const, value: valueOf(t + lo, domain), domain };
    // With a cohort filter (or a group's predicate) the count is of x ≥ t among the patients it selects.
    const filter = q.filter ? { and: [q.filter, leaf] } : leaf;
    last = await runFiltered(ctx, { ...q, aggregate: 'count', perPatient: 1, filter, ...noise }, performance.now());
    const count = last.count ?? 0;
    rounds.push({ threshold: leaf.value, count });
    state = searchStep(state, t, count, p, total);
    for (const key of Object.keys(bytes) as Array<keyof typeof bytes>) bytes[key] += last.bytes[key];
  }
  const r = last as AggregateResult;
  return {
    ...r, aggregate: q.aggregate, value: total > 0 ? valueOf(searchResult(state) + lo, domain) : null, count: null, opened: undefined,
    noised: Boolean(whole), bytes, ms: performance.now() - started, search: { rounds, resolution: valueOf(state.hi - state.lo, domain) },
  };
}
