/**
 * Distributed differential-privacy noise, added in shares so that no party ever sees the noise-free
 * aggregate.
 *
 * Mechanism: the discrete Laplace (two-sided geometric) mechanism on integer aggregates in fixed-point
 * units. For an aggregate with sensitivity Δ (natural units, encoded at `scale`), the noise is
 * Lap_Z(b) with b = Δ·10^scale / ε, P(Z = z) ∝ exp(−|z|/b); it gives pure ε-DP for integer queries.
 * For aggregates of products (Σx², Σxy) pass the product scale (2·scale) and the product sensitivity.
 *
 * Calibration: the noise is split over the honest nodes. Discrete Laplace is infinitely divisible:
 * Lap_Z(b) = G₁ − G₂ with G geometric, and a geometric is the sum of two independent Pólya (negative
 * binomial) variables of shape ½, NB(½, q), q = e^{−1/b}. With |P| participants of which t may be
 * corrupt, every node adds NB(1/k) − NB(1/k) with k = min(2, |P| − t) "honest parts" (`honestParts`):
 * any k honest nodes' noise together is exactly Lap_Z(b), so the release is ε-DP even against a
 * coalition of the researcher and t nodes (who know, or skip, their own noise; the rest is independent
 * and only adds noise: post-processing). With 3 nodes and t = 1 (k = 2) the total noise has variance
 * 3/2·Var(Lap_Z(b)) instead of 3·Var(Lap_Z(b)) when every node added full-scale noise; with 2
 * participants (one node down) k = 1 and each adds full-scale noise, as before. k stays 2 for larger
 * |P| − t (more parts would need NB(1/k) with k > 2, which has no exact sampler here; k = 2 is still
 * enough: more than k honest nodes only add noise).
 *
 * NB(½) exactly: draw G ~ Geometric(1 − q) and split it by the discrete arcsine law. For a simple
 * symmetric random walk of 2g steps, P(its last zero is at step 2a) = u_{2a}·u_{2g−2a} with
 * u_{2m} = C(2m, m)/4^m (Feller, vol. I, III.4), and P(NB(½) = m) = √(1 − q)·q^m·u_{2m}; so for
 * A = (last zero)/2, P(A = a, G − A = c) = P_NB(½)(a)·P_NB(½)(c): A and G − A are independent NB(½, q).
 * The walk needs 2g random bits (g ≈ b); above `MAX_SPLIT_SCALE` a node adds full-scale noise instead
 * (k = 1: decided from the public scale b, never from a sample).
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
import { randomFillSync } from 'node:crypto';

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

/** b = num/den from a Rational or a number (converted with `toRational`), checked positive. */
function scaleOf(b: Rational | number): Rational {
  const r = typeof b === 'number' ? toRational(b, 'b') : b;
  if (r.num <= 0n || r.den <= 0n) throw new DpParameterError('the scale b must be positive', 'b');
  return r;
}

/**
 * One sample of Geometric(1 − q), P(G = g) = (1 − q)q^g for g ≥ 0, q = e^{−1/b}, b = num/den > 0:
 * the magnitude step of CKS Algorithm 2 (X = U + t·V is geometric with q = e^{−1/t}; ⌊X/s⌋ then has
 * q = e^{−s/t}).
 */
export function sampleGeometric(b: Rational | number, rng?: RandomSource): bigint {
  const { num: t, den: s } = scaleOf(b);
  for (;;) {
    const u = randomBelow(t, rng);
    if (!bernoulliExp(u, t, rng)) continue;
    let v = 0n;
    while (bernoulliExp(1n, 1n, rng)) v += 1n;
    return (u + t * v) / s;
  }
}

/**
 * One sample of the discrete Laplace distribution Lap_Z(b), P(z) ∝ exp(−|z|/b), b = num/den > 0
 * (CKS Algorithm 2 with t = num, s = den). A number is converted with `toRational`.
 */
export function sampleDiscreteLaplace(b: Rational | number, rng?: RandomSource): bigint {
  const scale = scaleOf(b);
  for (;;) {
    const y = sampleGeometric(scale, rng);
    const negative = bernoulli(1n, 2n, rng);
    if (negative && y === 0n) continue;
    return negative ? -y : y;
  }
}

/**
 * Random bits from `rng` (or node:crypto), counted in runs: `ones(m)` is the number of 1s among the
 * next m. The buffer starts small and doubles (up to 16 KiB), so a short walk draws few bytes.
 */
class BitStream {
  private buf = new Uint8Array(0);
  private bit = 0;
  constructor(private readonly rng?: RandomSource) {}

