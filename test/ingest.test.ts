import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import { verifyLedger } from '../storage-layer/verify-ledger';
import { startTestGateway, type TestGateway } from './support/gateway';

const fixture = (name: string) => fs.readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
const FHIR = 'application/fhir+json';

describe('ingest (HTTP, end to end)', function () {
  this.timeout(60_000);
  let t: TestGateway;
  let acme: string;
  let other: string;

  before(async () => {
    t = await startTestGateway();
    acme = await t.token({ role: 'provider', sub: 'acme-uploader', org: 'acme' });
    other = await t.token({ role: 'provider', sub: 'other-uploader', org: 'other' });
  });
  after(() => t.close());

  const ingest = (body: string, contentType = FHIR, token = acme) => t.request('POST', '/ingest', { token, body, contentType });

  it('stores an Observation in [lb_av] as kg and the patient reads it back, decrypted', async () => {
    const r = await ingest(fixture('fhir/Observation-example.json'));
    assert.equal(r.status, 200, r.text);
    assert.deepEqual([r.body.accepted, r.body.duplicate, r.body.rejected], [1, 0, 0]);
    const patient = await t.patientToken('urn:hgd:fhir-patient-ref', 'Patient/example');
    const mine = await t.request('GET', '/patients/me/observations?indicator=body_weight', { token: patient });
    assert.equal(mine.status, 200);
    assert.equal(mine.body.count, 1);
    const obs = mine.body.observations[0];
    assert.deepEqual([obs.indicator, obs.value, obs.unit, obs.effectiveStart], ['body_weight', 83.91, 'kg', '2016-03-28T00:00:00.000Z']);
    assert.deepEqual([obs.provenance.valueAsReceived, obs.provenance.unitAsReceived, obs.provenance.provider], [185, '[lb_av]', 'acme']);
  });

  it('stores the same resource once when it is sent twice', async () => {
    const again = await ingest(fixture('fhir/Observation-example.json'));
    assert.equal(again.status, 200);
    assert.deepEqual([again.body.accepted, again.body.duplicate], [0, 1]);
    const rows = await t.gateway.db.knex('records').where({ indicator: 'body_weight' }).count<{ count: string | number }[]>('* as count');
    assert.equal(Number(rows[0]!.count), 1);
  });

  it('a collection Bundle stores every entry (lipids, LDL in mmol/L under a mass code)', async () => {
    const r = await ingest(fixture('fhir/Bundle-lipids.json'));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.accepted, 4);
    const patient = await t.patientToken('urn:hgd:fhir-patient-ref', 'Patient/pat2');
    const ldl = await t.request('GET', '/patients/me/observations?indicator=ldl', { token: patient });
    assert.equal(ldl.body.observations[0].value, 4.6);
  });

  it('a transaction Bundle with a bad entry stores nothing, answers 422 and quarantines the reasons', async () => {
    const before = await t.gateway.db.knex('records').count<{ c: number }[]>('* as c');
    const r = await ingest(fixture('fhir/hgd-transaction-bundle.json'));
    assert.equal(r.status, 422);
    assert.equal(r.body.status, 'rejected');
    assert.equal(r.body.accepted, 0);
    const bad = r.body.errors.find((e: { ref: string }) => e.ref === 'urn:uuid:6f1c1f0e-0d5b-4f0e-9a55-2a1f6f2d9c03');
    assert.equal(bad.pointer, '/entry/2/resource/valueQuantity/code');
    assert.match(bad.reason, /unit "C" is not accepted for body_temp/);
    const after = await t.gateway.db.knex('records').count<{ c: number }[]>('* as c');
    assert.equal(Number(after[0]!.c), Number(before[0]!.c), 'nothing of the transaction was stored');
    const q = await t.request('GET', r.body.quarantine, { token: acme });
    assert.equal(q.status, 200);
    assert.equal(q.body.entries.length, 3);
  });

  it('the same entries as a batch store the good ones and quarantine the bad ones, downloadable again', async () => {
    const bundle = JSON.parse(fixture('fhir/hgd-transaction-bundle.json'));
    bundle.type = 'batch';
    const r = await ingest(JSON.stringify(bundle));
    assert.equal(r.status, 200, r.text);
    assert.deepEqual([r.body.accepted, r.body.rejected], [2, 3]);
    const ndjson = await t.request('GET', `${r.body.quarantine}?format=ndjson`, { token: acme });
    assert.equal(ndjson.status, 200);
    const lines = ndjson.text.split('\n').map((l) => JSON.parse(l));
    assert.ok(lines.some((o) => o.resourceType === 'Observation' && o.valueQuantity?.code === 'C'), 'the rejected Observation comes back as sent');
    const glucose = await t.request('GET', '/patients/me/observations?indicator=glucose', { token: await t.patientToken('http://hospital.example/mrn', 'MRN-200') });
    assert.equal(glucose.body.observations[0].value, 5.55);
  });

  it('a provider sees only its own quarantine', async () => {
    const mine = await t.request('GET', '/quarantine', { token: acme });
    const theirs = await t.request('GET', '/quarantine', { token: other });
    assert.ok(mine.body.entries.length >= 3);
    assert.equal(theirs.body.entries.length, 0);
  });

  it('ingests NDJSON and CSV, reporting bad lines and rows by number', async () => {
    const n = await ingest(fixture('ndjson/observations.ndjson'), 'application/fhir+ndjson');
    assert.equal(n.status, 200, n.text);
    assert.equal(n.body.accepted, 4);
    assert.deepEqual(n.body.errors.map((e: { ref: string }) => e.ref), ['line 5', 'line 8']);
    const c = await ingest(fixture('csv/observations.csv'), 'text/csv');
    assert.equal(c.status, 200, c.text);
    assert.equal(c.body.accepted, 6);
    const bad = await ingest(fixture('csv/bad-rows.csv'), 'text/csv');
    assert.equal(bad.status, 200);
    assert.ok(bad.body.errors.every((e: { ref: string; pointer: string }) => /^row \d+$/.test(e.ref) && e.pointer.startsWith('/')));
    const missing = await ingest(fixture('csv/missing-column.csv'), 'text/csv');
    assert.equal(missing.status, 400);
    assert.match(missing.body.message, /column/);
  });

  it('CSV rows without source_id are keyed by content: a resend is a duplicate, a new file at the same row is not', async () => {
    const header = 'patient_id,code_system,code,value,unit,effective_start,effective_end\n';
    const first = await ingest(`${header}MRN-700,http://loinc.org,8867-4,61,/min,2024-07-01T08:00:00Z,\n`, 'text/csv');
    const second = await ingest(`${header}MRN-700,http://loinc.org,8867-4,64,/min,2024-07-02T08:00:00Z,\n`, 'text/csv');
    const again = await ingest(`${header}MRN-700,http://loinc.org,8867-4,61,/min,2024-07-01T08:00:00Z,\n`, 'text/csv');
    assert.deepEqual([first.body.accepted, second.body.accepted, again.body.accepted, again.body.duplicate], [1, 1, 0, 1]);
  });

  it('answers malformed JSON 400, an unsupported type 415 and an over-limit body 413', async () => {
    const malformed = await ingest('{"resourceType": "Observation",');
    assert.equal(malformed.status, 400);
    assert.equal(malformed.body.error, 'malformed_json');
    assert.equal((await ingest('<xml/>', 'application/xml')).status, 415);
    assert.equal((await ingest('{}')).status, 400);
    const small = await startTestGateway({ HGD_BODY_LIMIT: '2kb' });
    try {
      const token = await small.token({ role: 'provider', sub: 'u', org: 'acme' });
      const big = await small.request('POST', '/ingest', { token, body: fixture('fhir/Bundle-lipids.json'), contentType: FHIR });
      assert.equal(big.status, 413);
      assert.match(big.body.message, /limit/);
    } finally {
      await small.close();
    }
  });

  it('refuses callers without a provider token', async () => {
    assert.equal((await t.request('POST', '/ingest', { body: '{}', contentType: FHIR })).status, 401);
    const patient = await t.patientToken('http://hospital.example/mrn', 'MRN-100');
    assert.equal((await ingest(fixture('fhir/Observation-example.json'), FHIR, patient)).status, 403);
    assert.equal((await t.request('POST', '/ingest', { body: '{}', contentType: FHIR, token: 'not-a-jwt' })).status, 401);
  });

  it('patient A cannot read patient B, and bad filters get 400', async () => {
    const a = await t.patientToken('http://hospital.example/mrn', 'MRN-100');
    const b = await t.patientToken('http://hospital.example/mrn', 'MRN-101');
    const mineA = await t.request('GET', '/patients/me/observations', { token: a });
    const mineB = await t.request('GET', '/patients/me/observations', { token: b });
    assert.deepEqual(new Set(mineA.body.observations.map((o: { indicator: string }) => o.indicator)), new Set(['heart_rate', 'bp_systolic', 'bp_diastolic']));
    assert.deepEqual(mineB.body.observations.map((o: { indicator: string }) => o.indicator), ['steps']);
    const aPatient = mineA.body.observations[0].patient;
    assert.ok(mineB.body.observations.every((o: { patient: string }) => o.patient !== aPatient));
    assert.equal((await t.request('GET', '/patients/me/observations?indicator=nope', { token: a })).body.field, 'indicator');
    assert.equal((await t.request('GET', '/patients/me/observations?from=yesterday', { token: a })).body.field, 'from');
    const window = await t.request('GET', '/patients/me/observations?from=2024-05-01T00:00:00Z&to=2024-05-02T00:00:00Z', { token: a });
    assert.equal(window.status, 200);
    assert.equal(window.body.count, 3);
  });

  it('keeps values and identifiers out of the tables in clear, and writes one ledger entry a batch', async () => {
    const dump = JSON.stringify(await t.gateway.db.knex.raw("SELECT string_agg(t::text, '|') AS all FROM (SELECT * FROM records) t")) +
      JSON.stringify(await t.gateway.db.knex.raw("SELECT string_agg(t::text, '|') AS all FROM (SELECT * FROM patients) t"));
    for (const secret of ['MRN-100', 'MRN-200', 'Patient/pat2', '83.91', '5.55', 'lb_av']) assert.ok(!dump.includes(secret), `${secret} appears in clear`);
    const batches = await t.gateway.db.knex('ingest_batches').select('id', 'ledger_seq');
    for (const b of batches) {
      const entry = await t.gateway.ledger.getEntry(b.ledger_seq);
      assert.equal(JSON.parse(entry.canonical).payload.batchId, b.id);
    }
    assert.equal((await verifyLedger(t.gateway.db)).ok, true);
  });
});
