/**
 * Patient identity across providers, as attacks: two providers both send "Patient/example"; a provider's reference
 * resolves only through its own Patients; nobody can log in as an identity HGD once made up; and the migration
 * of data stored under such identities before management-002.
 */
import { strict as assert } from 'node:assert';
import { randomBytes, randomUUID } from 'node:crypto';
import { createGateway, type Gateway } from '../app/gateway';
import { issueAdminToken } from '../cli/admin-command';
import { deriveKeyRing, open, rawPseudonym, seal } from '../management-layer/ingest/envelope';
import { ingestMigrations } from '../management-layer/ingest/schema';
import { contentKeyOf, sourceKeyOf } from '../management-layer/ingest/record-store';
import type { IcsRecord } from '../management-layer/ics-record';
import { LEGACY_CSV_PATIENT_SYSTEM, LEGACY_FHIR_REFERENCE_SYSTEM, csvPatientSystem } from '../management-layer/patient-systems';
import { ledgerMigrations } from '../storage-layer/ledger-schema';
import { runMigrations } from '../storage-layer/migrate';
import type { Database } from '../storage-layer/db';
import { openTestDatabase } from './support/db';
import { testConfig } from './support/config';
import { serve } from './support/http';
import { startTestGateway, type TestGateway } from './support/gateway';

