/**
 * 95 % intervals for released statistics, from the public noise distribution only (post-processing:
 * no privacy cost). The total noise on a measure is NB(s, q) − NB(s, q), q = e^{−1/b} (fixed-point
 * units): s = 1 is one discrete Laplace (the gate's count), and |P| compute nodes that each add
 * NB(1/k) − NB(1/k) give s = |P|/k (mpc/dp-noise.ts; 3/2 for three nodes, t = 1). The interval of a
 * statistic f is the 2.5 and 97.5 percentiles of f(released measures + fresh noise) over many draws (a
 * parametric bootstrap), so non-linear statistics (a ratio, a variance, a correlation) get intervals
 * without a delta-method approximation. A pilot kind's centre is taken as given (its noise only adds
 * the small bias of mpc/statistics.ts). Sampling here is in floating point (NB as a Gamma–Poisson
 * mixture): it never touches a secret, so the exactness that dp-noise.ts needs does not apply.
 */
import type { AggregateSpec, CentreNoise, Measure, OpenedMeasures, ReleaseRange } from './aggregates';
import { centredSecondMoments, type Scaled } from './statistics';

export interface MeasureNoise {
  measure: Measure;
  /** Discrete-Laplace scale in fixed-point units of the measure. */
  b: number;
  /** Shape s of the total noise NB(s, q) − NB(s, q): 1 for one discrete Laplace. */
  shape: number;
}

/** A uniform in (0, 1) from `random` (default Math.random; tests inject a seeded one). */
type Uniform = () => number;

function normal(u: Uniform): number {
  return Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
}

/** Gamma(a, 1) (Marsaglia & Tsang; a < 1 boosted by U^{1/a}). */
function gamma(a: number, u: Uniform): number {
  if (a < 1) return gamma(a + 1, u) * (1 - u()) ** (1 / a);
  const d = a - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    const x = normal(u);
    const v = (1 + c * x) ** 3;
    if (v > 0 && Math.log(1 - u()) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
  }
}

/** Poisson(λ): by multiplication below 30, else the normal approximation (beside the Gamma's spread of ~λ, Poisson's √λ barely matters). */
function poisson(lambda: number, u: Uniform): number {
  if (lambda >= 30) return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * normal(u)));
  const limit = Math.exp(-lambda);
  let k = 0;
  for (let p = u(); p > limit; p *= u()) k++;
  return k;
}

/** NB(s, q): the number of failures before s successes, as Poisson(Gamma(s)·q/(1 − q)). */
function negativeBinomial(s: number, q: number, u: Uniform): number {
  return poisson((gamma(s, u) * q) / (1 - q), u);
}

/** One draw of the total noise on a measure: NB(s, q) − NB(s, q), q = e^{−1/b}. */
export function drawNoise(n: MeasureNoise, u: Uniform = Math.random): number {
  const q = Math.exp(-1 / n.b);
  return negativeBinomial(n.shape, q, u) - negativeBinomial(n.shape, q, u);
}

function shifted(m: OpenedMeasures, noise: readonly MeasureNoise[], u: Uniform): OpenedMeasures {
  const out: OpenedMeasures = { ...m };
  for (const n of noise) {
    const delta = BigInt(drawNoise(n, u));
    if (n.measure === 'count') out.count = m.count + delta;
    else if (n.measure !== 'histogram') {
      const x = m[n.measure] as Scaled | undefined;
      if (x) out[n.measure] = { value: x.value + delta, scale: x.scale };
    }
  }
  if (out.sumSquares && !out.sum) out.sumSquares = { value: out.sumSquares.value + centreOffsetDraw(m, out.sumSquares.scale, u), scale: out.sumSquares.scale };
  if (out.sumXY && !out.sumX) out.sumXY = { value: out.sumXY.value + centreProductDraw(m, out.sumXY.scale, u), scale: out.sumXY.scale };
  return out;
}

/**
 * One draw of a pilot centre's error δ = m̂ − x̄ (natural units) from its sum's public noise. A noisy
 * pilot count (a filter, or L > 1) moves m̂ too, by about |x̄ − c|/n a record; left out, as it is small
 * beside the sum's noise (whose sensitivity is the range's half-width).
 */
