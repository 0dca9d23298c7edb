import { strict as assert } from 'node:assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runIngest, type EntryErrorInFile } from '../cli/ingest-command';
import { issueAdminToken } from '../cli/admin-command';
import { TokenService } from '../app/auth';
import { deriveKeyRing, loadMasterKey, pseudonymFor } from '../management-layer/ingest/envelope';
import { loadConfig, pgliteDir } from '../config';
import { openDatabase, type Database } from '../storage-layer/db';
import { verifyLedger } from '../storage-layer/verify-ledger';
import { TEST_DATABASE_URL } from './support/db';
import { startTestGateway, type TestGateway } from './support/gateway';
import { exited, freePort } from './support/process';

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const FIXTURES_NDJSON = path.join(ROOT, 'test', 'fixtures', 'ndjson');
const tmpDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'hgd-cli-ingest-'));
const count = async (db: Database, table: string) => Number((await db.knex(table).count<{ c: string | number }[]>('* as c'))[0]!.c);

const hr = (id: string, subject: object, minute: number, value: number) => JSON.stringify({
  resourceType: 'Observation', id, status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
  subject, effectiveDateTime: new Date(Date.UTC(2024, 4, 1, 8, minute)).toISOString(),
  valueQuantity: { value, unit: 'beats/minute', system: 'http://unitsofmeasure.org', code: '/min' },
});

/**
 * A folder with: an NDJSON file whose Patient sits in its first chunk only (line 9 out of range);
 * a CSV whose 6th data row is bad; an Observation in a subfolder; a file to skip.
 */
function generatedFolder(): string {
  const dir = tmpDir();
  const lines = [JSON.stringify({ resourceType: 'Patient', id: 'pa', identifier: [{ system: 'http://gen.example/mrn', value: 'G-1' }] })];
  for (let i = 0; i < 12; i++) lines.push(hr(`gen-hr-${i}`, { reference: 'Patient/pa' }, i, i === 7 ? 999 : 60 + i));
  fs.writeFileSync(path.join(dir, 'a.ndjson'), `${lines.join('\n')}\n`);
  const rows = ['patient_id,code_system,code,value,unit,effective_start,effective_end,source_id'];
  for (let i = 1; i <= 7; i++) rows.push(`http://gen.example/mrn|G-2,http://loinc.org,8867-4,${i === 6 ? 'abc' : 70 + i},/min,2024-05-02T08:0${i}:00Z,,csv-${i}`);
  fs.writeFileSync(path.join(dir, 'b.csv'), `${rows.join('\r\n')}\r\n`);
  fs.mkdirSync(path.join(dir, 'sub'));
  fs.writeFileSync(path.join(dir, 'sub', 'c.json'), hr('gen-json-1', { identifier: { system: 'http://gen.example/mrn', value: 'G-3' } }, 0, 64));
  fs.writeFileSync(path.join(dir, 'notes.txt'), 'not data\n');
  return dir;
}