  private refill(): void {
    this.buf = new Uint8Array(Math.min(1 << 14, Math.max(32, this.buf.length * 2)));
    if (this.rng) this.rng.fill(this.buf);
    else randomFillSync(this.buf);
    this.bit = 0;
  }

  ones(m: number): number {
    let count = 0;
    while (m > 0) {
      if (this.bit >= this.buf.length * 8) this.refill();
      if (this.bit % 8 === 0 && m >= 8 && this.bit + 8 <= this.buf.length * 8) {
        const whole = Math.min(m >> 3, this.buf.length - (this.bit >> 3));
        for (let i = 0; i < whole; i++) count += POPCOUNT[this.buf[(this.bit >> 3) + i] as number] as number;
        this.bit += whole * 8;
        m -= whole * 8;
      } else {
        count += ((this.buf[this.bit >> 3] as number) >> (this.bit & 7)) & 1;
        this.bit++;
        m--;
      }
    }
    return count;
  }
}

const POPCOUNT = Uint8Array.from({ length: 256 }, (_, v) => v.toString(2).replace(/0/g, '').length);

/**
 * The step of the last visit to 0 of a simple symmetric random walk of `steps` steps, exactly. Away
 * from 0 at position S the walk cannot return within |S| steps, so it jumps |S| steps at once (its
 * displacement is 2·Binomial(|S|, ½) − |S|, counted from |S| random bits).
 */
function lastZeroOfWalk(steps: number, bits: BitStream): number {
  let position = 0;
  let time = 0;
  let lastZero = 0;
  while (time < steps) {
    if (position === 0) lastZero = time;
    const jump = Math.min(Math.max(1, Math.abs(position)), steps - time);
    position += 2 * bits.ones(jump) - jump;
    time += jump;
  }
  return position === 0 ? steps : lastZero;
}

/** Scales above this (fixed-point units) get full-scale noise from every node: the NB(½) walk needs ≈ 2b random bits. */
export const MAX_SPLIT_SCALE = 2 ** 26;

/** Two independent NB(½, q) samples, q = e^{−1/b}: a geometric split by the discrete arcsine law. */
export function samplePolyaHalfPair(b: Rational | number, rng?: RandomSource): [bigint, bigint] {
  const g = sampleGeometric(b, rng);
  if (g > 2n ** 50n) throw new DpParameterError('the scale b is too large for the NB(½) split', 'b');
  const a = lastZeroOfWalk(2 * Number(g), new BitStream(rng)) / 2;
  return [BigInt(a), g - BigInt(a)];
}

/**
 * How many nodes' noise together must make the full Lap_Z(b): min(2, |P| − t), and 1 when the scale
 * is above MAX_SPLIT_SCALE (see the header).
 */
export function honestParts(participants: number, t: number, b?: Rational): 1 | 2 {
  if (participants - t < 1) throw new DpParameterError(`${participants} participants cannot tolerate ${t} corrupt ones`, 'participants');
  if (b && b.num > BigInt(MAX_SPLIT_SCALE) * b.den) return 1;
  return participants - t >= 2 ? 2 : 1;
}

/** One node's noise: Lap_Z(b) when parts = 1, NB(½) − NB(½) when parts = 2 (any two such sum to Lap_Z(b)). */
export function sampleNoisePart(b: Rational | number, parts: 1 | 2, rng?: RandomSource): bigint {
  if (parts === 1) return sampleDiscreteLaplace(b, rng);
  const [a, c] = samplePolyaHalfPair(b, rng);
  return a - c;
}

/** Variance of Lap_Z(b): 2e^{−1/b} / (1 − e^{−1/b})². */
export function discreteLaplaceVariance(b: number): number {
  const q = Math.exp(-1 / b);
  return (2 * q) / (1 - q) ** 2;
}

/**
 * One node's noise contribution, secret-shared: samples its part of Lap_Z(sensitivity·10^scale/ε)
 * (`sampleNoisePart` with `honestParts(participants, t, b)`), encodes it as a field element (negatives
 * as P − |Z|) and returns its degree-t shares for nodes 1..n. The node keeps share i−1 for itself and
 * sends share j−1 to node j; the sampled value is not returned. `participants` defaults to n.
 */
export function noiseShare(epsilon: number, sensitivity: number, scale: number, n: number, t: number, rng?: RandomSource, participants = n): bigint[] {
  const b = laplaceScale(epsilon, sensitivity, scale);
  return share(mod(sampleNoisePart(b, honestParts(participants, t, b), rng)), n, t, rng);
}
