/**
 * Automatic bounds (`options.bounds: "auto"`): bounds the gateway derives under DP when the researcher
 * declares none, so that the clamped kinds (usage-layer/coordinator/clamped.ts) noise at the data's
 * scale instead of the catalogue's plausible range (docs/privacy.md). The idea of Google's DP
 * libraries' approximate bounds, done with the pilot this project already runs:
 * 1. a pilot per indicator, over the same cohort, window, filter and L: the noisy Σ(x − c), Σ(x − c)²
 *    (c the range's midpoint) and, with L > 1 or a filter, the noisy record count n (else the gate's
 *    contributor count), with the plan's `pilotSum`, `pilotSquares` and `pilotCount` parts. It is a
 *    linear query: it survives a node dying, like any noised linear query;
 * 2. the bounds m̂ ± k·σ̂ (k = AUTO_BOUNDS_STDS), σ̂² raised to a public floor of two noise standard
 *    deviations of Σ(x − c)² over n (a noisy spread near zero must not collapse the bounds onto the
 *    mean), rounded outward to the values' grid and cut to the catalogue range;
 * 3. the clamped query with those bounds (disclosure.ts boundsPlan sets the sensitivities).
 * The bounds are post-processing of the pilot's noisy sums (charged with the query), so releasing
 * them costs nothing more; the result names them (`clampedTo`).
 */
import type { Indicator } from '../../management-layer/catalogue';
import { centreOf, type ValueRange } from '../../mpc/aggregates';
import { toNumber, type Scaled } from '../../mpc/statistics';
import type { Coordinator } from '../coordinator';
import type { DeclaredBounds } from './declared-bounds';
import { noiseShape, noiseStdDev, part, type NoisedBy, type PrivacyPlan } from './disclosure';
import { noiseOf, type PilotBase } from './pilot';

/** Noise standard deviations of Σ(x − c)² that the pilot's spread is raised to, at least. */
export const SPREAD_FLOOR_STDS = 2;

/** What the pilot of one indicator opened: its noisy sums around the midpoint and its record count. */
export interface SpreadPilot {
  n: number;
  sum: Scaled | undefined;
  squares: Scaled | undefined;
  /** The public floor of Σ(x − c)² (natural units). */
  floor: number;
}

const outward = (v: number, scale: number, dir: 'down' | 'up') => {
  const f = 10 ** scale;
  return (dir === 'down' ? Math.floor(v * f + 1e-9) : Math.ceil(v * f - 1e-9)) / f;
};

/**
 * The bounds m̂ ± k·σ̂ from one pilot, on the values' grid, inside the catalogue range and at least one
 * grid step wide; the catalogue range itself when the pilot has fewer than two records.
 */
export function boundsFromPilot(ind: Indicator, p: SpreadPilot, stds: number): ValueRange {
  if (!(p.n >= 2) || !p.sum || !p.squares) return { ...ind.range };
  const mid = centreOf(ind.range, ind.scale);
  const s1 = toNumber(p.sum);
  const s2 = Math.max(toNumber(p.squares), p.floor);
  const variance = Math.max(p.floor / p.n, (s2 - (s1 * s1) / p.n) / (p.n - 1));
  const mean = mid + s1 / p.n;
  const half = stds * Math.sqrt(variance);
  const unit = 10 ** -ind.scale;
  const lo = Math.max(ind.range.min, outward(mean - half, ind.scale, 'down'));
  const hi = Math.min(ind.range.max, outward(mean + half, ind.scale, 'up'));
  if (lo < hi) return { min: lo, max: hi };
  return lo + unit <= ind.range.max ? { min: lo, max: Number((lo + unit).toFixed(ind.scale)) } : { min: Number((hi - unit).toFixed(ind.scale)), max: hi };
}

/** The public floor of a pilot's Σ(x − c)²: SPREAD_FLOOR_STDS standard deviations of its noise. */
export function spreadFloor(plan: PrivacyPlan, ind: Indicator, axis: 'X' | 'Y', by: NoisedBy): number {
  const p = part(plan, `pilotSquares${axis}`);
  const scale = 2 * ind.scale;
  return SPREAD_FLOOR_STDS * noiseStdDev(p, scale, noiseShape(p, scale, by));
}

async function spreadPilot(c: Coordinator, base: PilotBase, plan: PrivacyPlan, ind: Indicator, axis: 'X' | 'Y', contributors: number): Promise<SpreadPilot> {
  const sum = noiseOf(plan, `pilotSum${axis}`);
  const squares = noiseOf(plan, `pilotSquares${axis}`);
  const count = noiseOf(plan, `pilotCount${axis}`);
  if (!sum || !squares) throw new Error(`the privacy plan has no pilotSum${axis} and pilotSquares${axis} parts`);
  const r = await c.aggregate({
    ...base, indicator: ind.name, aggregate: 'variance', centre: { x: centreOf(ind.range, ind.scale) },
    noise: { sum, sumSquares: squares, ...(count ? { count } : {}) }, bounds: { x: ind.range },
  });
  const by = r.noisedBy ?? { participants: Math.max(1, r.nodesUsed.length), t: 0 };
  return { n: count ? Number(r.opened?.count ?? 0n) : contributors, sum: r.opened?.sum, squares: r.opened?.sumSquares, floor: spreadFloor(plan, ind, axis, by) };
}

/** Derives the automatic bounds of the query's indicator(s) from their pilots (the plan's parts). */
export async function autoBounds(c: Coordinator, base: PilotBase, plan: PrivacyPlan, contributors: number, ind: Indicator, ind2?: Indicator): Promise<DeclaredBounds> {
  const stds = plan.autoBounds?.stds;
  if (stds === undefined) throw new Error('the privacy plan does not derive automatic bounds');
  const x = boundsFromPilot(ind, await spreadPilot(c, base, plan, ind, 'X', contributors), stds);
  if (!ind2) return { [ind.name]: x };
  return { [ind.name]: x, [ind2.name]: boundsFromPilot(ind2, await spreadPilot(c, base, plan, ind2, 'Y', contributors), stds) };
}
