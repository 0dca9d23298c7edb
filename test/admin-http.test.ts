import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import { createGateway } from '../app/gateway';
import { bootstrapAdmin } from '../app/admin-bootstrap';
import { createLogger } from '../app/logger';
import type { Database } from '../storage-layer/db';
import { startTestGateway, type TestGateway } from './support/gateway';
import { testConfig } from './support/config';
import { serve } from './support/http';
import { openTestDatabase } from './support/db';

/** The admin entries of the ledger, oldest first: actor and payload. */
async function adminEntries(db: Database): Promise<Array<{ actor: string; payload: Record<string, unknown> }>> {
  const rows = (await db.knex('ledger_entries').where({ kind: 'admin' }).orderBy('seq').select('canonical')) as Array<{ canonical: Uint8Array }>;
  return rows.map((r) => {
    const e = JSON.parse(Buffer.from(r.canonical).toString('utf8')) as { actor: string; payload: Record<string, unknown> };
    return { actor: e.actor, payload: e.payload };
  });
}

describe('administration over HTTP (/admin/…, role admin)', function () {
  this.timeout(60_000);
  let t: TestGateway;
  const tokens: Record<string, string> = {};
  const call = (method: string, path: string, role: string, body?: unknown) =>
    t.request(method, path, { token: tokens[role], ...(body !== undefined ? { body: JSON.stringify(body), contentType: 'application/json' } : {}) });
  const post = (path: string, body: unknown, role = 'admin') => call('POST', path, role, body);
  const get = (path: string, role = 'admin') => call('GET', path, role);

  before(async () => {
    t = await startTestGateway();
    for (const role of ['admin', 'provider', 'patient', 'researcher', 'auditor'] as const) {
      tokens[role] = await t.token({ role, sub: `${role}-1`, ...(role === 'provider' ? { org: 'acme' } : {}) });
    }
  });
  after(async () => t?.close());

  it('organisations: create (201), list, 409 for a duplicate, 400 naming "id"; ledger entry by the token\'s admin', async () => {
    assert.deepEqual((await post('/admin/organisations', { id: 'acme' })).body, { id: 'acme' });
    assert.equal((await post('/admin/organisations', { id: 'beta' })).status, 201);
    const list = await get('/admin/organisations');
    assert.equal(list.status, 200);
    assert.deepEqual(list.body.organisations.map((o: { id: string }) => o.id), ['acme', 'beta']);
    assert.ok(!Number.isNaN(Date.parse(list.body.organisations[0].createdAt)));
    const dup = await post('/admin/organisations', { id: 'acme' });
    assert.deepEqual([dup.status, dup.body.error, dup.body.field], [409, 'conflict', 'org']);
    for (const body of [{}, { id: '-bad' }, { id: 'ok', extra: 1 }, { id: 7 }]) {
      const r = await post('/admin/organisations', body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.body.field, Object.keys(body).includes('extra') ? 'extra' : 'id', `${JSON.stringify(body)}: ${r.text}`);
    }
    const created = (await adminEntries(t.gateway.db)).filter((e) => e.payload.action === 'organisation-created');
    assert.deepEqual(created, [
      { actor: 'admin:admin-1', payload: { action: 'organisation-created', org: 'acme' } },
      { actor: 'admin:admin-1', payload: { action: 'organisation-created', org: 'beta' } },
    ]);
  });

  it('users: a generated password is returned once and signs in; a given one is not echoed; 409, 400 with the field, 404 for an unknown org', async () => {
    const made = await post('/admin/users', { role: 'researcher', username: 'rita' });
    assert.equal(made.status, 201);
    assert.deepEqual(Object.keys(made.body).sort(), ['password', 'role', 'username']);
    assert.match(made.body.password, /^[A-Za-z0-9_-]{24}$/);
    assert.equal((await post('/auth/login', { username: 'rita', password: made.body.password })).status, 200);

    const given = await post('/admin/users', { role: 'provider', username: 'prov', org: 'acme', password: 'a long provider password' });
    assert.deepEqual([given.status, given.body], [201, { username: 'prov', role: 'provider', org: 'acme' }]);
    const patient = await post('/admin/users', { role: 'patient', username: 'pat', patientIdentifier: 'http://hospital.example/mrn|MRN-7' });
    assert.equal(patient.status, 201);
    const login = await post('/auth/login', { username: 'pat', password: patient.body.password });
    assert.equal((await t.gateway.tokens.verify(login.body.token)).sub, t.gateway.ingest.pseudonymOf('http://hospital.example/mrn', 'MRN-7'));

    const dup = await post('/admin/users', { role: 'auditor', username: 'rita' });
    assert.deepEqual([dup.status, dup.body.field], [409, 'username']);
    const cases: Array<[unknown, string]> = [
      [{ username: 'x1' }, 'role'],
      [{ role: 'node', username: 'x1' }, 'role'],
      [{ role: 'auditor', username: 'has space' }, 'username'],
      [{ role: 'auditor', username: 'x1', password: 'short' }, 'password'],
      [{ role: 'provider', username: 'x1' }, 'org'],
      [{ role: 'patient', username: 'x1' }, 'patientIdentifier'],
      [{ role: 'patient', username: 'x1', patientIdentifier: 'no-bar' }, 'patientIdentifier'],
      [{ role: 'auditor', username: 'x1', patientIdentifier: 'a|b' }, 'patientIdentifier'],
    ];
    for (const [body, field] of cases) {
      const r = await post('/admin/users', body);
      assert.deepEqual([r.status, r.body.field], [400, field], `${JSON.stringify(body)}: ${r.text}`);
    }
    const noOrg = await post('/admin/users', { role: 'provider', username: 'x2', org: 'nowhere' });
    assert.deepEqual([noOrg.status, noOrg.body.field], [404, 'org']);

    const users = await get('/admin/users');
    assert.deepEqual(users.body.users.map((u: { username: string; role: string; org?: string }) => [u.username, u.role, u.org]), [
      ['pat', 'patient', undefined], ['prov', 'provider', 'acme'], ['rita', 'researcher', undefined],
    ]);
    // No secret, hash or patient pseudonym leaves through the listing.
    assert.ok(!/password|sub|scrypt/.test(users.text), users.text);
    const created = (await adminEntries(t.gateway.db)).filter((e) => e.payload.action === 'user-created').map((e) => e.payload);
    assert.deepEqual(created, [
      { action: 'user-created', role: 'researcher', username: 'rita' },
      { action: 'user-created', role: 'provider', username: 'prov', org: 'acme' },
      { action: 'user-created', role: 'patient' },
    ]);
  });

  it('API keys: created and shown once, listed without the secret, revoked with 204 (then 401), 409 on a second revoke', async () => {
    const k = await post('/admin/api-keys', { org: 'acme' });
    assert.equal(k.status, 201);
    assert.match(k.body.key, /^hgd_[0-9a-f]{16}_[0-9a-f]{64}$/);
    assert.equal(k.body.keyId, k.body.key.split('_')[1]);
    await post('/admin/api-keys', { org: 'beta' });
    const secret = k.body.key.split('_')[2] as string;
    const all = await get('/admin/api-keys');
    assert.equal(all.body.keys.length, 2);
    assert.ok(!all.text.includes(secret));
    const acme = await get('/admin/api-keys?org=acme');
    assert.deepEqual(acme.body.keys.map((x: { keyId: string; org: string; revokedAt?: string }) => [x.keyId, x.org, x.revokedAt]), [[k.body.keyId, 'acme', undefined]]);
    assert.equal((await t.request('GET', '/quarantine', { token: undefined })).status, 401);
    const viaKey = () => fetch(`${t.url}/quarantine`, { headers: { 'x-api-key': k.body.key as string } });
    assert.equal((await viaKey()).status, 200);

    const revoked = await call('DELETE', `/admin/api-keys/${k.body.keyId}`, 'admin');
    assert.deepEqual([revoked.status, revoked.text], [204, '']);
    assert.equal((await viaKey()).status, 401);
    assert.ok(Date.parse((await get('/admin/api-keys?org=acme')).body.keys[0].revokedAt));
    assert.equal((await call('DELETE', `/admin/api-keys/${k.body.keyId}`, 'admin')).status, 409);
    assert.equal((await call('DELETE', '/admin/api-keys/0000000000000000', 'admin')).status, 404);
    assert.deepEqual([(await post('/admin/api-keys', {})).body.field, (await post('/admin/api-keys', { org: 'nowhere' })).body.field], ['org', 'org']);
    assert.equal((await post('/admin/api-keys', { org: 'nowhere' })).status, 404);
    const actions = (await adminEntries(t.gateway.db)).map((e) => e.payload.action);
    assert.deepEqual(actions.filter((a) => String(a).startsWith('api-key')), ['api-key-created', 'api-key-created', 'api-key-revoked']);
  });

  it('studies: created with the default purpose, listed with usernames of researchers; a member by username; 409, 400 with the field', async () => {
    const s = await post('/admin/studies', { id: 'cardio', title: 'Cardio', minCohort: 5, epsilonBudget: 3 });
    assert.equal(s.status, 201);
    assert.deepEqual([s.body.id, s.body.purpose.code, s.body.minCohort, s.body.epsilonBudget], ['cardio', 'HRESCH', 5, 3]);
    assert.deepEqual((await post('/admin/studies', { id: 'cardio', title: 'again' })).status, 409);
    assert.deepEqual((await post('/admin/studies', { id: 'x', title: 'x', purpose: 'TREAT' })).body.field, 'purpose');
    assert.deepEqual((await post('/admin/studies', { id: 'x', title: 'x', epsilonBudget: -1 })).body.field, 'epsilonBudget');

    const added = await post('/admin/studies/cardio/researchers', { username: 'rita' });
    assert.equal(added.status, 201);
    assert.deepEqual([added.body.study, added.body.username], ['cardio', 'rita']);
    assert.equal((await post('/admin/studies/cardio/researchers', { username: 'rita' })).status, 409);
    for (const [body, status] of [[{ username: 'nobody' }, 400], [{ username: 'prov' }, 400], [{ username: '' }, 400]] as const) {
      const r = await post('/admin/studies/cardio/researchers', body);
      assert.deepEqual([r.status, r.body.field], [status, 'username'], r.text);
    }
    assert.equal((await post('/admin/studies/nope/researchers', { username: 'rita' })).status, 404);
    // A subject without a user (the older form) still works, and is listed by its subject.
    assert.equal((await post('/admin/studies/cardio/researchers', { researcher: 'r-token-only' })).status, 201);

    const list = await get('/admin/studies');
    assert.deepEqual(list.body.studies, [{
      id: 'cardio', title: 'Cardio', purpose: s.body.purpose, minCohort: 5, epsilonBudget: 3, epsilonRemaining: 3, researchers: ['r-token-only', 'rita'],
    }]);
    // The member can now query the study: membership by username is the researcher's subject.
    assert.ok(await t.gateway.usage.studies.isMember('cardio', 'rita'));
    const entries = (await adminEntries(t.gateway.db)).filter((e) => e.payload.study === 'cardio').map((e) => e.payload.action);
    assert.deepEqual(entries, ['study-registered', 'researcher-added', 'researcher-added']);
  });

  it('concurrent creations of one name: one 201, the rest 409 (never a 500), one ledger entry', async () => {
    const orgs = await Promise.all(Array.from({ length: 6 }, () => post('/admin/organisations', { id: 'race' })));
    assert.deepEqual(orgs.map((r) => r.status).sort(), [201, 409, 409, 409, 409, 409]);
    const users = await Promise.all(Array.from({ length: 4 }, () => post('/admin/users', { role: 'auditor', username: 'race-user', password: 'a long auditor password' })));
    assert.deepEqual(users.map((r) => r.status).sort(), [201, 409, 409, 409]);
    const entries = (await adminEntries(t.gateway.db)).filter((e) => e.payload.org === 'race' || e.payload.username === 'race-user');
    assert.equal(entries.length, 2);
  });

  it('every admin route answers 401 without a token and 403 to every other role', async () => {
    const routes: Array<[string, string]> = [
      ['GET', '/admin/organisations'], ['POST', '/admin/organisations'], ['GET', '/admin/users'], ['POST', '/admin/users'],
      ['GET', '/admin/api-keys'], ['POST', '/admin/api-keys'], ['DELETE', '/admin/api-keys/0000000000000000'],
      ['GET', '/admin/studies'], ['POST', '/admin/studies'], ['POST', '/admin/studies/cardio/researchers'],
    ];
    for (const [method, path] of routes) {
      assert.equal((await t.request(method, path, method === 'POST' ? { body: '{}', contentType: 'application/json' } : {})).status, 401, `${method} ${path}`);
      for (const role of ['provider', 'patient', 'researcher', 'auditor']) {
        const r = await call(method, path, role, method === 'POST' ? { id: 'zzz', org: 'acme', role: 'auditor', username: 'zzz', title: 'z' } : undefined);
        assert.deepEqual([r.status, r.body.error], [403, 'forbidden'], `${method} ${path} as ${role}`);
      }
    }
    // Nothing was created by the refused calls.
    assert.ok(!(await get('/admin/organisations')).body.organisations.some((o: { id: string }) => o.id === 'zzz'));
    assert.ok(!(await get('/admin/users')).body.users.some((u: { username: string }) => u.username === 'zzz'));
  });
});

