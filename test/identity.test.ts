import { strict as assert } from 'node:assert';
import { startTestGateway, type TestGateway } from './support/gateway';
import { LOGIN_FAILED } from '../app/identity';
import { verifyLedger } from '../storage-layer/verify-ledger';

const ADMIN = { role: 'admin' as const, sub: 'test-admin' };
const NDJSON = `${JSON.stringify({
  resourceType: 'Observation', id: 'hr-7', status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
  subject: { identifier: { system: 'http://hospital.example/mrn', value: 'MRN-7' } },
  effectiveDateTime: '2026-01-01T10:00:00Z',
  valueQuantity: { value: 70, system: 'http://unitsofmeasure.org', code: '/min' },
})}\n`;

/** Every row of every table of the test schema, as text (bytea columns as hex). */
async function allRowsText(t: TestGateway): Promise<string> {
  const knex = t.gateway.db.knex;
  const tables = (await knex.raw(`SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`)).rows as Array<{ table_name: string }>;
  assert.ok(tables.some((r) => r.table_name === 'api_keys'));
  let text = '';
  for (const { table_name } of tables) {
    const rows = (await knex.raw(`SELECT t::text AS row FROM "${table_name}" t`)).rows as Array<{ row: string }>;
    text += rows.map((r) => r.row).join('\n');
  }
  return text;
}

describe('identity store: API keys and password login', function () {
  this.timeout(60_000);
  let t: TestGateway;

  before(async () => {
    t = await startTestGateway();
    await t.gateway.identity.createOrganisation(ADMIN, 'acme');
  });
  after(() => t.close());

  async function call(method: string, path: string, headers: Record<string, string>, body?: string) {
    const res = await fetch(t.url + path, { method, headers, body });
    return { status: res.status, body: (await res.json()) as { message?: string; token?: string; [k: string]: unknown } };
  }

  it('an API key is stored only as a hash, authenticates a provider, and is refused (401) once revoked', async () => {
    const { key, keyId } = await t.gateway.identity.createApiKey(ADMIN, 'acme');
    assert.match(key, /^hgd_[0-9a-f]{16}_[0-9a-f]{64}$/);
    const secret = key.split('_')[2]!;
    const dump = await allRowsText(t);
    for (const needle of [key, secret, Buffer.from(secret).toString('hex')]) assert.ok(!dump.includes(needle), 'the plaintext key is in a table');
    const row = await t.gateway.db.knex('api_keys').where({ key_id: keyId }).first();
    assert.match(row.secret_sha256, /^[0-9a-f]{64}$/);

    const ingest = await call('POST', '/ingest', { 'x-api-key': key, 'content-type': 'application/fhir+ndjson' }, NDJSON);
    assert.equal(ingest.status, 200, JSON.stringify(ingest.body));
    const viaAuthorization = await call('GET', '/quarantine', { authorization: `ApiKey ${key}` });
    assert.equal(viaAuthorization.status, 200, JSON.stringify(viaAuthorization.body));
    // A provider key is a provider: it may not call a researcher's route.
    assert.equal((await call('GET', '/queries', { 'x-api-key': key })).status, 403);

    const forged = `hgd_${keyId}_${'0'.repeat(64)}`;
    assert.equal((await call('GET', '/quarantine', { 'x-api-key': forged })).status, 401);
    assert.equal((await call('GET', '/quarantine', { 'x-api-key': `hgd_${'1'.repeat(16)}_${secret}` })).status, 401);
    assert.equal((await call('GET', '/quarantine', { 'x-api-key': 'not-a-key' })).status, 401);

    await t.gateway.identity.revokeApiKey(ADMIN, keyId);
    const revoked = await call('GET', '/quarantine', { 'x-api-key': key });
    assert.equal(revoked.status, 401);
    assert.equal((await call('POST', '/ingest', { authorization: `ApiKey ${key}`, 'content-type': 'application/fhir+ndjson' }, NDJSON)).status, 401);
    assert.equal((await verifyLedger(t.gateway.db)).ok, true);
  });

  it('password login issues a JWT; a wrong password and an unknown user get the same 401', async () => {
    const password = 'correct horse battery staple';
    await t.gateway.identity.createUser(ADMIN, { username: 'rita', role: 'researcher', password });
    const patient = await t.gateway.identity.createUser(ADMIN, { username: 'pat', role: 'patient', password, patientIdentifier: 'http://hospital.example/mrn|MRN-7' });
    assert.equal(patient.sub, t.gateway.ingest.pseudonymOf('http://hospital.example/mrn', 'MRN-7'));

    const stored = await t.gateway.db.knex('users').where({ username: 'rita' }).first();
    assert.match(stored.password_hash, /^scrypt\$32768\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]{44}$/);
    assert.ok(!(await allRowsText(t)).includes(password));
    const other = await t.gateway.db.knex('users').where({ username: 'pat' }).first();
    assert.notEqual(other.password_hash.split('$')[4], stored.password_hash.split('$')[4], 'salts are per user');

    const json = { 'content-type': 'application/json' };
    const ok = await call('POST', '/auth/login', json, JSON.stringify({ username: 'rita', password }));
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(ok.body.tokenType, 'Bearer');
    assert.deepEqual(await t.gateway.tokens.verify(ok.body.token!), { role: 'researcher', sub: 'rita' });
    assert.equal((await call('GET', '/queries', { authorization: `Bearer ${ok.body.token}` })).status, 200);

    const wrong = await call('POST', '/auth/login', json, JSON.stringify({ username: 'rita', password: 'wrong password!' }));
    const unknown = await call('POST', '/auth/login', json, JSON.stringify({ username: 'nobody', password }));
    assert.deepEqual([wrong.status, unknown.status], [401, 401]);
    assert.equal(wrong.body.message, LOGIN_FAILED);
    assert.deepEqual(wrong.body, unknown.body);
    const malformed = await call('POST', '/auth/login', json, JSON.stringify({ username: 'rita', password: 42 }));
    assert.deepEqual([malformed.status, malformed.body.field], [400, 'password']);

    // The patient's token reads that patient's records (subject = pseudonym).
    const pat = await call('POST', '/auth/login', json, JSON.stringify({ username: 'pat', password }));
    assert.equal(pat.status, 200);
    const obs = await call('GET', '/patients/me/observations', { authorization: `Bearer ${pat.body.token}` });
    assert.equal(obs.status, 200);
    assert.ok(JSON.stringify(obs.body).includes('8867-4'), JSON.stringify(obs.body).slice(0, 300));
  });

  it('login attempts are rate-limited per address', async () => {
    const limited = await startTestGateway({ HGD_LOGIN_RATE_LIMIT_PER_MINUTE: '3' });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) {
        statuses.push((await limited.request('POST', '/auth/login', { body: JSON.stringify({ username: 'x', password: 'y' }), contentType: 'application/json' })).status);
      }
      assert.deepEqual(statuses, [401, 401, 401, 429]);
    } finally {
      await limited.close();
    }
  });
});