describe('hgd ingest (CLI)', function () {
  this.timeout(60_000);
  let t: TestGateway;
  let token: string;
  let work: string;
  let gen: string;
  const output: string[] = [];
  const run = (extra: Partial<Parameters<typeof runIngest>[0]> = {}) => runIngest({
    paths: [FIXTURES_NDJSON, gen], url: t.url, token, stateFile: path.join(work, 'state.json'), reportFile: path.join(work, 'report.json'),
    chunkLines: 5, quiet: true, log: (l) => output.push(l), ...extra,
  });

  before(async () => {
    t = await startTestGateway();
    token = await t.token({ role: 'provider', sub: 'uploader', org: 'acme' });
    work = tmpDir();
    gen = generatedFolder();
  });
  after(async () => {
    await t.close();
    for (const dir of [work, gen]) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('sends files and folders in chunks, maps rejections to file lines and writes the quarantine report', async () => {
    const s = await run();
    assert.equal(s.ok, true, output.join('\n'));
    assert.deepEqual([s.files, s.skippedFiles.length, s.chunks, s.sent, s.resumed, s.failed], [4, 2, 8, 8, 0, 0]);
    assert.deepEqual([s.accepted, s.duplicate, s.rejected], [22, 0, 4]);
    assert.deepEqual(s.skippedFiles.map((f) => path.basename(f.path)).sort(), ['README.md', 'notes.txt']);
    assert.equal(await count(t.gateway.db, 'records'), 22);

    const report = JSON.parse(fs.readFileSync(s.reportFile!, 'utf8'));
    const refs = (file: string) => report.quarantine.filter((q: { file: string }) => q.file.endsWith(file)).flatMap((q: { errors: Array<{ ref: string }> }) => q.errors.map((e) => e.ref));
    assert.deepEqual(refs('observations.ndjson'), ['line 5', 'line 8'], 'chunk-relative refs are mapped to the file (blank line 3 included)');
    assert.deepEqual(refs('a.ndjson'), ['line 9']);
    assert.deepEqual(refs('b.csv'), ['row 6']);
    for (const q of report.quarantine) {
      const r = await t.request('GET', new URL(q.url).pathname, { token });
      assert.equal(r.status, 200);
      assert.equal(r.body.entries.length, q.rejected);
      // The quarantine numbers lines as the report does: the file's own.
      assert.deepEqual(r.body.entries.map((e: { ref: string; line: number }) => [e.ref, e.line]), q.errors.map((e: { ref: string; line: number }) => [e.ref, e.line]));
    }
    assert.deepEqual(report.quarantine.find((q: { file: string }) => q.file.endsWith('b.csv')).errors.map((e: { line: number }) => e.line), [7], 'row 6 is on line 7 (after the header)');
    assert.ok(output.some((l) => l.includes(`report: ${s.reportFile}`)));

    // The Patient of a.ndjson sits in its first chunk only; its later chunks still resolve Patient/pa.
    const g1 = await t.request('GET', '/patients/me/observations', { token: await t.patientToken('http://gen.example/mrn', 'G-1') });
    assert.equal(g1.body.count, 11);
    const mrn100 = await t.request('GET', '/patients/me/observations', { token: await t.patientToken('http://hospital.example/mrn', 'MRN-100') });
    assert.deepEqual(mrn100.body.observations.map((o: { indicator: string }) => o.indicator).sort(), ['bp_diastolic', 'bp_systolic', 'heart_rate']);
  });

  it('a second run skips every acknowledged chunk and stores nothing twice; a changed file is sent again safely', async () => {
    const batches = await count(t.gateway.db, 'ingest_batches');
    const again = await run();
    assert.deepEqual([again.ok, again.sent, again.resumed, again.accepted, again.duplicate], [true, 0, 8, 0, 0]);
    assert.equal(await count(t.gateway.db, 'ingest_batches'), batches, 'nothing was posted');
    assert.equal(again.quarantine.length, 4, 'earlier batches with rejections stay in the report');

    fs.appendFileSync(path.join(gen, 'b.csv'), 'http://gen.example/mrn|G-2,http://loinc.org,8867-4,99,/min,2024-05-02T09:00:00Z,,csv-8\r\n');
    const changed = await run();
    assert.deepEqual([changed.ok, changed.sent, changed.resumed, changed.accepted, changed.duplicate, changed.rejected], [true, 2, 6, 1, 6, 1]);
    assert.equal(await count(t.gateway.db, 'records'), 23);
    const dup = await t.gateway.db.knex.raw('SELECT provider, source_key FROM records GROUP BY 1, 2 HAVING count(*) > 1');
    assert.equal(dup.rows.length, 0);
  });

  it('retries 5xx with backoff, stops on a refused token and reports an unreachable gateway', async () => {
    // A proxy that answers 503 twice, then forwards.
    let failures = 2;
    const proxy = http.createServer((req, res) => {
      if (failures-- > 0) {
        res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"database_busy","message":"restarting"}');
        return;
      }
      const up = http.request(t.url + req.url, { method: req.method, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode!, r.headers);
        r.pipe(res);
      });
      req.pipe(up);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const proxyUrl = `http://127.0.0.1:${(proxy.address() as net.AddressInfo).port}`;
    try {
      const dir = tmpDir();
      fs.writeFileSync(path.join(dir, 'one.ndjson'), `${hr('retry-1', { identifier: { system: 'http://gen.example/mrn', value: 'G-9' } }, 1, 70)}\n`);
      output.length = 0;
      const s = await run({ paths: [dir], url: proxyUrl, retryDelayMs: 20, stateFile: path.join(dir, 'state.json') });
      assert.deepEqual([s.ok, s.sent, s.accepted], [true, 1, 1]);
      assert.equal(output.filter((l) => /503 restarting; retrying/.test(l)).length, 2);

      const refused = await run({ paths: [gen], token: 'not-a-jwt', stateFile: path.join(dir, 'other.json') });
      assert.deepEqual([refused.ok, refused.sent, refused.failed], [false, 0, 6]);
      assert.match(refused.failures[0]!.error, /refused the token \(401\)/);

      const closed = await freePort();
      const unreachable = await run({ paths: [gen], url: `http://127.0.0.1:${closed}`, retries: 1, retryDelayMs: 10, concurrency: 1, stateFile: path.join(dir, 'third.json') });
      assert.deepEqual([unreachable.ok, unreachable.sent, unreachable.failures.length], [false, 0, 1], 'stops after the first chunk that cannot reach the gateway');
      assert.match(unreachable.failures[0]!.error, /unreachable.*ECONNREFUSED/);
    } finally {
      proxy.close();
    }
  });
});

describe('hgd ingest: credentials, defaults and what to do after a failure', function () {
  this.timeout(60_000);
  let t: TestGateway;
  let work: string;
  const output: string[] = [];
  before(async () => {
    t = await startTestGateway();
    work = tmpDir();
  });
  after(async () => {
    await t.close();
    fs.rmSync(work, { recursive: true, force: true });
  });
  const file = (name: string, text: string) => {
    const p = path.join(work, name);
    fs.writeFileSync(p, text);
    return p;
  };
  const run = (paths: string[], extra: Partial<Parameters<typeof runIngest>[0]>) => runIngest({
    paths, url: t.url, stateFile: path.join(work, `state-${randomBytes(3).toString('hex')}.json`), reportFile: path.join(work, 'report.json'), chunkLines: 2, quiet: true, retries: 0, log: (l) => output.push(l), ...extra,
  });

  it('sends a provider API key as X-API-Key', async () => {
    const admin = { role: 'admin' as const, sub: 'root' };
    await t.gateway.identity.createOrganisation(admin, 'keyed');
    const { key } = await t.gateway.identity.createApiKey(admin, 'keyed');
    const s = await run([file('k.ndjson', `${hr('key-1', { identifier: { system: 'http://k.example/mrn', value: 'K-1' } }, 1, 70)}\n`)], { apiKey: key });
    assert.deepEqual([s.ok, s.accepted], [true, 1]);
    const stored = await t.gateway.db.knex('records').where({ provider: 'keyed' }).count<{ c: string | number }[]>('* as c');
    assert.equal(Number(stored[0]!.c), 1);
    const bad = await run([file('k2.ndjson', `${hr('key-2', { identifier: { system: 'http://k.example/mrn', value: 'K-1' } }, 2, 71)}\n`)], { apiKey: `${key.slice(0, -4)}0000` });
    assert.match(bad.failures[0]!.error, /refused the API key \(401\)/);
    await assert.rejects(run([work], { apiKey: key, token: 'x' }), /not both/);
    await assert.rejects(run([work], {}), /no credentials/);
  });

  it('suggests resuming only after transient failures, not after a chunk the gateway refused', async () => {
    const token = await t.token({ role: 'provider', sub: 'u', org: 'acme' });
    output.length = 0;
    const refused = await run([file('bad.csv', 'patient_id,code\nA,1\nB,2\n')], { token });
    assert.deepEqual([refused.ok, refused.failures.length, refused.failures[0]!.transient], [false, 1, false]);
    assert.ok(output.some((l) => /refused by the gateway: fix what it says/.test(l)), output.join('\n'));
    assert.ok(!output.some((l) => /run the same command again/.test(l)), 'no resume hint after a permanent 400');

    output.length = 0;
    const closed = await freePort();
    const down = await run([file('ok.ndjson', `${hr('down-1', { identifier: { system: 'http://k.example/mrn', value: 'K-2' } }, 3, 72)}\n`)], { token, url: `http://127.0.0.1:${closed}`, retryDelayMs: 1 });
    assert.deepEqual([down.ok, down.failures[0]!.transient], [false, true]);
    assert.ok(output.some((l) => /could not be sent; run the same command again to resume/.test(l)), output.join('\n'));
  });

  it('numbers rows and lines as the gateway does for the whole file (blank rows, quoted line breaks, ";", chunks)', async () => {
    const token = await t.token({ role: 'provider', sub: 'u', org: 'lines' });
    const rows = ['', 'patient_id;code_system;code;value;unit;effective_start;effective_end', 'L-1;LN;8867-4;61;/min;2024-06-01T00:00:00Z;', '', ' ; ;',
      'L-1;LN;8867-4;"bad\nvalue";/min;2024-06-02T00:00:00Z;', '"";"";"";"";"";"";""', 'L-1;LN;8867-4;62;/min;2024-06-03T00:00:00Z;', 'L-1;LN;8867-4;x;/min;2024-06-04T00:00:00Z;',
      '', 'L-1;LN;8867-4;999;/min;2024-06-05T00:00:00Z;'];
    const text = `${rows.join('\n')}\n`;
    const whole = await t.request('POST', '/ingest', { token, body: text, contentType: 'text/csv' });
    const expected = whole.body.errors.map((e: EntryErrorInFile) => [e.ref, e.pointer, e.line]);
    assert.deepEqual(expected.map((e: unknown[]) => e[0]), ['row 2', 'row 4', 'row 5']);
    const s = await run([file('lines.csv', text.replaceAll('2024-06', '2023-06'))], { token });
    assert.ok(s.ok, output.join('\n'));
    assert.equal(s.chunks, 3);
    assert.deepEqual(s.quarantine.flatMap((q) => q.errors!.map((e) => [e.ref, e.pointer, e.line])), expected, 'chunked or whole, the same rows and lines');
  });

  it('takes its default gateway URL from the same Config as the gateway (HGD_URL, else HGD_HOST and PORT)', () => {
    assert.equal(loadConfig({ PORT: '9123' }).client.url, 'http://127.0.0.1:9123');
    assert.equal(loadConfig({ PORT: '9123', HGD_HOST: '0.0.0.0' }).client.url, 'http://127.0.0.1:9123');
    assert.equal(loadConfig({ HGD_HOST: '::1' }).client.url, 'http://[::1]:8080');
    assert.equal(loadConfig({ PORT: '9123', HGD_URL: 'https://gw.example' }).client.url, 'https://gw.example');
    assert.deepEqual([loadConfig({ HGD_API_KEY: 'k' }).client.apiKey, loadConfig({ HGD_TOKEN: 't' }).client.token], ['k', 't']);
  });
});

describe('hgd admin token', () => {
  it('signs with the gateway key; a patient token carries the pseudonym of the identifier', async () => {
    const config = loadConfig({ HGD_DATA_DIR: tmpDir() });
    const tokens = TokenService.fromConfig(config);
    const provider = await tokens.verify(await issueAdminToken(config, { role: 'provider', org: 'acme' }));
    assert.deepEqual([provider.role, provider.org], ['provider', 'acme']);
    const patient = await tokens.verify(await issueAdminToken(config, { role: 'patient', patientIdentifier: 'http://x.example/mrn|M-1', ttl: '60' }));
    const keys = deriveKeyRing(loadMasterKey(config.ingest.masterKey, config.ingest.masterKeyFile));
    assert.equal(patient.sub, pseudonymFor(keys, 'http://x.example/mrn', 'M-1'));
    await assert.rejects(issueAdminToken(config, { role: 'provider' }), /--org/);
    await assert.rejects(issueAdminToken(config, { role: 'patient' }), /--patient-identifier/);
    await assert.rejects(issueAdminToken(config, { role: 'root' }), /--role must be one of/);
    await assert.rejects(issueAdminToken(config, { role: 'patient', patientIdentifier: 'no-bar' }), /system\|value/);
  });
});

// ------------------------------------------------------------------------------------------------
// The crash test: the gateway is SIGKILLed in the middle of an ingest, restarted, and the ingest resumed.

const TOTAL = 30_000;
const PATIENTS = 500;
const CHUNK = 500;

function writeLargeNdjson(file: string): void {
  const base = Date.UTC(2024, 0, 1);
  const out = fs.openSync(file, 'w');
  let buf: string[] = [];
  for (let i = 0; i < TOTAL; i++) {
    const p = i % PATIENTS;
    const heart = i % 2 === 0;
    // Unique time per patient, so no two Observations share (patient, indicator, time, value).
    const time = new Date(base + Math.floor(i / PATIENTS) * 3_600_000 + p * 1000).toISOString();
    buf.push(JSON.stringify({
      resourceType: 'Observation', id: `crash-${i}`, status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: heart ? '8867-4' : '2339-0' }] },
      subject: { identifier: { system: 'http://crash.example/mrn', value: `MRN-${p}` } },
      effectiveDateTime: time,
      valueQuantity: heart
        ? { value: 45 + (i % 80), unit: 'beats/minute', system: 'http://unitsofmeasure.org', code: '/min' }
        : { value: 70 + (i % 110), unit: 'mg/dL', system: 'http://unitsofmeasure.org', code: 'mg/dL' },
    }));
    if (buf.length === 5000) {
      fs.writeSync(out, `${buf.join('\n')}\n`);
      buf = [];
    }
  }
  if (buf.length) fs.writeSync(out, `${buf.join('\n')}\n`);
  fs.closeSync(out);
}


