/**
 * Fault injection: PostgreSQL restarts while providers are uploading.
 *
 * The gateway runs as its own process (`hgd start --no-nodes`) on a fresh database created for this
 * test; four clients post NDJSON chunks without pause; after a few seconds PostgreSQL is restarted
 * (`pg_ctlcluster … restart`, "fast" mode: every session is terminated and open transactions roll
 * back) while the clients keep sending. Asserted:
 *   - the gateway process survives and serves ingests again within RECOVERY_MS of the restart;
 *   - every request answered 200 is stored: its batch has exactly `accepted` rows and a ledger entry;
 *   - requests that failed during the outage failed cleanly: a 5xx with a JSON message, or a
 *     connection error; never a 4xx, never a hang;
 *   - nothing is stored half: each batch's rows equal its `accepted`, and the ledger verifies.
 *
 * Only on real PostgreSQL (HGD_TEST_DATABASE_URL). It restarts the shared server, so anything else
 * using it at that moment sees the outage too (mocha runs files one after another).
 */
import { strict as assert } from 'node:assert';
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openDatabase, type Database } from '../storage-layer/db';
import { verifyLedger } from '../storage-layer/verify-ledger';
import { TEST_DATABASE_URL } from './support/db';
import { exited, freePort } from './support/process';

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const CLIENTS = 4;
const CHUNK = 50;
const WARM_MS = 3_000;
/** How long after the restart command returns the service must be back. */
const RECOVERY_MS = 15_000;
/** Keep sending this long after the restart command returns. */
const AFTER_MS = 8_000;

interface Outcome {
  client: number;
  sentAt: number;
  answeredAt: number;
  status: number | null;
  error: string | null;
  body: { batchId?: string; accepted?: number; message?: string; error?: string } | null;
}


function pgCluster(action: 'restart' | 'start'): Promise<{ ms: number; output: string }> {
  const version = fs.readdirSync('/etc/postgresql').sort().at(-1)!;
  const started = Date.now();
  return new Promise((resolve, reject) => {
    execFile('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', action], { timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`pg_ctlcluster ${action} failed: ${err.message} ${stderr}`));
      else resolve({ ms: Date.now() - started, output: `${stdout}${stderr}`.trim() });
    });
  });
}

function post(port: number, token: string, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/ingest', agent: false, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+ndjson', 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', reject);
    });
    req.setTimeout(30_000, () => req.destroy(new Error('no answer within 30 s')));
    req.on('error', reject);
    req.end(body);
  });
}

/** CHUNK heart-rate Observations with ids unique to (client, request). */
function chunk(client: number, n: number): string {
  const base = Date.UTC(2024, 0, 1) + (client * 1_000_000 + n) * 60_000;
  return Array.from({ length: CHUNK }, (_, k) => JSON.stringify({
    resourceType: 'Observation', id: `fault-${client}-${n}-${k}`, status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
    subject: { identifier: { system: 'http://fault.example/mrn', value: `MRN-${k}` } },
    effectiveDateTime: new Date(base + k * 1000).toISOString(),
    valueQuantity: { value: 50 + ((n + k) % 60), unit: 'beats/minute', system: 'http://unitsofmeasure.org', code: '/min' },
  })).join('\n');
}

const pgUp = async (): Promise<boolean> => {
  try {
    const db = await openDatabase({ url: TEST_DATABASE_URL! });
    await db.close();
    return true;
  } catch {
    return false;
  }
};

