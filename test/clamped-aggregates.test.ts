/**
 * Values clamped into declared bounds over three compute nodes in this process
 * (usage-layer/coordinator/clamped.ts, usage-layer/node/clamped.ts): against plaintext clamping of the
 * same records, without noise (so exactly). Values sit below, on and above both bounds.
 */
import { strict as assert } from 'node:assert';
import type { ClampSpec } from '../parties/wire';
import { parseClampedRequest } from '../parties/wire-parse';
import type { AggregateQuery } from '../usage-layer/coordinator';
import { createCoordinator } from '../usage-layer/coordinator';
import { prng, startTestCluster, timedShareables, type TestCluster } from './support/mpc';
import { tapCluster } from './support/tap';

const SBP = { min: 50, max: 250, scale: 0 };
const HBA1C = { min: 3, max: 20, scale: 1 };
const DAY = 86_400_000;
const T0 = Date.UTC(2025, 0, 1);
const SBP_BOUNDS: ClampSpec = { min: 100, max: 160, domain: SBP };
const HBA1C_BOUNDS: ClampSpec = { min: 5, max: 9, domain: HBA1C };

interface Rec {
  patient: string;
  indicator: 'c-sbp' | 'c-hba1c';
  at: number;
  value: number;
}

/** 20 patients with three SBP readings each (the latest two count with L = 2) and one HbA1c at the time of the latest SBP. */
function dataset(): Rec[] {
  const next = prng(11);
  const recs: Rec[] = [];
  for (let p = 0; p < 20; p++) {
    const patient = `cp${p}`;
    for (const d of [1, 2, 3]) recs.push({ patient, indicator: 'c-sbp', at: T0 + d * DAY + p * 60_000, value: Math.round(60 + next() * 180) });
    recs.push({ patient, indicator: 'c-hba1c', at: T0 + 3 * DAY + p * 60_000, value: Math.round((3.5 + next() * 12) * 10) / 10 });
  }
  // Exactly on the bounds, and at the catalogue's limits.
  recs.push({ patient: 'cp0', indicator: 'c-sbp', at: T0 + 5 * DAY, value: 100 }, { patient: 'cp0', indicator: 'c-sbp', at: T0 + 6 * DAY, value: 160 });
  recs.push({ patient: 'cp1', indicator: 'c-sbp', at: T0 + 5 * DAY, value: 50 }, { patient: 'cp1', indicator: 'c-sbp', at: T0 + 6 * DAY, value: 250 });
  return recs;
}


const clampTo = (v: number, b: ClampSpec) => Math.min(b.max, Math.max(b.min, v));
const sumOf = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** Each cohort patient's latest L SBP values, clamped. */
function latestClamped(recs: Rec[], cohort: string[], perPatient: number): number[] {
  return cohort.flatMap((p) => recs.filter((r) => r.patient === p && r.indicator === 'c-sbp').sort((a, b) => b.at - a.at).slice(0, perPatient).map((r) => clampTo(r.value, SBP_BOUNDS)));
}

function moments(xs: number[]) {
  const mean = xs.length ? sumOf(xs) / xs.length : null;
  const variance = xs.length >= 2 ? sumOf(xs.map((v) => (v - (mean as number)) ** 2)) / (xs.length - 1) : null;
  return { count: xs.length, sum: sumOf(xs), mean, variance };
}

