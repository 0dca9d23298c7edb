/**
 * The disclosure mechanisms on their own, with the project's exact sampler: the DP threshold, window
 * snapping, one-to-one pairing, and a differencing attack on histograms measured against e^ε.
 */
import assert from 'node:assert/strict';
import { getIndicator, type Indicator } from '../management-layer/catalogue';
import { sampleDiscreteLaplace, laplaceScale } from '../mpc/dp-noise';
import { pairOneToOne } from '../usage-layer/node/store';
import { part, planPrivacy, snapWindow, thresholdContributors, thresholdMargin } from '../usage-layer/queries/disclosure';

const hr = getIndicator('heart_rate') as Indicator;

describe('disclosure control mechanisms', () => {
  it('windows snap outward to whole UTC days, so [A, T0 + 1 ms) and [A, T0) are one window', () => {
    const t0 = '2024-05-05T10:00:00.123Z';
    const plus = new Date(Date.parse(t0) + 1).toISOString();
    assert.deepEqual(snapWindow('2024-05-01T07:30:00Z', plus), snapWindow('2024-05-01T07:30:00Z', t0));
    assert.deepEqual(snapWindow('2024-05-01T07:30:00Z', t0), { from: '2024-05-01T00:00:00.000Z', to: '2024-05-06T00:00:00.000Z' });
    assert.deepEqual(snapWindow('2024-05-01T00:00:00Z', '2024-05-01T00:00:00.001Z'), { from: '2024-05-01T00:00:00.000Z', to: '2024-05-02T00:00:00.000Z' });
    assert.deepEqual(snapWindow(null, null), { from: null, to: null });
  });

  it('the suppression bit is a DP release: cohorts of k and k − 1 pass at rates within e^ε of each other', () => {
    const plan = planPrivacy({ aggregate: 'count', ind: hr, epsilon: 1, perPatient: 1 });
    const p = part(plan, 'contributors'); // ε = 0.2
    const k = 10;
    const N = 4000;
    const edge = k + thresholdMargin(p); // where the decision turns
    const rate = (exact: number) => Array.from({ length: N }, () => thresholdContributors(exact, p, k).released).filter(Boolean).length / N;
    const withTarget = rate(edge);
    const without = rate(edge - 1);
    assert.ok(rate(k - 1) <= 0.07, 'a cohort just below minCohort is released at most about 5 % of the time');
    const bound = Math.exp(p.epsilon);
    // Both ratios (passing and being suppressed) stay within e^ε, up to sampling error (3 σ of each rate).
    const slack = 3 * Math.sqrt(0.25 / N);
    assert.ok(withTarget <= bound * without + slack * (1 + bound), `pass rates ${withTarget} vs ${without}: ratio ${withTarget / without} > e^ε = ${bound}`);
    assert.ok(1 - without <= bound * (1 - withTarget) + slack * (1 + bound), `suppression rates ${1 - without} vs ${1 - withTarget}`);
    // …and the reported count never falls below the minimum cohort.
    assert.ok(Array.from({ length: 200 }, () => thresholdContributors(3, p, k)).every((r) => r.reported >= k));
  });

  it('a differencing pair of histograms moves the posterior on the target’s bucket by no more than e^ε allows', () => {
    // The target is in bucket a or bucket b. A query's histogram part is ε_h with sensitivity L = 1 per
    // bucket vector; each of three nodes adds Lap(1/ε_h) to every bucket. The attacker sees the two
    // buckets and runs the likelihood-ratio test; its accuracy is at most e^ε/(1 + e^ε).
    const plan = planPrivacy({ aggregate: 'histogram', ind: hr, epsilon: 1, perPatient: 1 });
    const h = part(plan, 'histogram');
    const b = laplaceScale(h.epsilon, h.sensitivity, 0);
    const noise = () => Number(sampleDiscreteLaplace(b) + sampleDiscreteLaplace(b) + sampleDiscreteLaplace(b));
    const N = 3000;
    let correct = 0;
    for (let i = 0; i < N; i++) {
      const inA = i % 2 === 0;
      const bucketA = 50 + (inA ? 1 : 0) + noise();
      const bucketB = 50 + (inA ? 0 : 1) + noise();
      if ((bucketA > bucketB) === inA || (bucketA === bucketB && inA)) correct++;
    }
    const accuracy = correct / N;
    const eps = h.epsilon * 2; // moving the target from a to b changes two buckets: 2 · ε_h in the worst case
    const bound = Math.exp(eps) / (1 + Math.exp(eps));
    assert.ok(accuracy <= bound + 3 * Math.sqrt(0.25 / N), `attack accuracy ${accuracy} exceeds the DP bound ${bound}`);
    assert.ok(accuracy > 0.5 - 3 * Math.sqrt(0.25 / N), 'the test itself is not broken (chance level at least)');
  });

  it('pairs are one to one: one record never enters two pairs, and L bounds the pairs of a patient', () => {
    // One patient: 49 heart-rate records and one blood-pressure record, all within the window.
    const candidates = Array.from({ length: 49 }, (_, i) => ({ a: `hr-${String(i).padStart(2, '0')}`, b: 'bp-0', pseudonym: 'p', d: Math.abs(i - 20), ta: i }));
    const pairs = pairOneToOne(candidates, null);
    assert.deepEqual(pairs, [{ a: 'hr-20', b: 'bp-0' }], 'the nearest record only');
    const many = [
      ...['x1', 'x2', 'x3'].flatMap((a, i) => ['y1', 'y2', 'y3'].map((bb, j) => ({ a, b: bb, pseudonym: 'q', d: Math.abs(i - j) * 10 + (i + j), ta: i }))),
    ];
    const all = pairOneToOne(many, null);
    assert.equal(new Set(all.map((p) => p.a)).size, all.length);
    assert.equal(new Set(all.map((p) => p.b)).size, all.length);
    assert.equal(all.length, 3);
    assert.equal(pairOneToOne(many, 2).length, 2, 'L = 2: the latest two pairs');
    assert.deepEqual(pairOneToOne(many, 1), [{ a: 'x3', b: 'y3' }]);
  });

  it('plans by the patient: sensitivities scale with L and centred kinds use half the range', () => {
    const one = planPrivacy({ aggregate: 'mean', ind: hr, epsilon: 1, perPatient: 1 });
    const five = planPrivacy({ aggregate: 'mean', ind: hr, epsilon: 1, perPatient: 5 });
    assert.equal(part(one, 'sum').sensitivity, 140, 'heart rate 20..300 around 160');
    assert.equal(part(five, 'sum').sensitivity, 700);
    assert.equal(part(five, 'count').sensitivity, 5);
    assert.equal(part(planPrivacy({ aggregate: 'sum', ind: hr, epsilon: 1, perPatient: 1 }), 'sum').sensitivity, 300, 'an uncentred sum: the largest |x|');
    assert.equal(one.neighbours, 'add or remove one patient');
  });
});
