import { strict as assert } from 'node:assert';
import { fieldOfPointer } from '../usage-layer/body-schema';
import { startTestGateway, type TestGateway } from './support/gateway';

/** Every usage-layer JSON body is checked against schema/api/*.schema.json: 400 naming the JSON pointer. */
describe('usage-layer request bodies against their JSON Schemas', function () {
  this.timeout(30_000);
  let t: TestGateway;
  const tokens: Record<string, string> = {};
  const post = (path: string, role: string, body: unknown) =>
    t.request('POST', path, { token: tokens[role], body: typeof body === 'string' ? body : JSON.stringify(body), contentType: 'application/json' });

  before(async () => {
    t = await startTestGateway();
    tokens.admin = await t.token({ role: 'admin', sub: 'admin-1' });
    tokens.researcher = await t.token({ role: 'researcher', sub: 'r-1' });
    tokens.patient = await t.token({ role: 'patient', sub: 'p-1' });
    assert.equal((await post('/admin/studies', 'admin', { id: 'schema-study', title: 'Schema', purpose: 'HRESCH' })).status, 201);
    assert.equal((await post('/admin/studies/schema-study/researchers', 'admin', { researcher: 'r-1' })).status, 201);
  });
  after(async () => t?.close());

  it('maps pointers to dotted fields', () => {
    assert.equal(fieldOfPointer(''), 'body');
    assert.equal(fieldOfPointer('/options/epsilon'), 'options.epsilon');
    assert.equal(fieldOfPointer('/indicators/1'), 'indicators');
    assert.equal(fieldOfPointer('/a~1b'), 'a/b');
  });

  it('answers 400 with the field and its JSON pointer on every route', async () => {
    const cases: Array<[string, string, unknown, string, string]> = [
      ['/admin/studies', 'admin', [], 'body', ''],
      ['/admin/studies', 'admin', { title: 'x', purpose: 'HRESCH' }, 'id', '/id'],
      ['/admin/studies', 'admin', { id: 'ok', title: 'x'.repeat(301), purpose: 'HRESCH' }, 'title', '/title'],
      ['/admin/studies', 'admin', { id: 'ok', title: 'x', purpose: 'HRESCH', minCohort: 2.5 }, 'minCohort', '/minCohort'],
      ['/admin/studies', 'admin', { id: 'ok', title: 'x', purpose: 42 }, 'purpose', '/purpose'],
      ['/admin/studies/schema-study/researchers', 'admin', { researcher: 'has space' }, 'researcher', '/researcher'],
      ['/patients/me/grants', 'patient', { study: 'schema-study', indicators: ['heart_rate', 7], purpose: 'HRESCH' }, 'indicators', '/indicators/1'],
      ['/patients/me/grants', 'patient', { study: 'schema-study', indicators: ['heart_rate'], purpose: 'HRESCH', period: 'always' }, 'period', '/period'],
      ['/patients/me/grants', 'patient', { study: 'schema-study', indicators: ['heart_rate'], purpose: 'HRESCH', period: { end: 5 } }, 'period.end', '/period/end'],
      ['/queries', 'researcher', { study: 'schema-study', indicators: ['heart_rate'] }, 'aggregate', '/aggregate'],
      ['/queries', 'researcher', { study: 'schema-study', indicators: 'heart_rate', aggregate: 'count' }, 'indicators', '/indicators'],
      ['/queries', 'researcher', { study: 'schema-study', indicators: ['heart_rate'], aggregate: 'count', options: { epsilon: '1' } }, 'options.epsilon', '/options/epsilon'],
      ['/queries', 'researcher', { study: 'schema-study', indicators: ['heart_rate'], aggregate: 'count', options: { noise: false } }, 'options.noise', '/options/noise'],
      ['/queries', 'researcher', { study: 'schema-study', indicators: ['heart_rate', 'bp_systolic'], aggregate: 'correlation', options: { pairWindowSeconds: -1 } }, 'options.pairWindowSeconds', '/options/pairWindowSeconds'],
    ];
    for (const [path, role, body, field, pointer] of cases) {
      const r = await post(path, role, body);
      assert.equal(r.status, 400, `${path} ${JSON.stringify(body)}: ${r.text}`);
      assert.deepEqual([r.body.field, r.body.pointer], [field, pointer], `${path} ${JSON.stringify(body)}: ${r.text}`);
      assert.equal(r.body.error, 'invalid_input');
    }
    // The FHIR Consent import (its own schema) names pointers too.
    const consent = await t.request('POST', '/patients/me/consents', { token: tokens.patient, body: JSON.stringify({ resourceType: 'Consent' }), contentType: 'application/fhir+json' });
    assert.equal(consent.status, 400);
    assert.match(consent.body.field, /^\//);
  });

  it('keeps the semantic checks the schemas cannot make', async () => {
    const unknown = await post('/queries', 'researcher', { study: 'schema-study', indicators: ['blood_magic'], aggregate: 'count' });
    assert.deepEqual([unknown.status, unknown.body.field], [400, 'indicators']);
    const blank = await post('/admin/studies', 'admin', { id: 'blank', title: '   ', purpose: 'HRESCH' });
    assert.deepEqual([blank.status, blank.body.field], [400, 'title']);
    const eps = await post('/queries', 'researcher', { study: 'schema-study', indicators: ['heart_rate'], aggregate: 'count', options: { epsilon: 0.1234567 } });
    assert.deepEqual([eps.status, eps.body.field], [400, 'options.epsilon']);
  });
});
