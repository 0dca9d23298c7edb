/**
 * Histograms with the researcher's edges and median / quantile through the HTTP API (gateway + three
 * compute nodes): released values against plaintext, the disclosure rules (L = 1, the plan, the
 * ledger entry), and bad options answered 400 naming the field.
 */
import { strict as assert } from 'node:assert';
import { getIndicator } from '../management-layer/catalogue';
import { plainQuantile } from '../mpc/quantiles';
import { startTestStack, type TestStack } from './support/cluster';
import { prng } from './support/mpc';
import { assertCovers, assertRankCovers } from './support/intervals';

const MRN = 'http://hospital.example/mrn';
const SBP = '8480-6';

describe('edge histograms and quantiles (HTTP, three nodes)', function () {
  this.timeout(300_000);
  let s: TestStack;
  let alice: string;
  const next = prng(31);
  // Two readings a patient, the latest decides; the range ends (40, 300) and ties included.
  const patients = Array.from({ length: 30 }, (_, i) => ({ id: `Q${i}`, sbp: [Math.round(100 + next() * 60), i === 0 ? 40 : i === 1 ? 300 : i < 6 ? 130 : Math.round(100 + next() * 60)] as [number, number] }));
  const latest = patients.map((p) => p.sbp[1]);
  const birthYear = (i: number) => (i < 20 ? 1950 + (i % 10) : 1970 + (i % 10));
  const sexOf = (i: number) => (i % 3 ? 'female' : 'male');

  const post = async (path: string, token: string, body: unknown) => s.request('POST', path, { token, body: JSON.stringify(body), contentType: 'application/json' });
  const query = async (body: Record<string, unknown>) => {
    const r = await post('/queries', alice, body);
    assert.equal(r.status, 202, r.text);
    return s.waitForQuery(r.body.id, alice);
  };

  before(async () => {
    s = await startTestStack({ env: { HGD_MAX_EPSILON: '20', HGD_PATIENT_EPSILON_BUDGET: '1000' } });
    alice = await s.token({ role: 'researcher', sub: 'r-alice' });
    const rows: Array<[string, string, number, string, string]> = [];
    for (const p of patients) p.sbp.forEach((v, k) => rows.push([`${MRN}|${p.id}`, SBP, v, 'mm[Hg]', `2024-03-0${1 + k}T08:00:00Z`]));
    await s.ingestCsv(rows);
    const demo = ['patient_id,birth_date,sex', ...patients.map((p, i) => `"${MRN}|${p.id}",${birthYear(i)},${sexOf(i)}`)].join('\n');
    const d = await s.request('POST', '/ingest', { token: s.provider, body: demo, contentType: 'text/csv' });
    assert.equal(d.status, 200, d.text);
    const r = await post('/admin/studies', s.admin, { id: 'rank', title: 'rank', purpose: 'HRESCH', minCohort: 2, epsilonBudget: 1000, maxContributions: 3 });
    assert.equal(r.status, 201, r.text);
    await post('/admin/studies/rank/researchers', s.admin, { researcher: 'r-alice' });
    for (const p of patients) {
      const g = await post('/patients/me/grants', await s.patientToken(MRN, p.id), { study: 'rank', indicators: ['bp_systolic', 'sex', 'birth_year'], purpose: 'HRESCH' });
      assert.equal(g.status, 201, g.text);
    }
  });
  after(async () => s?.close());

  it('a histogram with the researcher\'s edges: noisy buckets of the latest values near plaintext, L = 1, edges in the ledger', async () => {
    const edges = [40, 120, 130, 131, 150, 300];
    const q = await query({ study: 'rank', indicators: ['bp_systolic'], aggregate: 'histogram', options: { epsilon: 20, edges } });
    assert.equal(q.status, 'done', q.message);
    assert.equal(q.privacy.perPatient, 1, 'one value a patient, although the study allows 3');
    const h = q.result.histogram;
    assert.deepEqual(h.edges, edges);
    const truth = edges.slice(1).map((hi, j) => latest.filter((v) => v >= edges[j]! && v < hi).length);
    const w = q.result.bucketHalfWidth as number;
    h.counts.forEach((c: number, j: number) => assert.ok(Math.abs(c - truth[j]!) <= 2 * w + 1, `bucket ${j}: ${c} vs ${truth[j]} (± ${w})`));
    assert.ok(Math.abs(h.above - 1) <= 2 * w + 1, 'x ≥ 300: one patient at the range maximum');
    assert.equal(q.result.records, null);
    const entry = JSON.parse((await s.gateway.ledger.getEntry(q.ledgerSeq)).canonical);
    assert.deepEqual(entry.payload.edges, edges);
  });

  it('a histogram with the researcher\'s edges and a cohort filter: the buckets of the patients born before 1960', async () => {
    const edges = [40, 120, 130, 150, 300];
    const q = await query({ study: 'rank', indicators: ['bp_systolic'], aggregate: 'histogram', filter: { indicator: 'birth_year', op: '<', value: 1960 }, options: { epsilon: 20, edges } });
    assert.equal(q.status, 'done', q.message);
    const older = latest.filter((_, i) => birthYear(i) < 1960);
    const truth = edges.slice(1).map((hi, j) => older.filter((v) => v >= edges[j]! && v < hi).length);
    const w = q.result.bucketHalfWidth as number;
    q.result.histogram.counts.forEach((c: number, j: number) => assert.ok(Math.abs(c - truth[j]!) <= 2 * w + 1, `bucket ${j}: ${c} vs ${truth[j]} of the ${older.length} older patients (± ${w})`));
    const total = q.result.histogram.counts.reduce((a: number, b: number) => a + b, 0) + q.result.histogram.below + q.result.histogram.above;
    assert.ok(Math.abs(total - older.length) <= 6 * w + 3, `the buckets add up to about the ${older.length} filtered patients, not the ${latest.length}: ${total}`);
    // Without edges of its own a histogram takes the catalogue's, on the same comparisons: a filter works too.
    const cat = await query({ study: 'rank', indicators: ['bp_systolic'], aggregate: 'histogram', filter: { indicator: 'birth_year', op: '<', value: 1960 }, options: { epsilon: 20 } });
    assert.equal(cat.status, 'done', cat.message);
    const catalogueEdges = getIndicator('bp_systolic')!.histogramEdges;
    assert.deepEqual(cat.result.histogram.edges, catalogueEdges);
    const cw = cat.result.bucketHalfWidth as number;
    const catTruth = catalogueEdges.slice(1).map((hi, j) => older.filter((v) => v >= catalogueEdges[j]! && v < hi).length);
    cat.result.histogram.counts.forEach((c: number, j: number) => assert.ok(Math.abs(c - catTruth[j]!) <= 2 * cw + 1, `catalogue bucket ${j}: ${c} vs ${catTruth[j]} (± ${cw})`));
  });

  it('median and p90: near the plaintext quantiles of the latest values, the truth in the released interval', async () => {
    for (const [aggregate, qq] of [['median', 0.5], ['quantile', 0.9]] as const) {
      const q = await query({ study: 'rank', indicators: ['bp_systolic'], aggregate, options: { epsilon: 20, ...(aggregate === 'quantile' ? { q: qq } : {}) } });
      assert.equal(q.status, 'done', q.message);
      assert.equal(q.privacy.perPatient, 1);
      // The released noise is one round's: the count part's ε over the 9 rounds of a 260-unit range.
      const countPart = q.result.noise.find((n: { measure: string }) => n.measure === 'count');
      assert.equal(countPart.rounds, 9);
      assert.ok(Math.abs(countPart.epsilon * 9 - q.privacy.parts.find((n: { measure: string }) => n.measure === 'count').epsilon) < 1e-9);
      const truth = plainQuantile(latest, qq) as number;
      assertRankCovers(truth, q.result.interval, latest, aggregate, q.result.value);
      const [lo, hi] = q.result.interval as [number, number];
      assert.ok(lo <= q.result.value && q.result.value <= hi);
      // Bounded by thresholds the search tested (coarse, but from the noise only): narrower than half the range.
      if (aggregate === 'median') assert.ok(hi - lo < 130, `an informative interval at ε 20: [${lo}, ${hi}]`);
      // In rank: at ε 20 (ε/9 a round) the released value is within a few patients of the truth's rank.
      const below = latest.filter((v) => v < q.result.value).length;
      const atMost = latest.filter((v) => v <= q.result.value).length;
      assert.ok(below <= qq * 30 + 4 && atMost >= qq * 30 - 4, `${aggregate} ${q.result.value}: ${below} below, ${atMost} at most`);
      const entry = JSON.parse((await s.gateway.ledger.getEntry(q.ledgerSeq)).canonical);
      assert.equal(entry.payload.aggregate, aggregate);
      if (aggregate === 'quantile') assert.equal(entry.payload.q, 0.9);
    }
  });

  it('bad options are 400 naming the field: edges outside the range or unsorted, q on median, q = 1, quantile without q', async () => {
    const bad = async (aggregate: string, options: Record<string, unknown>, field: string) => {
      const r = await post('/queries', alice, { study: 'rank', indicators: ['bp_systolic'], aggregate, options: { epsilon: 1, ...options } });
      assert.equal(r.status, 400, r.text);
      assert.equal(r.body.field, field, r.text);
    };
    await bad('histogram', { edges: [10, 120] }, 'options.edges');
    await bad('histogram', { edges: [130, 120] }, 'options.edges');
    await bad('histogram', { edges: [100] }, 'options.edges');
    await bad('mean', { edges: [100, 120] }, 'options.edges');
    await bad('median', { q: 0.4 }, 'options.q');
    await bad('quantile', { q: 1 }, 'options.q');
    await bad('quantile', { q: 0.333 }, 'options.q');
    await bad('quantile', {}, 'options.q');
  });

  it('group-by sex (count, mean) and birth decade (count): every group near plaintext, empty groups suppressed, ε charged once', async () => {
    const count = await query({ study: 'rank', indicators: ['bp_systolic'], aggregate: 'count', groupBy: 'sex', options: { epsilon: 20 } });
    assert.equal(count.status, 'done', count.message);
    const by = (label: string) => count.result.groups.find((g: { group: string }) => g.group === label);
    // The study's L is 3: both readings of a patient count (records, not patients).
    const women = 2 * patients.filter((_, i) => sexOf(i) === 'female').length;
    assert.ok(Math.abs(by('female').value - women) <= 4, `female ${by('female').value} vs ${women}`);
    assert.ok(Math.abs(by('male').value - (60 - women)) <= 4);
    for (const empty of ['unknown', 'other']) assert.deepEqual(by(empty), { group: empty, suppressed: true, value: null, records: null }, `${empty}: no patient, suppressed`);
    assert.equal(count.result.value, null);
    const mean = await query({ study: 'rank', indicators: ['bp_systolic'], aggregate: 'mean', groupBy: 'sex', options: { epsilon: 20 } });
    assert.equal(mean.status, 'done', mean.message);
    const f = mean.result.groups.find((g: { group: string }) => g.group === 'female');
    const truth = patients.filter((_, i) => sexOf(i) === 'female').flatMap((p) => p.sbp);
    const avg = truth.reduce((a, b) => a + b, 0) / truth.length;
    assert.ok(Math.abs(f.value - avg) < 15, `female mean ${f.value} vs ${avg}`);
    const decades = await query({ study: 'rank', indicators: ['bp_systolic'], aggregate: 'count', groupBy: 'birth_decade', options: { epsilon: 20 } });
    assert.equal(decades.status, 'done', decades.message);
    const d = (label: string) => decades.result.groups.find((g: { group: string }) => g.group === label);
    assert.ok(Math.abs(d('1950s').value - 40) <= 4 && Math.abs(d('1970s').value - 20) <= 4, JSON.stringify(decades.result.groups));
    assert.equal(d('1990s').suppressed, true);
    // Parallel composition: one charge of the query's ε per patient, not one per group.
    const charged = (await s.gateway.db.knex('query_contributors').where({ query_id: decades.id }).select('epsilon')) as Array<{ epsilon: string }>;
    assert.equal(charged.length, 30);
    for (const c of charged) assert.equal(Number(c.epsilon), 20);
    const entry = JSON.parse((await s.gateway.ledger.getEntry(decades.ledgerSeq)).canonical);
    assert.equal(entry.payload.groupBy, 'birth_decade');
    const bad = await post('/queries', alice, { study: 'rank', indicators: ['bp_systolic'], aggregate: 'variance', groupBy: 'sex' });
    assert.equal(bad.status, 400, bad.text);
    assert.equal(bad.body.field, 'groupBy');
  });

  it('a filtered p90 and the median by sex: the rank is of the filter’s own noisy total, every group’s truth in its interval', async () => {
    // Born before 1960: patients 0–19 (1950–1959).
    const older = latest.filter((_, i) => birthYear(i) < 1960);
    const q = await query({ study: 'rank', indicators: ['bp_systolic'], aggregate: 'quantile', filter: { indicator: 'birth_year', op: '<', value: 1960 }, options: { epsilon: 20, q: 0.9 } });
    assert.equal(q.status, 'done', q.message);
    assert.deepEqual((q.privacy.parts as Array<{ measure: string }>).map((p) => p.measure), ['pilotCountX', 'count', 'contributors'], 'a noised filtered total besides the rounds and the gate');
    assert.ok(Math.abs(q.result.records - older.length) <= 3, `the filtered total ${q.result.records} near ${older.length} (the gate counts all ${latest.length})`);
    const truth = plainQuantile(older, 0.9) as number;
    assertRankCovers(truth, q.result.interval, older, 'filtered p90', q.result.value);
    const below = older.filter((v) => v < q.result.value).length;
    const atMost = older.filter((v) => v <= q.result.value).length;
    assert.ok(below <= 0.9 * older.length + 4 && atMost >= 0.9 * older.length - 4, `p90 ${q.result.value} of the older patients: ${below} below, ${atMost} at most`);

    const m = await query({ study: 'rank', indicators: ['bp_systolic'], aggregate: 'median', groupBy: 'sex', options: { epsilon: 20 } });
    assert.equal(m.status, 'done', m.message);
    for (const sex of ['female', 'male']) {
      const values = latest.filter((_, i) => sexOf(i) === sex);
      const g = m.result.groups.find((x: { group: string }) => x.group === sex);
      assert.equal(g.suppressed, false, `${sex}: ${values.length} patients, released`);
      const t = plainQuantile(values, 0.5) as number;
      assertRankCovers(t, g.interval, values, `${sex} median`, g.value);
      const rank = values.filter((v) => v < g.value).length;
      assert.ok(rank <= values.length / 2 + 4 && values.filter((v) => v <= g.value).length >= values.length / 2 - 4, `${sex} median ${g.value}: ${rank} of ${values.length} below`);
    }
    for (const empty of ['unknown', 'other']) assert.equal(m.result.groups.find((x: { group: string }) => x.group === empty).suppressed, true);
    const charged = (await s.gateway.db.knex('query_contributors').where({ query_id: m.id }).select('epsilon')) as Array<{ epsilon: string }>;
    assert.equal(charged.length, 30, 'parallel composition: each patient charged once');
  });

  it('group-by bands of an indicator: the count of patients by their latest systolic BP band, every band near plaintext', async () => {
    const q = await query({ study: 'rank', indicators: ['bp_systolic'], aggregate: 'count', groupBy: { indicator: 'bp_systolic', edges: [120, 140] }, options: { epsilon: 20, perPatient: 1 } });
    assert.equal(q.status, 'done', q.message);
    assert.deepEqual(q.result.groups.map((g: { group: string }) => g.group), ['< 120', '120 to 140', '≥ 140']);
    const truth = [latest.filter((v) => v < 120).length, latest.filter((v) => v >= 120 && v < 140).length, latest.filter((v) => v >= 140).length];
    q.result.groups.forEach((g: { value: number | null; suppressed: boolean }, k: number) => {
      if (truth[k]! >= 5) assert.ok(!g.suppressed && Math.abs((g.value as number) - truth[k]!) <= 3, `band ${k}: ${g.value} vs ${truth[k]}`);
    });
    const entry = JSON.parse((await s.gateway.ledger.getEntry(q.ledgerSeq)).canonical);
    assert.deepEqual(entry.payload.groupBy, { indicator: 'bp_systolic', edges: [120, 140] });
    for (const [groupBy, message] of [[{ indicator: 'bp_systolic', edges: [140, 120] }, /strictly increasing/], [{ indicator: 'bp_systolic', edges: [400] }, /inside bp_systolic's range/], [{ indicator: 'nope', edges: [1] }, /unknown indicator/], [{ indicator: 'sex', edges: [1] }, /coded/]] as const) {
      const r = await post('/queries', alice, { study: 'rank', indicators: ['bp_systolic'], aggregate: 'count', groupBy });
      assert.equal(r.status, 400, r.text);
      assert.equal(r.body.field, 'groupBy');
      assert.match(r.body.message, message);
    }
  });

  it('a mean by sex with declared bounds: every group clamped into [110, 150], near the clamped plaintext', async () => {
    const q = await query({ study: 'rank', indicators: ['bp_systolic'], aggregate: 'mean', groupBy: 'sex', options: { epsilon: 20, bounds: { bp_systolic: { min: 110, max: 150 } } } });
    assert.equal(q.status, 'done', q.message);
    assert.deepEqual(q.privacy.clampedTo, { x: { min: 110, max: 150 } });
    for (const sex of ['female', 'male']) {
      // The study's L is 3: both readings of each patient, clamped.
      const values = patients.filter((_, i) => sexOf(i) === sex).flatMap((p) => p.sbp).map((v) => Math.min(150, Math.max(110, v)));
      const truth = values.reduce((a, b) => a + b, 0) / values.length;
      const g = q.result.groups.find((x: { group: string }) => x.group === sex);
      assert.ok(Math.abs(g.value - truth) < 5, `${sex}: clamped mean ${g.value} near ${truth.toFixed(2)}`);
      assert.ok(g.value >= 110 && g.value <= 150);
    }
  });

  it('a mean by sex with automatic bounds: each group derives its own bounds and is clamped into them', async () => {
    const q = await query({ study: 'rank', indicators: ['bp_systolic'], aggregate: 'mean', groupBy: 'sex', options: { epsilon: 20, bounds: 'auto' } });
    assert.equal(q.status, 'done', q.message);
    assert.equal(q.result.clampedTo, undefined, 'no bounds for the whole: each group has its own');
    for (const sex of ['female', 'male']) {
      const g = q.result.groups.find((x: { group: string }) => x.group === sex);
      const b = g.clampedTo.bp_systolic as { min: number; max: number };
      assert.ok(b.min >= 40 && b.max <= 300 && b.min < b.max, `${sex}: bounds ${JSON.stringify(b)}`);
      const values = patients.filter((_, i) => sexOf(i) === sex).flatMap((p) => p.sbp).map((v) => Math.min(b.max, Math.max(b.min, v)));
      const truth = values.reduce((a, v) => a + v, 0) / values.length;
      // About 20 patients a group: the noise at the derived bounds' scale is the interval's to judge, not a fixed margin.
      assertCovers(truth, g.interval, `${sex}: mean clamped into its bounds`, g.value);
      assert.ok(g.value >= b.min && g.value <= b.max, `${sex}: mean ${g.value} inside its bounds`);
    }
    // The ledger keeps each released group's bounds and the sensitivities they gave.
    const entry = JSON.parse((await s.gateway.ledger.getEntry(q.ledgerSeq)).canonical);
    const released = q.result.groups.filter((g: { suppressed: boolean }) => !g.suppressed);
    assert.deepEqual(entry.payload.released.groups.map((g: { group: string; clampedTo: unknown }) => [g.group, g.clampedTo]), released.map((g: { group: string; clampedTo: unknown }) => [g.group, g.clampedTo]));
    for (const g of entry.payload.released.groups as Array<{ clampedTo: { bp_systolic: { min: number; max: number } }; parts: Array<{ measure: string; sensitivity: number }> }>) {
      const { min, max } = g.clampedTo.bp_systolic;
      const sum = g.parts.find((p) => p.measure === 'sum')!;
      assert.ok(Math.abs(sum.sensitivity - 3 * ((max - min) / 2)) <= 3, `Σ(x − c) at L·half-width of the group's own bounds: ${sum.sensitivity} for [${min}, ${max}]`);
    }
  });
});
