/**
 * Centring in shares: from sharings of Σx and Σx² (and, for pairs, Σy, Σy², Σxy) and the record
 * count N, which every node knows from metadata, a node computes sharings of the same sums over x − c
 * for a public c. Only public constants multiply or are subtracted, so the results are sharings of the
 * same degree. The centred sums have a smaller sensitivity (half the range instead of the largest |x|)
 * and the statistics built from them (variance, covariance, correlation) are the same; the mean adds
 * c back. c is given in fixed point at the values' scale (toFixed(c, scale)).
 */
import { add, mod, mul, sub } from './field';

/** Σ(x − c) = Σx − c·N. */
export function centreSum(sum: bigint, count: number, c: bigint): bigint {
  return sub(sum, mul(mod(c), mod(BigInt(count))));
}

/** Σ(x − c)² = Σx² − 2c·Σx + c²·N (at twice the scale). */
export function centreSumOfSquares(sumSquares: bigint, sum: bigint, count: number, c: bigint): bigint {
  return add(sub(sumSquares, mul(mod(2n * c), sum)), mul(mod(c * c), mod(BigInt(count))));
}

/** Σ(x − cx)(y − cy) = Σxy − cy·Σx − cx·Σy + cx·cy·N (at scaleX + scaleY). */
export function centreSumOfProducts(sumXY: bigint, sumX: bigint, sumY: bigint, count: number, cx: bigint, cy: bigint): bigint {
  return add(sub(sub(sumXY, mul(mod(cy), sumX)), mul(mod(cx), sumY)), mul(mod(cx * cy), mod(BigInt(count))));
}