describe('fault: PostgreSQL restarts in the middle of a stream of ingests (real PostgreSQL only)', function () {
  this.timeout(180_000);
  const dbName = `hgd_fault_${randomBytes(4).toString('hex')}`;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hgd-fault-'));
  let databaseUrl = '';
  let port = 0;
  let gateway: ChildProcess | null = null;
  let gatewayLog = '';
  let created = false;

  before(async function () {
    const skip = (reason: string) => {
      console.log(`      skipped: ${reason}`);
      this.skip();
    };
    if (!TEST_DATABASE_URL) return skip('needs real PostgreSQL (set HGD_TEST_DATABASE_URL); it restarts that server');
    if (!fs.existsSync('/etc/postgresql')) return skip('no local Debian PostgreSQL cluster to restart with pg_ctlcluster');
    const admin = await openDatabase({ url: TEST_DATABASE_URL });
    try {
      await admin.knex.raw(`CREATE DATABASE ${dbName}`);
      created = true;
    } finally {
      await admin.close();
    }
    const u = new URL(TEST_DATABASE_URL);
    u.pathname = `/${dbName}`;
    databaseUrl = u.toString();
    port = await freePort();
  });

  after(async () => {
    if (gateway && gateway.exitCode === null && gateway.signalCode === null) {
      gateway.kill('SIGTERM');
      const timer = setTimeout(() => gateway?.kill('SIGKILL'), 10_000);
      await exited(gateway);
      clearTimeout(timer);
    }
    if (TEST_DATABASE_URL && !(await pgUp())) await pgCluster('start').catch(() => undefined); // leave PostgreSQL running for the next file
    if (created) {
      const admin = await openDatabase({ url: TEST_DATABASE_URL! });
      await admin.knex.raw(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
      await admin.close();
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('recovers by itself, stores every acknowledged batch exactly, fails the others cleanly, and the ledger verifies', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: databaseUrl, HGD_DATA_DIR: dataDir, PORT: String(port), HGD_RATE_LIMIT_PER_MINUTE: '1000000', HGD_OUTBOX_SECONDS: '3600', HGD_CHECKPOINT_SECONDS: '1' };
    delete env.HGD_LOG;
    gateway = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'cli', 'hgd.ts'), 'start', '--no-nodes'], { env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    gateway.stdout!.on('data', (d) => (gatewayLog += String(d)));
    gateway.stderr!.on('data', (d) => (gatewayLog += String(d)));
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (gateway.exitCode !== null) throw new Error(`the gateway exited with ${gateway.exitCode}: ${gatewayLog}`);
      try {
        if ((await fetch(`http://127.0.0.1:${port}/health`)).ok) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`the gateway did not come up: ${gatewayLog}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const tokenRun = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'cli', 'hgd.ts'), 'admin', 'token', '--role', 'provider', '--org', 'fault-clinic', '--ttl', '3600'], { env, encoding: 'utf8' });
    assert.equal(tokenRun.status, 0, tokenRun.stderr);
    const token = tokenRun.stdout.trim();

    // The stream: CLIENTS loops posting chunks back to back until told to stop.
    const outcomes: Outcome[] = [];
    let stop = false;
    const clients = Array.from({ length: CLIENTS }, async (_, client) => {
      for (let n = 0; !stop; n++) {
        const sentAt = Date.now();
        try {
          const r = await post(port, token, chunk(client, n));
          let body: Outcome['body'] = null;
          try {
            body = JSON.parse(r.text);
          } catch {
            body = null;
          }
          outcomes.push({ client, sentAt, answeredAt: Date.now(), status: r.status, error: null, body });
          if (r.status !== 200) await new Promise((res) => setTimeout(res, 50)); // a client backs off a little on failure
        } catch (err) {
          const e = err as NodeJS.ErrnoException;
          outcomes.push({ client, sentAt, answeredAt: Date.now(), status: null, error: e.code ?? e.message, body: null });
          await new Promise((res) => setTimeout(res, 50));
        }
      }
    });

    await new Promise((r) => setTimeout(r, WARM_MS));
    const okBefore = outcomes.filter((o) => o.status === 200).length;
    assert.ok(okBefore > 0, `no ingest succeeded before the restart: ${JSON.stringify(outcomes.slice(0, 3))} ${gatewayLog.slice(-2000)}`);
    const restartAt = Date.now();
    const restart = await pgCluster('restart');
    const restartDone = Date.now();
    await new Promise((r) => setTimeout(r, AFTER_MS));
    stop = true;
    await Promise.all(clients);
    const gatewayAlive = gateway.exitCode === null && gateway.signalCode === null;

    // What happened, for the record.
    const failed = outcomes.filter((o) => o.status !== 200);
    const kinds = new Map<string, number>();
    for (const o of failed) {
      const k = o.status === null ? `connection error ${o.error}` : `${o.status} ${o.body?.error ?? ''}`.trim();
      kinds.set(k, (kinds.get(k) ?? 0) + 1);
    }
    const firstFailure = failed[0];
    const recovered = outcomes.filter((o) => o.status === 200 && o.sentAt >= restartDone).sort((a, b) => a.answeredAt - b.answeredAt)[0];
    const serverErrors = [...new Set([...gatewayLog.matchAll(/"msg":"unhandled error"[^\n]*|"err":\{[^}]*\}/g)].map((m) => m[0].replace(/\d+/g, 'N')))].slice(0, 5);
    console.log(`      ${outcomes.length} requests (${okBefore} ok before the restart); pg_ctlcluster restart took ${restart.ms} ms; `
      + `failures: ${JSON.stringify(Object.fromEntries(kinds))}; first failure at +${firstFailure ? firstFailure.answeredAt - restartAt : '-'} ms; `
      + `first success after the restart at +${recovered ? recovered.answeredAt - restartDone : '-'} ms after it returned; gateway alive: ${gatewayAlive}`);
    if (serverErrors.length) console.log(`      gateway log: ${serverErrors.join(' | ')}`);

    assert.ok(gatewayAlive, `the gateway process died: ${gatewayLog.slice(-3000)}`);
    assert.ok(recovered, `no ingest succeeded within ${AFTER_MS} ms after PostgreSQL came back (failures: ${JSON.stringify(Object.fromEntries(kinds))})`);
    assert.ok(recovered.answeredAt - restartDone < RECOVERY_MS, `recovery took ${recovered.answeredAt - restartDone} ms`);
    // Once back, it stays back: everything sent a second after the first recovered answer succeeds.
    const late = outcomes.filter((o) => o.sentAt > recovered.answeredAt + 1_000);
    assert.ok(late.length > 0);
    assert.deepEqual(late.filter((o) => o.status !== 200).map((o) => o.status ?? o.error), [], 'requests after recovery still fail');
    // Failures are clean: a 5xx with a JSON message, or a dropped/refused connection; never a 4xx.
    for (const o of failed) {
      if (o.status === null) {
        assert.match(o.error ?? '', /ECONNRESET|ECONNREFUSED|EPIPE|socket hang up/, `unexpected client error ${o.error}`);
      } else {
        assert.ok(o.status >= 500, `a ${o.status} during the outage: ${JSON.stringify(o.body)}`);
        assert.equal(typeof o.body?.message, 'string', `a ${o.status} without a JSON message`);
      }
      assert.ok(o.answeredAt >= restartAt - 1_000, `a failure before the restart: ${JSON.stringify(o)}`);
    }

    // The store: every acknowledged batch is there, exactly; no batch is partial; the ledger verifies.
    const db: Database = await openDatabase({ url: databaseUrl });
    try {
      const rows = (await db.knex('records').select('batch_id').count<{ batch_id: string; c: string | number }[]>('* as c').groupBy('batch_id')) as Array<{ batch_id: string; c: string | number }>;
      const perBatch = new Map(rows.map((r) => [r.batch_id, Number(r.c)]));
      const batches = (await db.knex('ingest_batches').select('id', 'accepted', 'ledger_seq')) as Array<{ id: string; accepted: number; ledger_seq: number | null }>;
      const byId = new Map(batches.map((b) => [b.id, b]));
      const acked = outcomes.filter((o) => o.status === 200);
      for (const o of acked) {
        assert.equal(o.body?.accepted, CHUNK, `an acknowledged batch did not accept every Observation: ${JSON.stringify(o.body).slice(0, 300)}`);
        const batchId = o.body!.batchId!;
        assert.equal(perBatch.get(batchId), CHUNK, `acknowledged batch ${batchId} has ${perBatch.get(batchId) ?? 0} rows stored`);
        assert.notEqual(byId.get(batchId)?.ledger_seq ?? null, null, `acknowledged batch ${batchId} has no ledger entry`);
      }
      for (const b of batches) assert.equal(perBatch.get(b.id) ?? 0, b.accepted, `batch ${b.id} is partial`);
      const total = [...perBatch.values()].reduce((a, b) => a + b, 0);
      const unacked = total - acked.length * CHUNK;
      console.log(`      ${acked.length} acknowledged batches (${acked.length * CHUNK} records) all stored; ${batches.length - acked.length} batches committed without an acknowledgement (${unacked} records)`);
      const entries = (await db.knex('ledger_entries').where({ kind: 'ingestion' }).select('seq', 'canonical')) as Array<{ seq: number; canonical: Uint8Array }>;
      const batchOfSeq = new Map(entries.map((e) => [Number(e.seq), JSON.parse(Buffer.from(e.canonical).toString('utf8')).payload.batchId as string]));
      for (const b of batches) assert.equal(batchOfSeq.get(Number(b.ledger_seq)), b.id, `batch ${b.id} and its ledger entry`);
      const report = await verifyLedger(db);
      assert.equal(report.ok, true, JSON.stringify(report.damage));
    } finally {
      await db.close();
    }
    // And the gateway still answers a plain read after all that.
    const health = await fetch(`http://127.0.0.1:${port}/health`);
    assert.equal(health.status, 200);
  });
});
