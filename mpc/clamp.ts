/**
 * Clamping a shared value into bounds the researcher declared (pure arithmetic; the node's run is
 * usage-layer/node/clamped.ts). With b_lo = [x ≥ lo] and b_hi = [x ≥ hi] from two secure comparisons
 * (mpc/compare.ts) on the catalogue domain:
 *
 *   clamp(x) = lo + b_lo·(x − lo) − b_hi·(x − hi)
 *
 * x < lo: lo; lo ≤ x < hi: x; x ≥ hi: hi. The two products are products of degree-t sharings (one zero
 * and one reshare round for all of them). The bounds are public and must lie on the values' grid
 * (multiples of 10^−scale) inside the domain; the sensitivities then follow from [lo, hi]
 * (mpc/aggregates.ts measureSensitivity), not from the catalogue range.
 */
import { comparisonPlan, type ValueDomain } from './compare';
import { add, mod, sub } from './field';
import { toFixed } from './fixed-point';

export interface ClampBounds {
  min: number;
  max: number;
  domain: ValueDomain;
}

export interface ClampPlan {
  /** Added to a share to bring it into [0, 2^v) for the comparisons. */
  offset: bigint;
  /** Thresholds of [x ≥ lo] and [x ≥ hi] on the offset values. */
  thresholds: [bigint, bigint];
  valueBits: number;
  /** lo and hi in fixed point at the domain's scale, as field elements. */
  low: bigint;
  high: bigint;
}

export function clampPlan(b: ClampBounds): ClampPlan {
  const lo = comparisonPlan('>=', b.min, b.domain);
  const hi = comparisonPlan('>=', b.max, b.domain);
  return { offset: lo.offset, thresholds: [lo.threshold, hi.threshold], valueBits: lo.valueBits, low: mod(toFixed(b.min, b.domain.scale)), high: mod(toFixed(b.max, b.domain.scale)) };
}

/** The factors b_lo·(x − lo) and b_hi·(x − hi) multiply: [x − lo…, x − hi…] for the bits [b_lo…, b_hi…]. */
export function clampFactors(x: readonly bigint[], plan: ClampPlan): bigint[] {
  return [...x.map((v) => sub(v, plan.low)), ...x.map((v) => sub(v, plan.high))];
}

/** clamp(x) from the products [b_lo·(x − lo)…, b_hi·(x − hi)…] (degree-t shares). */
export function clampedFromProducts(products: readonly bigint[], plan: ClampPlan): bigint[] {
  const m = products.length / 2;
  return Array.from({ length: m }, (_, k) => sub(add(plan.low, products[k] as bigint), products[m + k] as bigint));
}

/** Whether v lies on the grid of `scale` decimals (bounds must, so that lo and hi are exact in shares). */
export function onGrid(v: number, scale: number): boolean {
  const f = 10 ** scale;
  return Math.abs(Math.round(v * f) - v * f) < 1e-9 * Math.max(1, Math.abs(v * f));
}
