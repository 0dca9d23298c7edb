/**
 * Automatic bounds (`options.bounds: "auto"`, usage-layer/queries/auto-bounds.ts) on their own: the
 * plan charges the pilot's parts inside the query's ε with midpoint sensitivities, the bounds follow
 * from the pilot's noisy sums (m̂ ± 4σ̂ on the grid, inside the range, never collapsed by a noisy spread),
 * and once derived the clamped measures are noised at the bounds' scale. Over HTTP: clamped-queries.test.ts.
 */
import assert from 'node:assert/strict';
import { getIndicator, type Indicator } from '../management-layer/catalogue';
import { toFixed } from '../mpc/fixed-point';
import { boundsFromPilot, type SpreadPilot } from '../usage-layer/queries/auto-bounds';
import { AUTO_BOUNDS_STDS, boundsPlan, mainParts, part, planPrivacy, rankTotalPart } from '../usage-layer/queries/disclosure';

const sbp = getIndicator('bp_systolic') as Indicator; // [40, 300] mmHg, whole units
const bmi = getIndicator('bmi') as Indicator; // [8, 150], one decimal

/** The exact pilot sums of `xs` around the range's midpoint, as the nodes would open them without noise. */
function exactPilot(ind: Indicator, xs: number[], floor = 0): SpreadPilot {
  const c = (ind.range.min + ind.range.max) / 2;
  const s1 = xs.reduce((a, x) => a + (x - c), 0);
  const s2 = xs.reduce((a, x) => a + (x - c) ** 2, 0);
  return { n: xs.length, sum: { value: toFixed(s1, ind.scale), scale: ind.scale }, squares: { value: toFixed(s2, 2 * ind.scale), scale: 2 * ind.scale }, floor };
}

describe('automatic bounds', () => {
  it('plans the pilot inside the query ε: midpoint sensitivities for Σ(x − c) and Σ(x − c)², catalogue ones for the clamped measures until derived', () => {
    const plan = planPrivacy({ aggregate: 'variance', ind: sbp, epsilon: 1, perPatient: 1, autoBounds: true });
    assert.deepEqual(plan.parts.map((p) => p.measure), ['pilotSumX', 'pilotSquaresX', 'count', 'sum', 'sumSquares', 'contributors']);
    const total = plan.parts.reduce((a, p) => a + p.epsilon, 0);
    assert.ok(Math.abs(total - 1) < 1e-9, `the parts spend exactly ε: ${total}`);
    assert.equal(part(plan, 'pilotSumX').sensitivity, 130, 'L·r, r half of 300 − 40');
    assert.equal(part(plan, 'pilotSquaresX').sensitivity, 130 * 130, 'L·r²');
    assert.equal(part(plan, 'sumSquares').sensitivity, 130 * 130, 'an upper bound until the bounds are derived');
    assert.deepEqual(plan.autoBounds, { stds: AUTO_BOUNDS_STDS, derived: false });
    assert.equal(rankTotalPart(plan), null, 'no rank total');
    // L = 3 with a filter: own noisy counts, every sensitivity times L.
    const l3 = planPrivacy({ aggregate: 'correlation', ind: sbp, ind2: bmi, epsilon: 1, perPatient: 3, filtered: true, autoBounds: true });
    assert.deepEqual(l3.parts.slice(0, 6).map((p) => p.measure), ['pilotSumX', 'pilotCountX', 'pilotSquaresX', 'pilotSumY', 'pilotCountY', 'pilotSquaresY']);
    assert.equal(part(l3, 'pilotCountY').sensitivity, 3);
    assert.equal(part(l3, 'pilotSquaresY').sensitivity, 3 * 71 * 71);
  });

  it('the clamped measures are noised at the derived bounds once boundsPlan has them', () => {
    const plan = planPrivacy({ aggregate: 'correlation', ind: sbp, ind2: bmi, epsilon: 1, perPatient: 1, autoBounds: true });
    const derived = boundsPlan(plan, { aggregate: 'correlation', ind: sbp, ind2: bmi }, { x: { min: 60, max: 190 }, y: { min: 7.5 + 0.5, max: 48 } });
    assert.deepEqual(derived.clampedTo, { x: { min: 60, max: 190 }, y: { min: 8, max: 48 } });
    assert.deepEqual(derived.centre, { x: 125, y: 28 });
    assert.equal(part(derived, 'sumXY').sensitivity, 65 * 20);
    assert.equal(part(derived, 'sumXY').epsilon, part(plan, 'sumXY').epsilon, 'the ε split is fixed at submission');
    assert.equal(part(derived, 'pilotSquaresX').sensitivity, part(plan, 'pilotSquaresX').sensitivity, 'pilot parts unchanged');
    assert.ok(!mainParts(derived).some((p) => p.measure.startsWith('pilot')), 'the main query noises no pilot part');
  });

  it('derives m̂ ± 4σ̂ from the pilot, rounded outward to the grid and cut to the range', () => {
    const xs = Array.from({ length: 1000 }, (_, i) => 100 + (i % 41)); // 100 … 140, mean 120, sd ≈ 11.8
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const sd = Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1));
    const b = boundsFromPilot(sbp, exactPilot(sbp, xs), 4);
    assert.deepEqual(b, { min: Math.floor(mean - 4 * sd), max: Math.ceil(mean + 4 * sd) });
    const ys = Array.from({ length: 500 }, (_, i) => 140 + (i % 11)); // BMI 140 … 150: the top is cut to the range
    const by = boundsFromPilot(bmi, exactPilot(bmi, ys), 4);
    assert.equal(by.max, 150);
    assert.ok(by.min < 140 && Number.isInteger(Math.round(by.min * 10)), `on the 0.1 grid: ${by.min}`);
  });

  it('a noisy spread cannot collapse the bounds: the floor keeps σ̂² ≥ floor / n, and a pilot without records gives the catalogue range', () => {
    const same = Array.from({ length: 100 }, () => 120);
    assert.deepEqual(boundsFromPilot(sbp, exactPilot(sbp, same), 4), { min: 120, max: 121 }, 'no spread and no floor: one grid step');
    const floored = boundsFromPilot(sbp, exactPilot(sbp, same, 100 * 25), 4); // σ̂² ≥ 25: σ̂ ≥ 5
    assert.deepEqual(floored, { min: 100, max: 140 });
    // A noisy Σ(x − c)² below n·(m̂ − c)² (so a negative spread) still gives the floor, not NaN.
    const negative: SpreadPilot = { ...exactPilot(sbp, same, 100 * 25), squares: { value: 0n, scale: 0 } };
    assert.deepEqual(boundsFromPilot(sbp, negative, 4), { min: 100, max: 140 });
    assert.deepEqual(boundsFromPilot(sbp, { n: 1, sum: undefined, squares: undefined, floor: 0 }, 4), { min: 40, max: 300 });
    assert.deepEqual(boundsFromPilot(sbp, { ...exactPilot(sbp, [299, 300, 300]), floor: 0 }, 4).max, 300);
  });
});
