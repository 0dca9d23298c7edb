/**
 * Fixed-point encoding of real values as field elements.
 *
 * A value v at `scale` s becomes the integer round(v·10^s), negatives as P − |round(v·10^s)|.
 * Rounding is exact decimal rounding of the shortest decimal form of the double (what `String(v)`
 * prints), half away from zero: encode(1.005, 2) is 101, not the 100 that Math.round(1.005 * 100) gives.
 *
 * Limits (documented and guarded):
 * - one value: |v·10^s| must be a safe integer (≤ 2^53 − 1), else FixedPointRangeError;
 * - an aggregate: its true value must lie in [−(P−1)/2, (P−1)/2], else it wraps around modulo P and
 *   decodes to a wrong number. That cannot be detected from the field element, so it is checked before
 *   a query with `assertAggregateCapacity` (count · (max|v|·10^s)^degree ≤ (P−1)/2).
 *   Example: 10^6 products of two values at the 2^53 limit are 10^6·2^106 ≈ 8.1·10^37 < 8.5·10^37, fine.
 */
import { AggregateCapacityError, FixedPointRangeError } from './errors';
import { HALF_P, mod, toSigned } from './field';

/** Largest scale accepted (10^18 still keeps small values exact; larger scales make little sense). */
const MAX_SCALE = 18;

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const DECIMAL = /^(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/;

function checkScale(scale: number, field = 'scale'): void {
  if (!Number.isInteger(scale) || scale < 0 || scale > 2 * MAX_SCALE) {
    throw new FixedPointRangeError(`scale must be an integer in [0, ${2 * MAX_SCALE}], got ${scale}`, field);
  }
}

/** Exact rational form of a finite double's shortest decimal representation: |v| = digits · 10^exp10. */
export function decimalParts(value: number): { negative: boolean; digits: bigint; exp10: number } {
  if (!Number.isFinite(value)) throw new FixedPointRangeError(`value must be finite, got ${value}`, 'value');
  const m = DECIMAL.exec(String(Math.abs(value)));
  if (!m) throw new FixedPointRangeError(`cannot read ${value} as a decimal`, 'value');
  const frac = m[2] ?? '';
  return {
    negative: value < 0,
    digits: BigInt((m[1] ?? '0') + frac),
    exp10: Number(m[3] ?? '0') - frac.length,
  };
}

/**
 * round(value·10^scale) as a signed bigint (not reduced modulo P), half away from zero.
 * Throws FixedPointRangeError when the result is not a safe integer.
 */
export function toFixed(value: number, scale: number): bigint {
  checkScale(scale);
  if (scale > MAX_SCALE) throw new FixedPointRangeError(`scale must be ≤ ${MAX_SCALE} for encoding`, 'scale');
  const { negative, digits, exp10 } = decimalParts(value);
  const k = exp10 + scale;
  let magnitude: bigint;
  if (k >= 0) {
    if (k > 60) throw new FixedPointRangeError(`|${value}·10^${scale}| is not a safe integer`, 'value');
    magnitude = digits * 10n ** BigInt(k);
  } else if (-k > 400) {
    magnitude = 0n; // below any representable precision
  } else {
    const divisor = 10n ** BigInt(-k);
    magnitude = digits / divisor;
    if (2n * (digits % divisor) >= divisor) magnitude += 1n;
  }
  if (magnitude > MAX_SAFE) {
    throw new FixedPointRangeError(`|${value}·10^${scale}| is not a safe integer`, 'value');
  }
  return negative ? -magnitude : magnitude;
}

/** round(value·10^scale) as a field element (negatives as P − |v|). */
export function encode(value: number, scale: number): bigint {
  return mod(toFixed(value, scale));
}

/** Encode many values (same scale). */
export function encodeMany(values: readonly number[], scale: number): bigint[] {
  const out = new Array<bigint>(values.length);
  for (let i = 0; i < values.length; i++) out[i] = encode(values[i] as number, scale);
  return out;
}

/**
 * A field element back to a number: elements > (P−1)/2 are negative; the integer is divided by
 * 10^scale with one correctly rounded conversion (exact decimal string to double).
 */
export function decode(x: bigint, scale: number): number {
  checkScale(scale);
  const v = toSigned(mod(x));
  return scale === 0 ? Number(v) : Number(`${v}e-${scale}`);
}

/** Decode a (sum of) product(s) of two values encoded at `scale`: the product carries scale 2·scale. */
export function decodeProduct(x: bigint, scale: number): number {
  return decode(x, 2 * scale);
}

export interface CapacityQuery {
  /** Number of terms summed (records). */
  count: number;
  /** Largest |value| in natural units (e.g. from the indicator's plausible range). */
  maxAbs: number;
  /** Fixed-point scale of each value. */
  scale: number;
  /** 1 for Σx, 2 for Σx·y or Σx² (products of two values). */
  degree: 1 | 2;
}

/** Upper bound on |aggregate| in fixed-point units for `q`, as a bigint. */
function aggregateBound(q: CapacityQuery): bigint {
  if (!Number.isInteger(q.count) || q.count < 0) {
    throw new FixedPointRangeError(`count must be a non-negative integer, got ${q.count}`, 'count');
  }
  const unit = toFixed(Math.abs(q.maxAbs), q.scale);
  const term = unit < 0n ? -unit : unit;
  return BigInt(q.count) * term ** BigInt(q.degree);
}

/**
 * Guard against wrap-around: throws AggregateCapacityError when an aggregate of `count` terms, each
 * at most maxAbs (or maxAbs² for products), could exceed (P−1)/2 in fixed-point units.
 */
export function assertAggregateCapacity(q: CapacityQuery): void {
  const bound = aggregateBound(q);
  if (bound > HALF_P) {
    throw new AggregateCapacityError(
      `an aggregate of ${q.count} terms of |value| ≤ ${q.maxAbs} at scale ${q.scale} (degree ${q.degree}) ` +
        'could exceed the field’s signed range (P−1)/2 and wrap around',
    );
  }
}

/** Largest number of terms whose aggregate is guaranteed not to wrap. */
export function maxAggregateCount(maxAbs: number, scale: number, degree: 1 | 2): bigint {
  const per = aggregateBound({ count: 1, maxAbs, scale, degree });
  return per === 0n ? BigInt(Number.MAX_SAFE_INTEGER) : HALF_P / per;
}
