/**
 * Distributed differential-privacy noise, added in shares so that no party ever sees the noise-free
 * aggregate.
 *
 * Mechanism: the discrete Laplace (two-sided geometric) mechanism on integer aggregates in fixed-point
 * units. For an aggregate with sensitivity Δ (natural units, encoded at `scale`), the noise is
 * Lap_Z(b) with b = Δ·10^scale / ε, P(Z = z) ∝ exp(−|z|/b); it gives pure ε-DP for integer queries.
 * For aggregates of products (Σx², Σxy) pass the product scale (2·scale) and the product sensitivity.
 *
 * Calibration chosen: every node adds FULL-SCALE noise. Each of the n nodes samples its own
 * Z_i ~ Lap_Z(b), shares it with degree t (`noiseShare`) and the nodes add the shares of all n
 * contributions to the aggregate's shares before opening. Because the contributions are independent,
 * a single honest node's Z_i already makes the release ε-DP (the other contributions are
 * post-processing), so the guarantee holds even if up to n − 1 nodes are corrupt and skip or cancel
 * their own noise — stronger than the t-corruption model of the sharing. The price is accuracy: the
 * total noise has variance n·Var(Lap_Z(b)) (standard deviation ×√n, ×1.73 for n = 3).
 * Rejected alternative: split Lap_Z(b) into n − t "honest" parts (difference of Pólya / negative
 * binomial variables with shape 1/(n − t)) for variance n/(n − t)·Var; it needs Gamma sampling in
 * floating point, which gives up the exactness below.
 *
 * Sampler: Canonne, Kamath & Steinke (2020), "The Discrete Gaussian for Differential Privacy",
 * Algorithms 1 (Bernoulli(exp(−γ))) and 2 (discrete Laplace), in exact rational arithmetic with
 * node:crypto randomness: no floating point, so no Mironov-style precision attacks.
 */
import { DpParameterError } from './errors';
import { mod, randomBelow } from './field';
import { decimalParts } from './fixed-point';
import type { RandomSource } from './random';
import { share } from './shamir';

/** A positive rational num/den (both bigints, in lowest terms). */
export interface Rational {
  num: bigint;
  den: bigint;
}

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

function rational(num: bigint, den: bigint): Rational {
  const g = gcd(num, den);
  return { num: num / g, den: den / g };
}

/** The exact rational value of a positive finite number's shortest decimal form (0.1 → 1/10). */
export function toRational(x: number, field = 'value'): Rational {
  if (!Number.isFinite(x) || x <= 0) throw new DpParameterError(`${field} must be a positive finite number, got ${x}`, field);
  const { digits, exp10 } = decimalParts(x);
  return exp10 >= 0 ? rational(digits * 10n ** BigInt(exp10), 1n) : rational(digits, 10n ** BigInt(-exp10));
}

/**
 * Scale b = sensitivity·10^scale / ε of the discrete Laplace noise, in fixed-point units, exactly.
 */
export function laplaceScale(epsilon: number, sensitivity: number, scale: number): Rational {
  const eps = toRational(epsilon, 'epsilon');
  const sens = toRational(sensitivity, 'sensitivity');
  if (!Number.isInteger(scale) || scale < 0 || scale > 36) {
    throw new DpParameterError(`scale must be an integer in [0, 36], got ${scale}`, 'scale');
  }
  return rational(sens.num * 10n ** BigInt(scale) * eps.den, sens.den * eps.num);
}

/** Bernoulli(num/den) for 0 ≤ num ≤ den, exactly. */
function bernoulli(num: bigint, den: bigint, rng?: RandomSource): boolean {
  return randomBelow(den, rng) < num;
}

/** Bernoulli(exp(−num/den)) for num/den ≥ 0, exactly (CKS Algorithm 1). */
export function bernoulliExp(num: bigint, den: bigint, rng?: RandomSource): boolean {
  if (num < 0n || den <= 0n) throw new DpParameterError('bernoulliExp needs num ≥ 0, den > 0', 'gamma');
  if (num <= den) {
    let k = 1n;
    while (bernoulli(num, den * k, rng)) k += 1n;
    return (k & 1n) === 1n;
  }
  const whole = num / den;
  for (let i = 0n; i < whole; i++) if (!bernoulliExp(1n, 1n, rng)) return false;
  return bernoulliExp(num - whole * den, den, rng);
}

/**
 * One sample of the discrete Laplace distribution Lap_Z(b), P(z) ∝ exp(−|z|/b), b = num/den > 0
 * (CKS Algorithm 2 with t = num, s = den). A number is converted with `toRational`.
 */
export function sampleDiscreteLaplace(b: Rational | number, rng?: RandomSource): bigint {
  const { num: t, den: s } = typeof b === 'number' ? toRational(b, 'b') : b;
  if (t <= 0n || s <= 0n) throw new DpParameterError('the scale b must be positive', 'b');
  for (;;) {
    const u = randomBelow(t, rng);
    if (!bernoulliExp(u, t, rng)) continue;
    let v = 0n;
    while (bernoulliExp(1n, 1n, rng)) v += 1n;
    const y = (u + t * v) / s;
    const negative = bernoulli(1n, 2n, rng);
    if (negative && y === 0n) continue;
    return negative ? -y : y;
  }
}

/** Variance of Lap_Z(b): 2e^{−1/b} / (1 − e^{−1/b})². */
export function discreteLaplaceVariance(b: number): number {
  const q = Math.exp(-1 / b);
  return (2 * q) / (1 - q) ** 2;
}

/**
 * One node's noise contribution, secret-shared: samples Z ~ Lap_Z(sensitivity·10^scale/ε), encodes it
 * as a field element (negatives as P − |Z|) and returns its degree-t shares for nodes 1..n. The node
 * keeps share i−1 for itself and sends share j−1 to node j; the sampled Z is not returned.
 */
export function noiseShare(epsilon: number, sensitivity: number, scale: number, n: number, t: number, rng?: RandomSource): bigint[] {
  const b = laplaceScale(epsilon, sensitivity, scale);
  return share(mod(sampleDiscreteLaplace(b, rng)), n, t, rng);
}
