import { strict as assert } from 'node:assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { createGateway } from '../app/gateway';
import { openDatabase } from '../storage-layer/db';
import { loadConfig, pgliteDir } from '../config';
import { testConfig } from './support/config';
import { serve } from './support/http';
import { exited, freePort } from './support/process';

/** A URL where no gateway answers (the discard port), so `hgd admin` falls back to the database. */
const NO_GATEWAY = 'http://127.0.0.1:9';

/** Runs `hgd ...` as a separate process on the embedded database of `dataDir`, the gateway at `url`. */
function hgd(dataDir: string, args: string[], input?: string, env: Record<string, string> = {}, url = NO_GATEWAY) {
  const e: NodeJS.ProcessEnv = { ...process.env, HGD_DATA_DIR: dataDir, HGD_LOG: 'silent', HGD_URL: url, ...env };
  delete e.DATABASE_URL;
  if (!env.HGD_ADMIN_TOKEN) delete e.HGD_ADMIN_TOKEN;
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'cli/hgd.ts', ...args], { env: e, encoding: 'utf8', timeout: 60_000, input });
  return { code: r.status, out: r.stdout.trim(), err: r.stderr };
}

const ok = (r: ReturnType<typeof hgd>) => {
  assert.equal(r.code, 0, r.err + r.out);
  return r;
};

