/**
 * Arithmetic in the prime field GF(P), P = 2^127 − 1 (a Mersenne prime), with BigInt.
 *
 * Why this prime: shares must add up to the share of the sum, so all aggregation happens modulo P.
 * Signed values live in [−(P−1)/2, (P−1)/2] ≈ ±8.5·10^37, which leaves headroom for a sum of squares of
 * 10^6 fixed-point values each up to ~9·10^15 (2^53) in absolute value. Reduction modulo a Mersenne
 * prime is a shift and an add, which is faster than BigInt `%`.
 *
 * Canonical elements are bigints in [0, P). `add`, `sub`, `mul`, `neg` assume canonical inputs (they do
 * not validate, for speed); use `mod` to bring any bigint into the field and `assertElement` to validate
 * data that crossed a trust boundary.
 */
import { randomFillSync } from 'node:crypto';
import { FieldElementError } from './errors';
import { randomWord, type RandomSource } from './random';

/** The field modulus, 2^127 − 1. */
export const P: bigint = (1n << 127n) - 1n;
/** Largest element that decodes as non-negative: (P − 1)/2. Elements above it are negative. */
export const HALF_P: bigint = (P - 1n) / 2n;

const BITS = 127n;
const LOW63 = (1n << 63n) - 1n;

/** Reduce a non-negative bigint of any size modulo P (Mersenne folding). */
function reduceNonNegative(z: bigint): bigint {
  while (z > P) z = (z & P) + (z >> BITS);
  return z === P ? 0n : z;
}

/** Any bigint (negative or ≥ P) to its canonical representative in [0, P). */
export function mod(a: bigint): bigint {
  if (a >= 0n) return a < P ? a : reduceNonNegative(a);
  const r = a % P; // in (−P, 0]
  return r === 0n ? 0n : r + P;
}

/** True if x is a canonical field element, i.e. a bigint in [0, P). */
function isElement(x: unknown): x is bigint {
  return typeof x === 'bigint' && x >= 0n && x < P;
}

/** Throw FieldElementError unless x is a canonical field element. */
export function assertElement(x: unknown, field = 'value'): asserts x is bigint {
  if (!isElement(x)) throw new FieldElementError(`${field} is not a field element in [0, 2^127 − 1)`, field);
}

export function add(a: bigint, b: bigint): bigint {
  const r = a + b;
  return r >= P ? r - P : r;
}

export function sub(a: bigint, b: bigint): bigint {
  const r = a - b;
  return r < 0n ? r + P : r;
}

export function neg(a: bigint): bigint {
  return a === 0n ? 0n : P - a;
}

export function mul(a: bigint, b: bigint): bigint {
  const z = a * b; // < 2^254
  const r = (z & P) + (z >> BITS); // < 2^128
  return r >= P ? r - P : r;
}

/** base^exp mod P; a negative exponent inverts first. */
export function pow(base: bigint, exp: bigint): bigint {
  if (exp < 0n) return pow(inv(base), -exp);
  let result = 1n;
  let b = mod(base);
  let e = exp;
  while (e > 0n) {
    if (e & 1n) result = mul(result, b);
    b = mul(b, b);
    e >>= 1n;
  }
  return result;
}

/** Multiplicative inverse (extended Euclid). Throws FieldElementError for 0. */
export function inv(a: bigint): bigint {
  let r0 = P;
  let r1 = mod(a);
  if (r1 === 0n) throw new FieldElementError('0 has no inverse modulo P');
  let s0 = 0n;
  let s1 = 1n;
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [s0, s1] = [s1, s0 - q * s1];
  }
  return mod(s0);
}

export function div(a: bigint, b: bigint): bigint {
  return mul(a, inv(b));
}

/** Σ values mod P (one reduction at the end; inputs may be any non-negative bigints). */
export function sum(values: Iterable<bigint>): bigint {
  let s = 0n;
  for (const v of values) s += v;
  return mod(s);
}

/** Interpret an element as a signed integer: elements > (P−1)/2 are negative. */
export function toSigned(x: bigint): bigint {
  return x > HALF_P ? x - P : x;
}

/** A signed integer to the field (negatives become P − |v|). */
export function fromSigned(v: bigint): bigint {
  return mod(v);
}

// ---- randomness --------------------------------------------------------------------------------

/** Pool of CSPRNG output, consumed 64 bits at a time and refilled with randomFillSync (the fast default). */
const POOL_WORDS = 8192;
const pool = new BigUint64Array(POOL_WORDS);
let poolPos = POOL_WORDS;

/** 64 random bits: from `rng` when one is injected, else from the CSPRNG pool. */
function nextWord(rng?: RandomSource): bigint {
  if (rng) return randomWord(rng);
  if (poolPos >= POOL_WORDS) {
    randomFillSync(pool);
    poolPos = 0;
  }
  return pool[poolPos++] as bigint;
}

/**
 * A uniformly random field element from node:crypto. 127 random bits are drawn, which is uniform on
 * [0, 2^127) = [0, P]; the single value P is rejected and redrawn (rejection sampling, no modulo bias).
 */
export function randomElement(rng?: RandomSource): bigint {
  for (;;) {
    const x = ((nextWord(rng) & LOW63) << 64n) | nextWord(rng);
    if (x !== P) return x;
  }
}

/** A uniformly random bigint in [0, bound), bound ≥ 1, by rejection sampling on the bit length. */
export function randomBelow(bound: bigint, rng?: RandomSource): bigint {
  if (bound < 1n) throw new FieldElementError('randomBelow needs a bound ≥ 1', 'bound');
  if (bound === 1n) return 0n;
  const bits = (bound - 1n).toString(2).length;
  const words = Math.ceil(bits / 64);
  const mask = (1n << BigInt(bits)) - 1n;
  for (;;) {
    let x = 0n;
    for (let i = 0; i < words; i++) x = (x << 64n) | nextWord(rng);
    x &= mask;
    if (x < bound) return x;
  }
}
