/* eslint-disable @typescript-eslint/no-explicit-any -- tests read whatever JSON came back */
import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import { startTestGateway, type TestGateway } from './support/gateway';
import { MRN, observation } from './support/care';

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