describe('the first administrator (bootstrap on a start with no admin)', function () {
  this.timeout(60_000);
  const quiet = createLogger('test', true);
  const opened: Database[] = [];
  const freshDatabase = async () => {
    const db = await openTestDatabase();
    opened.push(db);
    return db;
  };
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((db) => db.close()));
  });

  it('writes a generated password once (mode 0600), it signs in, and a restart neither overwrites it nor adds a user', async () => {
    const config = testConfig({ HGD_LOG: 'silent' });
    const logged: string[] = [];
    const log = { ...quiet, info: (msg: string) => logged.push(msg) };
    const db = await freshDatabase();
    const first = await createGateway(config, { db, shareSink: null });
    let password: string;
    try {
      assert.equal(await bootstrapAdmin(first.identity, config.auth, log), 'created-from-file');
      const file = config.auth.adminPasswordFile;
      assert.equal(fs.statSync(file).mode & 0o777, 0o600);
      password = fs.readFileSync(file, 'utf8').trim();
      assert.ok(password.length >= 20);
      assert.ok(logged.some((m) => m.includes(file)), logged.join('\n'));
      assert.ok(!logged.some((m) => m.includes(password)), 'the password must not be logged');
      const server = await serve(first.app);
      try {
        const res = await fetch(`${server.url}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password }) });
        assert.equal(res.status, 200);
        const { token } = (await res.json()) as { token: string };
        assert.equal((await fetch(`${server.url}/admin/users`, { headers: { authorization: `Bearer ${token}` } })).status, 200);
      } finally {
        await server.close();
      }
      assert.deepEqual((await adminEntries(first.db)).map((e) => [e.actor, e.payload.action, e.payload.username]), [['admin:bootstrap', 'user-created', 'admin']]);
    } finally {
      await first.close();
    }
    const before = fs.statSync(config.auth.adminPasswordFile).mtimeMs;
    const again = await createGateway(config, { db, shareSink: null });
    try {
      assert.equal(await bootstrapAdmin(again.identity, config.auth, quiet), 'admin-exists');
      assert.equal(fs.readFileSync(config.auth.adminPasswordFile, 'utf8').trim(), password);
      assert.equal(fs.statSync(config.auth.adminPasswordFile).mtimeMs, before);
      assert.equal((await again.identity.listUsers()).length, 1);
      assert.ok(await again.identity.login('admin', password));
    } finally {
      await again.close();
    }
  });

  it('takes HGD_ADMIN_PASSWORD instead (no file), refuses a short one, and uses a password file left from before', async () => {
    const config = testConfig({ HGD_LOG: 'silent', HGD_ADMIN_PASSWORD: 'the operator chose this' });
    const g = await createGateway(config, { db: await freshDatabase(), shareSink: null });
    try {
      assert.equal(await bootstrapAdmin(g.identity, config.auth, quiet), 'created-from-environment');
      assert.ok(!fs.existsSync(config.auth.adminPasswordFile));
      assert.equal((await g.identity.login('admin', 'the operator chose this')).role, 'admin');
    } finally {
      await g.close();
    }
    const short = testConfig({ HGD_LOG: 'silent', HGD_ADMIN_PASSWORD: 'short' });
    const s = await createGateway(short, { db: await freshDatabase(), shareSink: null });
    try {
      await assert.rejects(bootstrapAdmin(s.identity, short.auth, quiet), /HGD_ADMIN_PASSWORD must have at least 10/);
      assert.equal(await s.identity.hasAdmin(), false);
      const kept = testConfig({ HGD_LOG: 'silent' });
      fs.writeFileSync(kept.auth.adminPasswordFile, 'a password from an earlier start\n', { mode: 0o600 });
      assert.equal(await bootstrapAdmin(s.identity, kept.auth, quiet), 'created-from-file');
      assert.equal(fs.readFileSync(kept.auth.adminPasswordFile, 'utf8'), 'a password from an earlier start\n');
      assert.equal((await s.identity.login('admin', 'a password from an earlier start')).role, 'admin');
    } finally {
      await s.close();
    }
  });
});
