/**
 * Disclosure control for research queries. The privacy unit is the PATIENT: neighbouring data sets
 * differ by all the records of one patient. docs/privacy.md states the guarantee as a number.
 *
 * 1. Contribution bounding: a query takes at most L records (pairs) per patient, each patient's latest
 *    L in the window (ties: the smaller record id), decided by the compute nodes from metadata they
 *    hold. L is the study's `maxContributions`, and a query may lower it (`options.perPatient`).
 * 2. Public bounds and centring: every value lies in its indicator's catalogue range (ingest enforces
 *    it). The centred kinds (mpc/aggregates.ts: mean, variance, stddev, covariance, correlation)
 *    compute on x − c, c the range's midpoint, so a record moves Σ(x − c) by at most half the range
 *    (r) and Σ(x − c)² by r². Sensitivities are L times the per-record ones (measureSensitivity).
 * 3. Pure ε-DP with the discrete Laplace mechanism, noise added in shares by every compute node. A
 *    query's ε is split: the noisy contributor count ε/5 (sensitivity 1: one patient), the rest over
 *    the kind's dpMeasures by the registry's epsilonWeights (exact in micro-units, remainder to the
 *    first). Sequential composition: the query is ε-DP for one patient.
 * 4. No exact bit: the "fewer than minCohort contributors" decision is made on the NOISY contributor
 *    count (thresholdContributors), the same sample that is released, so the suppression bit costs no
 *    more than the contributors part. Query windows are snapped to whole UTC days (snapWindow).
 * 5. Budgets: every patient has a budget across all studies (patient-budget.ts, a privacy filter);
 *    every study's budget caps its researchers on top.
 */
import type { Indicator } from '../../management-layer/catalogue';
import { aggregateSpec, centreOf, measureSensitivity, type AggregateKind, type Centre, type Measure, type ValueBounds } from '../../mpc/aggregates';
import { discreteLaplaceVariance, laplaceScale, sampleDiscreteLaplace } from '../../mpc/dp-noise';
import { ValidationError } from '../../storage-layer/errors';

export type NoisedMeasure = Measure | 'contributors';

export interface NoisePart {
  measure: NoisedMeasure;
  epsilon: number;
  /** In natural units of the measure. */
  sensitivity: number;
  /** Who adds the noise: every compute node in shares, or the gateway (contributors). */
  addedBy: 'compute-nodes' | 'gateway';
}

export interface PrivacyPlan {
  epsilon: number;
  mechanism: 'discrete-laplace';
  neighbours: 'add or remove one patient';
  /** Contribution bound L (records or pairs per patient). */
  perPatient: number;
  /** The centre of a centred kind (natural units), null otherwise. */
  centre: Centre | null;
  parts: NoisePart[];
}

/** The public bounds of one record of the query's indicator(s): the catalogue ranges. */
export function valueBounds(ind: Indicator, ind2?: Indicator): ValueBounds {
  return { x: ind.range, ...(ind2 ? { y: ind2.range } : {}) };
}

/** The centre a centred kind computes around, or null. */
export function centreFor(aggregate: AggregateKind, ind: Indicator, ind2?: Indicator): Centre | null {
  if (!aggregateSpec(aggregate).centred) return null;
  return { x: centreOf(ind.range, ind.scale), ...(ind2 ? { y: centreOf(ind2.range, ind2.scale) } : {}) };
}

const MICRO = 1_000_000;

/** Splits `micro` by integer weights, the remainder to the first share. */
function splitByWeights(micro: number, weights: readonly number[]): number[] {
  const total = weights.reduce((a, b) => a + b, 0);
  const shares = weights.map((w) => Math.floor((micro * w) / total));
  shares[0] = (shares[0] as number) + micro - shares.reduce((a, b) => a + b, 0);
  return shares;
}

export interface PlanInput {
  aggregate: AggregateKind;
  ind: Indicator;
  ind2?: Indicator;
  epsilon: number;
  /** Contribution bound L. */
  perPatient: number;
}

