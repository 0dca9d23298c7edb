/**
 * The disclosure mechanisms on their own, with the project's exact sampler: the DP threshold, window
 * snapping, one-to-one pairing, the plan of the pilot kinds, and differencing attacks (histograms, a
 * variance release) measured against e^ε.
 */
import assert from 'node:assert/strict';
import { getIndicator, type Indicator } from '../management-layer/catalogue';
import { honestParts, laplaceScale, sampleDiscreteLaplace, sampleNoisePart } from '../mpc/dp-noise';
import { deterministicRandom } from '../mpc/random';
import { pairOneToOne } from '../usage-layer/node/store';
import { centrePlan, part, planPrivacy, snapWindow, thresholdContributors, thresholdMargin, type NoisePart } from '../usage-layer/queries/disclosure';

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
    // bucket vector; each of three nodes adds its noise part to every bucket. The attacker colludes with
    // one node (it knows, and subtracts, that node's part), so two honest parts remain. It sees the
    // two buckets and runs the likelihood-ratio test; its accuracy is at most e^ε/(1 + e^ε).
    const plan = planPrivacy({ aggregate: 'histogram', ind: hr, epsilon: 1, perPatient: 1 });
    const h = part(plan, 'histogram');
    const b = laplaceScale(h.epsilon, h.sensitivity, 0);
    const parts = honestParts(3, 1, b);
    const noise = () => Number(sampleNoisePart(b, parts) + sampleNoisePart(b, parts));
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

  it('a differencing attack on a variance release (researcher + one corrupt node) is bounded by the charged ε', () => {
    // With and without the target (at the range's edge): the gate's count, the pilot sum and Σ(x − m̂)²
    // each move by their full sensitivity. In units of each sensitivity the attacker sees 0 or 1 plus
    // noise: the gate's Laplace, and two honest nodes' parts on the node-noised values (the corrupt
    // node's own part is known), each exactly Lap_Z. It runs the likelihood-ratio test: for Lap_Z with
    // shift 1 a value's log-ratio is +ε_i when it is ≥ 1, else −ε_i.
    const plan = planPrivacy({ aggregate: 'variance', ind: hr, epsilon: 1, perPatient: 1 });
    assert.deepEqual(plan.parts.map((p) => p.measure), ['pilotSumX', 'sumSquares', 'contributors']);
    const rng = deterministicRandom('variance-differencing');
    const noise = (p: NoisePart) => {
      const b = laplaceScale(p.epsilon, 1, 0);
      return p.addedBy === 'gateway' ? sampleDiscreteLaplace(b, rng) : sampleNoisePart(b, 2, rng) + sampleNoisePart(b, 2, rng);
    };
    const N = 4000;
    let correct = 0;
    for (let i = 0; i < N; i++) {
      const present = i % 2 === 0;
      const score = plan.parts.reduce((acc, p) => acc + (Number(noise(p)) + (present ? 1 : 0) >= 1 ? p.epsilon : -p.epsilon), 0);
      if (score > 0 === present) correct++;
    }
    const accuracy = correct / N;
    const bound = Math.exp(plan.epsilon) / (1 + Math.exp(plan.epsilon));
    assert.ok(accuracy <= bound + 3 * Math.sqrt(0.25 / N), `attack accuracy ${accuracy} exceeds the DP bound ${bound}`);
    assert.ok(accuracy > 0.6, `the attack is a real one (accuracy ${accuracy})`);
  });

  it('plans a pilot kind: the gate ε min(ε/5, 0.1), the pilot, the second moments; L = 1 reuses the gate count', () => {
    const one = planPrivacy({ aggregate: 'correlation', ind: hr, ind2: getIndicator('bp_systolic') as Indicator, epsilon: 1, perPatient: 1 });
    assert.deepEqual(one.parts.map((p) => p.measure), ['pilotSumX', 'pilotSumY', 'sumXX', 'sumYY', 'sumXY', 'contributors']);
    assert.equal(part(one, 'contributors').epsilon, 0.1);
    assert.equal(part(one, 'pilotSumX').sensitivity, 140, 'a midpoint-centred sum of heart rate');
    assert.equal(one.centre, null, 'no centre before the pilot');
    assert.equal(part(one, 'sumXX').sensitivity, 280 ** 2, 'before the pilot: the width, an upper bound');
    const centred = centrePlan(one, { x: hr.range, y: { min: 40, max: 300 } }, { x: 72, y: 125 });
    assert.equal(part(centred, 'sumXX').sensitivity, (300 - 72) ** 2);
    assert.equal(part(centred, 'sumXY').sensitivity, (300 - 72) * (300 - 125));
    assert.equal(part(centred, 'pilotSumX').epsilon, part(one, 'pilotSumX').epsilon, 'the ε split is fixed at submission');
    const three = planPrivacy({ aggregate: 'variance', ind: hr, epsilon: 0.5, perPatient: 3 });
    assert.deepEqual(three.parts.map((p) => p.measure), ['pilotSumX', 'pilotCountX', 'count', 'sumSquares', 'contributors']);
    assert.equal(part(three, 'contributors').epsilon, 0.1, 'ε/5 at ε 0.5, as before');
    assert.equal(part(planPrivacy({ aggregate: 'count', ind: hr, epsilon: 20, perPatient: 1 }), 'contributors').epsilon, 4, 'ε/5 above the default cap');
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
