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
 * 3. Pure ε-DP with the discrete Laplace mechanism, noise added in shares by the compute nodes (each
 *    node its part: mpc/dp-noise.ts). A query's ε is split: the noisy contributor count min(ε/5, 0.1)
 *    (sensitivity 1: one patient), the rest over the kind's pilot means (pilot kinds) and dpMeasures
 *    by the registry's weights (exact in micro-units, remainder to the first). With L = 1 a pilot
 *    kind takes its count from the contributor count (one record per contributor) and noises no
 *    other. Sequential composition: the query is ε-DP for one patient.
 *    Pilot kinds (mpc/aggregates.ts) are planned in two steps: planPrivacy fixes every ε and the pilot
 *    sensitivities; the main measures' sensitivities depend on the pilot's centre, so the plan carries
 *    an upper bound (the range's width) until centrePlan sets them around the pilot centre.
 * 4. No exact bit: the "fewer than minCohort contributors" decision is made on the NOISY contributor
 *    count (thresholdContributors), the same sample that is released, so the suppression bit costs no
 *    more than the contributors part. Query windows are snapped to whole UTC days (snapWindow).
 * 5. Budgets: every patient has a budget across all studies (patient-budget.ts, a privacy filter);
 *    every study's budget caps its researchers on top.
 * 6. Declared bounds (`options.bounds`): the researcher may name narrower public bounds per indicator;
 *    the nodes clamp every value into them (usage-layer/coordinator/clamped.ts), so the sensitivities
 *    follow from the declared bounds instead of the catalogue ranges. There is no pilot: the kind's
 *    `clamped` measures (mpc/aggregates.ts) are noised around the declared bounds' midpoint and the
 *    full formula is used. Clamping biases the statistic when real values lie outside the bounds: that
 *    is the researcher's trade, and the plan names the bounds.
 */
import type { Indicator } from '../../management-layer/catalogue';
import { aggregateSpec, centreOf, measureScale, measureSensitivity, type AggregateKind, type Centre, type Measure, type OpenedMeasures, type ValueBounds } from '../../mpc/aggregates';
import { discreteLaplaceVariance, honestParts, laplaceScale, sampleDiscreteLaplace } from '../../mpc/dp-noise';
import type { MeasureNoise } from '../../mpc/intervals';
import { ValidationError } from '../../storage-layer/errors';

/**
 * The pilot means of a pilot kind: a noisy Σ(x − c) (and, with L > 1 or a filter, a noisy record
 * count) per indicator; with automatic bounds also a noisy Σ(x − c)² (auto-bounds.ts).
 */
export const PILOT_MEASURES = ['pilotSumX', 'pilotCountX', 'pilotSumY', 'pilotCountY', 'pilotSquaresX', 'pilotSquaresY'] as const;
export type PilotMeasure = (typeof PILOT_MEASURES)[number];
export type NoisedMeasure = Measure | 'contributors' | PilotMeasure;

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
  /** The centre of a centred kind (natural units); null otherwise, and for a pilot kind until centrePlan. */
  centre: Centre | null;
  /** A pilot kind: the centre comes from pilot means (pilot parts); `centred` once centrePlan set it. */
  pilot?: { centred: boolean };
  /** The bounds the researcher declared, or the automatic ones once derived, that every value was clamped into. */
  clampedTo?: ValueBounds;
  /**
   * Automatic bounds (`options.bounds: "auto"`, auto-bounds.ts): a pilot mean and spread of each
   * indicator give the bounds m̂ ± k·σ̂; until they are `derived` the clamped measures' sensitivities
   * are those of the catalogue ranges (an upper bound), then boundsPlan sets them from the bounds.
   */
  autoBounds?: { stds: number; derived: boolean };
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
  /** A cohort filter selects the records: the gate's contributor count is then not the records' count. */
  filtered?: boolean;
  /** Bounds the researcher declared (inside the catalogue ranges): the values are clamped into them. */
  declared?: ValueBounds;
  /** Automatic bounds from pilots (auto-bounds.ts); excludes `declared`. */
  autoBounds?: boolean;
}

