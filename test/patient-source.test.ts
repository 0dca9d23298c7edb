/* eslint-disable @typescript-eslint/no-explicit-any -- tests read whatever JSON came back */
import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import { startTestGateway, type TestGateway } from './support/gateway';
import { MRN, observation } from './support/care';
import { startTestStack, type TestStack } from './support/cluster';
import { openTestDatabase } from './support/db';
import { nodeMigrations } from '../usage-layer/node';
import { linearAggregate, pairAggregate, recordHash, storeShareRows, type ShareRow } from '../usage-layer/node/store';
import { runMigrations } from '../storage-layer/migrate';
import type { Database } from '../storage-layer/db';

const points = fs.readFileSync(new URL('./fixtures/open-mhealth/data-points.json', import.meta.url), 'utf8');

/** A patient uploads their own device readings through the same pipeline, marked patient-reported. */
describe('patients as a source (FHIR Observations and Open mHealth data points)', function () {
  this.timeout(60_000);
  let t: TestGateway;
  let alice: string;
  const upload = (body: unknown, contentType = 'application/json') => t.request('POST', '/patients/me/readings', { token: alice, body: typeof body === 'string' ? body : JSON.stringify(body), contentType });

  before(async () => {
    t = await startTestGateway();
    alice = await t.patientToken(MRN, 'A-1');
  });
  after(() => t.close());

  it('stores Open mHealth heart rate, steps, SpO2, blood pressure and glucose in canonical units, patient-reported with the device', async () => {
    const r = await upload(points);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual([r.body.accepted, r.body.rejected], [6, 1]); // blood pressure is two records
    assert.match(r.body.errors[0].reason, /unknown indicator code \(urn:hgd:open-mhealth\|omh:body-temperature:2.0\)/);
    const q = await t.request('GET', r.body.quarantine, { token: alice });
    assert.equal(q.status, 200, q.text);
    assert.equal(q.body.entries.length, 1);
    const mine = (await t.request('GET', '/patients/me/observations', { token: alice })).body.observations as any[];
    const by = Object.fromEntries(mine.map((o) => [o.indicator, o]));
    assert.deepEqual(Object.keys(by).sort(), ['bp_diastolic', 'bp_systolic', 'glucose', 'heart_rate', 'spo2', 'steps']);
    assert.deepEqual([by.glucose.value, by.glucose.unit], [5.99, 'mmol/L']); // 108 mg/dL / 18.016
    assert.deepEqual([by.heart_rate.value, by.heart_rate.unit], [64, '/min']);
    assert.ok(mine.every((o) => o.provenance.origin === 'patient-reported'));
    assert.equal(by.bp_systolic.provenance.device, 'Omron HEM-7156T');
    assert.equal(by.steps.effectiveEnd, '2025-03-02T00:00:00.000Z');
    // A resend stores nothing twice.
    assert.deepEqual([(await upload(points)).body.accepted, (await upload(points)).body.duplicate], [0, 6]);
  });

  it('takes FHIR Observations without subject as the uploader’s, and quarantines one about another patient', async () => {
    const own = { ...observation('fhir-spo2-1', 'A-1', 'spo2', 93, '2025-03-02T07:00:00Z'), subject: undefined, device: { display: 'Nonin 3230' } };
    const named = observation('fhir-spo2-2', 'A-1', 'spo2', 94, '2025-03-02T08:00:00Z');
    const other = observation('fhir-spo2-3', 'B-1', 'spo2', 95, '2025-03-02T09:00:00Z');
    const bad = { ...observation('fhir-spo2-4', 'A-1', 'spo2', 400, '2025-03-02T09:00:00Z'), subject: undefined };
    const r = await upload({ resourceType: 'Bundle', type: 'collection', entry: [own, named, other, bad].map((resource) => ({ resource: JSON.parse(JSON.stringify(resource)) })) }, 'application/fhir+json');
    assert.equal(r.status, 200, r.text);
    assert.deepEqual([r.body.accepted, r.body.rejected], [2, 2]);
    assert.deepEqual(r.body.errors.map((e: any) => e.pointer).sort(), ['/entry/2/resource/subject', '/entry/3/resource/valueQuantity/value']);
    const bob = await t.patientToken(MRN, 'B-1');
    assert.equal((await t.request('GET', '/patients/me/observations', { token: bob })).body.count, 0);
    const mine = (await t.request('GET', '/patients/me/observations?indicator=spo2', { token: alice })).body.observations as any[];
    assert.equal(mine.find((o) => o.provenance.sourceId === 'fhir-spo2-1').provenance.device, 'Nonin 3230');
    const entry = JSON.parse((await t.gateway.ledger.getEntry(r.body.ledger.seq)).canonical);
    assert.equal(entry.actor, `patient:${t.gateway.ingest.pseudonymOf(MRN, 'A-1')}`);
  });

  it('refuses CSV and empty uploads naming the problem', async () => {
    assert.equal((await upload('a,b\n1,2', 'text/csv')).status, 415);
    assert.equal((await upload('', 'application/fhir+ndjson')).status, 400);
  });
});

