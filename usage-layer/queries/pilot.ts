/**
 * The pilot of a pilot kind (mpc/aggregates.ts: variance, stddev, covariance, correlation): a noisy
 * mean of each indicator, centred at its range's midpoint, over the same cohort, window and L. Its
 * value, rounded to the indicator's fixed-point scale and clamped into its range, is the public centre
 * m̂ the main query computes its second moments around (disclosure.ts centrePlan). Its noise is the
 * plan's pilot parts (charged with the query); its denominator is the gate's noisy contributor count
 * when L = 1 (one record per contributor), else its own noisy record count. Nothing of it is released
 * but what the centre reveals, which is post-processing of those noisy sums.
 */
import type { Indicator } from '../../management-layer/catalogue';
import { centreOf, type AggregateKind, type Centre, type CentreNoise, type OpenedMeasures } from '../../mpc/aggregates';
import { toNumber, type Scaled } from '../../mpc/statistics';
import type { AggregateQuery, Coordinator } from '../coordinator';
import { discreteLaplaceVariance } from '../../mpc/dp-noise';
import { correlationFloors, countFromGate, noiseScale, noiseShape, part, releaseMeasures, type NoisedBy, type NoisePart, type PilotMeasure, type PrivacyPlan } from './disclosure';

/** What the pilot shares with the main query: cohort, window and the contribution bound. */
export type PilotBase = Pick<AggregateQuery, 'from' | 'to' | 'cohort' | 'perPatient' | 'includePatientReported' | 'filter'>;

/** A pilot part as the coordinator takes it (undefined when the plan has none). */
export function noiseOf(plan: PrivacyPlan, measure: PilotMeasure): { epsilon: number; sensitivity: number } | undefined {
  const p = plan.parts.find((x) => x.measure === measure);
  return p ? { epsilon: p.epsilon, sensitivity: p.sensitivity } : undefined;
}

/**
 * The centre from a pilot's noisy Σ(x − c) (c the midpoint) and count n: c + Σ/n, rounded to the
 * indicator's scale and clamped into its range (a valid, exact centre); c when n < 1.
 */
export function pilotValue(ind: Indicator, noisySum: Scaled | undefined, n: number): number {
  const mid = centreOf(ind.range, ind.scale);
  const v = n >= 1 && noisySum ? mid + toNumber(noisySum) / n : mid;
  const f = 10 ** ind.scale;
  return Math.min(ind.range.max, Math.max(ind.range.min, Math.round(v * f) / f));
}

async function pilotMean(c: Coordinator, base: PilotBase, plan: PrivacyPlan, ind: Indicator, axis: 'X' | 'Y', contributors: number): Promise<{ value: number; error: number; noise: CentreNoise }> {
  const mid = centreOf(ind.range, ind.scale);
  const sum = noiseOf(plan, `pilotSum${axis}`);
  const count = noiseOf(plan, `pilotCount${axis}`);
  if (!sum) throw new Error(`the privacy plan has no pilotSum${axis} part`);
  const r = await c.aggregate({ ...base, indicator: ind.name, aggregate: 'mean', centre: { x: mid }, noise: { sum, ...(count ? { count } : {}) }, bounds: { x: ind.range } });
  const n = count ? Number(r.opened?.count ?? 0n) : contributors;
  const by = r.noisedBy ?? { participants: Math.max(1, r.nodesUsed.length), t: 0 };
  const p = part(plan, `pilotSum${axis}`);
  return { value: pilotValue(ind, r.opened?.sum, n), error: pilotError(p, ind, n, by), noise: centreNoise(p, ind, n, by) };
}

/**
 * E(m̂ − x̄)² of a pilot centre, from public quantities: the pilot sum's noise variance over n², plus
 * the rounding to the indicator's scale (uniform: 10^−2·scale/12).
 */
export function pilotError(p: NoisePart, ind: Indicator, n: number, by: NoisedBy): number {
  const c = centreNoise(p, ind, n, by);
  return (c.shape * discreteLaplaceVariance(c.b)) / 10 ** (2 * c.scale) / c.n ** 2 + 10 ** (-2 * ind.scale) / 12;
}

/** The public noise of a pilot centre (its sum part's), for the release's interval (mpc/intervals.ts). */
export function centreNoise(p: NoisePart, ind: Indicator, n: number, by: NoisedBy): CentreNoise {
  return { b: noiseScale(p, ind.scale), shape: noiseShape(p, ind.scale, by), scale: ind.scale, n: Math.max(1, n) };
}

/** The centre of a pilot kind's main query (natural units), the x centre's expected squared error, and each centre's noise. */
export async function pilotCentre(c: Coordinator, base: PilotBase, plan: PrivacyPlan, contributors: number, ind: Indicator, ind2?: Indicator): Promise<{ centre: Centre; centreError: number; centreNoise: CentresNoise }> {
  const x = await pilotMean(c, base, plan, ind, 'X', contributors);
  const y = ind2 ? await pilotMean(c, base, plan, ind2, 'Y', contributors) : null;
  return { centre: { x: x.value, ...(y ? { y: y.value } : {}) }, centreError: x.error, centreNoise: { x: x.noise, ...(y ? { y: y.noise } : {}) } };
}

/** The public noise of each pilot centre (OpenedMeasures.centreNoise). */
export type CentresNoise = NonNullable<OpenedMeasures['centreNoise']>;

/** What the release of a pilot kind adds to its opened measures. */
export interface PilotRelease {
  /** The gate's noisy contributor count. */
  contributors: number;
  centreError: number;
  /** The noise of the pilot sums the centres came from (none: exact centres). */
  centreNoise?: CentresNoise | undefined;
  by: NoisedBy;
  ind: Indicator;
  ind2?: Indicator | undefined;
}

/**
 * A pilot kind's opened measures as released (disclosure.ts releaseMeasures): the gate's count when
 * L = 1 and no filter, a correlation's floors, the x centre's expected squared error and its noise.
 */
export function pilotOpened(kind: AggregateKind, plan: PrivacyPlan, opened: OpenedMeasures, o: PilotRelease): OpenedMeasures {
  const floors = kind === 'correlation' ? { floors: correlationFloors(plan, o.ind.scale, o.ind2?.scale ?? 0, o.by) } : {};
  return releaseMeasures(opened, countFromGate(plan) ? o.contributors : null, { ...floors, centreError: o.centreError, ...(o.centreNoise ? { centreNoise: o.centreNoise } : {}) });
}