/**
 * The gate's share of a query's ε (micro-units): ε/5, at most 0.1 up to the default cap ε = 1 (0.1
 * decides suppression with a margin of 24 patients; the rest goes to the measures). Above 1 (a test or
 * deployment setting) ε/5, as before.
 */
function contributorsShare(total: number): number {
  return total <= MICRO ? Math.min(Math.floor(total / 5), MICRO / 10) : Math.floor(total / 5);
}

/**
 * A filtered quantile's split between its total N̂ and the search's rounds: N̂'s noise moves the rank
 * q·N̂ by q/ε_N once, each round's count by k/ε_c, so the rounds take the larger share.
 */
const RANK_TOTAL_WEIGHT = 1;
const RANK_SEARCH_WEIGHT = 3;

/** The measures a plan noises and their ε weights: pilot parts first, then the kind's dpMeasures. */
function weightedMeasures(aggregate: AggregateKind, perPatient: number, filtered: boolean): Array<[Exclude<NoisedMeasure, 'contributors'>, number]> {
  const spec = aggregateSpec(aggregate);
  const main = spec.dpMeasures.map((m, k): [Measure, number] => [m, spec.epsilonWeights[k] as number]);
  // A filtered rank kind: the gate counts the unfiltered cohort, so the rank is of a noisy filtered total of its own.
  if (spec.rankSearch && filtered) return [['pilotCountX', RANK_TOTAL_WEIGHT], ...main.map(([m, w]): [Measure, number] => [m, w * RANK_SEARCH_WEIGHT])];
  if (!spec.pilot) return main;
  // With L = 1 and no filter every contributor has exactly one record (pair): the gate's noisy count is the count.
  const countFromGate = perPatient === 1 && !filtered;
  const pilots: Array<[PilotMeasure, number]> = [['pilotSumX', spec.pilot.x]];
  if (!countFromGate) pilots.push(['pilotCountX', spec.pilot.x]);
  if (spec.pilot.y !== undefined) pilots.push(['pilotSumY', spec.pilot.y], ...(!countFromGate ? [['pilotCountY', spec.pilot.y] as [PilotMeasure, number]] : []));
  return [...pilots, ...(countFromGate ? main.filter(([m]) => m !== 'count') : main)];
}

/** The part a filtered or grouped rank kind's total N̂ is noised with (null: the gate's contributors count is N̂). */
export function rankTotalPart(plan: PrivacyPlan): NoisePart | null {
  return plan.pilot || plan.autoBounds ? null : (plan.parts.find((p) => p.measure === 'pilotCountX') ?? null);
}

/** Whether a pilot kind's plan takes its count from the gate (it noises no count of its own). */
export function countFromGate(plan: PrivacyPlan): boolean {
  return Boolean(plan.pilot) && !plan.parts.some((p) => p.measure === 'count');
}

/** A pilot part's sensitivity: a count moves by L, a midpoint-centred sum by L·r. */
function pilotSensitivity(m: PilotMeasure, i: PlanInput): number {
  if (m === 'pilotCountX' || m === 'pilotCountY') return i.perPatient;
  const ind = m === 'pilotSumX' || m === 'pilotSquaresX' ? i.ind : (i.ind2 as Indicator);
  const measure = m === 'pilotSquaresX' || m === 'pilotSquaresY' ? 'sumSquares' : 'sum';
  return measureSensitivity(measure, { x: ind.range }, { perPatient: i.perPatient, centre: { x: centreOf(ind.range, ind.scale) } });
}

/** Before the pilot: around any centre in the ranges, |x − m| ≤ the range's width (an upper bound). */
function widthCentre(b: ValueBounds): { bounds: ValueBounds; centre: Centre } {
  const w = (r: { min: number; max: number }) => ({ min: 0, max: r.max - r.min });
  return { bounds: { x: w(b.x), ...(b.y ? { y: w(b.y) } : {}) }, centre: { x: 0, ...(b.y ? { y: 0 } : {}) } };
}