describe('clamped aggregates (three nodes, no noise)', function () {
  this.timeout(120_000);
  let tc: TestCluster;
  const recs = dataset();
  const everyone = [...new Set(recs.map((r) => r.patient))];
  before(async function () {
    this.timeout(60_000);
    tc = await startTestCluster();
    await tc.distributor.distribute(timedShareables(recs, 'c', (i) => (i === 'c-hba1c' ? HBA1C.scale : SBP.scale)));
  });
  after(async () => tc?.close());

  const run = (aggregate: AggregateQuery['aggregate'], extra: Partial<AggregateQuery> = {}) =>
    tc.coordinator.aggregate({ indicator: 'c-sbp', aggregate, cohort: everyone, perPatient: 2, clamp: { x: SBP_BOUNDS }, bounds: { x: SBP }, ...extra });

  it('sum, mean (around the bounds’ midpoint) and variance of the latest two values a patient, clamped, match plaintext', async () => {
    const expected = moments(latestClamped(recs, everyone, 2));
    const raw = moments(everyone.flatMap((p) => recs.filter((r) => r.patient === p && r.indicator === 'c-sbp').sort((a, b) => b.at - a.at).slice(0, 2).map((r) => r.value)));
    assert.notEqual(expected.sum, raw.sum, 'the data has values outside the bounds');
    const sum = await run('sum');
    assert.equal(sum.value, expected.sum);
    assert.equal(sum.count, expected.count);
    const mean = await run('mean', { centre: { x: 130 } });
    assert.ok(Math.abs((mean.value as number) - (expected.mean as number)) < 1e-9, `${mean.value} vs ${expected.mean}`);
    const variance = await run('variance', { centre: { x: 130 } });
    assert.ok(Math.abs((variance.value as number) - (expected.variance as number)) < 1e-6, `${variance.value} vs ${expected.variance}`);
    const stddev = await run('stddev');
    assert.ok(Math.abs((stddev.value as number) - Math.sqrt(expected.variance as number)) < 1e-6);
    assert.ok(sum.bytes.nodeToNode > 0, 'the nodes compared among themselves');
  });

  it('values on a bound stay, beyond it become the bound (one patient at a time)', async () => {
    // cp0's latest two: 160 (the upper bound) and 100 (the lower); cp1's: 250 → 160 and 50 → 100.
    assert.equal((await run('sum', { cohort: ['cp0'] })).value, 260);
    assert.equal((await run('sum', { cohort: ['cp1'] })).value, 260);
    assert.equal((await run('sum', { cohort: ['cp1'], clamp: { x: { min: 50, max: 250, domain: SBP } } })).value, 300, 'bounds at the catalogue limits clamp nothing');
    assert.equal((await run('sum', { cohort: ['cp1'], perPatient: 1 })).value, 160);
  });

  it('L = 1 and the whole history (L = 3) a patient, and an empty cohort', async () => {
    for (const perPatient of [1, 3]) {
      const expected = moments(latestClamped(recs, everyone, perPatient));
      const mean = await run('mean', { perPatient });
      assert.equal(mean.count, expected.count);
      assert.ok(Math.abs((mean.value as number) - (expected.mean as number)) < 1e-9);
    }
    const empty = await run('mean', { cohort: [] });
    assert.equal(empty.count, 0);
    assert.equal(empty.value, null);
  });

  it('correlation and covariance of clamped pairs match plaintext', async () => {
    const pairs = everyone.flatMap((p) => {
      const latest = recs.filter((r) => r.patient === p && r.indicator === 'c-sbp' && r.at < T0 + 4 * DAY).sort((a, b) => b.at - a.at)[0];
      const h = recs.find((r) => r.patient === p && r.indicator === 'c-hba1c');
      return latest && h ? [[clampTo(latest.value, SBP_BOUNDS), clampTo(h.value, HBA1C_BOUNDS)] as const] : [];
    });
    const n = pairs.length;
    const [mx, my] = [sumOf(pairs.map((q) => q[0])) / n, sumOf(pairs.map((q) => q[1])) / n];
    const sxy = sumOf(pairs.map(([x, y]) => (x - mx) * (y - my)));
    const sxx = sumOf(pairs.map(([x]) => (x - mx) ** 2));
    const syy = sumOf(pairs.map(([, y]) => (y - my) ** 2));
    const q = { indicator2: 'c-hba1c', perPatient: 1, pairWindowSeconds: 0, to: new Date(T0 + 4 * DAY).toISOString(), clamp: { x: SBP_BOUNDS, y: HBA1C_BOUNDS }, bounds: { x: SBP, y: HBA1C } };
    const corr = await run('correlation', { ...q, centre: { x: 130, y: 7 } });
    assert.equal(corr.count, n);
    assert.ok(Math.abs((corr.value as number) - sxy / Math.sqrt(sxx * syy)) < 1e-9, `${corr.value} vs ${sxy / Math.sqrt(sxx * syy)}`);
    const cov = await run('covariance', q);
    assert.ok(Math.abs((cov.value as number) - sxy / (n - 1)) < 1e-6, `${cov.value} vs ${sxy / (n - 1)}`);
  });

  it('with a cohort filter: the clamped mean, variance and count of the patients whose latest HbA1c ≥ 7 match plaintext', async () => {
    const hba1c = (p: string) => recs.find((r) => r.patient === p && r.indicator === 'c-hba1c')?.value ?? -1;
    const chosen = everyone.filter((p) => hba1c(p) >= 7);
    assert.ok(chosen.length > 3 && chosen.length < everyone.length, `a real selection: ${chosen.length}`);
    const expected = moments(latestClamped(recs, chosen, 2));
    const filter = { indicator: 'c-hba1c', op: '>=' as const, value: 7, domain: HBA1C };
    const mean = await run('mean', { filter, centre: { x: 130 } });
    assert.equal(mean.count, expected.count, 'the filtered count of records (opened from shares)');
    assert.ok(Math.abs((mean.value as number) - (expected.mean as number)) < 1e-9, `${mean.value} vs ${expected.mean}`);
    const variance = await run('variance', { filter: { or: [filter, { indicator: 'c-hba1c', op: '<', value: 4, domain: HBA1C }] }, centre: { x: 130 } });
    const either = moments(latestClamped(recs, everyone.filter((p) => hba1c(p) >= 7 || (hba1c(p) >= 0 && hba1c(p) < 4)), 2));
    assert.ok(Math.abs((variance.value as number) - (either.variance as number)) < 1e-6, `${variance.value} vs ${either.variance}`);
    assert.equal((await run('sum', { filter: { indicator: 'c-hba1c', op: '>', value: 19.9, domain: HBA1C } })).value, 0, 'nobody passes: 0');
  });

  it('with a cohort filter: a clamped correlation over the patients whose latest SBP ≥ 120 matches plaintext', async () => {
    const to = T0 + 4 * DAY;
    const pairs = everyone.flatMap((p) => {
      const latest = recs.filter((r) => r.patient === p && r.indicator === 'c-sbp' && r.at < to).sort((a, b) => b.at - a.at)[0];
      const h = recs.find((r) => r.patient === p && r.indicator === 'c-hba1c');
      return latest && h && latest.value >= 120 ? [[clampTo(latest.value, SBP_BOUNDS), clampTo(h.value, HBA1C_BOUNDS)] as const] : [];
    });
    const n = pairs.length;
    assert.ok(n > 3, `a real selection: ${n}`);
    const [mx, my] = [sumOf(pairs.map((q) => q[0])) / n, sumOf(pairs.map((q) => q[1])) / n];
    const sxy = sumOf(pairs.map(([x, y]) => (x - mx) * (y - my)));
    const r = sxy / Math.sqrt(sumOf(pairs.map(([x]) => (x - mx) ** 2)) * sumOf(pairs.map(([, y]) => (y - my) ** 2)));
    const corr = await run('correlation', {
      indicator2: 'c-hba1c', perPatient: 1, pairWindowSeconds: 0, to: new Date(to).toISOString(), clamp: { x: SBP_BOUNDS, y: HBA1C_BOUNDS }, bounds: { x: SBP, y: HBA1C },
      centre: { x: 130, y: 7 }, filter: { indicator: 'c-sbp', op: '>=', value: 120, domain: SBP },
    });
    assert.equal(corr.count, n);
    assert.ok(Math.abs((corr.value as number) - r) < 1e-9, `${corr.value} vs ${r}`);
  });

  it('refuses kinds without bounds, a missing y bound, a query without cohort or L, and one with more values to deal for than a run takes', async () => {
    await assert.rejects(run('count'), /count does not take declared bounds/);
    await assert.rejects(run('correlation', { indicator2: 'c-hba1c' }), /needs bounds for both indicators/);
    await assert.rejects(run('mean', { cohort: null }), /needs its cohort/);
    await assert.rejects(run('mean', { perPatient: null }), /needs its contribution bound/);
    // A researcher's large L over a large cohort would have the gateway deal for millions of values: refused first.
    const many = Array.from({ length: 100 }, (_, i) => `nobody-${i}`);
    await assert.rejects(run('mean', { cohort: many, perPatient: 10_000 }), /2000000 comparisons are more than one run deals for .*lower the contribution bound/);
  });

  it('a tap on every link sees sealed round messages only; the answers carry shares of the requested measures, no comparison bit', async () => {
    const tap = await tapCluster(tc);
    try {
      const coordinator = createCoordinator(tap.config, tc.gatewayKey);
      const r = await coordinator.aggregate({ indicator: 'c-sbp', aggregate: 'variance', cohort: everyone, perPatient: 2, clamp: { x: SBP_BOUNDS }, centre: { x: 130 } });
      assert.ok(r.value !== null);
      const seen = tap.exchanges();
      const rounds = new Set(seen.filter((x) => x.path === '/mpc/message').map((x) => JSON.parse(tap.plainRequest(x)).round as string));
      for (const name of ['cmp-open', 'cmp-b2a', 'zero', 'reshare']) assert.ok(rounds.has(name), `round ${name} ran: ${[...rounds].join(', ')}`);
      for (const x of seen.filter((e) => e.path === '/mpc/message')) assert.match(x.body, /^hgd-seal-v/, 'the body is sealed on the wire');
      const requests = seen.filter((x) => x.path === '/aggregate/clamped');
      assert.equal(requests.length, 3);
      for (const x of requests) {
        const req = JSON.parse(tap.plainRequest(x)) as Record<string, unknown>;
        assert.match(req.material as string, /^hgd-seal-v1\./, 'the material is sealed to its node inside the sealed body too');
        const answer = JSON.parse(tap.plainAnswer(x) as string) as Record<string, unknown>;
        assert.deepEqual(Object.keys(answer).sort(), ['digest', 'node', 'noised', 'peerBytesSent', 'records', 'scaleX', 'scaleY', 'shares']);
        assert.deepEqual(Object.keys(answer.shares as object).sort(), ['count', 'sum', 'sumSquares']);
      }
    } finally {
      await tap.close();
    }
  });

  it('a noised clamped variance computes and opens only the measures its noise names', async () => {
    const r = await run('variance', { centre: { x: 130 }, noise: { count: { epsilon: 5, sensitivity: 2 }, sumSquares: { epsilon: 5, sensitivity: 2 * 30 ** 2 } } });
    assert.ok(r.opened?.sumSquares, 'Σ(clamp(x) − c)² is opened (noised)');
    assert.equal(r.opened?.sum, undefined, 'Σ(clamp(x) − c) was not computed, so it cannot be opened exactly');
  });

  it('needs all three nodes: with one down it fails before dealing anything (insufficient_nodes)', async () => {
    await tc.cluster.stop(2);
    try {
      await assert.rejects(run('sum'), (e: unknown) => (e as { code?: string }).code === 'insufficient_nodes');
    } finally {
      await tc.cluster.restart(2);
    }
    assert.equal((await run('sum', { cohort: ['cp0'] })).value, 260);
  });

  it('nodes holding other records stop at once on the agreement round, also when one of them selected nothing', async () => {
    const node3 = tc.dbs[2]!.knex;
    const rows = (await node3('node_shares').where({ indicator: 'c-sbp', pseudonym: 'cp5' })) as Array<Record<string, unknown>>;
    assert.equal(rows.length, 3);
    await node3('node_shares').where({ indicator: 'c-sbp', pseudonym: 'cp5' }).delete();
    try {
      // Node 3 (pending deliveries, say) holds none of cp5's values: it has nothing to compute, and the
      // others would wait for its round messages until the peer timeout (30 s) without the check.
      await assert.rejects(run('sum', { cohort: ['cp5'] }), /selected other records/);
      await node3('node_shares').insert(rows.slice(0, 1));
      await assert.rejects(run('sum', { cohort: ['cp5'] }), /selected other records/, 'one value against two');
    } finally {
      await node3('node_shares').where({ indicator: 'c-sbp', pseudonym: 'cp5' }).delete();
      await node3('node_shares').insert(rows);
    }
    assert.equal((await run('sum', { cohort: ['cp5'] })).count, 2, 'in step again');
  });

  it('a node refuses bounds outside the domain, a pair without y bounds, and material for an empty cohort', () => {
    const base = { queryId: 'q-clamp-parse-1', indicator: 'x', indicator2: null, windowSeconds: 0, from: null, to: null, cohort: ['p1'], perPatient: 1, measures: ['sum'], maskBits: 52, material: 'sealed', participants: [1, 2, 3] };
    const parse = (o: Record<string, unknown>) => parseClampedRequest({ ...base, ...o }, 3, 1, 1);
    assert.ok(parse({ clamp: { x: { min: 60, max: 200, domain: SBP } } }));
    assert.throws(() => parse({ clamp: { x: { min: 40, max: 200, domain: SBP } } }), /clamp.x must be \{min < max\} inside its domain \[50, 250\]/);
    assert.throws(() => parse({ clamp: { x: { min: 200, max: 200, domain: SBP } } }), /min < max/);
    assert.throws(() => parse({ indicator2: 'y', windowSeconds: 60, measures: ['sumXY'], clamp: { x: { min: 60, max: 200, domain: SBP } } }), /clamp must bound y exactly when/);
    assert.throws(() => parse({ cohort: [], clamp: { x: { min: 60, max: 200, domain: SBP } } }), /material must be given exactly when the cohort is not empty/);
    assert.throws(() => parse({ perPatient: null, clamp: { x: { min: 60, max: 200, domain: SBP } } }), /needs its contribution bound/);
  });
});
