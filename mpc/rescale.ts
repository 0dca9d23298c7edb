/**
 * Rescaling shares between fixed-point scales. Multiplying a sharing by the public constant 10^Δ is
 * still a sharing (of the value at scale + Δ), so records stored at different scales can be summed
 * after bringing each group to the largest scale. A product of two values carries the sum of their
 * scales, a square twice its value's scale.
 */
import { add, mul, pow } from './field';

/** 10^k as a field element. */
function tenPow(k: number): bigint {
  return pow(10n, BigInt(k));
}

/** A share (or sum of shares) at scale `from` brought to scale `from + by`. */
export function rescale(share: bigint, by: number): bigint {
  return by === 0 ? share : mul(share, tenPow(by));
}

/** Σ of groups of shares, each brought up by its own Δ (one sharing at the common scale). */
export function sumRescaled(groups: ReadonlyArray<{ share: bigint; by: number }>): bigint {
  return groups.reduce((acc, g) => add(acc, rescale(g.share, g.by)), 0n);
}
