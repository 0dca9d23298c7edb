/**
 * Filtered aggregates over three compute nodes in this process (usage-layer/coordinator/filtered.ts,
 * usage-layer/node/filtered.ts): against plaintext on the same data, without noise (so exactly).
 */
import { strict as assert } from 'node:assert';
import type { FilterTree } from '../mpc/filters';
import type { FilterLeafSpec } from '../parties/wire';
import type { AggregateQuery } from '../usage-layer/coordinator';
import { createCoordinator } from '../usage-layer/coordinator';
import { prng, startTestCluster, timedShareables, type TestCluster } from './support/mpc';
import { tapCluster } from './support/tap';

const HBA1C = { min: 3, max: 20, scale: 1 };
const SBP = { min: 50, max: 250, scale: 0 };
const DAY = 86_400_000;
const T0 = Date.UTC(2025, 0, 1);

interface Rec {
  patient: string;
  indicator: 'f-hba1c' | 'f-sbp';
  at: number;
  value: number;
}

function dataset(): Rec[] {
  const next = prng(7);
  const recs: Rec[] = [];
  for (let p = 0; p < 30; p++) {
    const patient = `fp${p}`;
    // p25..p29 have no HbA1c at all; the others two readings (the latest decides).
    if (p < 25) for (const d of [1, 5]) recs.push({ patient, indicator: 'f-hba1c', at: T0 + d * DAY + p * 60_000, value: Math.round((4 + next() * 6) * 10) / 10 });
    for (const d of [2, 3, 4]) recs.push({ patient, indicator: 'f-sbp', at: T0 + d * DAY + p * 60_000, value: Math.round(100 + next() * 80) });
  }
  // Equal to the threshold, and a latest value that differs from the earlier one across the threshold.
  recs.push({ patient: 'fp0', indicator: 'f-hba1c', at: T0 + 9 * DAY, value: 6.5 });
  recs.push({ patient: 'fp1', indicator: 'f-hba1c', at: T0 + 9 * DAY, value: 6.4 });
  return recs;
}


type Pred = (v: number) => boolean;

/** Plaintext: the patients whose latest value of each indicator passes, and their records' values. */
function plain(recs: Rec[], cohort: string[], filter: (latest: (ind: Rec['indicator']) => number | undefined) => boolean) {
  const latestOf = (p: string, ind: Rec['indicator']) => recs.filter((r) => r.patient === p && r.indicator === ind).sort((a, b) => b.at - a.at)[0]?.value;
  const chosen = cohort.filter((p) => filter((ind) => latestOf(p, ind)));
  const values = recs.filter((r) => r.indicator === 'f-sbp' && chosen.includes(r.patient)).map((r) => r.value);
  const sum = values.reduce((a, b) => a + b, 0);
  const mean = values.length ? sum / values.length : null;
  const variance = values.length >= 2 ? values.reduce((a, v) => a + (v - (mean as number)) ** 2, 0) / (values.length - 1) : null;
  return { count: values.length, sum, mean, variance };
}

const leaf = (indicator: string, op: FilterLeafSpec['op'], value: number): FilterLeafSpec => ({ indicator, op, value, domain: indicator === 'f-hba1c' ? HBA1C : SBP });
const passes = (v: number | undefined, p: Pred) => v !== undefined && p(v);