/**
 * Research queries leave patients' own readings out unless `options.includePatientReported`: the
 * compute nodes select on the source dealt with each share, before the contribution bound L.
 */
describe('research queries and patient-reported data (gateway + 3 compute nodes)', function () {
  this.timeout(90_000);
  let s: TestStack;
  let researcher: string;
  const HR = '8867-4';
  const provider = ['P-1', 'P-2', 'P-3', 'P-4', 'P-5', 'P-6']; // a provider's heart rate 60 each
  const selfToo = ['P-1', 'P-2', 'P-3']; // and a later reading of their own, 250
  const selfOnly = ['P-7', 'P-8', 'P-9', 'P-10']; // only their own reading, 250

  const query = async (options: Record<string, unknown>, aggregate = 'count') => {
    const r = await s.request('POST', '/queries', { token: researcher, contentType: 'application/json', body: JSON.stringify({ study: 'selfrep', indicators: ['heart_rate'], aggregate, from: '2024-01-01T00:00:00Z', to: '2025-01-01T00:00:00Z', options: { epsilon: 20, perPatient: 1, ...options } }) });
    assert.equal(r.status, 202, r.text);
    const done = await s.waitForQuery(r.body.id, researcher);
    assert.equal(done.status, 'done', JSON.stringify(done));
    return { done, ledger: JSON.parse((await s.gateway.ledger.getEntry(done.ledgerSeq)).canonical).payload };
  };

  before(async () => {
    s = await startTestStack({ env: { HGD_MAX_EPSILON: '20', HGD_PATIENT_EPSILON_BUDGET: '100000' } });
    researcher = await s.token({ role: 'researcher', sub: 'r-self' });
    const admin = (path: string, body: unknown) => s.request('POST', path, { token: s.admin, contentType: 'application/json', body: JSON.stringify(body) });
    assert.equal((await admin('/admin/studies', { id: 'selfrep', title: 'Self-reported', purpose: 'HRESCH', minCohort: 2, epsilonBudget: 1000 })).status, 201);
    assert.equal((await admin('/admin/studies/selfrep/researchers', { researcher: 'r-self' })).status, 201);
    await s.ingestCsv(provider.map((p) => [`${MRN}|${p}`, HR, 60, '/min', '2024-03-01T08:00:00Z']));
    for (const p of [...selfToo, ...selfOnly]) {
      const token = await s.patientToken(MRN, p);
      const own = { ...observation(`own-${p}`, p, 'heart_rate', 250, '2024-03-02T08:00:00Z'), subject: undefined };
      const r = await s.request('POST', '/patients/me/readings', { token, contentType: 'application/fhir+json', body: JSON.stringify(own) });
      assert.equal(r.status, 200, r.text);
    }
    for (const p of [...provider, ...selfOnly]) {
      const r = await s.request('POST', '/patients/me/grants', { token: await s.patientToken(MRN, p), contentType: 'application/json', body: JSON.stringify({ study: 'selfrep', indicators: ['heart_rate'], purpose: 'HRESCH' }) });
      assert.equal(r.status, 201, r.text);
    }
    await s.gateway.ingest.shareOutstanding();
    const unshared = await s.gateway.db.knex('records').whereNull('shared_at').count<Array<{ n: number | string }>>('* as n');
    assert.equal(Number(unshared[0]!.n), 0, 'every record reached the nodes');
  });
  after(async () => s?.close());

  it('marks the shares of a patient’s own reading as patient-reported at every node, and only those', async () => {
    for (const { db } of s.cluster.nodes) {
      const rows = (await db.knex('node_shares').select('source')) as Array<{ source: string }>;
      assert.deepEqual([rows.filter((r) => r.source === 'patient').length, rows.filter((r) => r.source === 'provider').length], [7, 6]);
    }
  });

  it('counts providers’ records only by default, with the bound L over those (the ledger says so)', async () => {
    const { done, ledger } = await query({});
    // Six patients' provider reading each; with L = 1 taken before the source selection, P-1..P-3 would drop out (3).
    assert.ok(Math.abs(done.result.records - 6) <= 1, `records ${done.result.records}`);
    assert.equal(done.options.includePatientReported, undefined);
    assert.equal(ledger.includePatientReported, false);
    const mean = await query({}, 'mean');
    // The noise on Σ(x − 160) at ε 8 (sensitivity 140, three nodes' parts) moves a mean of six by ±4 (sd); 25
    // is 6 sd, and still far below 155, the mean if P-1..P-3's own 250 had been their latest reading.
    assert.ok(Math.abs(mean.done.result.value - 60) < 25, `mean ${mean.done.result.value}`);
  });

  it('counts patients’ own readings with options.includePatientReported (the ledger says so)', async () => {
    const { done, ledger } = await query({ includePatientReported: true });
    // Ten patients, each its latest reading (L = 1): P-1..P-3 and P-7..P-10 their own 250, P-4..P-6 60.
    assert.ok(Math.abs(done.result.records - 10) <= 1, `records ${done.result.records}`);
    assert.equal(done.options.includePatientReported, true);
    assert.equal(ledger.includePatientReported, true);
    const mean = await query({ includePatientReported: true }, 'mean');
    assert.ok(Math.abs(mean.done.result.value - (7 * 250 + 3 * 60) / 10) < 15, `mean ${mean.done.result.value}`);
  });

  it('refuses a non-boolean option naming it', async () => {
    const r = await s.request('POST', '/queries', { token: researcher, contentType: 'application/json', body: JSON.stringify({ study: 'selfrep', indicators: ['heart_rate'], aggregate: 'count', options: { includePatientReported: 'yes' } }) });
    assert.equal(r.status, 400, r.text);
    assert.match(r.body.field ?? r.body.pointer ?? r.text, /includePatientReported/);
  });
});

