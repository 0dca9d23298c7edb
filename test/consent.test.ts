import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import { startTestGateway, type TestGateway } from './support/gateway';

const fixture = (name: string) => fs.readFileSync(new URL(`./fixtures/consent/${name}`, import.meta.url), 'utf8');
const MRN = 'http://hospital.example/mrn';
const FHIR = 'application/fhir+json';
const JSON_TYPE = 'application/json';

describe('patients’ per-indicator grants and studies (HTTP)', function () {
  this.timeout(60_000);
  let t: TestGateway;
  let admin: string;
  let alice: string; // patient
  let bob: string; // patient
  let researcher: string;
  let alicePseudonym: string;

  const post = (path: string, token: string, body: unknown, contentType = JSON_TYPE) => t.request('POST', path, { token, body: JSON.stringify(body), contentType });
  const entry = async (seq: number) => {
    const e = await t.gateway.ledger.getEntry(seq);
    return { ...e, parsed: JSON.parse(e.canonical) as { kind: string; actor: string; payload: Record<string, unknown> } };
  };

  before(async () => {
    t = await startTestGateway();
    admin = await t.token({ role: 'admin', sub: 'admin-1' });
    researcher = await t.token({ role: 'researcher', sub: 'r-1' });
    alice = await t.patientToken(MRN, 'A-1');
    bob = await t.patientToken(MRN, 'B-1');
    alicePseudonym = t.gateway.ingest.pseudonymOf(MRN, 'A-1');
  });
  after(() => t.close());

  describe('studies (admin)', () => {
    it('registers a study with defaults, on the ledger, and refuses duplicates and bad fields naming them', async () => {
      const r = await post('/admin/studies', admin, { id: 'cardio-2025', title: 'Cardiovascular risk', purpose: 'HRESCH' });
      assert.equal(r.status, 201, r.text);
      assert.deepEqual([r.body.minCohort, r.body.epsilonBudget, r.body.epsilonSpent], [10, 10, 0]);
      assert.deepEqual(r.body.purpose, { system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'HRESCH', display: 'healthcare research' });
      const e = await entry(r.body.ledgerSeq);
      assert.deepEqual([e.parsed.kind, e.parsed.actor, e.parsed.payload.action, e.parsed.payload.study], ['admin', 'admin:admin-1', 'study-registered', 'cardio-2025']);

      assert.equal((await post('/admin/studies', admin, { id: 'cardio-2025', title: 'again', purpose: 'HRESCH' })).status, 409);
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ id: 'bad id', title: 'x', purpose: 'HRESCH' }, 'id'],
        [{ id: 's2', title: '', purpose: 'HRESCH' }, 'title'],
        [{ id: 's2', title: 'x', purpose: 'TREAT' }, 'purpose'],
        [{ id: 's2', title: 'x', purpose: 'HRESCH', minCohort: 1 }, 'minCohort'],
        [{ id: 's2', title: 'x', purpose: 'HRESCH', epsilonBudget: -1 }, 'epsilonBudget'],
      ];
      for (const [body, field] of cases) {
        const bad = await post('/admin/studies', admin, body);
        assert.equal(bad.status, 400, JSON.stringify(body));
        assert.equal(bad.body.field, field);
      }
      assert.equal((await post('/admin/studies', researcher, { id: 's3', title: 'x', purpose: 'HRESCH' })).status, 403);
      assert.equal((await post('/admin/studies', admin, { id: 'trial-1', title: 'A trial', purpose: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'CLINTRCH' }, minCohort: 5, epsilonBudget: 2.5 })).status, 201);
    });

    it('adds researchers (ledger entry); only members see a study’s budget', async () => {
      const r = await post('/admin/studies/cardio-2025/researchers', admin, { researcher: 'r-1' });
      assert.equal(r.status, 201, r.text);
      assert.equal((await entry(r.body.ledgerSeq)).parsed.payload.action, 'researcher-added');
      assert.equal((await post('/admin/studies/cardio-2025/researchers', admin, { researcher: 'r-1' })).status, 409);
      assert.equal((await post('/admin/studies/nope/researchers', admin, { researcher: 'r-1' })).status, 404);
      assert.equal((await post('/admin/studies/cardio-2025/researchers', admin, {})).body.field, 'researcher');
      const mine = await t.request('GET', '/studies/cardio-2025', { token: researcher });
      assert.equal(mine.status, 200);
      assert.equal(mine.body.epsilonRemaining, 10);
      assert.equal((await t.request('GET', '/studies/trial-1', { token: researcher })).status, 403);
      // A token's studies claim can narrow membership, never widen it.
      const narrowed = await t.token({ role: 'researcher', sub: 'r-1', studies: ['trial-1'] });
      assert.equal((await t.request('GET', '/studies/cardio-2025', { token: narrowed })).status, 403);
      assert.equal((await t.request('GET', '/studies/trial-1', { token: narrowed })).status, 403);
      const list = await t.request('GET', '/studies', { token: alice });
      assert.deepEqual(list.body.studies.map((s: { id: string }) => s.id), ['cardio-2025', 'trial-1']);
      assert.equal(list.body.studies[0].epsilonSpent, undefined, 'patients see no budgets');
    });
  });

  describe('grants', () => {
    let grantId: string;

    it('a patient grants indicators to a study; the grant is a consent ledger entry without health values', async () => {
      const r = await post('/patients/me/grants', alice, { study: 'cardio-2025', indicators: ['heart_rate', 'bp_systolic', 'heart_rate'], purpose: 'HRESCH', period: { start: '2024-01-01T00:00:00Z', end: null } });
      assert.equal(r.status, 201, r.text);
      grantId = r.body.id;
      assert.deepEqual(r.body.indicators, ['bp_systolic', 'heart_rate']);
      assert.equal(r.body.status, 'active');
      assert.deepEqual(r.body.period, { start: '2024-01-01T00:00:00.000Z', end: null });
      assert.equal(r.body.patient, undefined);
      const e = await entry(r.body.ledger.grant);
      assert.equal(e.parsed.kind, 'consent');
      assert.equal(e.parsed.actor, `patient:${alicePseudonym}`);
      assert.deepEqual(e.parsed.payload, {
        action: 'grant',
        grantId,
        study: 'cardio-2025',
        indicators: ['bp_systolic', 'heart_rate'],
        purpose: 'HRESCH',
        period: { start: '2024-01-01T00:00:00.000Z', end: null },
        source: 'api',
      });
      const list = await t.request('GET', '/patients/me/grants', { token: alice });
      assert.deepEqual(list.body.grants.map((g: { id: string }) => g.id), [grantId]);
      assert.deepEqual((await t.request('GET', '/patients/me/grants', { token: bob })).body.grants, [], 'default is no access');
    });

    it('refuses bad grants with 400 naming the field, and other roles with 401/403', async () => {
      const base = { study: 'cardio-2025', indicators: ['heart_rate'], purpose: 'HRESCH' };
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ ...base, indicators: ['heart_rate', 'blood_magic'] }, 'indicators'],
        [{ ...base, indicators: [] }, 'indicators'],
        [{ ...base, study: 'no-such-study' }, 'study'],
        [{ ...base, purpose: 'HMARKT' }, 'purpose'],
        [{ ...base, purpose: 'CLINTRCH' }, 'purpose'], // allowed code, but not the study's purpose
        [{ ...base, period: { start: '2025-01-01T00:00:00Z', end: '2024-01-01T00:00:00Z' } }, 'period.end'],
        [{ ...base, period: { start: 'yesterday' } }, 'period.start'],
        [{ ...base, period: { start: '2025-01-01T10:00:00' } }, 'period.start'], // no time zone
      ];
      for (const [body, field] of cases) {
        const r = await post('/patients/me/grants', alice, body);
        assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
        assert.equal(r.body.field, field, JSON.stringify(body));
      }
      assert.equal((await post('/patients/me/grants', researcher, base)).status, 403);
      assert.equal((await t.request('POST', '/patients/me/grants', { body: JSON.stringify(base), contentType: JSON_TYPE })).status, 401);
    });

    it('exports a grant as a FHIR R4 Consent', async () => {
      const r = await t.request('GET', `/patients/me/grants/${grantId}/consent`, { token: alice });
      assert.equal(r.status, 200);
      const c = r.body;
      assert.equal(c.resourceType, 'Consent');
      assert.equal(c.id, grantId);
      assert.equal(c.status, 'active');
      assert.deepEqual(c.scope.coding[0], { system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'research', display: 'Research' });
      assert.ok(c.category[0].coding.some((cd: { code: string }) => cd.code === 'research'));
      assert.deepEqual(c.patient, { identifier: { system: 'urn:hgd:patient-pseudonym', value: alicePseudonym } });
      assert.ok(c.policyRule, 'ppc-1: a policyRule');
      const p = c.provision;
      assert.equal(p.type, 'permit');
      assert.deepEqual(p.period, { start: '2024-01-01T00:00:00.000Z' });
      assert.equal(p.actor[0].role.coding[0].system, 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType');
      assert.equal(p.actor[0].role.coding[0].code, 'IRCP');
      assert.deepEqual(p.actor[0].reference.identifier, { system: 'urn:hgd:study', value: 'cardio-2025' });
      assert.equal(p.extension[0].url, 'http://hl7.org/fhir/StructureDefinition/consent-ResearchStudyContext');
      assert.deepEqual(p.purpose, [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'HRESCH', display: 'healthcare research' }]);
      assert.deepEqual(p.code.map((cc: { coding: Array<{ system: string; code: string }> }) => `${cc.coding[0]!.system}|${cc.coding[0]!.code}`), ['http://loinc.org|8480-6', 'http://loinc.org|8867-4']);
      assert.equal((await t.request('GET', `/patients/me/grants/${grantId}/consent`, { token: bob })).status, 404, 'not another patient’s');
    });

    it('round-trips: the exported Consent imports as an equal grant', async () => {
      const exported = (await t.request('GET', `/patients/me/grants/${grantId}/consent`, { token: alice })).body;
      const r = await t.request('POST', '/patients/me/consents', { token: alice, body: JSON.stringify(exported), contentType: FHIR });
      assert.equal(r.status, 201, r.text);
      const original = (await t.request('GET', `/patients/me/grants/${grantId}`, { token: alice })).body;
      assert.notEqual(r.body.id, grantId);
      assert.deepEqual(
        { study: r.body.study, indicators: r.body.indicators, purpose: r.body.purpose, period: r.body.period, status: r.body.status, source: r.body.source },
        { study: original.study, indicators: original.indicators, purpose: original.purpose, period: original.period, status: 'active', source: 'fhir-consent' },
      );
      const again = (await t.request('GET', `/patients/me/grants/${r.body.id}/consent`, { token: alice })).body;
      assert.deepEqual({ ...again, id: exported.id, dateTime: exported.dateTime }, exported);
      // Bob cannot import Alice's consent.
      const other = await t.request('POST', '/patients/me/consents', { token: bob, body: JSON.stringify(exported), contentType: FHIR });
      assert.equal(other.status, 403);
    });

    it('grants demographics like indicators; a Consent codes them by name (urn:hgd:indicator, no LOINC) and round-trips', async () => {
      const r = await post('/patients/me/grants', alice, { study: 'cardio-2025', indicators: ['sex', 'birth_year', 'heart_rate'], purpose: 'HRESCH' });
      assert.equal(r.status, 201, r.text);
      assert.deepEqual(r.body.indicators, ['birth_year', 'heart_rate', 'sex']);
      const exported = (await t.request('GET', `/patients/me/grants/${r.body.id}/consent`, { token: alice })).body;
      assert.deepEqual(exported.provision.code.map((cc: { coding: Array<{ system: string; code: string }> }) => `${cc.coding[0]!.system}|${cc.coding[0]!.code}`), ['urn:hgd:indicator|birth_year', 'http://loinc.org|8867-4', 'urn:hgd:indicator|sex']);
      const back = await t.request('POST', '/patients/me/consents', { token: alice, body: JSON.stringify(exported), contentType: FHIR });
      assert.equal(back.status, 201, back.text);
      assert.deepEqual(back.body.indicators, ['birth_year', 'heart_rate', 'sex']);
      exported.provision.code[0].coding[0].code = 'shoe_size';
      const bad = await t.request('POST', '/patients/me/consents', { token: alice, body: JSON.stringify(exported), contentType: FHIR });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.field, '/provision/code/0/coding/0/code');
      for (const id of [r.body.id, back.body.id]) assert.equal((await t.request('DELETE', `/patients/me/grants/${id}`, { token: alice })).status, 200);
    });

    it('imports a Consent derived from the FHIR R4 examples, mapping LOINC codes back to indicators', async () => {
      const r = await t.request('POST', '/patients/me/consents', { token: bob, body: fixture('Consent-hgd-research.json'), contentType: FHIR });
      assert.equal(r.status, 201, r.text);
      assert.deepEqual(r.body.indicators, ['bp_systolic', 'heart_rate']);
      assert.equal(r.body.study, 'cardio-2025');
      assert.equal(r.body.purpose.code, 'HRESCH');
      assert.deepEqual(r.body.period, { start: '2024-01-01T00:00:00.000Z', end: '2031-01-01T00:00:00.000Z' }, 'a date as the end covers that whole day');
    });

    it('refuses Consents it cannot map with 400 naming the JSON pointer', async () => {
      const good = JSON.parse(fixture('Consent-hgd-research.json'));
      const variant = (change: (c: typeof good) => void) => {
        const c = structuredClone(good);
        change(c);
        return c;
      };
      const cases: Array<[string, unknown, string]> = [
        ['unknown LOINC code', variant((c) => { c.provision.code[1].coding[1].code = '1234-5'; }), '/provision/code/1/coding/1/code'],
        ['a concept without LOINC', variant((c) => { c.provision.code[0].coding[0].system = 'http://snomed.info/sct'; }), '/provision/code/0/coding'],
        ['no codes', variant((c) => { delete c.provision.code; }), '/provision/code'],
        ['privacy scope', variant((c) => { c.scope.coding[0].code = 'patient-privacy'; }), '/scope'],
        ['deny', variant((c) => { c.provision.type = 'deny'; }), '/provision/type'],
        ['inactive', variant((c) => { c.status = 'inactive'; }), '/status'],
        ['purpose not allowed', variant((c) => { c.provision.purpose[0].code = 'HMARKT'; }), '/provision/purpose'],
        ['unknown study', variant((c) => { c.provision.actor[0].reference.identifier.value = 'nope'; }), '/provision/actor/0/reference/identifier/value'],
        ['no study', variant((c) => { c.provision.actor[0].role.coding[0].code = 'PRCP'; }), '/provision/actor'],
        ['neither policy nor policyRule', variant((c) => { delete c.policyRule; }), '/'],
        ['bad period', variant((c) => { c.provision.period.end = '31/12/2030'; }), '/provision/period/end'],
        ['not a Consent', { resourceType: 'Observation' }, '/resourceType'],
      ];
      for (const [name, body, field] of cases) {
        const r = await t.request('POST', '/patients/me/consents', { token: bob, body: JSON.stringify(body), contentType: FHIR });
        assert.equal(r.status, 400, `${name}: ${r.text}`);
        assert.equal(r.body.field, field, `${name}: ${r.body.message}`);
      }
      // The FHIR spec's own privacy consent: a period but no permit, purpose or codes.
      const spec = await t.request('POST', '/patients/me/consents', { token: bob, body: fixture('Consent-consent-example-basic.json'), contentType: FHIR });
      assert.equal(spec.status, 400);
      assert.match(spec.body.field, /^\/provision\//);
    });

    it('a revocation is a ledger entry, is idempotent, and turns the exported Consent inactive', async () => {
      assert.equal((await t.request('DELETE', `/patients/me/grants/${grantId}`, { token: bob })).status, 404, 'not another patient’s');
      const size = t.gateway.ledger.size;
      const r = await t.request('DELETE', `/patients/me/grants/${grantId}`, { token: alice });
      assert.equal(r.status, 200);
      assert.equal(r.body.status, 'revoked');
      const e = await entry(r.body.ledger.revoke);
      assert.deepEqual([e.parsed.kind, e.parsed.actor, e.parsed.payload.action, e.parsed.payload.grantId], ['consent', `patient:${alicePseudonym}`, 'revoke', grantId]);
      const again = await t.request('DELETE', `/patients/me/grants/${grantId}`, { token: alice });
      assert.equal(again.status, 200);
      assert.equal(again.body.ledger.revoke, r.body.ledger.revoke);
      assert.equal(t.gateway.ledger.size, size + 1, 'one entry for one revocation');
      const c = (await t.request('GET', `/patients/me/grants/${grantId}/consent`, { token: alice })).body;
      assert.equal(c.status, 'inactive');
    });
  });

  describe('the consented cohort', () => {
    it('counts a patient only while unrevoked grants for the study and purpose cover every indicator', async () => {
      const consents = t.gateway.usage.consents;
      const p = (v: string) => t.gateway.ingest.pseudonymOf(MRN, v);
      const grant = async (v: string, indicators: string[], period: { start?: string; end?: string | null } = {}, study = 'cardio-2025') => {
        const r = await post('/patients/me/grants', await t.patientToken(MRN, v), { study, indicators, purpose: study === 'cardio-2025' ? 'HRESCH' : 'CLINTRCH', period });
        assert.equal(r.status, 201, r.text);
        return r.body.id as string;
      };
      await grant('C-both', ['heart_rate', 'bp_systolic']);
      await grant('C-split', ['heart_rate']);
      await grant('C-split', ['bp_systolic']); // two grants together cover both
      await grant('C-hr-only', ['heart_rate']);
      await grant('C-expired', ['heart_rate', 'bp_systolic'], { start: '2020-01-01T00:00:00Z', end: '2021-01-01T00:00:00Z' });
      await grant('C-future', ['heart_rate', 'bp_systolic'], { start: '2999-01-01T00:00:00Z' });
      await grant('C-other-study', ['heart_rate', 'bp_systolic'], {}, 'trial-1');
      const revoked = await grant('C-revoked', ['heart_rate', 'bp_systolic']);
      await t.request('DELETE', `/patients/me/grants/${revoked}`, { token: await t.patientToken(MRN, 'C-revoked') });

      const at = new Date();
      const both = await consents.cohort({ study: 'cardio-2025', purpose: 'HRESCH', indicators: ['heart_rate', 'bp_systolic'], at });
      // Bob imported a grant for both indicators above (Alice's grants were revoked or imported: the import is active).
      const expected = [p('C-both'), p('C-split'), p('B-1'), alicePseudonym].sort();
      assert.deepEqual(both, expected);
      const hr = await consents.cohort({ study: 'cardio-2025', purpose: 'HRESCH', indicators: ['heart_rate'], at });
      assert.deepEqual(hr, [...expected, p('C-hr-only')].sort());
      const past = await consents.cohort({ study: 'cardio-2025', purpose: 'HRESCH', indicators: ['heart_rate'], at: new Date('2020-06-01T00:00:00Z') });
      assert.deepEqual(past, [p('C-expired')], 'grant periods are checked at the time the query runs');
      const statuses = (await t.request('GET', '/patients/me/grants', { token: await t.patientToken(MRN, 'C-expired') })).body.grants.map((g: { status: string }) => g.status);
      assert.deepEqual(statuses, ['expired']);
    });
  });
});
