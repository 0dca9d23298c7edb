/**
 * Differentially private quantiles by a noisy binary search (pure; the rounds run in
 * usage-layer/coordinator/quantile.ts). The values are integers in fixed-point units of the catalogue
 * range, y = x·10^s − min·10^s in [0, span]. Each round asks one noisy count c(t) ≈ #{y ≥ t} for a
 * public t chosen from the previous answers, with ε/k and sensitivity 1 (L = 1: one patient is one
 * value, so adding or removing a patient moves c(t) by at most 1); k rounds are sequential
 * composition, ε in all. The number of rounds is fixed before the search (ε/k must not depend on the
 * data): k = ⌈log2(span + 1)⌉, at most MAX_SEARCH_ROUNDS, after which the released value is the
 * middle of the interval left.
 *
 * The q-quantile is Q = the smallest v with #{y ≤ v} ≥ q·N. With exact counts the search keeps
 * lo ≤ Q ≤ hi: at t = ⌈(lo + hi)/2⌉, N − #{y ≥ t} = #{y < t} < q·N ⟺ Q ≥ t. With noise
 * bounded by w in every round (and N by w_N), the released value lies between the quantiles of rank
 * q·N − w − w_N and q·N + w + w_N: the error is in rank, not in value (a gap in the data can put
 * the value anywhere in the gap, as for any quantile).
 *
 * No min or max: a DP release of the minimum is dominated by one patient (adding one value below all
 * others moves it arbitrarily far), so no mechanism releases it with useful accuracy; p1 and p99 are
 * the rank-robust substitutes.
 */
import { drawNoise, type MeasureNoise } from './intervals';

export const MAX_SEARCH_ROUNDS = 12;
/** q·N is compared with this slack: q·N = 18 must not become 17.999999999999996. */
const RANK_TOLERANCE = 1e-9;

/** The rounds a search over [0, span] takes: enough to reach one unit, capped. */
export function searchRounds(span: number): number {
  if (!Number.isInteger(span) || span < 0) throw new RangeError(`span must be a non-negative integer, got ${span}`);
  return Math.min(MAX_SEARCH_ROUNDS, Math.max(1, Math.ceil(Math.log2(span + 1))));
}

export interface SearchState {
  lo: number;
  hi: number;
}

/** The public threshold the next round compares with, in units of [0, span]. */
export function nextThreshold(s: SearchState): number {
  return Math.ceil((s.lo + s.hi) / 2);
}

/**
 * One step: with the noisy count c of {y ≥ t}, the quantile is at least t when N̂ − c (the noisy
 * number below t) is less than q·N̂; otherwise it is below t. A finished search (lo = hi) stays where it is.
 */
export function searchStep(s: SearchState, t: number, noisyCount: number, q: number, total: number): SearchState {
  if (s.lo >= s.hi) return s;
  // #{y < t} < q·N, in this form so that q·N's rounding (0.1·20 − ε) matches plainQuantile's rank.
  return total - noisyCount < q * total - RANK_TOLERANCE ? { lo: t, hi: s.hi } : { lo: s.lo, hi: t - 1 };
}

/** The value released after the rounds: the middle of what is left (exactly Q when the search finished). */
export function searchResult(s: SearchState): number {
  return Math.floor((s.lo + s.hi) / 2);
}

/**
 * A half-width w such that, with probability `level`, no round's noise exceeds w (simultaneously over
 * k rounds), by sampling the public noise distribution (post-processing: no privacy cost).
 */
export function simultaneousHalfWidth(noise: MeasureNoise, rounds: number, level: number, draws = 2000, u: () => number = Math.random): number {
  const maxima = Array.from({ length: draws }, () => {
    let m = 0;
    for (let k = 0; k < rounds; k++) m = Math.max(m, Math.abs(drawNoise(noise, u)));
    return m;
  }).sort((a, b) => a - b);
  return maxima[Math.min(draws - 1, Math.ceil(level * draws) - 1)] as number;
}

/** The exact q-quantile in the same convention (plaintext reference, tests): the smallest v with #{≤ v} ≥ q·N. */
export function plainQuantile(values: readonly number[], q: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil(q * sorted.length - RANK_TOLERANCE));
  return sorted[rank - 1] as number;
}