export function planPrivacy(i: PlanInput): PrivacyPlan {
  const spec = aggregateSpec(i.aggregate);
  if (spec.indicators === 2 && !i.ind2) throw new ValidationError(`${i.aggregate} needs a second indicator`, 'indicators');
  const total = Math.round(i.epsilon * MICRO);
  const contributors = Math.floor(total / 5);
  const centre = centreFor(i.aggregate, i.ind, i.ind2);
  const bounds = valueBounds(i.ind, i.ind2);
  const micro = splitByWeights(total - contributors, spec.epsilonWeights);
  const parts: NoisePart[] = spec.dpMeasures.map((measure, k) => ({
    measure,
    epsilon: (micro[k] as number) / MICRO,
    sensitivity: measureSensitivity(measure, bounds, { perPatient: i.perPatient, ...(centre ? { centre } : {}) }),
    addedBy: 'compute-nodes',
  }));
  parts.push({ measure: 'contributors', epsilon: contributors / MICRO, sensitivity: 1, addedBy: 'gateway' });
  for (const p of parts) {
    if (!(p.epsilon > 0)) throw new ValidationError(`epsilon ${i.epsilon} is too small to split over ${parts.length} measures`, 'options.epsilon');
  }
  return { epsilon: i.epsilon, mechanism: 'discrete-laplace', neighbours: 'add or remove one patient', perPatient: i.perPatient, centre, parts };
}

export function part(plan: PrivacyPlan, measure: NoisedMeasure): NoisePart {
  const p = plan.parts.find((x) => x.measure === measure);
  if (!p) throw new Error(`the privacy plan has no ${measure} part`);
  return p;
}

/** Discrete-Laplace scale of a part in fixed-point units. */
export function noiseScale(p: NoisePart, scale: number): number {
  return (p.sensitivity * 10 ** scale) / p.epsilon;
}

/**
 * Standard deviation (natural units) of the total noise on one released element: `sources`
 * independent discrete Laplace samples of scale sensitivity·10^scale/ε each (every compute node adds
 * its own full-scale noise; see mpc/dp-noise.ts).
 */
export function noiseStdDev(p: NoisePart, scale: number, sources: number): number {
  return Math.sqrt(sources * discreteLaplaceVariance(noiseScale(p, scale))) / 10 ** scale;
}

/**
 * The margin above minCohort that the noisy count must clear: b·ln 10 with b = 1/ε the noise scale, so
 * that a cohort just below minCohort is released at most about 5 % of the time (P(Z ≥ m) ≈ ½e^{−m/b}).
 */
export function thresholdMargin(p: NoisePart): number {
  return Math.ceil((p.sensitivity / p.epsilon) * Math.log(10));
}

/**
 * The DP threshold: the distinct-contributor count plus Lap_Z(1/ε) (exact sampler), one sample that
 * both decides suppression (noisy < minCohort + margin) and, when released, is reported (clamped to at
 * least minCohort, post-processing). No exact bit leaves: the decision is ε-DP for one patient.
 */
export function thresholdContributors(exact: number, p: NoisePart, minCohort: number): { released: boolean; reported: number } {
  const noisy = Number(BigInt(exact) + sampleDiscreteLaplace(laplaceScale(p.epsilon, p.sensitivity, 0)));
  return { released: noisy >= minCohort + thresholdMargin(p), reported: Math.max(minCohort, noisy) };
}

/** Windows snap outward to whole UTC days, so that no query can isolate one instant. */
export function snapWindow(from: string | null, to: string | null): { from: string | null; to: string | null } {
  const DAY = 86_400_000;
  const floor = (t: string) => new Date(Math.floor(Date.parse(t) / DAY) * DAY).toISOString();
  const ceil = (t: string) => new Date(Math.ceil(Date.parse(t) / DAY) * DAY).toISOString();
  const f = from === null ? null : floor(from);
  let t = to === null ? null : ceil(to);
  if (f !== null && t !== null && t <= f) t = new Date(Date.parse(f) + DAY).toISOString();
  return { from: f, to: t };
}
