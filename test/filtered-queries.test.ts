/**
 * Filtered research queries through the HTTP API (gateway + three compute nodes): "mean systolic BP of
 * patients whose latest HbA1c ≥ 6.5" against plaintext, consent on the filter's indicator, and a
 * differencing attack with and without the target's predicate.
 */
import { strict as assert } from 'node:assert';
import { startTestStack, type TestStack } from './support/cluster';
import { prng } from './support/mpc';
import { assertCovers } from './support/intervals';

const MRN = 'http://hospital.example/mrn';
const SBP = '8480-6';
const HBA1C = '4548-4';

interface Patient {
  id: string;
  hba1c: [number, number];
  sbp: [number, number];
}

describe('filtered research queries (HTTP, three nodes)', function () {
  this.timeout(300_000);
  let s: TestStack;
  let alice: string;
  const next = prng(99);
  // Latest HbA1c decides: the earlier reading is on the other side of 6.5 for every second patient.
  const patients: Patient[] = Array.from({ length: 40 }, (_, i) => {
    const latest = Math.round((5 + next() * 3.4) * 100) / 100; // below 8.4
    return { id: `G${i}`, hba1c: [i % 2 ? 13 - latest : latest, latest], sbp: [Math.round(110 + next() * 50), Math.round(110 + next() * 50)] };
  });
  patients.push({ id: 'G-equal', hba1c: [5, 6.5], sbp: [150, 152] });
  const birthYear = (i: number) => 1935 + ((i * 7) % 60);
  const target: Patient = { id: 'TARGET', hba1c: [7, 9], sbp: [200, 210] };
  const noGrant: Patient = { id: 'NOGRANT', hba1c: [9.5, 9.5], sbp: [295, 298] };

  const post = async (path: string, token: string, body: unknown) => s.request('POST', path, { token, body: JSON.stringify(body), contentType: 'application/json' });
  const query = async (body: Record<string, unknown>) => {
    const r = await post('/queries', alice, body);
    assert.equal(r.status, 202, r.text);
    return s.waitForQuery(r.body.id, alice);
  };
  const contributors = async (id: string) => ((await s.gateway.db.knex('query_contributors').where({ query_id: id }).select('patient', 'epsilon')) as Array<{ patient: string; epsilon: string }>);
  /** The query ids in a patient's access log (the queries that charged them). */
  const accessLog = async (v: string) => {
    const r = await s.request('GET', '/patients/me/access-log', { token: await s.patientToken(MRN, v) });
    assert.equal(r.status, 200, r.text);
    return (r.body.entries as Array<{ queryId: string; epsilon: number }>);
  };

  before(async () => {
    s = await startTestStack({ env: { HGD_MAX_EPSILON: '100', HGD_PATIENT_EPSILON_BUDGET: '10000' } });
    alice = await s.token({ role: 'researcher', sub: 'r-alice' });
    const rows: Array<[string, string, number, string, string]> = [];
    for (const p of [...patients, target, noGrant]) {
      p.hba1c.forEach((v, k) => rows.push([`${MRN}|${p.id}`, HBA1C, v, '%', `2024-03-0${1 + 2 * k}T08:00:00Z`]));
      p.sbp.forEach((v, k) => rows.push([`${MRN}|${p.id}`, SBP, v, 'mm[Hg]', `2024-03-0${2 + 2 * k}T08:00:00Z`]));
    }
    await s.ingestCsv(rows);
    // Demographics (a patient's birth year), ingested as a demographics CSV.
    const demo = ['patient_id,birth_date,sex', ...patients.map((p, i) => `"${MRN}|${p.id}",${birthYear(i)},${i % 3 ? 'female' : 'male'}`)].join('\n');
    const d = await s.request('POST', '/ingest', { token: s.provider, body: demo, contentType: 'text/csv' });
    assert.equal(d.status, 200, d.text);
    const r = await post('/admin/studies', s.admin, { id: 'filt', title: 'filt', purpose: 'HRESCH', minCohort: 2, epsilonBudget: 1000 });
    assert.equal(r.status, 201, r.text);
    await post('/admin/studies/filt/researchers', s.admin, { researcher: 'r-alice' });
    for (const p of [...patients, target]) {
      const g = await post('/patients/me/grants', await s.patientToken(MRN, p.id), { study: 'filt', indicators: ['bp_systolic', 'hba1c'], purpose: 'HRESCH' });
      assert.equal(g.status, 201, g.text);
    }
    const g = await post('/patients/me/grants', await s.patientToken(MRN, noGrant.id), { study: 'filt', indicators: ['bp_systolic'], purpose: 'HRESCH' });
    assert.equal(g.status, 201, g.text);
  });
  after(async () => s?.close());

  it('mean systolic BP of patients whose latest HbA1c ≥ 6.5: the plaintext mean lies in the released interval', async () => {
    const chosen = [...patients, target].filter((p) => p.hba1c[1] >= 6.5);
    // The study's contribution bound L is 1: each patient's latest SBP only.
    const values = chosen.map((p) => p.sbp[1]);
    const truth = values.reduce((a, b) => a + b, 0) / values.length;
    const q = await query({ study: 'filt', indicators: ['bp_systolic'], aggregate: 'mean', filter: { indicator: 'hba1c', op: '>=', value: 6.5 }, options: { epsilon: 20 } });
    assert.equal(q.status, 'done', q.message);
    assertCovers(truth, q.result.interval, 'filtered mean', q.result.value);
    const [lo, hi] = q.result.interval as [number, number];
    assert.ok(hi - lo < 20, `a tight interval at ε 20: [${lo}, ${hi}]`);
    assert.ok(Math.abs(q.result.value - truth) < 10, `released ${q.result.value} near ${truth}`);
    // The filtered number of records is released noisy only, and the unfiltered mean is elsewhere.
    assert.ok(typeof q.result.records === 'number');
    assert.deepEqual(q.options.filter, { indicator: 'hba1c', op: '>=', value: 6.5 });
    const entry = JSON.parse((await s.gateway.ledger.getEntry(q.ledgerSeq)).canonical);
    assert.deepEqual(entry.payload.filter, { indicator: 'hba1c', op: '>=', value: 6.5 }, 'the ledger records the filter');
  });

  it('variance of systolic BP where the latest HbA1c ≥ 6.5: a filtered pilot mean, a count of its own, the plaintext inside the interval', async () => {
    const chosen = [...patients, target].filter((p) => p.hba1c[1] >= 6.5);
    const values = chosen.map((p) => p.sbp[1]);
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const truth = values.reduce((a, v) => a + (v - mean) ** 2, 0) / (values.length - 1);
    // ε 100: with 21 patients and the catalogue's range, a smaller ε leaves the pilot centre ±15 off and Σ(x − m̂)² noise-dominated.
    const q = await query({ study: 'filt', indicators: ['bp_systolic'], aggregate: 'variance', filter: { indicator: 'hba1c', op: '>=', value: 6.5 }, options: { epsilon: 100 } });
    assert.equal(q.status, 'done', q.message);
    const measures = (q.result.noise as Array<{ measure: string }>).map((n) => n.measure).sort();
    assert.deepEqual(measures, ['contributors', 'count', 'pilotCountX', 'pilotSumX', 'sumSquares'], 'the filtered count and the pilot count are noised by the nodes, not taken from the gate');
    assert.ok(Math.abs(q.result.centre.x - mean) < 15, `the pilot centre ${q.result.centre.x} is the filtered mean's (${mean.toFixed(1)}), not everyone's`);
    assertCovers(truth, q.result.interval, 'filtered variance', q.result.value);
    // The ledger keeps the centre and the sensitivities around it, beside the submitted plan's upper bound (the width²).
    const entry = JSON.parse((await s.gateway.ledger.getEntry(q.ledgerSeq)).canonical);
    assert.deepEqual(entry.payload.released.centre, q.result.centre);
    const sensitivity = (parts: Array<{ measure: string; sensitivity: number }>) => parts.find((p) => p.measure === 'sumSquares')!.sensitivity;
    assert.equal(sensitivity(entry.payload.released.parts), sensitivity(q.result.noise));
    assert.equal(sensitivity(entry.payload.privacy.parts), 260 * 260);
  });

  it('a patient who did not grant the filter indicator is excluded (and not charged)', async () => {
    const q = await query({ study: 'filt', indicators: ['bp_systolic'], aggregate: 'count', filter: { indicator: 'hba1c', op: '>=', value: 9.4 }, options: { epsilon: 20 } });
    assert.equal(q.status, 'done', q.message);
    // Only NOGRANT has a latest HbA1c ≥ 9.4: without their consent to hba1c the filtered count is 0.
    assert.ok(Math.abs(q.result.value) < 3, `noisy count of nobody: ${q.result.value}`);
    assert.equal((await contributors(q.id)).length, patients.length + 1, 'everyone who consented to both indicators is charged');
    assert.ok(!(await accessLog(noGrant.id)).some((e) => e.queryId === q.id), 'NOGRANT is not charged');
    const unfiltered = await query({ study: 'filt', indicators: ['bp_systolic'], aggregate: 'mean', options: { epsilon: 20 } });
    assert.equal((await contributors(unfiltered.id)).length, patients.length + 2, 'NOGRANT contributes where the filter is not used');
    assert.ok((await accessLog(noGrant.id)).some((e) => e.queryId === unfiltered.id));
  });

  it('demographics filter unchanged: patients born in 1960 or before whose latest HbA1c ≥ 6.5 (granted birth_year too)', async () => {
    const r = await post('/admin/studies', s.admin, { id: 'demo', title: 'demo', purpose: 'HRESCH', minCohort: 2, epsilonBudget: 1000 });
    assert.equal(r.status, 201, r.text);
    await post('/admin/studies/demo/researchers', s.admin, { researcher: 'r-alice' });
    for (const p of patients) {
      const g = await post('/patients/me/grants', await s.patientToken(MRN, p.id), { study: 'demo', indicators: ['bp_systolic', 'hba1c', 'birth_year', 'sex'], purpose: 'HRESCH' });
      assert.equal(g.status, 201, g.text);
    }
    const truth = patients.filter((p, i) => birthYear(i) <= 1960 && p.hba1c[1] >= 6.5).length;
    assert.ok(truth >= 3, `a real selection: ${truth}`);
    const q = await query({ study: 'demo', indicators: ['bp_systolic'], aggregate: 'count', filter: { and: [{ indicator: 'birth_year', op: '<=', value: 1960 }, { indicator: 'hba1c', op: '>=', value: 6.5 }] }, options: { epsilon: 20 } });
    assert.equal(q.status, 'done', q.message);
    assert.ok(Math.abs(q.result.value - truth) < 3, `noisy ${q.result.value} vs ${truth} (one record a patient: L = 1)`);
    // A coded demographic by its code, with "=" (two comparisons).
    const women = patients.filter((p, i) => i % 3 !== 0 && birthYear(i) <= 1960).length;
    const f = await query({ study: 'demo', indicators: ['bp_systolic'], aggregate: 'count', filter: { and: [{ indicator: 'sex', op: '=', value: 'female' }, { indicator: 'birth_year', op: '<=', value: 1960 }] }, options: { epsilon: 20 } });
    assert.equal(f.status, 'done', f.message);
    assert.ok(Math.abs(f.result.value - women) < 3, `noisy ${f.result.value} vs ${women}`);
    const bad = await post('/queries', alice, { study: 'demo', indicators: ['bp_systolic'], aggregate: 'count', filter: { indicator: 'sex', op: '=', value: 'F' } });
    assert.equal(bad.status, 400);
    assert.match(bad.body.message, /no code "F"/);
  });

  it('refuses a filter on a kind without filters and on an unknown indicator, naming the field', async () => {
    const bad = await post('/queries', alice, { study: 'filt', indicators: ['bp_systolic', 'hba1c'], aggregate: 'correlation', filter: { indicator: 'hba1c', op: '>=', value: 6.5 } });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.field, 'filter');
    assert.match(bad.body.message, /applies to .*histogram, not correlation/);
    const unknown = await post('/queries', alice, { study: 'filt', indicators: ['bp_systolic'], aggregate: 'count', filter: { indicator: 'nope', op: '>=', value: 1 } });
    assert.equal(unknown.status, 400);
    assert.match(unknown.body.message, /unknown indicator/);
    const op = await post('/queries', alice, { study: 'filt', indicators: ['bp_systolic'], aggregate: 'count', filter: { indicator: 'hba1c', op: '==', value: 1 } });
    assert.equal(op.status, 400);
    assert.match(op.body.field, /^filter/);
  });

  it('a differencing attack with and without the target’s predicate sees noise of the charged ε, not the target’s bit', async () => {
    // Only TARGET's latest HbA1c is ≥ 8.5: the two filters differ by the target alone (exact counts differ by 1).
    const withTarget = { indicator: 'hba1c', op: '>=', value: 6.5 };
    const withoutTarget = { and: [withTarget, { indicator: 'hba1c', op: '<', value: 8.5 }] };
    // ε 2 a query: the gate's ε/5 = 0.4 clears 41 patients past minCohort + margin every time (at ε 1 the
    // gate's share is capped at 0.1, a margin of 24: a suppression in ten queries would be likely).
    const count = (filter: unknown) => query({ study: 'filt', indicators: ['bp_systolic'], aggregate: 'count', filter, options: { epsilon: 2, perPatient: 1 } });
    // Eight pairs: with five, every difference came out exactly 1 (all five noise differences 0, the
    // rms below σ/4) about one run in 150; with eight, about one in 3000.
    const k = 8;
    const diffs: number[] = [];
    let sigma = 0;
    const ids: string[] = [];
    for (let i = 0; i < k; i++) {
      const a = await count(withTarget);
      const b = await count(withoutTarget);
      for (const q of [a, b]) {
        assert.equal(q.status, 'done', q.message);
        assert.equal(q.privacy.epsilonSpent, 2);
        assert.ok((await contributors(q.id)).every((c) => Number(c.epsilon) === 2));
        ids.push(q.id);
      }
      sigma = a.result.noise.find((n: { measure: string }) => n.measure === 'count').stdDev as number;
      diffs.push(a.result.value - b.result.value);
    }
    const log = await accessLog(target.id);
    for (const id of ids) assert.equal(log.find((e) => e.queryId === id)?.epsilon, 2, 'the target is charged ε in every query, with and without its predicate');
    assert.ok(sigma > 0.5, `σ of a count at ε 1.6 over three nodes' noise parts: ${sigma}`);
    const errors = diffs.map((d) => d - 1);
    const rms = Math.sqrt(errors.reduce((acc, e) => acc + e * e, 0) / k);
    assert.ok(rms > sigma / 4, `differences ${diffs.join(', ')} scatter with the noise (σ ${sigma.toFixed(2)}), they are not the exact bit`);
    assert.ok(rms < sigma * 10, `differences ${diffs.join(', ')} are not wildly larger than the noise`);
  });
});
