import { strict as assert } from 'node:assert';
import { startTestGateway, type TestGateway } from './support/gateway';

const MRN = 'http://hospital.example/mrn';
const JSON_TYPE = 'application/json';

/** Treatment grants: a provider organisation as grantee, purpose TREAT, same model and ledger entries as research grants. */
describe('treatment grants (purpose TREAT, a provider organisation as grantee)', function () {
  this.timeout(60_000);
  let t: TestGateway;
  let alice: string;
  let admin: string;
  const post = (path: string, token: string, body: unknown) => t.request('POST', path, { token, body: JSON.stringify(body), contentType: JSON_TYPE });
  const entry = async (seq: number) => JSON.parse((await t.gateway.ledger.getEntry(seq)).canonical) as { kind: string; actor: string; payload: Record<string, unknown> };

  before(async () => {
    t = await startTestGateway();
    alice = await t.patientToken(MRN, 'A-1');
    admin = await t.token({ role: 'admin', sub: 'admin-1' });
  });
  after(() => t.close());

  it('records a grant to an organisation on the ledger, lists it, exports it as a Consent and revokes it', async () => {
    const r = await post('/patients/me/grants', alice, { grantee: 'clinic-b', indicators: ['spo2', 'heart_rate'], purpose: 'TREAT', period: { end: '2999-01-01' } });
    assert.equal(r.status, 201, r.text);
    assert.deepEqual([r.body.grantee, r.body.study, r.body.status, r.body.indicators], ['clinic-b', null, 'active', ['heart_rate', 'spo2']]);
    assert.deepEqual(r.body.purpose, { system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'TREAT', display: 'treatment' });
    const e = await entry(r.body.ledger.grant);
    assert.deepEqual([e.kind, e.payload.action, e.payload.grantee, e.payload.study, e.payload.purpose], ['consent', 'grant', 'clinic-b', undefined, 'TREAT']);

    const list = await t.request('GET', '/patients/me/grants', { token: alice });
    assert.deepEqual(list.body.grants.map((g: { id: string }) => g.id), [r.body.id]);
    const consent = await t.request('GET', `/patients/me/grants/${r.body.id}/consent`, { token: alice });
    assert.equal(consent.status, 200);
    assert.equal(consent.body.scope.coding[0].code, 'patient-privacy');
    assert.deepEqual(consent.body.provision.actor[0].reference, { type: 'Organization', identifier: { system: 'urn:hgd:org', value: 'clinic-b' } });
    assert.equal(consent.body.provision.purpose[0].code, 'TREAT');

    const revoked = await t.request('DELETE', `/patients/me/grants/${r.body.id}`, { token: alice });
    assert.equal(revoked.body.status, 'revoked');
    const re = await entry(revoked.body.ledger.revoke);
    assert.deepEqual([re.payload.action, re.payload.grantee], ['revoke', 'clinic-b']);
  });

  it('refuses a research purpose for an organisation, TREAT for a study, and both or neither grantee', async () => {
    assert.equal((await post('/admin/studies', admin, { id: 'care-study', title: 'S', purpose: 'HRESCH' })).status, 201);
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ grantee: 'clinic-b', indicators: ['spo2'], purpose: 'HRESCH' }, 'purpose'],
      [{ study: 'care-study', indicators: ['spo2'], purpose: 'TREAT' }, 'purpose'],
      [{ study: 'care-study', grantee: 'clinic-b', indicators: ['spo2'], purpose: 'TREAT' }, 'body'],
      [{ indicators: ['spo2'], purpose: 'TREAT' }, 'body'],
      [{ grantee: 'has space', indicators: ['spo2'], purpose: 'TREAT' }, 'grantee'],
      [{ grantee: 'clinic-b', indicators: ['blood_magic'], purpose: 'TREAT' }, 'indicators'],
    ];
    for (const [body, field] of cases) {
      const r = await post('/patients/me/grants', alice, body);
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
      assert.equal(r.body.field, field, JSON.stringify(body));
    }
  });

  it('never puts a treatment grant into a research cohort', async () => {
    const pseudonym = t.gateway.ingest.pseudonymOf(MRN, 'A-1');
    await post('/patients/me/grants', alice, { grantee: 'clinic-c', indicators: ['spo2'], purpose: 'TREAT' });
    const cohort = await t.gateway.usage.consents.cohort({ study: 'care-study', purpose: 'HRESCH', indicators: ['spo2'], at: new Date() });
    assert.ok(!cohort.includes(pseudonym));
    const grants = await t.gateway.usage.consents.activeTreatmentGrants(pseudonym, 'clinic-c', new Date());
    assert.equal(grants.length, 1);
    assert.deepEqual(await t.gateway.usage.consents.activeTreatmentGrants(pseudonym, 'clinic-x', new Date()), []);
  });
});
