/**
 * The statistics formulas, on opened sums in fixed point. Every input is a signed integer: an exact
 * sum, or a noisy one (discrete noise keeps sums integral), so one exact formula serves both and the
 * only floating-point step is the final division. Variance and covariance are the sample versions
 * (n − 1); correlation is Pearson's r. Each returns null where the statistic is undefined.
 *
 * The "about" formulas take sums around a public centre m that is itself a noisy estimate of the mean
 * (the pilot kinds of mpc/aggregates.ts): Σ(x − m)² = Σ(x − x̄)² + n(x̄ − m)², so they leave out the
 * Σ(x − m) terms (not computed, so not noised) at the cost of a bias n(x̄ − m)²/(n − 1), the pilot's
 * noise squared; the variance subtracts its public expectation (docs/privacy.md gives its size).
 */

/** A signed fixed-point integer and its decimal scale: value · 10^−scale. */
export interface Scaled {
  value: bigint;
  scale: number;
}

/** num / den as a number, where num carries a decimal scale (exact until the final division). */
export function ratio(num: bigint, den: bigint, scale = 0): number {
  return Number(`${num}e-${scale}`) / Number(den);
}

export function toNumber(x: Scaled): number {
  return x.scale === 0 ? Number(x.value) : Number(`${x.value}e-${x.scale}`);
}

export function mean(count: bigint, sum: Scaled): number | null {
  return count > 0n ? toNumber(sum) / Number(count) : null;
}

/** Sample variance from Σx and Σx² (Σx² at twice the scale of Σx). */
export function variance(count: bigint, sum: Scaled, sumSquares: Scaled): number | null {
  if (count < 2n) return null;
  const num = count * sumSquares.value - sum.value * sum.value; // at scale 2·sum.scale
  return Math.max(0, ratio(num, count * (count - 1n), 2 * sum.scale));
}

export function stddev(count: bigint, sum: Scaled, sumSquares: Scaled): number | null {
  const v = variance(count, sum, sumSquares);
  return v === null ? null : Math.sqrt(v);
}

/** Sample covariance from Σx, Σy and Σxy (Σxy at scaleX + scaleY). */
export function covariance(count: bigint, sumX: Scaled, sumY: Scaled, sumXY: Scaled): number | null {
  if (count < 2n) return null;
  return ratio(count * sumXY.value - sumX.value * sumY.value, count * (count - 1n), sumX.scale + sumY.scale);
}

/**
 * Pearson's r, clamped to [−1, 1]. Without floors, null when either variance is not positive; with the
 * public floors of Σ(x − x̄)² and Σ(y − ȳ)² (noised moments, as correlationAbout), each is raised to its
 * floor, so a noisy release is never undefined.
 */
export function correlation(count: bigint, sumX: Scaled, sumY: Scaled, sumXX: Scaled, sumYY: Scaled, sumXY: Scaled, floors?: { sumXX: bigint; sumYY: bigint }): number | null {
  if (count < 2n) return null;
  const cov = count * sumXY.value - sumX.value * sumY.value;
  // n·Σ(x − x̄)² and n·Σ(y − ȳ)², at twice each scale.
  const raise = (v: bigint, floor: bigint | undefined) => (floor !== undefined && v < count * floor ? count * floor : v);
  const vx = raise(count * sumXX.value - sumX.value * sumX.value, floors?.sumXX);
  const vy = raise(count * sumYY.value - sumY.value * sumY.value, floors?.sumYY);
  if (vx <= 0n || vy <= 0n) return null;
  return Math.max(-1, Math.min(1, Number(cov) / Math.sqrt(Number(vx) * Number(vy))));
}

/**
 * Σ(x − x̄)² and Σ(y − ȳ)² of a correlation's opened moments (fixed point at twice each scale): from
 * the full formula's sums when opened, else the moments about a pilot centre as they are.
 */
export function centredSecondMoments(count: bigint, m: { sumX?: Scaled; sumY?: Scaled; sumXX: Scaled; sumYY: Scaled }): { xx: bigint; yy: bigint } {
  if (!m.sumX || !m.sumY || count < 1n) return { xx: m.sumXX.value, yy: m.sumYY.value };
  return { xx: m.sumXX.value - (m.sumX.value * m.sumX.value) / count, yy: m.sumYY.value - (m.sumY.value * m.sumY.value) / count };
}

/**
 * Sample variance from Σ(x − m)² around a centre m near the mean: (Σ(x − m)² − n·e)/(n − 1), at least
 * 0, with e = E(m − x̄)² the centre's expected squared error (0 for an exact centre).
 */
export function varianceAbout(count: bigint, sumSquares: Scaled, centreError = 0): number | null {
  if (count < 2n) return null;
  const n = Number(count);
  return Math.max(0, ratio(sumSquares.value, count - 1n, sumSquares.scale) - (centreError * n) / (n - 1));
}

/** Sample covariance from Σ(x − mx)(y − my) around centres near the means. */
export function covarianceAbout(count: bigint, sumXY: Scaled): number | null {
  if (count < 2n) return null;
  return ratio(sumXY.value, count - 1n, sumXY.scale);
}

/**
 * Pearson's r from sums around centres near the means, never undefined: a noisy Σ(x − m)² below its
 * floor (a public positive value: mpc/aggregates.ts takes it from the noise scale) is raised to the
 * floor, and r is clamped to [−1, 1]. Post-processing of the noisy sums only.
 */
export function correlationAbout(sumXX: Scaled, sumYY: Scaled, sumXY: Scaled, floorXX = 1n, floorYY = 1n): number {
  const vx = sumXX.value > floorXX ? sumXX.value : floorXX;
  const vy = sumYY.value > floorYY ? sumYY.value : floorYY;
  return Math.max(-1, Math.min(1, Number(sumXY.value) / Math.sqrt(Number(vx) * Number(vy))));
}
