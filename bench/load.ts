/**
 * `npm run bench -- load`: a bounded load test of the gateway as a separate process on loopback.
 *
 * The gateway (`hgd start --no-nodes`) runs on a fresh database: a new PostgreSQL database created
 * for the run when the bench server answers (HGD_BENCH_DATABASE_URL, as in bench/support.ts), else
 * PGlite in a temporary folder (HGD_BENCH_PGLITE=1 forces it). Then, for a fixed time:
 *   - HGD_LOAD_CLIENTS (8) providers POST NDJSON chunks of HGD_LOAD_CHUNK (200) Observations back to back;
 *   - HGD_LOAD_READERS (2) auditors alternate GET /ledger/checkpoint and GET /ledger/entries/:seq
 *     (a random seq, with its inclusion proof);
 * and report throughput, p50/p99 latency per request type, errors (target 0) and the gateway's
 * peak RSS (VmHWM). Baseline, same run, before the load: the same number of clients hitting
 * GET /health (express, helmet, rate limiter, JSON; no database).
 *
 * HGD_LOAD_SECONDS (30) sets the load phase, HGD_LOAD_BASELINE_SECONDS (5) the baseline.
 * Compute nodes are not started: each ingest still splits its values into shares, finds no node
 * key and leaves the records in the outbox (as when the nodes are down).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../config';
import { issueAdminToken } from '../cli/admin-command';
import { openDatabase, type Database } from '../storage-layer/db';
import { BENCH_DATABASE_URL, machine, printTable, type BenchRow } from './support';

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const SECONDS = Number(process.env.HGD_LOAD_SECONDS ?? 30);
const BASELINE_SECONDS = Number(process.env.HGD_LOAD_BASELINE_SECONDS ?? 5);
const CLIENTS = Number(process.env.HGD_LOAD_CLIENTS ?? 8);
const READERS = Number(process.env.HGD_LOAD_READERS ?? 2);
const CHUNK = Number(process.env.HGD_LOAD_CHUNK ?? 200);
const PATIENTS = 2000;
const REQUEST_TIMEOUT_MS = 60_000;

type Kind = 'health' | 'ingest' | 'checkpoint' | 'entry';

interface Sample {
  kind: Kind;
  ms: number;
  ok: boolean;
  detail?: string;
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

function request(agent: http.Agent, port: number, method: string, urlPath: string, headers: Record<string, string>, body?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const h: Record<string, string | number> = { ...headers };
    if (body !== undefined) h['content-length'] = Buffer.byteLength(body);
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, headers: h, agent }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', reject);
    });
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** Heart rate and glucose Observations, ids and times unique to (client, n). */
function ndjsonChunk(client: number, n: number): string {
  const lines: string[] = [];
  for (let k = 0; k < CHUNK; k++) {
    const i = (client * 1_000_000 + n) * CHUNK + k;
    const heart = k % 2 === 0;
    lines.push(JSON.stringify({
      resourceType: 'Observation', id: `load-${client}-${n}-${k}`, status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: heart ? '8867-4' : '2339-0' }] },
      subject: { identifier: { system: 'http://load.example/mrn', value: `MRN-${i % PATIENTS}` } },
      effectiveDateTime: new Date(Date.UTC(2020, 0, 1) + i * 1000).toISOString(),
      valueQuantity: heart
        ? { value: 45 + (i % 80), unit: 'beats/minute', system: 'http://unitsofmeasure.org', code: '/min' }
        : { value: 70 + (i % 110), unit: 'mg/dL', system: 'http://unitsofmeasure.org', code: 'mg/dL' },
    }));
  }
  return lines.join('\n');
}

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function stats(samples: Sample[], kind: Kind, seconds: number) {
  const mine = samples.filter((s) => s.kind === kind);
  const ok = mine.filter((s) => s.ok).map((s) => s.ms).sort((a, b) => a - b);
  return { n: mine.length, ok: ok.length, errors: mine.length - ok.length, rate: ok.length / seconds, p50: percentile(ok, 50), p99: percentile(ok, 99) };
}

