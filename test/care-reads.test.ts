/* eslint-disable @typescript-eslint/no-explicit-any -- tests read whatever FHIR JSON came back */
import { strict as assert } from 'node:assert';
import { startTestGateway, type TestGateway } from './support/gateway';
import { bundle, MRN, observation } from './support/care';

const JSON_TYPE = 'application/json';
const FHIR = 'application/fhir+json';

/** Reads across providers under treatment grants, the patient's access log, break-the-glass. */
describe('care reads across providers (FHIR searchset Bundles under treatment grants)', function () {
  this.timeout(60_000);
  let t: TestGateway;
  let alice: string;
  let clinicB: string;
  const alicePatient = () => t.gateway.ingest.pseudonymOf(MRN, 'A-1');
  const read = (token: string, query: string, headers: Record<string, string> = {}) =>
    fetch(`${t.url}/care/Observation?${query}`, { headers: { authorization: `Bearer ${token}`, ...headers } }).then(async (r) => ({ status: r.status, type: r.headers.get('content-type'), text: await r.text() }));
  const aliceQuery = `patient.identifier=${encodeURIComponent(`${MRN}|A-1`)}`;

  before(async () => {
    t = await startTestGateway();
    alice = await t.patientToken(MRN, 'A-1');
    clinicB = await t.token({ role: 'provider', sub: 'dr-b', org: 'clinic-b' });
    const ingest = async (org: string, resources: unknown[]) => {
      const token = await t.token({ role: 'provider', sub: `${org}-upload`, org });
      const r = await t.request('POST', '/ingest', { token, body: JSON.stringify(bundle(resources)), contentType: FHIR });
      assert.equal(r.status, 200, r.text);
    };
    await ingest('hospital-a', [
      observation('a-hr-1', 'A-1', 'heart_rate', 72, '2025-01-01T08:00:00Z'),
      observation('a-hr-2', 'A-1', 'heart_rate', 75, '2025-01-02T08:00:00Z'),
      observation('a-w-1', 'A-1', 'body_weight', 70, '2025-01-01T08:00:00Z'),
    ]);
    await ingest('lab-c', [
      observation('c-hr-1', 'A-1', 'heart_rate', 80, '2025-01-03T08:00:00Z'),
      observation('c-spo2-1', 'A-1', 'spo2', 97, '2025-01-03T08:00:00Z'),
    ]);
  });
  after(() => t.close());

  it('without a grant: the same 403 whether or not the patient or records exist', async () => {
    const withRecords = await read(clinicB, aliceQuery);
    const unknownPatient = await read(clinicB, `patient.identifier=${encodeURIComponent(`${MRN}|NOBODY`)}`);
    const knownNoRecords = await read(clinicB, `patient.identifier=${encodeURIComponent(`${MRN}|B-1`)}`);
    for (const r of [withRecords, unknownPatient, knownNoRecords]) assert.equal(r.status, 403);
    assert.equal(withRecords.text, unknownPatient.text);
    assert.equal(withRecords.text, knownNoRecords.text);
    assert.equal(JSON.parse(withRecords.text).error, 'no_treatment_grant');
    // Asking for an indicator outside the grant is the same answer.
    assert.equal((await t.request('POST', '/patients/me/grants', { token: alice, body: JSON.stringify({ grantee: 'clinic-b', indicators: ['heart_rate'], purpose: 'TREAT' }), contentType: JSON_TYPE })).status, 201);
    const outside = await read(clinicB, `${aliceQuery}&indicator=body_weight`);
    assert.equal(outside.status, 403);
    assert.equal(outside.text, withRecords.text);
  });

  it('with a grant: the granted indicators from every source, as a paged FHIR searchset Bundle keeping the source', async () => {
    const first = await read(clinicB, `${aliceQuery}&_count=2`);
    assert.equal(first.status, 200, first.text);
    assert.match(first.type ?? '', /^application\/fhir\+json/);
    const b = JSON.parse(first.text);
    assert.deepEqual([b.resourceType, b.type, b.total, b.entry.length], ['Bundle', 'searchset', 3, 2]);
    const next = b.link.find((l: { relation: string }) => l.relation === 'next').url as string;
    const second = JSON.parse((await read(clinicB, next.split('?')[1]!)).text);
    assert.equal(second.entry.length, 1);
    assert.equal(second.link.some((l: { relation: string }) => l.relation === 'next'), false);
    const all = [...b.entry, ...second.entry].map((e: { resource: Record<string, any> }) => e.resource);
    assert.deepEqual(all.map((o) => o.valueQuantity.value), [72, 75, 80]);
    assert.deepEqual(all.map((o) => o.meta.source), ['urn:hgd:org:hospital-a', 'urn:hgd:org:hospital-a', 'urn:hgd:org:lab-c']);
    assert.deepEqual(all.map((o) => o.identifier[0].value), ['a-hr-1', 'a-hr-2', 'c-hr-1']);
    assert.ok(all.every((o) => o.resourceType === 'Observation' && o.code.coding[0].code === '8867-4' && o.subject.identifier.value === 'A-1'));
  });

  it('records every read on the ledger and in the patient’s access log, beside the research entries', async () => {
    const log = await t.request('GET', '/patients/me/access-log', { token: alice });
    assert.equal(log.status, 200);
    assert.deepEqual([log.body.count, log.body.entries], [0, []]);
    const reads = log.body.careReads as Array<Record<string, any>>;
    assert.equal(reads.length, 2);
    assert.deepEqual(reads[0]!.reader, { org: 'clinic-b', user: 'dr-b' });
    assert.deepEqual([reads[0]!.indicators, reads[0]!.breakGlass, reads[0]!.records], [['heart_rate'], false, 2]);
    assert.equal(reads[0]!.grants.length, 1);
    const entry = JSON.parse((await t.gateway.ledger.getEntry(reads[0]!.ledgerSeq)).canonical);
    assert.deepEqual([entry.kind, entry.actor, entry.payload.action, entry.payload.patient, entry.payload.grants], ['access', 'provider:clinic-b', 'care-read', alicePatient(), reads[0]!.grants]);
  });

  it('revoking the grant stops the next read', async () => {
    const grants = (await t.request('GET', '/patients/me/grants', { token: alice })).body.grants as Array<{ id: string; grantee?: string }>;
    assert.equal((await read(clinicB, aliceQuery)).status, 200);
    await t.request('DELETE', `/patients/me/grants/${grants.find((g) => g.grantee === 'clinic-b')!.id}`, { token: alice });
    assert.equal((await read(clinicB, aliceQuery)).status, 403);
  });

  it('break-the-glass: a read without a grant only with a reason, flagged on the ledger and in the access log', async () => {
    const er = await t.token({ role: 'provider', sub: 'dr-er', org: 'er-d' });
    assert.equal((await read(er, aliceQuery)).status, 403);
    const r = await read(er, aliceQuery, { 'X-Break-Glass-Reason': 'unconscious patient in the emergency room' });
    assert.equal(r.status, 200, r.text);
    assert.equal(JSON.parse(r.text).total, 5); // every indicator, every source
    const log = (await t.request('GET', '/patients/me/access-log', { token: alice })).body.careReads as Array<Record<string, any>>;
    const bg = log.at(-1)!;
    assert.deepEqual([bg.breakGlass, bg.reason, bg.reader.org, bg.grants], [true, 'unconscious patient in the emergency room', 'er-d', []]);
    assert.deepEqual(bg.indicators, ['body_weight', 'heart_rate', 'spo2']);
    const entry = JSON.parse((await t.gateway.ledger.getEntry(bg.ledgerSeq)).canonical);
    assert.deepEqual([entry.payload.action, entry.payload.breakGlass], ['break-glass-read', { reason: 'unconscious patient in the emergency room' }]);
    // A blank reason is no reason.
    assert.equal((await read(er, aliceQuery, { 'X-Break-Glass-Reason': '   ' })).status, 403);
  });

  it('names the field of a bad request', async () => {
    assert.equal(JSON.parse((await read(clinicB, 'patient.identifier=no-bar')).text).field, 'patient.identifier');
    assert.equal(JSON.parse((await read(clinicB, `${aliceQuery}&_count=0`)).text).field, '_count');
    assert.equal(JSON.parse((await read(clinicB, `${aliceQuery}&indicator=blood_magic`)).text).field, 'indicator');
  });
});