const FHIR = 'application/fhir+json';
const heartRate = (id: string, subject: object, value: number, extra: object = {}) => JSON.stringify({
  resourceType: 'Observation', id, status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
  subject, effectiveDateTime: '2024-05-01T08:00:00Z', valueQuantity: { value, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' }, ...extra,
});
const patient = (id: string, system: string, value: string) => JSON.stringify({ resourceType: 'Patient', id, identifier: [{ system, value }] });

describe('patient identity: references are scoped by provider (attacks)', function () {
  this.timeout(60_000);
  let t: TestGateway;
  let a: string;
  let b: string;
  before(async () => {
    t = await startTestGateway();
    a = await t.token({ role: 'provider', sub: 'a-up', org: 'hospital-a' });
    b = await t.token({ role: 'provider', sub: 'b-up', org: 'hospital-b' });
  });
  after(() => t.close());
  const send = (token: string, body: string, contentType = FHIR) => t.request('POST', '/ingest', { token, body, contentType });
  const read = async (system: string, value: string) => (await t.request('GET', '/patients/me/observations', { token: await t.patientToken(system, value) })).body.observations as Array<{ value: number; provenance: { provider: string } }>;

  it('A and B both send Patient/example: A\'s patient token does not read B\'s records', async () => {
    assert.equal((await send(a, patient('example', 'http://a.example/mrn', 'A-1'))).body.patientsLinked, 1);
    assert.equal((await send(a, heartRate('a-hr', { reference: 'Patient/example' }, 61))).body.accepted, 1);
    // B's Patient/example is not A's: without B's own Patient it resolves to nobody, least of all A's patient.
    const stray = await send(b, heartRate('b-hr', { reference: 'Patient/example' }, 99));
    assert.deepEqual([stray.body.accepted, stray.body.rejected], [0, 1]);
    assert.match(stray.body.errors[0].reason, /not linked to a patient/);
    assert.deepEqual((await read('http://a.example/mrn', 'A-1')).map((o) => [o.value, o.provenance.provider]), [[61, 'hospital-a']]);

    await send(b, patient('example', 'http://b.example/mrn', 'B-1'));
    assert.equal((await send(b, heartRate('b-hr', { reference: 'Patient/example' }, 99))).body.accepted, 1);
    assert.deepEqual((await read('http://a.example/mrn', 'A-1')).map((o) => o.value), [61], 'A\'s patient still reads only A\'s');
    assert.deepEqual((await read('http://b.example/mrn', 'B-1')).map((o) => [o.value, o.provenance.provider]), [[99, 'hospital-b']]);
  });

  it('a reference once resolved stays resolved for that provider\'s later uploads (NDJSON without the Patient line)', async () => {
    const first = [patient('acc02', 'http://a.example/mrn', 'A-2'), heartRate('acc-1', { reference: 'Patient/acc02' }, 70)].join('\n');
    assert.equal((await send(a, first, 'application/fhir+ndjson')).body.accepted, 1);
    const later = await send(a, heartRate('acc-2', { reference: 'Patient/acc02' }, 71, { effectiveDateTime: '2024-05-02T08:00:00Z' }), 'application/fhir+ndjson');
    assert.deepEqual([later.body.accepted, later.body.rejected], [1, 0]);
    assert.deepEqual((await read('http://a.example/mrn', 'A-2')).map((o) => o.value), [70, 71], 'the real patient sees both');
    // A Bundle whose fullUrls name A's server resolves the relative reference through the same link.
    const bundle = { resourceType: 'Bundle', type: 'collection', entry: [{ fullUrl: 'https://a.example/fhir/Observation/acc-3', resource: JSON.parse(heartRate('acc-3', { reference: 'Patient/acc02' }, 72, { effectiveDateTime: '2024-05-03T08:00:00Z' })) }] };
    assert.equal((await send(a, JSON.stringify(bundle))).body.accepted, 1);
  });

  it('a later Patient under the same reference replaces the link for later uploads', async () => {
    await send(a, patient('moved', 'http://a.example/mrn', 'OLD'));
    await send(a, patient('moved', 'http://a.example/mrn', 'NEW'));
    await send(a, heartRate('moved-1', { reference: 'Patient/moved' }, 80));
    assert.deepEqual([(await read('http://a.example/mrn', 'OLD')).length, (await read('http://a.example/mrn', 'NEW')).length], [0, 1]);
  });

  it('a plain CSV patient_id is the provider\'s own: A\'s "P-1" is not B\'s "P-1"', async () => {
    const csv = (value: number) => `patient_id,code_system,code,value,unit,effective_start,effective_end\nP-1,LN,8867-4,${value},/min,2024-05-01T08:00:00Z,\n`;
    await send(a, csv(65), 'text/csv');
    await send(b, csv(66), 'text/csv');
    assert.deepEqual((await read(csvPatientSystem('hospital-a'), 'P-1')).map((o) => o.value), [65]);
    assert.deepEqual((await read(csvPatientSystem('hospital-b'), 'P-1')).map((o) => o.value), [66]);
  });

  it('a provider cannot send an identifier in a system HGD reserves (another provider\'s scope)', async () => {
    const r = await send(b, heartRate('spoof', { identifier: { system: csvPatientSystem('hospital-a'), value: 'P-1' } }, 120));
    assert.deepEqual([r.body.accepted, r.body.errors[0].pointer], [0, '/subject/identifier/system']);
    const csv = await send(b, `patient_id,code_system,code,value,unit,effective_start,effective_end\n${csvPatientSystem('hospital-a')}|P-1,LN,8867-4,121,/min,2024-05-04T08:00:00Z,\n`, 'text/csv');
    assert.equal(csv.body.accepted, 0);
    assert.deepEqual((await read(csvPatientSystem('hospital-a'), 'P-1')).map((o) => o.value), [65]);
  });

  it('nobody gets a token for an identity HGD once made up', async () => {
    for (const system of [LEGACY_FHIR_REFERENCE_SYSTEM, LEGACY_CSV_PATIENT_SYSTEM]) {
      assert.throws(() => t.gateway.ingest.pseudonymOf(system, 'Patient/example'), /not a patient identifier system/);
      await assert.rejects(issueAdminToken(testConfig(), { role: 'patient', patientIdentifier: `${system}|Patient/example` }), /not a patient identifier system/);
    }
  });
});

describe('migration of data stored before management-002', function () {
  this.timeout(60_000);
  const masterHex = randomBytes(32).toString('hex');
  const keys = deriveKeyRing(Buffer.from(masterHex, 'hex'));
  const legacy = rawPseudonym(keys, LEGACY_FHIR_REFERENCE_SYSTEM, 'Patient/example');
  const legacyCsv = rawPseudonym(keys, LEGACY_CSV_PATIENT_SYSTEM, 'P-7');
  let db: Database;
  let gateway: Gateway;
  let url: string;
  let close: () => Promise<void>;
  let oldBatch: string;

  /** What the code before management-002 stored: a record under the made-up pseudonym, a quarantine row in clear. */
  async function oldData(): Promise<void> {
    await runMigrations(db, [...ledgerMigrations, ...ingestMigrations.filter((m) => m.id === 'management-001-records')]);
    const dataKeys = new Map<string, Buffer>();
    for (const pseudonym of [legacy, legacyCsv]) {
      const wrapped = seal(keys.wrapKey, randomBytes(32), `patient:${pseudonym}`);
      await db.knex('patients').insert({ pseudonym, wrapped_key: wrapped });
      dataKeys.set(pseudonym, open(keys.wrapKey, wrapped, `patient:${pseudonym}`));
    }
    for (const [provider, value, patient] of [['hospital-a', 61, legacy], ['hospital-b', 99, legacy], ['hospital-a', 55, legacyCsv]] as const) {
      const batch = randomUUID();
      await db.knex('ingest_batches').insert({ id: batch, provider, format: 'fhir-json', accepted: 1, duplicate: 0, rejected: 0 });
      const record: IcsRecord = {
        patient, indicator: 'heart_rate', effectiveStart: '2023-01-01T00:00:00.000Z', effectiveEnd: null, value, unit: '/min',
        provenance: { provider, sourceSystem: provider, sourceId: `old-${provider}-${value}`, sourceVersion: null, code: { system: 'http://loinc.org', code: '8867-4' }, valueAsReceived: value, unitAsReceived: '/min' },
      };
      const id = randomUUID();
      await db.knex('records').insert({
        id, patient, indicator: 'heart_rate', effective_start: record.effectiveStart, provider, source_key: sourceKeyOf(record), content_key: contentKeyOf(record),
        body: seal(dataKeys.get(patient)!, Buffer.from(JSON.stringify(record)), id), salt: randomBytes(16), batch_id: batch, shared_at: new Date(),
      });
      if (patient === legacyCsv) continue;
      if (provider === 'hospital-a') {
        oldBatch = batch;
        const raw = { resourceType: 'Observation', id: 'old-bad', valueQuantity: { value: 987.6 } };
        await db.knex('quarantine').insert({ batch_id: batch, provider, ref: 'resource', pointer: '/valueQuantity/value', reason: '987.6 /min is outside the plausible range 20 to 300', raw: seal(keys.quarantineKey, Buffer.from(JSON.stringify(raw)), `quarantine:${batch}:resource`) });
      }
    }
  }

  before(async () => {
    db = await openTestDatabase();
    await oldData();
    gateway = await createGateway(testConfig({ HGD_LOG: 'silent', HGD_MASTER_KEY: masterHex }), { db, shareSink: null });
    const server = await serve(gateway.app);
    url = server.url;
    close = async () => {
      await server.close();
      await gateway.close();
      await db.close();
    };
  });
  after(() => close());

  const request = async (token: string, method: string, path: string, body?: string, contentType = FHIR) => {
    const r = await fetch(url + path, { method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': contentType } : {}) }, body });
    return { status: r.status, body: await r.json() as any }; // eslint-disable-line @typescript-eslint/no-explicit-any
  };
  const provider = (org: string) => gateway.tokens.issue({ role: 'provider', sub: `${org}-up`, org });
  const patientOf = (system: string, value: string) => gateway.tokens.issue({ role: 'patient', sub: gateway.ingest.pseudonymOf(system, value) });
  const underLegacy = async () => (await db.knex('records').where({ patient: legacy }).whereNull('erased_at').select('provider')).map((r: { provider: string }) => r.provider).sort();

  it('seals the quarantine\'s clear columns: reasons and entries are readable through the API only', async () => {
    const columns = (await db.knex.raw("SELECT column_name FROM information_schema.columns WHERE table_name = 'quarantine' AND table_schema = current_schema()")).rows.map((r: { column_name: string }) => r.column_name);
    for (const gone of ['ref', 'pointer', 'reason', 'raw']) assert.ok(!columns.includes(gone), `${gone} is still a column`);
    const dump = JSON.stringify((await db.knex.raw("SELECT string_agg(q::text, '|') AS all FROM quarantine q")).rows);
    assert.ok(!dump.includes('987.6') && !dump.includes('plausible'));
    const listed = await request(await provider('hospital-a'), 'GET', `/quarantine/${oldBatch}`);
    assert.equal(listed.status, 200);
    assert.deepEqual([listed.body.entries[0].ref, listed.body.entries[0].pointer, listed.body.entries[0].reason], ['resource', '/valueQuantity/value', '987.6 /min is outside the plausible range 20 to 300']);
    assert.equal(listed.body.entries[0].entry.id, 'old-bad');
  });

  it('lists the providers whose records may sit under a made-up identity', async () => {
    assert.deepEqual((await db.knex('legacy_subject_providers').select('provider').orderBy('provider')).map((r: { provider: string }) => r.provider), ['hospital-a', 'hospital-b']);
    assert.deepEqual(await underLegacy(), ['hospital-a', 'hospital-b']);
  });

  it('A\'s Patient moves A\'s records to A\'s patient, and only A\'s; then B\'s Patient moves B\'s', async () => {
    const a = await provider('hospital-a');
    const linked = await request(a, 'POST', '/ingest', patient('example', 'http://a.example/mrn', 'A-1'));
    assert.deepEqual([linked.status, linked.body.relinked], [200, 1]);
    assert.deepEqual(await underLegacy(), ['hospital-b'], 'B\'s record stays where it was');
    const mineA = await request(await patientOf('http://a.example/mrn', 'A-1'), 'GET', '/patients/me/observations');
    assert.deepEqual(mineA.body.observations.map((o: { value: number; provenance: { provider: string } }) => [o.value, o.provenance.provider]), [[61, 'hospital-a']]);
    // hospital-a has two heart-rate records (this one and a plain-CSV one): pick the moved one by its new patient.
    const moved = await db.knex('records').where({ provider: 'hospital-a', indicator: 'heart_rate', patient: gateway.ingest.pseudonymOf('http://a.example/mrn', 'A-1') }).first('shared_at', 'content_key');
    assert.equal(moved.shared_at, null, 'to be shared again under the new pseudonym');

    const b = await provider('hospital-b');
    const viaObservation = await request(b, 'POST', '/ingest', JSON.stringify({ resourceType: 'Bundle', type: 'collection', entry: [
      { fullUrl: 'urn:uuid:p', resource: JSON.parse(patient('example', 'http://b.example/mrn', 'B-1')) },
      { resource: JSON.parse(heartRate('b-new', { reference: 'Patient/example' }, 98)) },
    ] }));
    assert.deepEqual([viaObservation.body.accepted, viaObservation.body.relinked], [1, 1]);
    assert.deepEqual(await underLegacy(), []);
    const mineB = await request(await patientOf('http://b.example/mrn', 'B-1'), 'GET', '/patients/me/observations');
    assert.deepEqual(mineB.body.observations.map((o: { value: number }) => o.value).sort(), [98, 99]);
    const again = await request(await patientOf('http://a.example/mrn', 'A-1'), 'GET', '/patients/me/observations');
    assert.equal(again.body.observations.length, 1, 'A\'s patient never sees B\'s records');
  });

  it('a plain CSV patient_id moves the provider\'s records stored under the unscoped id to its scoped patient', async () => {
    const r = await request(await provider('hospital-a'), 'POST', '/ingest', 'patient_id,code_system,code,value,unit,effective_start,effective_end\nP-7,LN,8867-4,57,/min,2024-01-02T00:00:00Z,\n', 'text/csv');
    assert.deepEqual([r.body.accepted, r.body.relinked], [1, 1]);
    const mine = await request(await patientOf(csvPatientSystem('hospital-a'), 'P-7'), 'GET', '/patients/me/observations');
    assert.deepEqual(mine.body.observations.map((o: { value: number }) => o.value), [55, 57]);
    assert.equal((await db.knex('records').where({ patient: legacyCsv }).whereNull('erased_at')).length, 0);
  });
});
