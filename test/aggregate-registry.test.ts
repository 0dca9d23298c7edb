/**
 * The registry of aggregate kinds (mpc/aggregates.ts) is the one source: the query JSON Schema, the
 * privacy plan, the coordinator's checks and the compute nodes' request parsers must all agree with it.
 * A disagreement here is a privacy bug (a measure opened without noise, a plan the nodes refuse).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { getIndicator, type Indicator } from '../management-layer/catalogue';
import { AGGREGATE_KINDS, AGGREGATES, LINEAR_MEASURES, PRODUCT_MEASURES, clampedMeasures, measureSensitivity, noisableMeasures, queriedMeasures } from '../mpc/aggregates';
import { parseClampedRequest, parseFilteredRequest, parseLinearRequest, parseProductRequest } from '../parties/wire-parse';
import { centrePlan, mainParts, planPrivacy, valueBounds } from '../usage-layer/queries/disclosure';
import { validateQuery } from '../usage-layer/coordinator/validate';

const heart = getIndicator('heart_rate') as Indicator;
const sbp = getIndicator('bp_systolic') as Indicator;

function planFor(kind: (typeof AGGREGATE_KINDS)[number]) {
  const two = AGGREGATES[kind].indicators === 2;
  return planPrivacy({ aggregate: kind, ind: heart, ind2: two ? sbp : undefined, epsilon: 1, perPatient: 3 });
}

describe('the registry of aggregate kinds', () => {
  it('the query schema offers exactly the registered kinds', () => {
    const schema = JSON.parse(fs.readFileSync(new URL('../schema/api/query.schema.json', import.meta.url), 'utf8'));
    assert.deepEqual([...schema.properties.aggregate.enum].sort(), [...AGGREGATE_KINDS].sort());
  });

  for (const kind of AGGREGATE_KINDS) {
    const spec = AGGREGATES[kind];
    describe(kind, () => {
      it('opens no measure that its DP release does not noise', () => {
        const noised = queriedMeasures(kind, spec.dpMeasures);
        for (const m of noised) assert.ok(spec.dpMeasures.includes(m), `${kind} opens ${m} without noise`);
        for (const m of spec.dpMeasures) assert.ok(m === 'count' || noised.includes(m), `${kind} noises ${m} but never computes it`);
        if (spec.pilot) assert.ok(!noised.includes('sum') && !noised.includes('sumX'), 'a pilot kind opens no Σ(x − m̂)');
        assert.deepEqual(queriedMeasures(kind, null), [...spec.measures], 'an exact query computes all of the kind’s measures');
      });

      it('its privacy plan noises exactly the registered measures, with the registered sensitivities', () => {
        const bounds = valueBounds(heart, spec.indicators === 2 ? sbp : undefined);
        const submitted = planFor(kind);
        // A pilot kind's sensitivities are set around the pilot centre (here: some centre in the ranges).
        const plan = spec.pilot ? centrePlan(submitted, bounds, { x: 80, ...(spec.indicators === 2 ? { y: 130 } : {}) }) : submitted;
        const nodeParts = mainParts(plan);
        assert.deepEqual(nodeParts.map((p) => p.measure), [...spec.dpMeasures]);
        if (spec.pilot) {
          assert.deepEqual(plan.parts.filter((p) => p.measure.startsWith('pilot')).map((p) => p.measure), spec.indicators === 2 ? ['pilotSumX', 'pilotCountX', 'pilotSumY', 'pilotCountY'] : ['pilotSumX', 'pilotCountX']);
          for (const p of mainParts(submitted)) assert.ok(p.sensitivity >= (mainParts(plan).find((q) => q.measure === p.measure)?.sensitivity ?? 0), `before the pilot ${p.measure}'s sensitivity is an upper bound`);
        }
        const centre = plan.centre ?? undefined;
        assert.equal(Boolean(plan.centre), spec.centred, 'centred kinds carry their centre');
        for (const p of nodeParts) assert.equal(p.sensitivity, measureSensitivity(p.measure as never, bounds, { perPatient: 3, ...(centre ? { centre } : {}) }));
        // L = 3 records per patient: every sensitivity is three times one record's
        for (const p of nodeParts) assert.equal(p.sensitivity, 3 * measureSensitivity(p.measure as never, bounds, { perPatient: 1, ...(centre ? { centre } : {}) }));
        const total = plan.parts.reduce((a, p) => a + Math.round(p.epsilon * 1e6), 0);
        assert.equal(total, 1e6, 'the parts add up to the query epsilon');
      });

      it('the coordinator accepts the plan and the nodes accept what the coordinator sends', () => {
        const noise = Object.fromEntries(spec.dpMeasures.map((m) => [m, { epsilon: 0.1, sensitivity: 1 }]));
        for (const m of spec.dpMeasures) assert.ok(noisableMeasures(kind).includes(m));
        validateQuery({ indicator: 'x', aggregate: kind, ...(spec.indicators === 2 ? { indicator2: 'y' } : {}), noise });
        const base = { queryId: 'q-registry-1', indicator: 'x', from: null, to: null, cohort: null, participants: [1, 2, 3], noise };
        const queried = queriedMeasures(kind, spec.dpMeasures);
        if (spec.protocol === 'linear') {
          for (const m of spec.measures) assert.ok((LINEAR_MEASURES as readonly string[]).includes(m));
          const measures = noise.count || queried.length === 0 ? ['count', ...queried] : [...queried];
          assert.deepEqual(parseLinearRequest({ ...base, measures }, 3, 1, 1).measures, measures);
        } else if (spec.protocol === 'comparisons') {
          // Every bucket is a filtered count whose count carries the bucket's noise (edge-histogram.ts).
          const leaf = { indicator: 'x', op: '>=', value: 1, domain: { min: 0, max: 10, scale: 0 } };
          const req = parseFilteredRequest({ ...base, cohort: ['p1'], measures: [], filter: leaf, maskBits: 48, material: 'sealed', noise: { count: noise.histogram } }, 3, 1, 1);
          assert.deepEqual(Object.keys(req.noise ?? {}), ['count']);
        } else {
          for (const m of spec.measures) assert.ok((PRODUCT_MEASURES as readonly string[]).includes(m));
          const req = parseProductRequest({ ...base, indicator2: 'y', windowSeconds: 60, measures: queried }, 3, 1, 1);
          assert.deepEqual(Object.keys(req.noise ?? {}).sort(), [...spec.dpMeasures].sort());
        }
      });

      const clamped = spec.clamped;
      if (clamped) it('with declared bounds: the plan noises the clamped measures with sensitivities from the bounds, and the nodes accept them', () => {
        const two = spec.indicators === 2;
        const declared = { x: { min: 50, max: 150 }, ...(two ? { y: { min: 100, max: 160 } } : {}) };
        const plan = planPrivacy({ aggregate: kind, ind: heart, ind2: two ? sbp : undefined, epsilon: 1, perPatient: 3, declared });
        assert.deepEqual(plan.parts.map((p) => p.measure), [...clamped.dpMeasures, 'contributors'], 'no pilot');
        assert.deepEqual(plan.clampedTo, declared);
        const centre = spec.centred ? { x: 100, ...(two ? { y: 130 } : {}) } : undefined;
        for (const p of mainParts(plan)) assert.equal(p.sensitivity, measureSensitivity(p.measure as never, declared, { perPatient: 3, ...(centre ? { centre } : {}) }), p.measure);
        const domain = { min: 20, max: 300, scale: 1 };
        const noise = Object.fromEntries(clamped.dpMeasures.map((m) => [m, { epsilon: 0.1, sensitivity: 1 }]));
        const req = parseClampedRequest({
          queryId: 'q-registry-3', indicator: 'x', indicator2: two ? 'y' : null, windowSeconds: two ? 60 : 0, from: null, to: null, cohort: ['p1'], perPatient: 3,
          clamp: { x: { ...declared.x, domain }, ...(two ? { y: { ...declared.y, domain } } : {}) }, measures: clampedMeasures(kind, clamped.dpMeasures),
          maskBits: 52, material: 'sealed', participants: [1, 2, 3], noise, centre: centre ?? null,
        }, 3, 1, 1);
        assert.deepEqual([...req.measures, 'count'].sort(), [...clamped.dpMeasures, ...(clamped.dpMeasures.includes('count') ? [] : ['count'])].sort());
      });

      it('needs t + 1 nodes for a linear sum and 2t + 1 for the product protocol and the comparisons of a rank kind', () => {
        const linearSum = spec.protocol === 'linear' && !spec.rankSearch; // comparisons take all three nodes
        assert.equal(spec.nodesNeeded(1), linearSum ? 2 : 3);
        assert.equal(spec.nodesNeeded(2), linearSum ? 3 : 5);
      });
    });
  }

  it('a measure the registry does not list for a kind is refused by the coordinator and the nodes', () => {
    assert.throws(() => validateQuery({ indicator: 'x', aggregate: 'covariance', indicator2: 'y', noise: { sumXX: { epsilon: 1, sensitivity: 1 } } }), /covariance can noise count, sumX, sumY, sumXY/);
    assert.throws(() => parseProductRequest({ queryId: 'q-registry-2', indicator: 'x', indicator2: 'y', from: null, to: null, cohort: null, windowSeconds: 1, participants: [1, 2, 3], measures: ['sumX'], noise: { sumXX: { epsilon: 1, sensitivity: 1 } } }, 3, 1, 1), /only count, sumX can be noised/);
  });
});
