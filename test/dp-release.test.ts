/**
 * The release of the pilot kinds (mpc/aggregates.ts, usage-layer/queries/pilot.ts): the formulas
 * around a pilot centre, correlations that are never undefined, and 95 % intervals (mpc/intervals.ts)
 * that cover the truth about 95 % of the time under the production noise (three nodes' parts, t = 1).
 */
import assert from 'node:assert/strict';
import { getIndicator, type Indicator } from '../management-layer/catalogue';
import { aggregateSpec, measureScale, type OpenedMeasures } from '../mpc/aggregates';
import { honestParts, laplaceScale, sampleDiscreteLaplace, sampleNoisePart } from '../mpc/dp-noise';
import { releaseInterval } from '../mpc/intervals';
import { deterministicRandom } from '../mpc/random';
import { correlationAbout, varianceAbout } from '../mpc/statistics';
import { centrePlan, part, planPrivacy, releaseNoise, valueBounds } from '../usage-layer/queries/disclosure';
import { pilotOpened } from '../usage-layer/queries/pilot';

const sbp = getIndicator('bp_systolic') as Indicator;
const by = { participants: 3, t: 1 };

describe('releases of the pilot kinds', () => {
  it('the variance around a centre off the mean is exact once the centre’s squared error is subtracted', () => {
    const xs = [120, 131, 118, 140, 125, 109, 133];
    const n = xs.length;
    const mean = xs.reduce((a, b) => a + b, 0) / n;
    const exact = xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1);
    const m = 127; // a pilot centre 1.43 off the mean
    const q = BigInt(xs.reduce((a, x) => a + (x - m) ** 2, 0));
    assert.ok(Math.abs((varianceAbout(BigInt(n), { value: q, scale: 0 }) as number) - exact) > 1, 'without the correction: biased');
    assert.ok(Math.abs((varianceAbout(BigInt(n), { value: q, scale: 0 }, (m - mean) ** 2) as number) - exact) < 1e-9);
  });

  it('a correlation is never undefined: noisy Σ² at or below 0 are raised to their floors and r stays in [−1, 1]', () => {
    const spec = aggregateSpec('correlation');
    for (const [xx, yy, xy] of [[-5n, 10n, 3n], [0n, 0n, -7n], [1000n, -1n, 999999n]] as const) {
      const r = spec.finish({ count: 100n, sumXX: { value: xx, scale: 0 }, sumYY: { value: yy, scale: 0 }, sumXY: { value: xy, scale: 0 }, floors: { sumXX: 50n, sumYY: 50n } });
      assert.ok(r !== null && Number.isFinite(r) && r >= -1 && r <= 1, `r = ${r}`);
    }
    assert.equal(correlationAbout({ value: 100n, scale: 0 }, { value: 100n, scale: 0 }, { value: 50n, scale: 0 }), 0.5);
  });

  it('a correlation whose noisy Σ² are within 4 noise σ of zero gets the whole [−1, 1] as its interval; one clear of the noise a narrow one', () => {
    const spec = aggregateSpec('correlation');
    const sd = 1000; // noise σ of each Σ² (the floors are 2σ)
    const noise = (['sumXX', 'sumYY', 'sumXY'] as const).map((measure) => ({ measure, b: sd / Math.sqrt(3), shape: 1.5 }));
    const floors = { sumXX: BigInt(2 * sd), sumYY: BigInt(2 * sd) };
    const rng = deterministicRandom('correlation-interval');
    const word = new Uint8Array(4);
    const u = () => { rng.fill(word); return (new DataView(word.buffer).getUint32(0) + 0.5) / 2 ** 32; };
    // Twelve patients of a narrow spread: the released Σ² are noise (here just above the floor), r looks like 0.3.
    const small: OpenedMeasures = { count: 12n, sumXX: { value: 2500n, scale: 0 }, sumYY: { value: 3000n, scale: 0 }, sumXY: { value: 820n, scale: 0 }, floors };
    assert.deepEqual(releaseInterval(spec, small, noise, { min: -1, max: 1 }, 400, u), [-1, 1]);
    // Ten thousand patients: Σ² a thousand σ above zero, the bootstrap interval is narrow around r.
    const large: OpenedMeasures = { count: 10_000n, sumXX: { value: 2_000_000n, scale: 0 }, sumYY: { value: 2_000_000n, scale: 0 }, sumXY: { value: 400_000n, scale: 0 }, floors };
    const iv = releaseInterval(spec, large, noise, { min: -1, max: 1 }, 400, u)!;
    assert.ok(iv[0] > 0.19 && iv[1] < 0.21 && iv[0] < 0.2 && iv[1] > 0.2, `interval ${iv}`);
  });

  it('the noise of a pilot-kind release: three nodes’ parts (shape 3/2) and, with L = 1, the gate’s count (shape 1)', () => {
    const plan = centrePlan(planPrivacy({ aggregate: 'variance', ind: sbp, epsilon: 1, perPatient: 1 }), valueBounds(sbp), { x: 125 });
    const noise = releaseNoise(plan, sbp, undefined, by);
    assert.deepEqual(noise.map((n) => [n.measure, n.shape]), [['sumSquares', 1.5], ['count', 1]]);
    assert.equal(noise[1]!.b, 1 / part(plan, 'contributors').epsilon);
    assert.equal(releaseNoise(plan, sbp, undefined, { participants: 2, t: 1 })[0]!.shape, 2, 'two participants: each full scale');
  });

  it('the 95 % interval of a variance covers the truth in about 95 % of releases (exact samplers, fixed seed)', function () {
    this.timeout(120_000);
    const rng = deterministicRandom('variance-coverage');
    const n = 5000;
    const xs = Array.from({ length: n }, (_, i) => 100 + ((i * 7919) % 61)); // spread 100..160
    const mean = xs.reduce((a, b) => a + b, 0) / n;
    const truth = xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1);
    const submitted = planPrivacy({ aggregate: 'variance', ind: sbp, epsilon: 1, perPatient: 1 });
    const plan = centrePlan(submitted, valueBounds(sbp), { x: Math.round(mean) });
    const q = BigInt(xs.reduce((a, x) => a + (x - Math.round(mean)) ** 2, 0));
    const sq = part(plan, 'sumSquares');
    const b = laplaceScale(sq.epsilon, sq.sensitivity, measureScale('sumSquares', 0));
    const gateB = laplaceScale(part(plan, 'contributors').epsilon, 1, 0);
    const noise = releaseNoise(plan, sbp, undefined, by);
    const spec = aggregateSpec('variance');
    const RUNS = 150;
    let covered = 0;
    for (let k = 0; k < RUNS; k++) {
      let z = 0n;
      for (let node = 0; node < 3; node++) z += sampleNoisePart(b, honestParts(3, 1, b), rng);
      const gate = n + Number(sampleDiscreteLaplace(gateB, rng));
      const opened: OpenedMeasures = { count: BigInt(n), centre: plan.centre ?? { x: 0 }, sumSquares: { value: q + z, scale: 0 } };
      const released = pilotOpened('variance', plan, opened, { contributors: gate, centreError: (Math.round(mean) - mean) ** 2, by, ind: sbp });
      const iv = releaseInterval(spec, released, noise, sbp.range, 400);
      if (iv && iv[0] <= truth && truth <= iv[1]) covered++;
    }
    const rate = covered / RUNS;
    assert.ok(rate >= 0.88 && rate <= 1, `coverage ${rate}`);
    assert.ok(rate < 1 || RUNS < 100, 'an interval that always covers is too wide to be a 95 % interval');
  });
});
