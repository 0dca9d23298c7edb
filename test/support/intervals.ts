/**
 * Checks of a released 95 % interval against the plaintext in the HTTP tests. A 95 % interval misses
 * the truth in one release of twenty by design (its coverage is measured where it can be counted:
 * test/dp-release.test.ts, and the privacy bench), so a suite that asserted the bare interval on a
 * dozen releases would fail about every other run. These checks widen it just enough that a miss is a
 * bug, not chance, while a wrong statistic (another cohort, an unclamped value, a lost filter) still
 * lands far outside.
 */
import { strict as assert } from 'node:assert';

/**
 * Half-widths the interval is widened to around its middle. The noise has exponential tails
 * (discrete Laplace, summed over nodes): the 95 % half-width h is about b·ln 20, so 3h misses with
 * probability about 0.05³ ≈ 10⁻⁴.
 */
const WIDENED_HALF_WIDTHS = 3;

/** The truth lies in the released interval widened to 3 half-widths around its middle. */
export function assertCovers(truth: number, interval: readonly [number, number] | null | undefined, label: string, released?: unknown): void {
  assert.ok(interval, `${label}: an interval is released`);
  const [lo, hi] = interval;
  const mid = (lo + hi) / 2;
  const half = (WIDENED_HALF_WIDTHS * (hi - lo)) / 2;
  assert.ok(mid - half <= truth && truth <= mid + half, `${label}: plaintext ${truth} in [${lo}, ${hi}] widened to [${mid - half}, ${mid + half}] (released ${String(released)})`);
}

/**
 * Ranks a rank kind's interval may be off by: the search's rounds each carry noise of about one
 * record at ε 20, so an end may land a record or two past the quantile with small probability.
 */
const RANK_SLACK = 2;

/**
 * A quantile's interval [lo, hi] holds the plaintext quantile `truth` of `values` up to RANK_SLACK
 * records: at most that many values lie in [truth, lo) or in (hi, truth].
 */
export function assertRankCovers(truth: number, interval: readonly [number, number] | null | undefined, values: readonly number[], label: string, released?: unknown): void {
  assert.ok(interval, `${label}: an interval is released`);
  const [lo, hi] = interval;
  const skipped = values.filter((v) => (v >= truth && v < lo) || (v > hi && v <= truth)).length;
  assert.ok(skipped <= RANK_SLACK, `${label}: plaintext ${truth} in [${lo}, ${hi}] up to ${RANK_SLACK} records (${skipped} between; released ${String(released)})`);
}
