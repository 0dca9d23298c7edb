/**
 * 95 % intervals for released statistics, from the public noise distribution only (post-processing:
 * no privacy cost). Every noised measure carries the sum of `sources` independent discrete-Laplace
 * samples of scale b (fixed-point units); the interval of a statistic f is the 2.5 and 97.5 percentiles
 * of f(released measures + fresh noise) over many draws (a parametric bootstrap), so non-linear
 * statistics (a ratio, a variance, a correlation) get intervals without a delta-method approximation.
 * Sampling here is in floating point (a difference of two geometric variables): it never touches a
 * secret, so the exactness that dp-noise.ts needs does not apply.
 */
import type { AggregateSpec, Measure, OpenedMeasures, ReleaseRange } from './aggregates';
import type { Scaled } from './statistics';

export interface MeasureNoise {
  measure: Measure;
  /** Discrete-Laplace scale in fixed-point units of the measure. */
  b: number;
  /** Independent samples added (one per compute node). */
  sources: number;
}

/** A uniform in (0, 1) from `random` (default Math.random; tests inject a seeded one). */
type Uniform = () => number;

function geometric(q: number, u: Uniform): number {
  return Math.floor(Math.log(1 - u()) / Math.log(q));
}

/** One draw of the total noise on a measure: Σ over sources of (G1 − G2), G ~ Geometric(1 − e^{−1/b}). */
export function drawNoise(n: MeasureNoise, u: Uniform = Math.random): number {
  const q = Math.exp(-1 / n.b);
  let total = 0;
  for (let i = 0; i < n.sources; i++) total += geometric(q, u) - geometric(q, u);
  return total;
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
  return out;
}

function percentile(sorted: readonly number[], p: number): number {
  const k = Math.min(sorted.length - 1, Math.max(0, Math.round(p * (sorted.length - 1))));
  return sorted[k] as number;
}

/** The 95 % interval of the kind's released statistic, or null when it is undefined in most draws. */
export function releaseInterval(
  spec: AggregateSpec, opened: OpenedMeasures, noise: readonly MeasureNoise[], range: ReleaseRange, draws = 400, u: Uniform = Math.random,
): [number, number] | null {
  const values: number[] = [];
  for (let i = 0; i < draws; i++) {
    const v = spec.finish(shifted(opened, noise, u));
    if (v !== null && Number.isFinite(v)) values.push(spec.release(v, range));
  }
  if (values.length < draws / 2) return null;
  values.sort((a, b) => a - b);
  return [percentile(values, 0.025), percentile(values, 0.975)];
}

/** Half-width of a 95 % interval on one noisy count (a histogram bucket): the 97.5 % point of |noise|. */
export function countHalfWidth(noise: MeasureNoise, draws = 2000, u: Uniform = Math.random): number {
  const abs = Array.from({ length: draws }, () => Math.abs(drawNoise(noise, u))).sort((a, b) => a - b);
  return percentile(abs, 0.95);
}