describe('filtered aggregates (three nodes, no noise)', function () {
  this.timeout(120_000);
  let tc: TestCluster;
  const recs = dataset();
  const everyone = [...new Set(recs.map((r) => r.patient))];
  before(async function () {
    this.timeout(60_000);
    tc = await startTestCluster();
    await tc.distributor.distribute(timedShareables(recs, 'f', (i) => (i === 'f-hba1c' ? HBA1C.scale : SBP.scale)));
  });
  after(async () => tc?.close());

  const run = (aggregate: AggregateQuery['aggregate'], filter: FilterTree<FilterLeafSpec>, cohort = everyone, extra: Partial<AggregateQuery> = {}) =>
    tc.coordinator.aggregate({ indicator: 'f-sbp', aggregate, cohort, filter, bounds: { x: SBP }, ...extra });

  it('mean, count, sum and variance of SBP where the latest HbA1c ≥ 6.5 match plaintext (equal value included, earlier values ignored)', async () => {
    const expected = plain(recs, everyone, (l) => passes(l('f-hba1c'), (v) => v >= 6.5));
    assert.ok(expected.count > 10 && expected.count < 70, `a real selection: ${expected.count}`);
    const f = leaf('f-hba1c', '>=', 6.5);
    const mean = await run('mean', f);
    assert.equal(mean.count, expected.count);
    assert.ok(Math.abs((mean.value as number) - (expected.mean as number)) < 1e-9, `${mean.value} vs ${expected.mean}`);
    assert.equal((await run('count', f)).value, expected.count);
    assert.equal((await run('sum', f)).value, expected.sum);
    const variance = await run('variance', f);
    assert.ok(Math.abs((variance.value as number) - (expected.variance as number)) < 1e-6, `${variance.value} vs ${expected.variance}`);
    assert.ok(mean.bytes.nodeToNode > 0, 'the nodes talked to each other');
  });

  it('and / or of predicates on two indicators, and every operator', async () => {
    const and = plain(recs, everyone, (l) => passes(l('f-hba1c'), (v) => v < 6.5) && passes(l('f-sbp'), (v) => v > 140));
    const r1 = await run('mean', { and: [leaf('f-hba1c', '<', 6.5), leaf('f-sbp', '>', 140)] });
    assert.equal(r1.count, and.count);
    assert.ok(and.count === 0 ? r1.value === null : Math.abs((r1.value as number) - (and.mean as number)) < 1e-9);
    const or = plain(recs, everyone, (l) => passes(l('f-hba1c'), (v) => v <= 5) || passes(l('f-sbp'), (v) => v >= 170));
    const r2 = await run('count', { or: [leaf('f-hba1c', '<=', 5), leaf('f-sbp', '>=', 170)] });
    assert.equal(r2.value, or.count);
    const nested = plain(recs, everyone, (l) => passes(l('f-sbp'), (v) => v >= 120) && (passes(l('f-hba1c'), (v) => v > 8) || passes(l('f-hba1c'), (v) => v < 5)));
    const r3 = await run('sum', { and: [leaf('f-sbp', '>=', 120), { or: [leaf('f-hba1c', '>', 8), leaf('f-hba1c', '<', 5)] }] });
    assert.equal(r3.value, nested.sum);
  });

  it('patients without the filter indicator, outside the cohort or the window do not count; an empty cohort and one patient work', async () => {
    // fp25..fp29 have no HbA1c: "< 100" (everyone with a value) excludes them.
    const withValue = plain(recs, everyone, (l) => passes(l('f-hba1c'), (v) => v < 100));
    assert.equal((await run('count', leaf('f-hba1c', '<', 100))).value, withValue.count);
    assert.equal(withValue.count, 25 * 3);
    const cohort = everyone.slice(0, 10);
    assert.equal((await run('count', leaf('f-hba1c', '>=', 0), cohort)).value, plain(recs, cohort, (l) => passes(l('f-hba1c'), () => true)).count);
    const empty = await run('mean', leaf('f-hba1c', '>=', 6.5), []);
    assert.equal(empty.count, 0);
    assert.equal(empty.value, null);
    const one = await run('mean', leaf('f-hba1c', '>=', 6.5), ['fp0']);
    assert.equal(one.value, plain(recs, ['fp0'], (l) => passes(l('f-hba1c'), (v) => v >= 6.5)).mean);
    // A window that ends before fp0's and fp1's latest readings: the earlier ones decide.
    const early = await run('count', leaf('f-hba1c', '>=', 6.5), ['fp0', 'fp1'], { to: new Date(T0 + 8 * DAY).toISOString() });
    const recsEarly = recs.filter((r) => r.at < T0 + 8 * DAY);
    assert.equal(early.value, plain(recsEarly, ['fp0', 'fp1'], (l) => passes(l('f-hba1c'), (v) => v >= 6.5)).count);
  });

  it('the contribution bound applies to the filtered records; a noised filtered count is near the truth', async () => {
    const f = leaf('f-hba1c', '>=', 6.5);
    const bounded = await run('count', f, everyone, { perPatient: 1 });
    const patients = everyone.filter((p) => passes(recs.filter((r) => r.patient === p && r.indicator === 'f-hba1c').sort((a, b) => b.at - a.at)[0]?.value, (v) => v >= 6.5));
    assert.equal(bounded.value, patients.length);
    const noisy = await run('count', f, everyone, { perPatient: 1, noise: { epsilon: 5, sensitivity: 1 } });
    assert.ok(noisy.noised);
    assert.ok(Math.abs((noisy.value as number) - patients.length) < 15, `noisy ${noisy.value} vs ${patients.length}`);
  });

  it('a tap on every link sees only sealed round messages; the coordinator gets only shares of the measures', async () => {
    const tap = await tapCluster(tc);
    try {
      const coordinator = createCoordinator(tap.config, tc.gatewayKey);
      const r = await coordinator.aggregate({ indicator: 'f-sbp', aggregate: 'mean', cohort: everyone, filter: { or: [leaf('f-hba1c', '>=', 6.5), leaf('f-sbp', '<', 120)] } });
      assert.ok(r.value !== null);
      const seen = tap.exchanges();
      const rounds = new Set(seen.filter((x) => x.path === '/mpc/message').map((x) => JSON.parse(tap.plainRequest(x)).round as string));
      for (const name of ['cmp-open', 'cmp-and.1', 'cmp-and.6', 'cmp-b2a', 'zero.1', 'reshare.1', 'zero', 'reshare']) assert.ok(rounds.has(name), `round ${name} ran: ${[...rounds].join(', ')}`);
      for (const x of seen.filter((e) => e.path === '/mpc/message')) {
        assert.match(x.body, /^hgd-seal-v/, 'the body is sealed on the wire');
        const body = JSON.parse(tap.plainRequest(x)) as Record<string, unknown>;
        assert.deepEqual(Object.keys(body).sort(), ['queryId', 'round', 'sealed', 'v']);
        assert.match(body.sealed as string, /^hgd-seal-v1\.[A-Za-z0-9_-]+$/);
      }
      const requests = seen.filter((x) => x.path === '/aggregate/filtered');
      assert.equal(requests.length, 3);
      for (const x of requests) {
        const req = JSON.parse(tap.plainRequest(x)) as Record<string, unknown>;
        assert.match(req.material as string, /^hgd-seal-v1\./, 'the material is sealed to its node inside the sealed body too');
        assert.deepEqual(Object.keys(JSON.parse(tap.plainAnswer(x) as string)).sort(), ['countShare', 'digest', 'node', 'noised', 'peerBytesSent', 'records', 'scale', 'sum'], 'answers carry the measures only: no c, no e, no bit');
      }
    } finally {
      await tap.close();
    }
  });

  it("patients' own readings count only with includePatientReported, in the filter's latest values and in the measures alike", async () => {
    // fp2's own device says SBP 249 (the latest SBP) and HbA1c 19.9 (the latest HbA1c): provider records decide unless asked.
    await tc.distributor.distribute([
      { recordId: 'own-sbp', pseudonym: 'fp2', indicator: 'f-sbp', effectiveStart: new Date(T0 + 20 * DAY).toISOString(), effectiveEnd: null, value: 249, scale: SBP.scale, source: 'patient' },
      { recordId: 'own-hba1c', pseudonym: 'fp2', indicator: 'f-hba1c', effectiveStart: new Date(T0 + 20 * DAY).toISOString(), effectiveEnd: null, value: 19.9, scale: HBA1C.scale, source: 'patient' },
    ]);
    const f = leaf('f-hba1c', '>=', 19);
    const providers = await run('count', f);
    assert.equal(providers.value, 0, 'no provider HbA1c is ≥ 19: the own reading is not counted by default');
    const own = await run('sum', f, everyone, { includePatientReported: true });
    assert.equal(own.value, recs.filter((r) => r.patient === 'fp2' && r.indicator === 'f-sbp').reduce((a, r) => a + r.value, 249), 'with the option fp2 passes, and its own SBP is summed beside the providers\'');
  });

  it('a noised filtered variance computes and opens only the measures its noise names (no exact Σ(x − c))', async () => {
    const r = await run('variance', leaf('f-hba1c', '>=', 6.5), everyone, { centre: { x: 140 }, noise: { count: { epsilon: 5, sensitivity: 1 }, sumSquares: { epsilon: 5, sensitivity: 110 ** 2 } } });
    assert.ok(r.opened?.sumSquares, 'Σ(x − c)² is opened (noised)');
    assert.equal(r.opened?.sum, undefined, 'Σ(x − c) was not computed, so it cannot be opened exactly');
  });

  it('needs all three nodes: with one down it fails before dealing anything (insufficient_nodes)', async () => {
    await tc.cluster.stop(3);
    try {
      await assert.rejects(run('count', leaf('f-hba1c', '>=', 6.5)), (e: unknown) => (e as { code?: string }).code === 'insufficient_nodes');
    } finally {
      await tc.cluster.restart(3);
    }
    assert.equal((await run('count', leaf('f-hba1c', '>=', 6.5))).value, plain(recs, everyone, (l) => passes(l('f-hba1c'), (v) => v >= 6.5)).count);
  });

  it('refuses a kind that takes no filter, and a filter without a cohort', async () => {
    await assert.rejects(tc.coordinator.aggregate({ indicator: 'f-sbp', indicator2: 'f-hba1c', aggregate: 'correlation', cohort: everyone, filter: leaf('f-hba1c', '>=', 1) }), /does not take a filter/);
    await assert.rejects(tc.coordinator.aggregate({ indicator: 'f-sbp', aggregate: 'count', filter: leaf('f-hba1c', '>=', 1) }), /needs its cohort/);
  });
});