describe('hgd admin org / user / key / study (CLI, separate processes)', function () {
  this.timeout(180_000);

  it('creates an organisation, users, an API key (shown once), a study with a researcher, and revokes the key', async () => {
    const config = testConfig({ HGD_LOG: 'silent' });
    const dir = config.dataDir;
    assert.match(ok(hgd(dir, ['admin', 'org', 'create', 'acme'])).err, /no gateway answers at http:\/\/127\.0\.0\.1:9; writing to the database directly/);
    const key = ok(hgd(dir, ['admin', 'key', 'create', '--org', 'acme'])).out;
    assert.match(key, /^hgd_[0-9a-f]{16}_[0-9a-f]{64}$/);
    const keyId = key.split('_')[1]!;
    ok(hgd(dir, ['admin', 'user', 'create', '--role', 'researcher', '--username', 'rita', '--password-stdin'], 'a long researcher password\n'));
    const patientPassword = ok(hgd(dir, ['admin', 'user', 'create', '--role', 'patient', '--username', 'pat', '--patient-identifier', 'http://hospital.example/mrn|MRN-100'])).out;
    assert.match(patientPassword, /^[A-Za-z0-9_-]{24}$/);
    assert.match(ok(hgd(dir, ['admin', 'study', 'create', 's1', '--title', 'Heart rates', '--min-cohort', '5', '--epsilon-budget', '3'])).out, /study s1 created/);
    ok(hgd(dir, ['admin', 'study', 'add-researcher', 's1', 'rita']));
    assert.match(ok(hgd(dir, ['admin', 'study', 'list'])).out, /^s1\tHeart rates\tHRESCH\tmin cohort 5\tepsilon 3 of 3 left\tresearchers: rita$/);
    // An explicit --url that does not answer is an error, not a silent write to the database.
    const explicit = hgd(dir, ['admin', '--url', NO_GATEWAY, 'org', 'create', 'other']);
    assert.equal(explicit.code, 2);
    assert.match(explicit.err, /no HGD gateway answers/);
    // Errors exit non-zero with a message.
    const dup = hgd(dir, ['admin', 'org', 'create', 'acme']);
    assert.equal(dup.code, 2);
    assert.match(dup.err, /already exists/);
    assert.equal(hgd(dir, ['admin', 'study', 'add-researcher', 's1', 'pat']).code, 2);

    const gateway = await createGateway(config, { shareSink: null });
    const server = await serve(gateway.app);
    const post = async (path: string, headers: Record<string, string>, body: unknown) => {
      const res = await fetch(server.url + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
      return { status: res.status, body: (await res.json()) as { token?: string } };
    };
    try {
      const rows = await gateway.db.knex('api_keys').select('*');
      assert.equal(rows.length, 1);
      assert.ok(!JSON.stringify(rows).includes(key.split('_')[2]!));
      assert.deepEqual(await gateway.usage.studies.researchers('s1'), ['rita']);
      assert.equal((await gateway.usage.studies.get('s1'))?.minCohort, 5);

      const rita = await post('/auth/login', {}, { username: 'rita', password: 'a long researcher password' });
      assert.equal(rita.status, 200);
      const pat = await post('/auth/login', {}, { username: 'pat', password: patientPassword });
      assert.equal(pat.status, 200);
      assert.equal((await gateway.tokens.verify(pat.body.token!)).sub, gateway.ingest.pseudonymOf('http://hospital.example/mrn', 'MRN-100'));
      assert.equal((await fetch(`${server.url}/quarantine`, { headers: { 'x-api-key': key } })).status, 200);
    } finally {
      await server.close();
      await gateway.close();
    }

    ok(hgd(dir, ['admin', 'key', 'revoke', keyId]));
    const again = await createGateway(config, { shareSink: null });
    const server2 = await serve(again.app);
    try {
      assert.equal((await fetch(`${server2.url}/quarantine`, { headers: { 'x-api-key': key } })).status, 401);
    } finally {
      await server2.close();
      await again.close();
    }
  });
});

describe('hgd admin while the gateway runs on the embedded database (PGlite, one process)', function () {
  this.timeout(300_000);
  const config = testConfig({ HGD_LOG: 'silent' });
  const dir = config.dataDir;
  let port: number;
  let url: string;
  let gateway: ChildProcess | null = null;

  before(async () => {
    port = await freePort();
    url = `http://127.0.0.1:${port}`;
    const env: NodeJS.ProcessEnv = { ...process.env, HGD_DATA_DIR: dir, PORT: String(port), HGD_NODE_BASE_PORT: String(await freePort()), HGD_LOG: 'silent', HGD_OUTBOX_SECONDS: '3600' };
    delete env.DATABASE_URL; // PGlite, even where CI runs the suite on PostgreSQL: that is the trap this avoids
    delete env.HGD_ADMIN_PASSWORD;
    gateway = spawn(process.execPath, ['--import', 'tsx', 'cli/hgd.ts', 'start', '--no-nodes'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    gateway.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    const deadline = Date.now() + 120_000;
    for (;;) {
      if (gateway.exitCode !== null) throw new Error(`the gateway exited with ${gateway.exitCode}: ${err}`);
      try {
        if ((await fetch(`${url}/health`)).ok) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`the gateway did not come up: ${err}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  });

  after(async () => {
    if (gateway && gateway.exitCode === null) {
      gateway.kill('SIGKILL');
      await exited(gateway);
    }
  });

  it('creates a study, users and a member through the routes, signing in three ways; the changes are on the ledger', async () => {
    const run = (args: string[], input?: string, env: Record<string, string> = {}) => hgd(dir, args, input, env, url);
    // The first start created user admin; its password is in the data folder, readable by its owner only.
    const passwordFile = config.auth.adminPasswordFile;
    assert.equal(fs.statSync(passwordFile).mode & 0o777, 0o600);
    const adminPassword = fs.readFileSync(passwordFile, 'utf8').trim();

    // 1. No credentials given: a short-lived token signed with this machine's gateway key (actor admin:cli).
    const created = ok(run(['admin', 'study', 'create', 'live', '--title', 'While it runs', '--min-cohort', '3']));
    assert.match(created.out, /study live created \(purpose HRESCH, min cohort 3/);
    assert.doesNotMatch(created.err, /database/);
    // 2. A login as the bootstrap admin, the password on standard input.
    const rita = ok(run(['admin', '--username', 'admin', '--password-stdin', 'user', 'create', '--role', 'researcher', '--username', 'rita'], `${adminPassword}\n`));
    assert.match(rita.out, /^[A-Za-z0-9_-]{24}$/);
    // 3. An admin token in HGD_ADMIN_TOKEN.
    const token = ok(run(['admin', 'token', '--role', 'admin', '--sub', 'ops'])).out;
    ok(run(['admin', 'study', 'add-researcher', 'live', 'rita'], undefined, { HGD_ADMIN_TOKEN: token }));
    ok(run(['admin', 'org', 'create', 'acme'], undefined, { HGD_ADMIN_TOKEN: token }));
    const key = ok(run(['admin', 'key', 'create', '--org', 'acme'])).out;
    assert.match(ok(run(['admin', 'key', 'list', '--org', 'acme'])).out, new RegExp(`^${key.split('_')[1]}\\tacme\\t\\S+\\tactive$`));
    assert.match(ok(run(['admin', 'study', 'list'])).out, /^live\tWhile it runs\tHRESCH\tmin cohort 3\t.*researchers: rita$/);
    assert.match(ok(run(['admin', 'user', 'list'])).out, /^admin\tadmin\t-\t\S+\nrita\tresearcher\t-\t\S+$/);

    // The gateway's errors come back in words, with the field, and exit 2.
    const dup = run(['admin', 'study', 'create', 'live', '--title', 'again']);
    assert.equal(dup.code, 2);
    assert.match(dup.err, /study "live" already exists \(field "id"\) \[409/);
    const wrong = run(['admin', 'org', 'list'], undefined, { HGD_ADMIN_TOKEN: 'not-a-token' });
    assert.equal(wrong.code, 2);
    assert.match(wrong.err, /401/);
    const badLogin = run(['admin', '--username', 'admin', '--password-stdin', 'org', 'list'], 'wrong password\n');
    assert.equal(badLogin.code, 2);
    assert.match(badLogin.err, /invalid username or password/);

    // rita signs in with the password printed once; the gateway kept running throughout.
    const login = await fetch(`${url}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'rita', password: rita.out }) });
    assert.equal(login.status, 200);

    // Stopped, its database shows who did what: the same ledger entries as the CLI writes on the database.
    gateway!.kill('SIGTERM');
    assert.equal(await exited(gateway!), 0);
    const db = await openDatabase({ pgliteDir: pgliteDir(loadConfig({ HGD_DATA_DIR: dir })) });
    try {
      const rows = (await db.knex('ledger_entries').where({ kind: 'admin' }).orderBy('seq').select('canonical')) as Array<{ canonical: Uint8Array }>;
      const entries = rows.map((r) => JSON.parse(Buffer.from(r.canonical).toString('utf8')) as { actor: string; payload: { action: string } });
      assert.deepEqual(entries.map((e) => [e.actor, e.payload.action]), [
        ['admin:bootstrap', 'user-created'],
        ['admin:cli', 'study-registered'],
        ['admin:admin', 'user-created'],
        ['admin:ops', 'researcher-added'],
        ['admin:ops', 'organisation-created'],
        ['admin:cli', 'api-key-created'],
      ]);
    } finally {
      await db.close();
    }
  });
});
