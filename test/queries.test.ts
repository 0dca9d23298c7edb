import { strict as assert } from 'node:assert';
import { startTestStack, type TestStack } from './support/cluster';

const MRN = 'http://hospital.example/mrn';
const HR = '8867-4'; // heart_rate, /min, range 20..300, scale 1

/**
 * End to end across the gateway and three in-process compute nodes: grants, ingest (values reach the
 * nodes through the gateway's share sink), queries with disclosure control, revocation, expiry,
 * budgets, the access log and the ledger.
 */
describe('research queries with consent and disclosure control (gateway + 3 compute nodes)', function () {
  this.timeout(60_000);
  let s: TestStack;
  let alice: string; // researcher in every study
  let bob: string; // researcher in no study
  /** Every researcher-facing answer, to check that none carries a pseudonym. */
  const researcherTexts: string[] = [];

  const pseudonym = (v: string) => s.gateway.ingest.pseudonymOf(MRN, v);
  const patient = (v: string) => s.patientToken(MRN, v);
  const asResearcher = async (method: string, path: string, token: string, body?: unknown) => {
    const r = await s.request(method, path, { token, ...(body === undefined ? {} : { body: JSON.stringify(body), contentType: 'application/json' }) });
    researcherTexts.push(r.text);
    return r;
  };
  const grant = async (v: string, study: string, indicators = ['heart_rate'], period: Record<string, string | null> = {}) => {
    const r = await s.request('POST', '/patients/me/grants', { token: await patient(v), body: JSON.stringify({ study, indicators, purpose: 'HRESCH', period }), contentType: 'application/json' });
    assert.equal(r.status, 201, r.text);
    return r.body.id as string;
  };
  const revoke = async (v: string, id: string) => {
    const r = await s.request('DELETE', `/patients/me/grants/${id}`, { token: await patient(v) });
    assert.equal(r.status, 200, r.text);
  };
  /** Submits a query and waits for its outcome. */
  const query = async (body: Record<string, unknown>) => {
    const r = await asResearcher('POST', '/queries', alice, { from: '2024-01-01T00:00:00Z', to: '2025-01-01T00:00:00Z', ...body });
    assert.equal(r.status, 202, r.text);
    const done = await s.waitForQuery(r.body.id, alice);
    researcherTexts.push(JSON.stringify(done));
    return done;
  };
  const accessLog = async (v: string) => (await s.request('GET', '/patients/me/access-log', { token: await patient(v) })).body.entries as Array<{ queryId: string; ledgerSeq: number; study: string; status: string }>;
  const study = async (id: string) => (await asResearcher('GET', `/studies/${id}`, alice)).body;
  const register = async (id: string, extra: Record<string, unknown> = {}) => {
    const r = await s.request('POST', '/admin/studies', { token: s.admin, body: JSON.stringify({ id, title: `Study ${id}`, purpose: 'HRESCH', ...extra }), contentType: 'application/json' });
    assert.equal(r.status, 201, r.text);
    const m = await s.request('POST', `/admin/studies/${id}/researchers`, { token: s.admin, body: JSON.stringify({ researcher: 'r-alice' }), contentType: 'application/json' });
    assert.equal(m.status, 201, m.text);
  };

  before(async function () {
    this.timeout(60_000);
    // A high ε cap and patient budget: these tests check the mechanics, not the default parameters
    // (test/privacy-attacks.test.ts plays the attacks with the defaults).
    s = await startTestStack({ env: { HGD_MAX_EPSILON: '20', HGD_PATIENT_EPSILON_BUDGET: '100000', HGD_STUDY_MAX_CONTRIBUTIONS: '5' } });
    alice = await s.token({ role: 'researcher', sub: 'r-alice' });
    bob = await s.token({ role: 'researcher', sub: 'r-bob', studies: ['cardio'] }); // the claim alone is not membership
    // minCohort 2: with ten patients the noisy threshold (2 + margin 3 at contributors ε 1) passes.
    await register('cardio', { minCohort: 2, epsilonBudget: 100 });
    await register('tight', { minCohort: 2, epsilonBudget: 2.5 });
    await register('diff', { minCohort: 3, epsilonBudget: 1000 });
    await register('ops', { minCohort: 2, epsilonBudget: 100 });
    await register('small10', { minCohort: 10, epsilonBudget: 100 });
  });
  after(async () => s?.close());

  it('refuses bad queries with a 4xx naming the field, spending nothing', async () => {
    const ok = { study: 'cardio', indicators: ['heart_rate'], aggregate: 'count' };
    const cases: Array<[Record<string, unknown>, number, string | undefined]> = [
      [{ ...ok, indicators: ['blood_magic'] }, 400, 'indicators'],
      [{ ...ok, indicators: ['heart_rate', 'bp_systolic'] }, 400, 'indicators'],
      [{ ...ok, aggregate: 'mode' }, 400, 'aggregate'],
      [{ ...ok, from: 'last tuesday' }, 400, 'from'],
      [{ ...ok, from: '2024-06-01T00:00:00Z', to: '2024-01-01T00:00:00Z' }, 400, 'to'],
      [{ ...ok, options: { epsilon: 50 } }, 400, 'options.epsilon'],
      [{ ...ok, options: { perPatient: 0 } }, 400, 'options.perPatient'],
      [{ ...ok, options: { epsilon: 0 } }, 400, 'options.epsilon'],
      [{ ...ok, options: { noise: false } }, 400, 'options.noise'],
      [{ ...ok, aggregate: 'variance', indicators: ['heart_rate', 'bp_systolic'] }, 400, 'indicators'],
      [{ ...ok, aggregate: 'correlation' }, 400, 'indicators'],
      [{ ...ok, study: undefined }, 400, 'study'],
      [{ ...ok, study: 'secret-study' }, 403, undefined],
    ];
    for (const [body, status, field] of cases) {
      const r = await asResearcher('POST', '/queries', alice, body);
      assert.equal(r.status, status, `${JSON.stringify(body)}: ${r.text}`);
      if (field) assert.equal(r.body.field, field, JSON.stringify(body));
    }
    // Bob's token claims study cardio, but he is not a member in the database.
    const notMember = await asResearcher('POST', '/queries', bob, ok);
    assert.equal(notMember.status, 403);
    assert.match(notMember.body.message, /not a member of study "cardio"/);
    const asPatient = await s.request('POST', '/queries', { token: await patient('P01'), body: JSON.stringify(ok), contentType: 'application/json' });
    assert.equal(asPatient.status, 403);
    assert.equal((await study('cardio')).epsilonSpent, 0);
  });

  // Patients P01..P10 grant heart_rate to "cardio"; NG never grants anything.
  const grants = new Map<string, string>();
  let firstQuery: string;
  let suppressedQuery: string;

  it('grant → ingest → query: counts exactly the consented patients, reports nodes and epsilon', async () => {
    for (let i = 1; i <= 10; i++) {
      const v = `P${String(i).padStart(2, '0')}`;
      grants.set(v, await grant(v, 'cardio'));
    }
    const rows: Array<[string, string, number, string, string]> = [];
    for (let i = 1; i <= 12; i++) rows.push([`${MRN}|P${String(i).padStart(2, '0')}`, HR, 60 + i, '/min', `2024-03-01T08:${String(i).padStart(2, '0')}:00Z`]);
    rows.push([`${MRN}|NG`, HR, 250, '/min', '2024-03-02T08:00:00Z'], [`${MRN}|NG`, HR, 251, '/min', '2024-03-03T08:00:00Z']);
    rows.push([`${MRN}|P01`, HR, 99, '/min', '2023-06-01T08:00:00Z']); // outside the window
    await s.ingestCsv(rows);

    const q = await query({ study: 'cardio', indicators: ['heart_rate'], aggregate: 'count', options: { epsilon: 5 } });
    firstQuery = q.id;
    assert.equal(q.status, 'done', q.message);
    const countSigma = q.result.noise.find((n: { measure: string }) => n.measure === 'count').stdDev as number;
    assert.ok(Math.abs(q.result.value - 10) <= 5 * countSigma, `noisy count ${q.result.value} near 10 (ε = 4, sensitivity L = 5, σ ${countSigma})`);
    assert.ok(q.result.contributors >= 2, 'contributors are reported, noisy, never below the minimum cohort');
    assert.deepEqual(q.result.nodesUsed, [1, 2, 3]);
    assert.deepEqual(q.result.nodesDown, []);
    assert.equal(q.privacy.epsilon, 5);
    assert.equal(q.privacy.epsilonSpent, 5);
    assert.deepEqual(q.privacy.parts.map((p: { measure: string; epsilon: number }) => [p.measure, p.epsilon]), [['count', 4], ['contributors', 1]]);
    assert.equal(q.privacy.neighbours, 'add or remove one patient');
    assert.equal(q.privacy.perPatient, 5, "the study's contribution bound");
    assert.equal(q.result.noise.find((n: { measure: string }) => n.measure === 'count').sensitivity, 5, 'a patient changes the count by at most L = 5');
    assert.ok(q.result.interval[0] <= q.result.value && q.result.value <= q.result.interval[1], `interval ${q.result.interval} holds the value`);
    assert.deepEqual(q.window, { from: '2024-01-01T00:00:00.000Z', to: '2025-01-01T00:00:00.000Z' });
    assert.equal((await study('cardio')).epsilonSpent, 5);

    // Exactly the ten consented patients contributed: not NG, not P11/P12 (records but no grant).
    const rowsUsed = (await s.gateway.db.knex('query_contributors').where({ query_id: q.id }).pluck('patient')) as string[];
    assert.deepEqual(rowsUsed.sort(), [...grants.keys()].map(pseudonym).sort());

    // ε 20, not 5: at ε 5 the count's noise (σ ≈ 4 records at sensitivity L = 5) took the ten
    // records' noisy count to 2 or below in about one run in 25, and the mean and its interval with it.
    const mean = await query({ study: 'cardio', indicators: ['heart_rate'], aggregate: 'mean', options: { epsilon: 20 } });
    assert.equal(mean.status, 'done', mean.message);
    const sumNoise = mean.result.noise.find((n: { measure: string }) => n.measure === 'sum');
    assert.equal(sumNoise.sensitivity, 5 * 140, 'a centred sum: L · half the catalogue range (20..300 around 160)');
    assert.deepEqual(mean.privacy.centre, { x: 160 });
    assert.deepEqual(mean.privacy.parts.map((p: { measure: string; epsilon: number }) => [p.measure, p.epsilon]), [['sum', 8], ['count', 8], ['contributors', 4]]);
    // True mean 65.5; the noise on the centred sum has σ ≈ 5·140·√1.5·√2/8 ≈ 150 over ~10 records.
    assert.ok(Math.abs(mean.result.value - 65.5) < 6 * (sumNoise.stdDev / 10) + 10, `mean ${mean.result.value}`);
    assert.ok(mean.result.interval[0] < mean.result.interval[1], `interval ${mean.result.interval}`);

    const hist = await query({ study: 'cardio', indicators: ['heart_rate'], aggregate: 'histogram', options: { epsilon: 5 } });
    assert.equal(hist.status, 'done', hist.message);
    assert.deepEqual(hist.result.histogram.edges, [20, 40, 50, 60, 70, 80, 90, 100, 120, 150, 200, 300]);
    assert.equal(hist.result.histogram.records, undefined, 'no exact record count next to a noisy histogram');
    // bucketHalfWidth is a 95 % half-width per bucket; two buckets are checked, so allow twice it
    // (beyond the 99.5 % point of the noise) rather than fail one run in ten.
    const slack = Math.max(3, 2 * hist.result.bucketHalfWidth);
    assert.ok(Math.abs(hist.result.histogram.counts[3] - 9) <= slack && Math.abs(hist.result.histogram.counts[4] - 1) <= slack, JSON.stringify(hist.result.histogram));
  });

  it('variance and correlation are released under DP: noisy, clamped, with an explicit epsilon split', async () => {
    const v = await query({ study: 'cardio', indicators: ['heart_rate'], aggregate: 'variance', options: { epsilon: 5 } });
    assert.equal(v.status, 'done', v.message);
    assert.deepEqual(
      v.privacy.parts.map((p: { measure: string; epsilon: number; sensitivity: number }) => [p.measure, p.epsilon, p.sensitivity]),
      // A pilot mean (Σ and, with L = 5, a count), then Σ(x − m̂)²: before the pilot its sensitivity is the bound L·width².
      [['pilotSumX', 0.118814, 700], ['pilotCountX', 0.118811, 5], ['count', 0.316831, 5], ['sumSquares', 3.445544, 5 * 280 * 280], ['contributors', 1, 1]],
    );
    // Exact sample variance of 61..70 is 9.17; the noise on Σ(x − m̂)² (sensitivity 5·(300 − m̂)²) is large, so only the range is certain.
    assert.ok(v.result.value >= 0 && v.result.value <= 280 * 280, `variance ${v.result.value} clamped to [0, range²]`);
    const centre = v.result.centre.x;
    assert.ok(centre >= 20 && centre <= 300 && Number.isInteger(centre * 10), `the pilot centre ${centre} is in the range, at the values' scale`);
    const squares = v.result.noise.find((n: { measure: string }) => n.measure === 'sumSquares');
    assert.ok(squares.stdDev > 0);
    assert.equal(squares.sensitivity, 5 * Math.max(centre - 20, 300 - centre) ** 2, 'the released noise is calibrated around the pilot centre');
    // Nobody granted bp_systolic: the pair cohort is empty, so the correlation is suppressed (and planned).
    // A pair kind's default is automatic bounds: pilots of Σ(x − c) and Σ(x − c)² per indicator.
    const c = await query({ study: 'cardio', indicators: ['heart_rate', 'bp_systolic'], aggregate: 'correlation', options: { epsilon: 20 } });
    assert.equal(c.status, 'suppressed', c.message);
    assert.equal(c.options.bounds, 'auto');
    assert.deepEqual(c.privacy.parts.map((p: { measure: string }) => p.measure), ['pilotSumX', 'pilotCountX', 'pilotSquaresX', 'pilotSumY', 'pilotCountY', 'pilotSquaresY', 'count', 'sumX', 'sumY', 'sumXX', 'sumYY', 'sumXY', 'contributors']);
    // Asked for the catalogue's ranges: pilot centres, then the second moments around them. At ε 20 as
    // above (at ε 1 the gate's margin of 24 lets an empty cohort through about one time in 25).
    const cat = await query({ study: 'cardio', indicators: ['heart_rate', 'bp_systolic'], aggregate: 'correlation', options: { epsilon: 20, bounds: 'catalogue' } });
    assert.equal(cat.status, 'suppressed', cat.message);
    assert.equal(cat.options.bounds, undefined);
    assert.deepEqual(cat.privacy.parts.map((p: { measure: string }) => p.measure), ['pilotSumX', 'pilotCountX', 'pilotSumY', 'pilotCountY', 'count', 'sumXX', 'sumYY', 'sumXY', 'contributors']);
    // The variance's default stays the catalogue's range (linear: it survives a node dying).
    assert.equal(v.options.bounds, undefined);
  });

  it('revoke → query: the revoked patient stops counting, and a cohort far below minCohort is suppressed without its count', async () => {
    await revoke('P10', grants.get('P10')!);
    const q = await query({ study: 'cardio', indicators: ['heart_rate'], aggregate: 'sum', options: { epsilon: 0.5 } });
    const used = (await s.gateway.db.knex('query_contributors').where({ query_id: q.id }).pluck('patient')) as string[];
    assert.ok(!used.includes(pseudonym('P10')), 'the revoked patient is not charged or counted');
    assert.equal(used.length, 9);
    assert.equal(q.privacy.epsilonSpent, 0.5, 'charged whether released or suppressed (the suppression bit is a release)');
    const p10 = await accessLog('P10');
    assert.deepEqual(p10.map((e) => e.queryId).includes(q.id), false);
    assert.ok(p10.some((e) => e.queryId === firstQuery));
    // Three patients against minCohort 10 at ε 20 (contributors ε 4): the noisy count passes 10 with
    // probability about e^{-28}; the answer names no count.
    for (const v of ['P01', 'P02', 'P03']) await grant(v, 'small10');
    const small = await query({ study: 'small10', indicators: ['heart_rate'], aggregate: 'sum', options: { epsilon: 20 } });
    suppressedQuery = small.id;
    assert.equal(small.status, 'suppressed');
    assert.equal(small.result, null);
    assert.match(small.message, /fewer than 10 contributors/);
    assert.ok(!/\b3\b/.test(JSON.stringify({ message: small.message, result: small.result })), 'the exact count is not revealed');
    const p01 = await accessLog('P01');
    assert.ok(p01.some((e) => e.queryId === suppressedQuery && e.status === 'suppressed'), 'the patient sees that a suppressed query looked at their data');
  });

  it('an expired grant stops counting; a grant that ended before it was made never counts', async () => {
    grants.set('P11', await grant('P11', 'cardio', ['heart_rate'], { end: new Date(Date.now() + 1500).toISOString() }));
    await grant('P12', 'cardio', ['heart_rate'], { start: '2020-01-01T00:00:00Z', end: '2021-01-01T00:00:00Z' });
    const before = await query({ study: 'cardio', indicators: ['heart_rate'], aggregate: 'count' });
    const usedBy = async (id: string) => (await s.gateway.db.knex('query_contributors').where({ query_id: id }).pluck('patient')) as string[];
    assert.ok((await usedBy(before.id)).includes(pseudonym('P11')), 'P01..P09 and P11 count');
    await new Promise((resolve) => setTimeout(resolve, 1600));
    const after = await query({ study: 'cardio', indicators: ['heart_rate'], aggregate: 'count' });
    assert.ok(!(await usedBy(after.id)).includes(pseudonym('P11')), 'P11’s grant has expired');
    assert.equal((await usedBy(after.id)).length, 9);
    const p11 = (await accessLog('P11')).map((e) => e.queryId);
    assert.ok(p11.includes(before.id));
    assert.ok(!p11.includes(after.id));
    assert.deepEqual(await accessLog('P12'), []);
    const grantsOfP11 = (await s.request('GET', '/patients/me/grants', { token: await patient('P11') })).body.grants;
    assert.equal(grantsOfP11[0].status, 'expired');
  });

  it('a patient without a grant is never counted', async () => {
    assert.deepEqual(await accessLog('NG'), []);
    const all = (await s.gateway.db.knex('query_contributors').distinct('patient').pluck('patient')) as string[];
    assert.ok(!all.includes(pseudonym('NG')));
    assert.ok(!all.includes(pseudonym('P12')));
  });

  it('refuses a query that would exceed the study’s budget (concurrently too) and spends nothing for it', async () => {
    for (const v of ['P01', 'P02', 'P03']) await grant(v, 'tight');
    const body = { study: 'tight', indicators: ['heart_rate'], aggregate: 'count', options: { epsilon: 1 } };
    const answers = await Promise.all(Array.from({ length: 6 }, () => asResearcher('POST', '/queries', alice, body)));
    const accepted = answers.filter((r) => r.status === 202);
    const refused = answers.filter((r) => r.status === 409);
    assert.equal(accepted.length, 2, answers.map((r) => r.status).join(','));
    assert.equal(refused.length, 4);
    assert.equal(refused[0]!.body.error, 'privacy_budget_exhausted');
    assert.match(refused[0]!.body.message, /epsilon 0\.5 of its privacy budget 2\.5 left/);
    for (const r of accepted) assert.ok(['done', 'suppressed'].includes((await s.waitForQuery(r.body.id, alice)).status));
    assert.deepEqual([(await study('tight')).epsilonSpent, (await study('tight')).epsilonRemaining], [2, 0.5]);
    const refusedView = (await asResearcher('GET', `/queries/${refused[0]!.body.id}`, alice)).body;
    assert.equal(refusedView.status, 'refused');
    assert.equal(refusedView.privacy.epsilonSpent, 0);
    const e = JSON.parse((await s.gateway.ledger.getEntry(refusedView.ledgerSeq)).canonical);
    assert.deepEqual([e.kind, e.payload.status, e.payload.epsilonSpent], ['query', 'refused', 0]);
    // What is left can still be spent, exactly.
    const last = await query({ ...body, options: { epsilon: 0.5 } });
    assert.ok(['done', 'suppressed'].includes(last.status), last.message);
    assert.equal((await asResearcher('POST', '/queries', alice, { ...body, options: { epsilon: 0.01 } })).status, 409);
    assert.equal((await study('tight')).epsilonRemaining, 0);
  });

  it('reports a node that is down; a query that cannot run fails and gives its epsilon back', async () => {
    // Nine patients against minCohort 2 at ε 20: never suppressed, so the nodes are asked.
    for (const v of ['P01', 'P02', 'P03', 'P04', 'P05', 'P06', 'P07', 'P08', 'P09']) await grant(v, 'ops');
    const spent = (await study('ops')).epsilonSpent;
    await s.cluster.stop(3);
    try {
      const degraded = await query({ study: 'ops', indicators: ['heart_rate'], aggregate: 'count', options: { epsilon: 20 } });
      assert.equal(degraded.status, 'done', degraded.message);
      assert.deepEqual(degraded.result.nodesUsed, [1, 2]);
      assert.deepEqual(degraded.result.nodesDown, [3]);
      await s.cluster.stop(2);
      const failed = await query({ study: 'ops', indicators: ['heart_rate'], aggregate: 'count', options: { epsilon: 20 } });
      assert.equal(failed.status, 'failed');
      assert.match(failed.message, /needs 2 nodes/);
      assert.equal(failed.privacy.epsilonSpent, 0);
      assert.equal((await study('ops')).epsilonSpent, spent + 20, 'only the query that ran was charged');
      const refunded = (await s.gateway.db.knex('query_contributors').where({ query_id: failed.id }).count<{ n: string | number }[]>('* as n'))[0]!;
      assert.equal(Number(refunded.n), 0, "the failed query's patients were refunded and are not in their access logs");
    } finally {
      await s.cluster.restart(2);
      await s.cluster.restart(3);
    }
  });

  it('a differencing attack fails: with noise the difference of two sums is not the removed patient’s value; small cohorts are suppressed', async () => {
    const D = ['D1', 'D2', 'D3', 'D4', 'D5', 'D6', 'D7', 'D8'];
    const values = [71, 64, 80, 58, 77, 66, 73, 187.3]; // D8 is the target
    await s.ingestCsv(D.map((v, i) => [`${MRN}|${v}`, HR, values[i]!, '/min', `2024-05-0${i + 1}T10:00:00Z`]));
    const ids = new Map<string, string>();
    for (const v of D) ids.set(v, await grant(v, 'diff'));
    // ε 20 (contributors ε 4, threshold minCohort 3 + margin 1): 8 or 7 patients are released (a
    // noise of −4 or less, p ≈ 10⁻⁷, would withhold 7), one is suppressed (it needs +3, p ≈ 10⁻⁵).
    const sum = () => query({ study: 'diff', indicators: ['heart_rate'], aggregate: 'sum', options: { epsilon: 20 } });
    // Six pairs: the rms of six noise differences falls below σ/8 with p ≈ 10⁻⁵ (four pairs below
    // σ/4, the check before, failed about one run in 300).
    const k = 6;
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- query views as JSON
    const withTarget: any[] = [];
    for (let i = 0; i < k; i++) withTarget.push(await sum());
    await revoke('D8', ids.get('D8')!);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- query views as JSON
    const without: any[] = [];
    for (let i = 0; i < k; i++) without.push(await sum());
    for (const q of [...withTarget, ...without]) assert.equal(q.status, 'done', q.message);
    const sigma = withTarget[0].result.noise.find((n: { measure: string }) => n.measure === 'sum').stdDev as number;
    assert.ok(sigma > 100, `σ of a sum (sensitivity L·300 = 1500, ε 16, three nodes) is ${sigma}`);
    const errors: number[] = withTarget.map((q, i) => q.result.value - without[i].result.value - 187.3);
    const rms = Math.sqrt(errors.reduce((a, e) => a + e * e, 0) / k);
    // Exact sums would give errors of 0 (up to rounding); the noise of two releases gives ≈ σ·√2.
    assert.ok(rms > sigma / 8, `errors ${errors.map((e) => e.toFixed(1)).join(', ')} are of the order of the noise (σ ${sigma.toFixed(0)}), not ~0`);
    assert.ok(rms < sigma * 10, `errors ${errors.join(', ')} are not wildly larger than the noise`);
    assert.ok(errors.every((e) => Math.abs(e) > 1e-6), 'no pair of releases gives the value back exactly');

    // A one-patient cohort is suppressed (noisy count against minCohort 3).
    for (const v of ['D2', 'D3', 'D4', 'D5', 'D6', 'D7']) await revoke(v, ids.get(v)!);
    const small = await sum();
    assert.equal(small.status, 'suppressed');
    assert.match(small.message, /fewer than 3 contributors/);
    assert.equal(small.result, null);
  });

  it('the access log matches the ledger; ledger entries and researcher answers carry no pseudonym', async () => {
    const log = await accessLog('P01');
    assert.ok(log.length >= 5, `P01 took part in ${log.length} queries`);
    const auditor = await s.token({ role: 'auditor', sub: 'auditor-1' });
    for (const e of log) {
      const r = await s.request('GET', `/ledger/entries/${e.ledgerSeq}`, { token: auditor });
      assert.equal(r.status, 200);
      const entry = JSON.parse(r.body.entry.canonical);
      assert.equal(entry.kind, 'query');
      assert.equal(entry.actor, 'researcher:r-alice');
      assert.equal(entry.payload.queryId, e.queryId);
      assert.equal(entry.payload.study, e.study);
      assert.equal(entry.payload.status, e.status);
      assert.ok(r.body.checkpoint.treeSize > e.ledgerSeq, 'included in a signed checkpoint');
    }
    const first = log.find((e) => e.queryId === firstQuery)!;
    const firstEntry = JSON.parse((await s.gateway.ledger.getEntry(first.ledgerSeq)).canonical);
    assert.deepEqual(Object.keys(firstEntry.payload).sort(), ['aggregate', 'contributors', 'epsilonSpent', 'includePatientReported', 'indicators', 'minCohort', 'privacy', 'purpose', 'queryId', 'released', 'status', 'study', 'window']);
    assert.deepEqual(Object.keys(firstEntry.payload.released), ['parts'], 'what the noise was applied with: parameters, no patient');
    assert.equal(firstEntry.payload.epsilonSpent, 5);
    const p01log = (await s.request('GET', '/patients/me/access-log', { token: await patient('P01') })).body;
    assert.ok(p01log.entries.every((e: { epsilon: number }) => e.epsilon > 0), 'each entry says what it charged the patient');
    const charged = p01log.entries.reduce((a: number, e: { epsilon: number }) => a + e.epsilon, 0);
    assert.ok(Math.abs(p01log.privacy.spent - charged) < 1e-6, `the access log's total ${p01log.privacy.spent} is the sum of its entries ${charged}`);
    assert.equal(p01log.privacy.budget, 100000);
    assert.ok(firstEntry.payload.contributors >= 2);

    const everyone = ['P01', 'P02', 'P03', 'P04', 'P05', 'P06', 'P07', 'P08', 'P09', 'P10', 'P11', 'P12', 'NG', 'D1', 'D2', 'D3', 'D4', 'D5', 'D6', 'D7', 'D8'].map(pseudonym);
    const queryEntries = (await s.gateway.db.knex('ledger_entries').where({ kind: 'query' }).select('canonical')).map((r: { canonical: Uint8Array }) => Buffer.from(r.canonical).toString('utf8'));
    assert.ok(queryEntries.length >= 15);
    const list = await asResearcher('GET', '/queries', alice);
    assert.ok(list.body.queries.length >= 15);
    assert.ok(researcherTexts.length > 30);
    for (const p of everyone) {
      for (const text of [...researcherTexts, ...queryEntries]) assert.ok(!text.includes(p), 'a pseudonym reached a researcher-facing answer or a query ledger entry');
    }
    // Researchers outside the study cannot read its queries at all.
    assert.equal((await asResearcher('GET', `/queries/${firstQuery}`, bob)).status, 404);
  });

});
