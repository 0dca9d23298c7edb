import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import http from 'node:http';
import { startTestGateway, type TestGateway } from './support/gateway';

/** GET with node:http from a chosen loopback source address (another client, as far as the gateway can tell). */
function getFrom(localAddress: string, url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { localAddress, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
  });
}

describe('HTTP hardening', function () {
  this.timeout(60_000);

  it('sends security headers and no x-powered-by', async () => {
    const t = await startTestGateway();
    try {
      const res = await fetch(`${t.url}/health`);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
      assert.ok(res.headers.get('content-security-policy'));
      assert.ok(res.headers.get('strict-transport-security'));
      assert.equal(res.headers.get('x-powered-by'), null);
    } finally {
      await t.close();
    }
  });

  it('rate-limits per identity: one identity is cut off, another is not', async () => {
    const t = await startTestGateway({ HGD_RATE_LIMIT_PER_MINUTE: '5' });
    try {
      const a = await t.token({ role: 'auditor', sub: 'a' });
      const b = await t.token({ role: 'auditor', sub: 'b' });
      const statuses = [];
      for (let i = 0; i < 7; i++) statuses.push((await t.request('GET', '/ledger/checkpoint', { token: a })).status);
      assert.deepEqual(statuses.slice(0, 5), [200, 200, 200, 200, 200]);
      const limited = await t.request('GET', '/ledger/checkpoint', { token: a });
      assert.equal(limited.status, 429);
      assert.match(limited.body.message, /requests a minute/);
      assert.equal((await t.request('GET', '/ledger/checkpoint', { token: b })).status, 200);
    } finally {
      await t.close();
    }
  });

  it('errors carry no stack trace or internals', async () => {
    const t = await startTestGateway();
    try {
      const provider = await t.token({ role: 'provider', sub: 'u', org: 'acme' });
      const r = await t.request('POST', '/ingest', { token: provider, body: '{"resourceType":', contentType: 'application/fhir+json' });
      assert.equal(r.status, 400);
      assert.doesNotMatch(r.text, /at [\w.]+ \(|node_modules|\.ts:\d+/);
    } finally {
      await t.close();
    }
  });

  it('a date filter in year 0000 (valid in JavaScript, not in PostgreSQL) is a 400 naming the field, not a 500', async () => {
    const t = await startTestGateway();
    try {
      const patient = await t.patientToken('http://hospital.example/mrn', 'Y0');
      const r = await t.request('GET', '/patients/me/observations?from=0000-01-01', { token: patient });
      assert.equal(r.status, 400, r.text);
      assert.equal(r.body.field, 'from');
      assert.equal((await t.request('GET', '/patients/me/observations?from=0001-01-01', { token: patient })).status, 200);
    } finally {
      await t.close();
    }
  });

  it('limits failed authentication per address: bad tokens, keys and passwords turn into 429, other addresses are unaffected', async () => {
    const t = await startTestGateway({ HGD_AUTH_FAILURES_PER_MINUTE: '5', HGD_RATE_LIMIT_PER_MINUTE: '100000' });
    try {
      const good = await t.token({ role: 'auditor', sub: 'a' });
      // Successes and unauthenticated requests are not failures.
      for (let i = 0; i < 10; i++) assert.equal((await t.request('GET', '/ledger/checkpoint', { token: good })).status, 200);
      assert.equal((await t.request('GET', '/ledger/entries/0')).status, 401, 'no credentials: 401, not counted');
      const attempts = [
        () => t.request('GET', '/ledger/entries/0', { token: 'not.a.token' }),
        () => t.request('GET', '/ledger/entries/0', { token: `${good}x` }),
        () => fetch(`${t.url}/quarantine`, { headers: { 'x-api-key': `hgd_${'1'.repeat(16)}_${'2'.repeat(64)}` } }).then((r) => ({ status: r.status })),
        () => t.request('POST', '/auth/login', { body: JSON.stringify({ username: 'nobody', password: 'wrong password' }), contentType: 'application/json' }),
        () => t.request('GET', '/ledger/entries/0', { token: 'expired.or.forged' }),
      ];
      const statuses: number[] = [];
      for (const attempt of attempts) statuses.push((await attempt()).status);
      assert.deepEqual(statuses, [401, 401, 401, 401, 401]);
      const limited = await t.request('GET', '/ledger/entries/0', { token: 'guess-6' });
      assert.equal(limited.status, 429);
      assert.equal(limited.body.error, 'auth_rate_limited');
      assert.match(limited.body.message, /more than 5 failed authentications a minute from this address/);
      // Every credential from this address is now refused unchecked, even a valid one.
      assert.equal((await t.request('GET', '/ledger/checkpoint', { token: good })).status, 429);
      assert.equal((await t.request('GET', '/health')).status, 200, 'requests without credentials still pass');
      // Another client address is not limited.
      assert.equal(await getFrom('127.0.0.2', `${t.url}/ledger/checkpoint`, { authorization: `Bearer ${good}` }), 200);
    } finally {
      await t.close();
    }
  });

  describe('a NUL character in a JSON string is a 400 naming the field (PostgreSQL text cannot hold it)', () => {
    let t: TestGateway;
    const tokens: Record<string, string> = {};
    const post = (path: string, token: string | undefined, body: unknown, contentType = 'application/json') =>
      t.request('POST', path, { ...(token ? { token } : {}), body: JSON.stringify(body), contentType });
    before(async () => {
      t = await startTestGateway({ HGD_RATE_LIMIT_PER_MINUTE: '100000' });
      tokens.admin = await t.token({ role: 'admin', sub: 'admin-1' });
      tokens.patient = await t.patientToken('http://hospital.example/mrn', 'NUL-1');
      tokens.researcher = await t.token({ role: 'researcher', sub: 'r-nul' });
      tokens.provider = await t.token({ role: 'provider', sub: 'u', org: 'acme' });
      assert.equal((await post('/admin/studies', tokens.admin, { id: 'cardio-2025', title: 'Cardio', purpose: 'HRESCH' })).status, 201);
    });
    after(async () => t?.close());

    const consent = () => JSON.parse(fs.readFileSync('test/fixtures/consent/Consent-hgd-research.json', 'utf8'));
    const cases: Array<[string, string, () => unknown, string, string, string?]> = [
      ['POST /auth/login', '/auth/login', () => ({ username: 'ali\u0000ce', password: 'long enough password' }), 'username', '/username'],
      ['POST /admin/studies', '/admin/studies', () => ({ id: 's2', title: 'Heart\u0000', purpose: 'HRESCH' }), 'title', '/title'],
      ['POST /admin/studies/:id/researchers', '/admin/studies/cardio-2025/researchers', () => ({ researcher: 'r\u0000' }), 'researcher', '/researcher'],
      ['POST /patients/me/grants', '/patients/me/grants', () => ({ study: 'cardio-2025\u0000', indicators: ['heart_rate'], purpose: 'HRESCH' }), 'study', '/study'],
      ['POST /patients/me/grants (in a list)', '/patients/me/grants', () => ({ study: 'cardio-2025', indicators: ['heart_rate', 'bp\u0000'], purpose: 'HRESCH' }), 'indicators', '/indicators/1'],
      ['POST /patients/me/consents', '/patients/me/consents', () => { const c = consent(); c.provision.actor[0].reference.identifier.value = 'cardio-2025\u0000'; return c; }, 'provision.actor.reference.identifier.value', '/provision/actor/0/reference/identifier/value', 'application/fhir+json'],
      ['POST /queries', '/queries', () => ({ study: 'cardio-2025', indicators: ['heart_rate'], aggregate: 'count\u0000' }), 'aggregate', '/aggregate'],
      ['POST /queries (a key)', '/queries', () => ({ study: 'cardio-2025', indicators: ['heart_rate'], aggregate: 'count', options: { 'x\u0000': 1 } }), 'options.x\\u0000', '/options/x\\u0000'],
    ];
    const who: Record<string, string | undefined> = { '/auth/login': undefined, '/admin/studies': 'admin', '/admin/studies/cardio-2025/researchers': 'admin', '/patients/me/grants': 'patient', '/patients/me/consents': 'patient', '/queries': 'researcher' };
    for (const [name, path, body, field, pointer, contentType] of cases) {
      it(name, async () => {
        const role = who[path];
        const r = await post(path, role ? tokens[role] : undefined, body(), contentType);
        assert.equal(r.status, 400, r.text);
        assert.deepEqual([r.body.error, r.body.field, r.body.pointer], ['invalid_input', field, pointer]);
        assert.match(r.body.message, /contains a NUL character/);
      });
    }

    it('nothing was stored, and the same bodies without the NUL are accepted', async () => {
      assert.equal((await t.gateway.db.knex('consent_grants')).length, 0);
      assert.equal((await t.gateway.db.knex('studies')).length, 1);
      const r = await post('/patients/me/grants', tokens.patient, { study: 'cardio-2025', indicators: ['heart_rate'], purpose: 'HRESCH' });
      assert.equal(r.status, 201, r.text);
    });

    it('uploads to POST /ingest are checked per entry by the management layer, not refused whole', async () => {
      const text = fs.readFileSync('test/fixtures/fhir/Bundle-lipids.json', 'utf8').replace(/"id": ?"([^"]*)"/, '"id":"$1\\u0000"');
      const r = await t.request('POST', '/ingest', { token: tokens.provider, body: text, contentType: 'application/fhir+json' });
      assert.equal(r.status, 200, r.text);
      // Every entry got its own outcome (this bundle's patient is a bare reference the provider never
      // linked, so its entries are rejected for that reason, one by one); none was refused for the NUL.
      assert.ok(r.body.accepted + r.body.rejected > 0, r.text);
      assert.ok(!/NUL/.test(JSON.stringify(r.body.errors ?? [])), r.text);
    });
  });
});