/** A clamped plan: the kind's clamped measures around the declared bounds' midpoint, no pilot. */
function clampedSetting(i: PlanInput, declared: ValueBounds) {
  const spec = aggregateSpec(i.aggregate);
  if (!spec.clamped) throw new ValidationError(`${i.aggregate} does not take declared bounds`, 'options.bounds');
  const centre = spec.centred ? { x: centreOf(declared.x, i.ind.scale), ...(declared.y && i.ind2 ? { y: centreOf(declared.y, i.ind2.scale) } : {}) } : null;
  const clamped = spec.clamped;
  const measures = clamped.dpMeasures.map((m, k): [Measure, number] => [m, clamped.epsilonWeights[k] as number]);
  return { centre, around: { bounds: declared, centre }, measures };
}

/**
 * The ε of automatic bounds, in percent of the measures' ε per indicator: the pilot's Σ(x − c) and
 * count (CENTRE) and its Σ(x − c)² (SPREAD). Σ(x − c) takes the larger share because its noise enters
 * σ̂² multiplied by 2|m̂ − c|, which is large when the data sit far from the range's midpoint (BMI);
 * σ̂ itself need only be rough (auto-bounds.ts). Chosen with the privacy bench from 2:6, 5:5, 8:4,
 * 4:10, 12:8 and 10:6 (docs/privacy.md).
 */
export const AUTO_BOUNDS_WEIGHTS = { centre: 10, spread: 6 } as const;

/** Automatic bounds: each indicator's pilot parts, then the clamped measures (sensitivities: catalogue ranges until boundsPlan). */
function autoSetting(i: PlanInput) {
  const setting = clampedSetting(i, valueBounds(i.ind, i.ind2));
  const clampedWeight = setting.measures.reduce((a, [, w]) => a + w, 0);
  const axes: Array<'X' | 'Y'> = i.ind2 ? ['X', 'Y'] : ['X'];
  const withCount = i.perPatient > 1 || (i.filtered ?? false);
  const { centre, spread } = AUTO_BOUNDS_WEIGHTS;
  const pilots = axes.flatMap((a): Array<[PilotMeasure, number]> => [
    [`pilotSum${a}`, centre * clampedWeight], ...(withCount ? [[`pilotCount${a}`, centre * clampedWeight] as [PilotMeasure, number]] : []), [`pilotSquares${a}`, spread * clampedWeight],
  ]);
  const left = 100 - axes.length * (centre * (withCount ? 2 : 1) + spread);
  return { ...setting, measures: [...pilots, ...setting.measures.map(([m, w]): [Measure, number] => [m, w * left])] };
}

/** The centre, the bounds the sensitivities follow from, and the weighted measures of a plan. */
function planSetting(i: PlanInput) {
  if (i.autoBounds) return autoSetting(i);
  if (i.declared) return clampedSetting(i, i.declared);
  const spec = aggregateSpec(i.aggregate);
  const centre = spec.pilot ? null : centreFor(i.aggregate, i.ind, i.ind2);
  const around = spec.pilot ? widthCentre(valueBounds(i.ind, i.ind2)) : { bounds: valueBounds(i.ind, i.ind2), centre };
  return { centre, around, measures: weightedMeasures(i.aggregate, i.perPatient, i.filtered ?? false) };
}

