/**
 * The query service's side of histograms with the researcher's edges and of the rank kinds (median,
 * quantile): their options (`options.edges`, `options.q`), their contribution bound (L = 1: each
 * patient's latest value, one value a patient), what the coordinator is asked, and the rank kinds'
 * 95 % interval from the public noise of the search (post-processing, no ε).
 */
import type { Indicator } from '../../management-layer/catalogue';
import { aggregateSpec, type AggregateKind } from '../../mpc/aggregates';
import type { ValueDomain } from '../../mpc/compare';
import type { MeasureNoise } from '../../mpc/intervals';
import { simultaneousHalfWidth } from '../../mpc/quantiles';
import { ValidationError } from '../../storage-layer/errors';
import type { AggregateQuery, AggregateResult, SearchRound } from '../coordinator';
import { checkEdgesInRange } from '../coordinator/edge-histogram';
import { noiseScale, noiseShape, part, type NoisePart, type NoisedBy, type PrivacyPlan } from './disclosure';

export interface RankOptions {
  /** A histogram's edges (the researcher's, else the catalogue's); null for other kinds. */
  edges: number[] | null;
  /** The quantile's q (0.5 for median), or null for other kinds. */
  q: number | null;
}

export const domainOf = (ind: Indicator): ValueDomain => ({ min: ind.range.min, max: ind.range.max, scale: ind.scale });

/** Checks `options.edges` and `options.q` against the kind and the indicator (400 naming the field). */
export function parseRankOptions(aggregate: AggregateKind, o: { edges?: number[]; q?: number }, ind: Indicator): RankOptions {
  if (o.edges !== undefined && aggregate !== 'histogram') throw new ValidationError('"options.edges" applies to histogram only', 'options.edges');
  if (o.edges !== undefined) checkEdgesInRange(o.edges, domainOf(ind));
  if (o.q !== undefined && aggregate !== 'quantile') throw new ValidationError('"options.q" applies to quantile only (median is q = 0.5)', 'options.q');
  if (aggregate === 'quantile') {
    // p1 … p99: two decimals; no q = 0 or 1 (min and max have no useful DP release, docs/privacy.md).
    if (o.q === undefined || !(o.q >= 0.01 && o.q <= 0.99) || Math.abs(o.q * 100 - Math.round(o.q * 100)) > 1e-9) {
      throw new ValidationError('"options.q" is required for quantile: 0.01 … 0.99 in steps of 0.01 (p1 … p99)', 'options.q');
    }
  }
  // A histogram without edges of its own takes the catalogue's: every histogram runs on comparisons.
  return { edges: o.edges ?? (aggregate === 'histogram' ? [...ind.histogramEdges] : null), q: aggregate === 'median' ? 0.5 : (o.q ?? null) };
}

/** Kinds that run on each patient's latest value only (L = 1). */
export function latestValueOnly(aggregate: AggregateKind, r: RankOptions): boolean {
  return aggregateSpec(aggregate).rankSearch || r.edges !== null;
}

/** What the coordinator needs beyond the common query: edges or q, the domain, and N̂ for the rank. */
export function rankQuery(r: RankOptions, ind: Indicator, contributors: number): Partial<AggregateQuery> {
  if (r.edges) return { edges: r.edges, domain: domainOf(ind) };
  if (r.q !== null) return { quantile: { q: r.q, total: contributors }, domain: domainOf(ind) };
  return {};
}

/**
 * A 95 % interval for the q-quantile from the noisy rounds (union bound: 97.5 % that no round's noise
 * exceeds w, 97.5 % that N̂'s does not exceed w_N). At a round's t: if surely C(t) > (1 − q)N the
 * quantile is ≥ t; if surely C(t) ≤ (1 − q)N it is < t.
 */
export function rankInterval(rounds: readonly SearchRound[], q: number, total: number, roundNoise: MeasureNoise, gateNoise: MeasureNoise, ind: Indicator): [number, number] {
  const w = simultaneousHalfWidth(roundNoise, rounds.length, 0.975);
  const wN = simultaneousHalfWidth(gateNoise, 1, 0.975);
  const unit = 10 ** -ind.scale;
  let lo = ind.range.min;
  let hi = ind.range.max;
  for (const r of rounds) {
    if (r.count - w > (1 - q) * (total + wN)) lo = Math.max(lo, r.threshold);
    if (r.count + w <= (1 - q) * (total - wN)) hi = Math.min(hi, Number((r.threshold - unit).toFixed(ind.scale)));
  }
  return [lo, Math.max(lo, hi)];
}

/**
 * The released interval of a rank kind: the plan's count part split over the rounds the search took;
 * N̂ is the gate's contributors count, or a filtered query's own noisy total (its part given).
 */
export function searchInterval(r: AggregateResult, rank: RankOptions, n: { total: number; part: NoisePart }, plan: PrivacyPlan, by: NoisedBy, ind: Indicator): [number, number] | null {
  const rounds = r.search?.rounds ?? [];
  if (r.value === null || rank.q === null || rounds.length === 0) return null;
  const perRound = perRoundNoise(part(plan, 'count'), rounds.length);
  const roundNoise: MeasureNoise = { measure: 'count', b: noiseScale(perRound, 0), shape: noiseShape(perRound, 0, by) };
  const totalNoise: MeasureNoise = { measure: 'count', b: noiseScale(n.part, 0), shape: noiseShape(n.part, 0, by) };
  return rankInterval(rounds, rank.q, n.total, roundNoise, totalNoise, ind);
}

/**
 * A rank kind's count part as it was applied: ε/k in each of the k rounds (the released `noise` shows
 * one round's; the part's ε is the whole search's). Other parts (and other kinds) unchanged.
 */
export function perRoundNoise<P extends NoisePart>(p: P, rounds: number | undefined): P & { rounds?: number } {
  if (!rounds || p.measure !== 'count' || p.addedBy !== 'compute-nodes') return p;
  return { ...p, epsilon: p.epsilon / rounds, rounds };
}