function statusOf(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

const exited = (child: ChildProcess) => new Promise<void>((resolve) => {
  if (child.exitCode !== null || child.signalCode !== null) resolve();
  else child.once('exit', () => resolve());
});

/** Runs `worker` in `k` loops until the deadline; each loop awaits its own request (a closed-loop client). */
async function loops(k: number, until: number, worker: (client: number, n: number) => Promise<void>): Promise<void> {
  await Promise.all(Array.from({ length: k }, async (_, client) => {
    for (let n = 0; Date.now() < until; n++) await worker(client, n);
  }));
}

export async function runLoadBench(): Promise<BenchRow[]> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hgd-bench-load-'));
  let admin: Database | null = null;
  let dbName: string | null = null;
  let databaseUrl: string | undefined;
  let label = 'PGlite (in the gateway process, under a temporary folder)';
  if (process.env.HGD_BENCH_PGLITE !== '1') {
    try {
      admin = await openDatabase({ url: BENCH_DATABASE_URL });
      dbName = `hgd_load_${randomBytes(4).toString('hex')}`;
      await admin.knex.raw(`CREATE DATABASE ${dbName}`);
      const u = new URL(BENCH_DATABASE_URL);
      u.pathname = `/${dbName}`;
      databaseUrl = u.toString();
      label = `PostgreSQL (127.0.0.1, fresh database ${dbName})`;
    } catch (err) {
      console.error(`PostgreSQL not reachable (${(err as Error).message}); load test on PGlite`);
      await admin?.close().catch(() => undefined);
      admin = null;
      dbName = null;
    }
  }

  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, HGD_DATA_DIR: dataDir, PORT: String(port), HGD_HOST: '127.0.0.1', HGD_LOG: 'silent', HGD_RATE_LIMIT_PER_MINUTE: '100000000', HGD_OUTBOX_SECONDS: '3600' };
  delete env.DATABASE_URL;
  if (databaseUrl) env.DATABASE_URL = databaseUrl;
  console.log(`load benchmark on ${label}, ${machine()}; ${CLIENTS} ingest clients (NDJSON, ${CHUNK} Observations a request) and ${READERS} ledger readers for ${SECONDS} s; baseline ${CLIENTS + READERS} clients on GET /health for ${BASELINE_SECONDS} s`);

  let output = '';
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'cli', 'hgd.ts'), 'start', '--no-nodes'], { env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d) => (output += String(d)));
  child.stderr!.on('data', (d) => (output += String(d)));
  // Whatever happens, the run ends: the gateway is killed after the phases plus a generous margin.
  const guard = setTimeout(() => {
    console.error('load benchmark overran; killing the gateway');
    child.kill('SIGKILL');
  }, (SECONDS + BASELINE_SECONDS + 180) * 1000);
  guard.unref();

  const agents: http.Agent[] = [];
  const agent = () => {
    const a = new http.Agent({ keepAlive: true, maxSockets: 1 });
    agents.push(a);
    return a;
  };
  const rows: BenchRow[] = [];
  try {
    const up = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the gateway exited with ${child.exitCode}: ${output}`);
      try {
        if ((await fetch(`http://127.0.0.1:${port}/health`)).ok) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > up) throw new Error(`the gateway did not come up within 60 s: ${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const config = loadConfig({ HGD_DATA_DIR: dataDir });
    const provider = `Bearer ${await issueAdminToken(config, { role: 'provider', org: 'load', ttl: 3600 })}`;
    const auditor = `Bearer ${await issueAdminToken(config, { role: 'auditor', ttl: 3600 })}`;
    const rssAtStart = statusOf(child.pid!, 'VmRSS');

    // Warm-up: JIT, UCUM tables and every patient's data key, so the load phase measures steady state.
    const warm = agent();
    for (let n = 0; n < Math.ceil((PATIENTS * 2) / CHUNK); n++) {
      const r = await request(warm, port, 'POST', '/ingest', { authorization: provider, 'content-type': 'application/fhir+ndjson' }, ndjsonChunk(999, n));
      if (r.status !== 200) throw new Error(`warm-up ingest answered ${r.status}: ${r.text.slice(0, 300)}`);
    }

    // Baseline: the same number of clients on GET /health.
    const samples: Sample[] = [];
    const baseAgents = Array.from({ length: CLIENTS + READERS }, agent);
    const baseStart = Date.now();
    await loops(CLIENTS + READERS, baseStart + BASELINE_SECONDS * 1000, async (client) => {
      const t0 = performance.now();
      try {
        const r = await request(baseAgents[client]!, port, 'GET', '/health', {});
        samples.push({ kind: 'health', ms: performance.now() - t0, ok: r.status === 200, detail: r.status === 200 ? undefined : `${r.status} ${r.text.slice(0, 200)}` });
      } catch (err) {
        samples.push({ kind: 'health', ms: performance.now() - t0, ok: false, detail: (err as Error).message });
      }
    });
    const baseSeconds = (Date.now() - baseStart) / 1000;

    // The load: ingest clients and ledger readers at the same time.
    const ingestAgents = Array.from({ length: CLIENTS }, agent);
    const readAgents = Array.from({ length: READERS }, agent);
    let ledgerSize = 1;
    let peakRss = 0;
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, statusOf(child.pid!, 'VmRSS') || 0);
    }, 250);
    const loadStart = Date.now();
    const until = loadStart + SECONDS * 1000;
    let observations = 0;
    await Promise.all([
      loops(CLIENTS, until, async (client, n) => {
        const body = ndjsonChunk(client, n);
        const t0 = performance.now();
        try {
          const r = await request(ingestAgents[client]!, port, 'POST', '/ingest', { authorization: provider, 'content-type': 'application/fhir+ndjson' }, body);
          const ok = r.status === 200 && (JSON.parse(r.text) as { accepted: number }).accepted === CHUNK;
          if (ok) observations += CHUNK;
          samples.push({ kind: 'ingest', ms: performance.now() - t0, ok, detail: ok ? undefined : `${r.status} ${r.text.slice(0, 200)}` });
        } catch (err) {
          samples.push({ kind: 'ingest', ms: performance.now() - t0, ok: false, detail: (err as Error).message });
        }
      }),
      loops(READERS, until, async (client, n) => {
        const checkpoint = n % 2 === 0;
        const seq = Math.floor(Math.random() * ledgerSize);
        const t0 = performance.now();
        try {
          const r = await request(readAgents[client]!, port, 'GET', checkpoint ? '/ledger/checkpoint' : `/ledger/entries/${seq}`, { authorization: auditor });
          const ms = performance.now() - t0;
          const ok = r.status === 200;
          if (ok && checkpoint) ledgerSize = Math.max(ledgerSize, (JSON.parse(r.text) as { treeSize: number }).treeSize);
          samples.push({ kind: checkpoint ? 'checkpoint' : 'entry', ms, ok, detail: ok ? undefined : `${r.status} ${r.text.slice(0, 200)}` });
        } catch (err) {
          samples.push({ kind: checkpoint ? 'checkpoint' : 'entry', ms: performance.now() - t0, ok: false, detail: (err as Error).message });
        }
      }),
    ]);
    clearInterval(sampler);
    const loadSeconds = (Date.now() - loadStart) / 1000;
    const hwm = statusOf(child.pid!, 'VmHWM');

    const base = stats(samples, 'health', baseSeconds);
    const ingest = stats(samples, 'ingest', loadSeconds);
    const cp = stats(samples, 'checkpoint', loadSeconds);
    const entry = stats(samples, 'entry', loadSeconds);
    const errors = samples.filter((s) => !s.ok);
    const ms = (v: number) => `${v.toFixed(1)} ms`;
    const vsBase = (p50: number) => `p50 ${(p50 / base.p50).toFixed(0)}× the /health baseline`;
    rows.push({ measure: `baseline: GET /health, ${CLIENTS + READERS} clients, no load`, value: base.rate, unit: 'req/s', baseline: `p50 ${ms(base.p50)}, p99 ${ms(base.p99)}` });
    rows.push({ measure: `POST /ingest (NDJSON, ${CHUNK} obs), ${CLIENTS} clients`, value: ingest.rate, unit: 'req/s', baseline: `p50 ${ms(ingest.p50)}, p99 ${ms(ingest.p99)}; ${vsBase(ingest.p50)}` });
    rows.push({ measure: '  the same, in Observations', value: observations / loadSeconds, unit: 'obs/s', target: '>= 5,000/s' });
    rows.push({ measure: `GET /ledger/checkpoint under load (${READERS} readers, alternating)`, value: cp.rate, unit: 'req/s', baseline: `p50 ${ms(cp.p50)}, p99 ${ms(cp.p99)}; ${vsBase(cp.p50)}` });
    rows.push({ measure: 'GET /ledger/entries/:seq (with inclusion proof) under load', value: entry.rate, unit: 'req/s', baseline: `p50 ${ms(entry.p50)}, p99 ${ms(entry.p99)}; ${vsBase(entry.p50)}` });
    rows.push({ measure: `errors (of ${samples.length} requests)`, value: errors.length, unit: '', target: '0' });
    rows.push({ measure: 'gateway peak RSS (VmHWM)', value: hwm / 2 ** 20, unit: 'MiB', baseline: `${(rssAtStart / 2 ** 20).toFixed(0)} MiB after start; ${(peakRss / 2 ** 20).toFixed(0)} MiB highest sampled during the load` });

    if (errors.length) {
      const kinds = new Map<string, number>();
      for (const e of errors) kinds.set(`${e.kind}: ${e.detail ?? ''}`.slice(0, 160), (kinds.get(`${e.kind}: ${e.detail ?? ''}`.slice(0, 160)) ?? 0) + 1);
      console.error(`errors: ${[...kinds].map(([k, n]) => `${n}× ${k}`).join('\n        ')}`);
    }
    if (child.exitCode !== null) throw new Error(`the gateway exited during the load with ${child.exitCode}: ${output.slice(-2000)}`);
    printTable(`Load, ${SECONDS} s (${label})`, rows);
    return rows;
  } finally {
    for (const a of agents) a.destroy();
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const kill = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited(child);
      clearTimeout(kill);
    }
    clearTimeout(guard);
    if (admin) {
      await admin.knex.raw(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch((err) => console.error(`could not drop ${dbName}: ${(err as Error).message}`));
      await admin.close();
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  runLoadBench().then(() => process.exit(0), (err) => {
    console.error(err);
    process.exit(1);
  });
}