function centreErrorDraw(c: CentreNoise, u: Uniform): number {
  return drawNoise({ measure: 'sum', b: c.b, shape: c.shape }, u) / 10 ** c.scale / Math.max(1, c.n);
}

/**
 * A variance around a pilot centre m̂ reads Σ(x − m̂)² = Σ(x − x̄)² + n·δ², δ = m̂ − x̄, and subtracts
 * n·E(δ²) (statistics.ts varianceAbout). δ² varies about its expectation as much as the main noise
 * does when the cohort is small, so each draw also takes a fresh δ from the pilot's public noise and
 * moves Σ(x − m̂)² by n·(E δ² − δ²) (fixed point at `scale`). The sign is the error's mirror: that error
 * is skewed (δ² has a long right tail), and the interval must reach below the release as far as the
 * release can lie above the truth (a basic bootstrap for this term; the symmetric noise is unaffected).
 * 0 without a pilot centre.
 */
function centreOffsetDraw(m: OpenedMeasures, scale: number, u: Uniform): bigint {
  const c = m.centreNoise?.x;
  if (!c || m.centreError === undefined) return 0n;
  const delta = centreErrorDraw(c, u);
  return BigInt(Math.round(Number(m.count) * (m.centreError - delta * delta) * 10 ** scale));
}

/**
 * A covariance around pilot centres reads Σ(x − m̂x)(y − m̂y) = Σ(x − x̄)(y − ȳ) + n·δx·δy. The two
 * pilots' noises are independent, so the term has mean 0 (nothing is subtracted) but a spread that in
 * a small cohort rivals the main noise: each draw adds a fresh n·δx·δy (symmetric: no mirror needed).
 */
function centreProductDraw(m: OpenedMeasures, scale: number, u: Uniform): bigint {
  const c = m.centreNoise;
  if (!c?.y) return 0n;
  return BigInt(Math.round(Number(m.count) * centreErrorDraw(c.x, u) * centreErrorDraw(c.y, u) * 10 ** scale));
}

function percentile(sorted: readonly number[], p: number): number {
  const k = Math.min(sorted.length - 1, Math.max(0, Math.round(p * (sorted.length - 1))));
  return sorted[k] as number;
}

/**
 * Whether a correlation's released second moments are within twice their floors (4 noise standard
 * deviations, disclosure.ts CORRELATION_FLOOR_STDS) of zero. Then the noise, not the data, decides r,
 * and a bootstrap around the released moments would look precise while saying nothing: such a release
 * gets the whole of [−1, 1] as its interval.
 */
export function noiseDominatedCorrelation(m: OpenedMeasures): boolean {
  if (!m.floors || !m.sumXX || !m.sumYY) return false;
  const { xx, yy } = centredSecondMoments(m.count, { ...m, sumXX: m.sumXX, sumYY: m.sumYY });
  return xx < 2n * m.floors.sumXX || yy < 2n * m.floors.sumYY;
}

/**
 * The 95 % interval of the kind's released statistic, or null when it is undefined in most draws; for
 * a correlation then [−1, 1] (its second moments are mostly noise: nothing narrower is honest).
 */
export function releaseInterval(
  spec: AggregateSpec, opened: OpenedMeasures, noise: readonly MeasureNoise[], range: ReleaseRange, draws = 400, u: Uniform = Math.random,
): [number, number] | null {
  if (spec.kind === 'correlation' && noiseDominatedCorrelation(opened)) return [-1, 1];
  const values: number[] = [];
  for (let i = 0; i < draws; i++) {
    const v = spec.finish(shifted(opened, noise, u));
    if (v !== null && Number.isFinite(v)) values.push(spec.release(v, range));
  }
  if (values.length < draws / 2) return spec.kind === 'correlation' ? [-1, 1] : null;
  values.sort((a, b) => a - b);
  return [percentile(values, 0.025), percentile(values, 0.975)];
}

/** Half-width of a 95 % interval on one noisy count (a histogram bucket): the 97.5 % point of |noise|. */
export function countHalfWidth(noise: MeasureNoise, draws = 2000, u: Uniform = Math.random): number {
  const abs = Array.from({ length: draws }, () => Math.abs(drawNoise(noise, u))).sort((a, b) => a - b);
  return percentile(abs, 0.95);
}