export function planPrivacy(i: PlanInput): PrivacyPlan {
  const spec = aggregateSpec(i.aggregate);
  if (spec.indicators === 2 && !i.ind2) throw new ValidationError(`${i.aggregate} needs a second indicator`, 'indicators');
  const total = Math.round(i.epsilon * MICRO);
  const contributors = contributorsShare(total);
  const { centre, around, measures } = planSetting(i);
  const micro = splitByWeights(total - contributors, measures.map(([, w]) => w));
  const parts: NoisePart[] = measures.map(([measure], k) => ({
    measure,
    epsilon: (micro[k] as number) / MICRO,
    sensitivity: (PILOT_MEASURES as readonly string[]).includes(measure)
      ? pilotSensitivity(measure as PilotMeasure, i)
      : measureSensitivity(measure as Measure, around.bounds, { perPatient: i.perPatient, ...(around.centre ? { centre: around.centre } : {}) }),
    addedBy: 'compute-nodes',
  }));
  parts.push({ measure: 'contributors', epsilon: contributors / MICRO, sensitivity: 1, addedBy: 'gateway' });
  for (const p of parts) {
    if (!(p.epsilon > 0)) throw new ValidationError(`epsilon ${i.epsilon} is too small to split over ${parts.length} measures`, 'options.epsilon');
  }
  const how = i.autoBounds ? { autoBounds: { stds: AUTO_BOUNDS_STDS, derived: false } } : i.declared ? { clampedTo: i.declared } : spec.pilot ? { pilot: { centred: false } } : {};
  return { epsilon: i.epsilon, mechanism: 'discrete-laplace', neighbours: 'add or remove one patient', perPatient: i.perPatient, centre, ...how, parts };
}

/** The plan's main (compute-node, non-pilot) parts with their sensitivities around `bounds` and `centre`. */
function mainSensitivities(plan: PrivacyPlan, bounds: ValueBounds, centre: Centre | null): NoisePart[] {
  return plan.parts.map((p) => {
    if (p.addedBy !== 'compute-nodes' || (PILOT_MEASURES as readonly string[]).includes(p.measure)) return p;
    return { ...p, sensitivity: measureSensitivity(p.measure as Measure, bounds, { perPatient: plan.perPatient, ...(centre ? { centre } : {}) }) };
  });
}

/** A pilot kind's plan around the pilot's centre: the main measures' sensitivities L·max|x − m̂|·… */
export function centrePlan(plan: PrivacyPlan, bounds: ValueBounds, centre: Centre): PrivacyPlan {
  return { ...plan, centre, pilot: { centred: true }, parts: mainSensitivities(plan, bounds, centre) };
}

/** Standard deviations σ̂ either side of the pilot mean that automatic bounds span (auto-bounds.ts). */
export const AUTO_BOUNDS_STDS = 4;

/** An automatic-bounds plan once the bounds are derived: the clamped measures' sensitivities and centre from them. */
export function boundsPlan(plan: PrivacyPlan, i: Pick<PlanInput, 'aggregate' | 'ind' | 'ind2'>, bounds: ValueBounds): PrivacyPlan {
  const { centre, around } = clampedSetting({ ...i, epsilon: plan.epsilon, perPatient: plan.perPatient }, bounds);
  const stds = plan.autoBounds?.stds ?? AUTO_BOUNDS_STDS;
  return { ...plan, centre, clampedTo: bounds, autoBounds: { stds, derived: true }, parts: mainSensitivities(plan, around.bounds, around.centre) };
}

/** The parts the main query's compute nodes noise (not the pilot's, not the gate's). */
export function mainParts(plan: PrivacyPlan): NoisePart[] {
  return plan.parts.filter((p) => p.addedBy === 'compute-nodes' && !(PILOT_MEASURES as readonly string[]).includes(p.measure));
}

export function part(plan: PrivacyPlan, measure: NoisedMeasure): NoisePart {
  const p = plan.parts.find((x) => x.measure === measure);
  if (!p) throw new Error(`the privacy plan has no ${measure} part`);
  return p;
}

/** The fixed-point scale a part's noise is drawn at: its measure's, a pilot sum's indicator's, 0 for counts. */
export function noisePartScale(p: NoisePart, ind: Indicator, ind2?: Indicator): number {
  if (p.measure === 'contributors' || p.measure === 'pilotCountX' || p.measure === 'pilotCountY') return 0;
  if (p.measure === 'pilotSumX') return ind.scale;
  if (p.measure === 'pilotSumY') return ind2?.scale ?? 0;
  if (p.measure === 'pilotSquaresX') return 2 * ind.scale;
  if (p.measure === 'pilotSquaresY') return 2 * (ind2?.scale ?? 0);
  return measureScale(p.measure, ind.scale, ind2?.scale ?? 0);
}