function collect(child: ChildProcess): () => string {
  let text = '';
  child.stdout?.on('data', (d) => (text += String(d)));
  child.stderr?.on('data', (d) => (text += String(d)));
  return () => text;
}

describe('hgd ingest: the gateway is killed mid-ingest (SIGKILL), restarted, and the ingest resumes', function () {
  this.timeout(180_000);
  const dataDir = tmpDir();
  const crashDb = `hgd_crash_${randomBytes(4).toString('hex')}`;
  let databaseUrl: string | undefined;
  let port: number;
  let gatewayProc: ChildProcess | null = null;
  let admin: Database | null = null;

  const env = (): NodeJS.ProcessEnv => {
    const e: NodeJS.ProcessEnv = { ...process.env, HGD_DATA_DIR: dataDir, PORT: String(port), HGD_LOG: 'silent', HGD_CHECKPOINT_EVERY: '20', HGD_OUTBOX_SECONDS: '3600' };
    delete e.DATABASE_URL;
    if (databaseUrl) e.DATABASE_URL = databaseUrl;
    return e;
  };
  // Each command in its own process group, so a kill reaches whatever it started too.
  const hgd = (args: string[]) => spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'cli', 'hgd.ts'), ...args], { env: env(), cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const killGroup = (child: ChildProcess, signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // already gone
    }
  };
  const openCrashDb = () => (databaseUrl ? openDatabase({ url: databaseUrl }) : openDatabase({ pgliteDir: pgliteDir(loadConfig({ HGD_DATA_DIR: dataDir })) }));

  async function startGateway(): Promise<void> {
    // The gateway alone: this test is about its ingest transactions; the compute nodes have their own tests.
    const child = hgd(['start', '--no-nodes']);
    const out = collect(child);
    gatewayProc = child;
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the gateway exited with ${child.exitCode}: ${out()}`);
      try {
        if ((await fetch(`http://127.0.0.1:${port}/health`)).ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`the gateway did not come up: ${out()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  before(async () => {
    port = await freePort();
    if (TEST_DATABASE_URL) {
      admin = await openDatabase({ url: TEST_DATABASE_URL });
      await admin.knex.raw(`CREATE DATABASE ${crashDb}`);
      const u = new URL(TEST_DATABASE_URL);
      u.pathname = `/${crashDb}`;
      databaseUrl = u.toString();
    }
  });

  after(async () => {
    if (gatewayProc && gatewayProc.exitCode === null) {
      killGroup(gatewayProc, 'SIGKILL');
      await exited(gatewayProc);
    }
    if (admin) {
      await admin.knex.raw(`DROP DATABASE IF EXISTS ${crashDb} WITH (FORCE)`);
      await admin.close();
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it(`stores each of ${TOTAL.toLocaleString('en-US')} Observations exactly once, with a ledger entry per batch and a valid ledger`, async () => {
    const file = path.join(dataDir, 'observations.ndjson');
    writeLargeNdjson(file);
    const stateFile = path.join(dataDir, 'state.json');
    await startGateway();

    const tokenRun = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'cli', 'hgd.ts'), 'admin', 'token', '--role', 'provider', '--org', 'crash-clinic', '--ttl', '3600'], { env: env(), encoding: 'utf8' });
    assert.equal(tokenRun.status, 0, tokenRun.stderr);
    const token = tokenRun.stdout.trim();
    const ingestArgs = ['ingest', file, '--url', `http://127.0.0.1:${port}`, '--token', token, '--state', stateFile, '--chunk', String(CHUNK), '--quiet', '--report', path.join(dataDir, 'report.json')];
    const acked = (): number => {
      if (!fs.existsSync(stateFile)) return 0;
      const doc = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
      const files = Object.values(doc.targets as Record<string, Record<string, { acked: object }>>).flatMap((t) => Object.values(t));
      return files.reduce((n, f) => n + Object.keys(f.acked).length, 0);
    };

    // First run: kill the gateway once a fifth of the chunks were acknowledged.
    const first = hgd([...ingestArgs, '--retries', '1']);
    const firstOut = collect(first);
    const chunks = TOTAL / CHUNK;
    for (;;) {
      if (acked() >= chunks / 5) break;
      if (first.exitCode !== null) throw new Error(`the ingest ended before the kill: ${firstOut()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    killGroup(gatewayProc!, 'SIGKILL');
    await exited(gatewayProc!);
    const firstCode = await exited(first);
    const ackedAtKill = acked();
    assert.notEqual(firstCode, 0, `the interrupted run must fail: ${firstOut()}`);
    assert.match(firstOut(), /could not be sent; run the same command again to resume/);

    let db = await openCrashDb();
    const rowsAtKill = await count(db, 'records');
    await db.close();
    assert.ok(rowsAtKill > 0 && rowsAtKill < TOTAL, `killed mid-ingest: ${rowsAtKill} of ${TOTAL} rows were committed`);
    assert.ok(ackedAtKill > 0 && ackedAtKill < chunks);
    assert.ok(rowsAtKill >= ackedAtKill * CHUNK, 'every acknowledged chunk was committed');

    // Restart and resume.
    await startGateway();
    const second = hgd(ingestArgs);
    const secondOut = collect(second);
    assert.equal(await exited(second), 0, secondOut());
    const m = /(\d+) sent, (\d+) already acknowledged/.exec(secondOut());
    assert.ok(m, secondOut());
    assert.equal(Number(m[2]), ackedAtKill, 'the acknowledged chunks were skipped');
    assert.equal(Number(m[1]) + Number(m[2]), chunks);
    // A patient reads their own 60 Observations with a token from `hgd admin token --patient-identifier`.
    const patientToken = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'cli', 'hgd.ts'), 'admin', 'token', '--role', 'patient', '--patient-identifier', 'http://crash.example/mrn|MRN-7'], { env: env(), encoding: 'utf8' });
    assert.equal(patientToken.status, 0, patientToken.stderr);
    const mine = await fetch(`http://127.0.0.1:${port}/patients/me/observations`, { headers: { authorization: `Bearer ${patientToken.stdout.trim()}` } });
    assert.equal(((await mine.json()) as { count: number }).count, TOTAL / PATIENTS);
    const d = /accepted ([\d,]+), duplicate ([\d,]+), rejected [\d,]+ \(this run\)/.exec(secondOut());
    assert.equal(Number(d![2]!.replace(/,/g, '')), rowsAtKill - ackedAtKill * CHUNK, 'committed but unacknowledged chunks come back as duplicates');
    assert.equal(Number(d![1]!.replace(/,/g, '')), TOTAL - rowsAtKill);
    killGroup(gatewayProc!, 'SIGTERM');
    await exited(gatewayProc!);

    db = await openCrashDb();
    try {
      assert.equal(await count(db, 'records'), TOTAL, 'one row per Observation');
      assert.equal(await count(db, 'patients'), PATIENTS);
      const dup = await db.knex.raw('SELECT provider, source_key FROM records GROUP BY 1, 2 HAVING count(*) > 1');
      assert.equal(dup.rows.length, 0, 'no (provider, source_key) twice');
      const batches = (await db.knex('ingest_batches').select('id', 'ledger_seq', 'accepted')) as Array<{ id: string; ledger_seq: number | null; accepted: number }>;
      assert.ok(batches.length >= chunks);
      assert.equal(batches.reduce((n, b) => n + b.accepted, 0), TOTAL, 'accepted counts add up across both runs');
      const entries = (await db.knex('ledger_entries').where({ kind: 'ingestion' }).select('seq', 'canonical')) as Array<{ seq: number; canonical: Uint8Array }>;
      const batchOfSeq = new Map(entries.map((e) => [Number(e.seq), JSON.parse(Buffer.from(e.canonical).toString('utf8')).payload.batchId as string]));
      for (const b of batches) assert.equal(batchOfSeq.get(Number(b.ledger_seq)), b.id, `batch ${b.id} has its ledger entry`);
      assert.equal(entries.length, batches.length, 'no ledger entry for a rolled-back batch');
      const report = await verifyLedger(db);
      assert.equal(report.ok, true, JSON.stringify(report.damage));
    } finally {
      await db.close();
    }
    const verify = hgd(['ledger', 'verify']);
    const verifyOut = collect(verify);
    assert.equal(await exited(verify), 0, verifyOut());
    assert.match(verifyOut(), /ledger OK/);
  });
});
