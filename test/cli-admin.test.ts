import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { createGateway } from '../app/gateway';
import { testConfig } from './support/config';
import { serve } from './support/http';

/** Runs `hgd ...` as a separate process on the embedded database of `dataDir`. */
function hgd(dataDir: string, args: string[], input?: string) {
  const env: NodeJS.ProcessEnv = { ...process.env, HGD_DATA_DIR: dataDir, HGD_LOG: 'silent' };
  delete env.DATABASE_URL;
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'cli/hgd.ts', ...args], { env, encoding: 'utf8', timeout: 60_000, input });
  return { code: r.status, out: r.stdout.trim(), err: r.stderr };
}

describe('hgd admin org / user / key / study (CLI, separate processes)', function () {
  this.timeout(180_000);

  it('creates an organisation, users, an API key (shown once), a study with a researcher, and revokes the key', async () => {
    const config = testConfig({ HGD_LOG: 'silent' });
    const dir = config.dataDir;
    const ok = (r: ReturnType<typeof hgd>) => {
      assert.equal(r.code, 0, r.err + r.out);
      return r;
    };
    ok(hgd(dir, ['admin', 'org', 'create', 'acme']));
    const key = ok(hgd(dir, ['admin', 'key', 'create', '--org', 'acme'])).out;
    assert.match(key, /^hgd_[0-9a-f]{16}_[0-9a-f]{64}$/);
    const keyId = key.split('_')[1]!;
    ok(hgd(dir, ['admin', 'user', 'create', '--role', 'researcher', '--username', 'rita', '--password-stdin'], 'a long researcher password\n'));
    const patientPassword = ok(hgd(dir, ['admin', 'user', 'create', '--role', 'patient', '--username', 'pat', '--patient-identifier', 'http://hospital.example/mrn|MRN-100'])).out;
    assert.match(patientPassword, /^[A-Za-z0-9_-]{24}$/);
    assert.match(ok(hgd(dir, ['admin', 'study', 'create', 's1', '--title', 'Heart rates', '--min-cohort', '5', '--epsilon-budget', '3'])).out, /study s1 created/);
    ok(hgd(dir, ['admin', 'study', 'add-researcher', 's1', 'rita']));
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