/**
 * A pilot kind's opened measures as the release uses them: the gate's noisy contributor count in
 * place of the record count when given (L = 1; the coordinator's own count is then exact and must not
 * be used), a correlation's floors and the pilot centre's expected squared error.
 */
export function releaseMeasures(opened: OpenedMeasures, gateCount: number | null, extra: Pick<OpenedMeasures, 'floors' | 'centreError' | 'centreNoise'>): OpenedMeasures {
  return { ...opened, ...(gateCount !== null ? { count: BigInt(gateCount) } : {}), ...extra };
}

/** Discrete-Laplace scale of a part in fixed-point units. */
export function noiseScale(p: NoisePart, scale: number): number {
  return (p.sensitivity * 10 ** scale) / p.epsilon;
}

/**
 * Standard deviation (natural units) of the total noise on one released element: `shape` times the
 * variance of Lap_Z(sensitivity·10^scale/ε) (the gate: 1; the compute nodes: |P|/k, each adding
 * NB(1/k) − NB(1/k), see mpc/dp-noise.ts).
 */
export function noiseStdDev(p: NoisePart, scale: number, shape: number): number {
  return Math.sqrt(shape * discreteLaplaceVariance(noiseScale(p, scale))) / 10 ** scale;
}

/** Who added a release's node noise: how many participants, and t (from the coordinator's result). */
export interface NoisedBy {
  participants: number;
  t: number;
}

/**
 * Shape s of the total noise NB(s) − NB(s) on a part (mpc/intervals.ts): 1 for the gate's count; for
 * the compute nodes |P|/k, k the honest parts each node's noise was split into (mpc/dp-noise.ts).
 */
export function noiseShape(p: NoisePart, scale: number, by: NoisedBy): number {
  if (p.addedBy === 'gateway') return 1;
  return by.participants / honestParts(by.participants, by.t, laplaceScale(p.epsilon, p.sensitivity, scale));
}

/**
 * The public noise on each opened measure of a release (mpc/intervals.ts): the main parts with their
 * shapes, and for a pilot kind that took its count from the gate (L = 1, no filter) the gate's Laplace.
 */
export function releaseNoise(plan: PrivacyPlan, ind: Indicator, ind2: Indicator | undefined, by: NoisedBy): MeasureNoise[] {
  const noise: MeasureNoise[] = mainParts(plan).map((p) => {
    const scale = noisePartScale(p, ind, ind2);
    return { measure: p.measure as Measure, b: noiseScale(p, scale), shape: noiseShape(p, scale, by) };
  });
  if (countFromGate(plan)) noise.push({ measure: 'count', b: noiseScale(part(plan, 'contributors'), 0), shape: 1 });
  return noise;
}

/** Standard deviations of its noise a correlation's noisy Σ(x − m̂)² is raised to, at least. */
export const CORRELATION_FLOOR_STDS = 2;

/** The public floors of a correlation's Σ(x − m̂)² and Σ(y − m̂y)², in fixed point (mpc/statistics.ts). */
export function correlationFloors(plan: PrivacyPlan, scaleX: number, scaleY: number, by: NoisedBy): { sumXX: bigint; sumYY: bigint } {
  const floor = (m: 'sumXX' | 'sumYY', scale: number) => {
    const p = part(plan, m);
    const sd = Math.sqrt(noiseShape(p, scale, by) * discreteLaplaceVariance(noiseScale(p, scale)));
    return BigInt(Math.max(1, Math.ceil(CORRELATION_FLOOR_STDS * sd)));
  };
  return { sumXX: floor('sumXX', 2 * scaleX), sumYY: floor('sumYY', 2 * scaleY) };
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