/** At a node: patient-reported rows leave the selection before the bound L and before the pairing. */
describe('a compute node’s selection by source (bound L and pairing over the counted records only)', function () {
  this.timeout(30_000);
  let db: Database;
  const t0 = Date.UTC(2024, 2, 1, 8);
  const at = (s: number) => new Date(t0 + s * 1000).toISOString();
  const row = (recordId: string, pseudonym: string, indicator: string, s: number, source?: 'patient'): ShareRow => ({ recordId, pseudonym, indicator, effectiveStart: at(s), effectiveEnd: null, scale: 0, share: 1n, square: 1n, ...(source ? { source } : {}) });
  const h = (...ids: string[]) => ids.reduce((acc, id) => acc + BigInt(recordHash(id, '1')), 0n).toString();
  const filter = (indicator: string, includePatientReported: boolean, perPatient: number | null = null) => ({ indicator, from: null, to: null, cohort: null, perPatient, includePatientReported });

  before(async () => {
    db = await openTestDatabase();
    await runMigrations(db, nodeMigrations);
    await storeShareRows(db, '1', [
      row('a1', 'A', 'heart_rate', 0), row('a2', 'A', 'bp_systolic', 60, 'patient'), // A: a pair only with its own reading
      row('b1', 'B', 'heart_rate', 0), row('b2', 'B', 'bp_systolic', 600), row('b3', 'B', 'bp_systolic', 60, 'patient'), // B: the nearest is its own
      row('c1', 'C', 'heart_rate', 0), row('c2', 'C', 'heart_rate', 3600, 'patient'), // C: its latest is its own
    ]);
  });
  after(() => db.close());

  it('takes each patient’s latest L counted records', async () => {
    const without = await linearAggregate(db, filter('heart_rate', false, 1), false);
    const withOwn = await linearAggregate(db, filter('heart_rate', true, 1), false);
    assert.deepEqual([without.count, without.digest], [3, h('a1', 'b1', 'c1')]);
    assert.deepEqual([withOwn.count, withOwn.digest], [3, h('a1', 'b1', 'c2')]);
  });

  it('pairs counted records only, nearest first among them', async () => {
    const without = await pairAggregate(db, filter('heart_rate', false), 'bp_systolic', 3600);
    const withOwn = await pairAggregate(db, filter('heart_rate', true), 'bp_systolic', 3600);
    assert.deepEqual([without.pairs, without.digest], [1, `${h('b1')}:${h('b2')}`]);
    assert.deepEqual([withOwn.pairs, withOwn.digest], [2, `${h('a1', 'b1')}:${h('a2', 'b3')}`]);
  });
});
