/**
 * `npm run bench -- ingest`: Observations/s end to end through the IngestService (parse, validate,
 * normalise, pseudonymise, encrypt, store, one ledger entry a batch) for FHIR NDJSON chunks of 2000
 * Observations with several uploads in flight; then the same through HTTP (POST /ingest) and through
 * `hgd ingest` (file → chunks → HTTP). Baseline, same run: plain INSERTs of each Observation's raw JSON
 * into raw_observations(id, body jsonb), 2000 rows a statement, as many in flight.
 *
 * Sharing with the compute nodes is off (shareSink: null): values wait in the outbox, as when the
 * nodes are down. HGD_BENCH_INGEST_N sets the Observations per measure (default 40,000).
 *
 * End to end with the compute nodes (bench/ingest-nodes.ts): the gateway in this process with its
 * default share sink and three `hgd node` processes on PostgreSQL, timed until every node's node_shares
 * holds every record; beside it the same uploads with sharing off. HGD_BENCH_E2E_N sets the
 * Observations (default 20,000); HGD_BENCH_E2E_ONLY=1 runs only this part. Both of its measures also
 * print the CPU each part used per 1,000 Observations (gateway, its PostgreSQL backends, nodes, theirs):
 * on a shared machine the rates swing from run to run, the CPU per record much less.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../config';
import { createGateway } from '../app/gateway';
import { runIngest } from '../cli/ingest-command';
import { benchTmpDir, cpuBetween, gatewayFor, startNodeProcesses, untilNodesHold, type CpuReading, type NodeCluster } from './ingest-nodes';
import { machine, openBenchDatabase, printTable, timed, type BenchRow } from './support';

const N = Number(process.env.HGD_BENCH_INGEST_N ?? 40_000);
const CHUNK = 2000;
const IN_FLIGHT = 4;
const PATIENTS = 1000;
const TARGET = 5000;
/** Observations of the end-to-end measure (with the compute nodes). */
const E2E_N = Number(process.env.HGD_BENCH_E2E_N ?? 20_000);

/** NDJSON lines: heart rate and glucose (mg/dL, converted) for PATIENTS patients; ids and times unique per offset range. */
function observationLines(prefix: string, n: number, offset = 0): string[] {
  const base = Date.UTC(2024, 0, 1);
  const lines: string[] = [];
  for (let k = 0; k < n; k++) {
    const i = offset + k;
    const p = i % PATIENTS;
    const heart = i % 2 === 0;
    lines.push(JSON.stringify({
      resourceType: 'Observation', id: `${prefix}-${i}`, status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: heart ? '8867-4' : '2339-0' }] },
      subject: { identifier: { system: 'http://bench.example/mrn', value: `MRN-${p}` } },
      effectiveDateTime: new Date(base + Math.floor(i / PATIENTS) * 60_000 + p).toISOString(),
      valueQuantity: heart
        ? { value: 45 + (i % 80), unit: 'beats/minute', system: 'http://unitsofmeasure.org', code: '/min' }
        : { value: 70 + (i % 110), unit: 'mg/dL', system: 'http://unitsofmeasure.org', code: 'mg/dL' },
    }));
  }
  return lines;
}

const chunked = <T>(items: T[], size: number): T[][] => Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size));

/** Runs fn over items with at most `k` in flight. */
async function inFlight<T>(items: T[], k: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(k, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

/** Uploads `lines` through the gateway's IngestService in chunks, IN_FLIGHT at a time. */
async function ingestThrough(gateway: Awaited<ReturnType<typeof createGateway>>, lines: string[]): Promise<void> {
  await inFlight(chunked(lines, CHUNK).map((c) => c.join('\n')), IN_FLIGHT, async (body) => {
    const s = await gateway.ingest.ingest({ provider: 'bench', format: 'ndjson', body });
    if (s.accepted !== body.split('\n').length) throw new Error(`expected every Observation accepted, got ${JSON.stringify({ ...s, errors: s.errors.slice(0, 3) })}`);
  });
}

/** `fn` timed, with the CPU each part of the cluster used meanwhile. */
async function timedWithCpu(cluster: NodeCluster, fn: () => Promise<void>): Promise<{ ms: number; cpu: CpuReading }> {
  const before = await cluster.cpu();
  const { ms } = await timed(fn);
  return { ms, cpu: cpuBetween(before, await cluster.cpu()) };
}

/** CPU ms per 1,000 Observations, by part: what the ratio of two rates cannot tell on a shared machine. */
function cpuRow(label: string, cpu: CpuReading, n: number): BenchRow {
  const per = (s: number) => ((s * 1000 * 1000) / n).toFixed(0);
  const total = cpu.gateway + cpu.gatewayPostgres + cpu.nodes + cpu.nodesPostgres;
  return {
    measure: `CPU per 1,000 Observations, ${label}`, value: (total * 1e6) / n, unit: 'ms',
    baseline: `gateway ${per(cpu.gateway)}, its PostgreSQL ${per(cpu.gatewayPostgres)}, nodes ${per(cpu.nodes)}, their PostgreSQL ${per(cpu.nodesPostgres)}`,
  };
}

/** Gateway + three node processes on PostgreSQL, against the same uploads with sharing off. */
export async function runEndToEndBench(): Promise<BenchRow[]> {
  const dataDir = benchTmpDir();
  const cluster = await startNodeProcesses(dataDir);
  const plainDb = await openBenchDatabase(IN_FLIGHT * 2 + 2);
  const sharedDb = await openBenchDatabase(IN_FLIGHT * 2 + 2);
  console.log(`end to end: gateway + ${cluster.dbs.length} node processes on ${sharedDb.label}, ${machine()}, ${E2E_N.toLocaleString('en-US')} Observations, chunks of ${CHUNK}, ${IN_FLIGHT} in flight`);
  try {
    const rate = (ms: number) => E2E_N / (ms / 1000);
    const off = await gatewayFor(cluster, plainDb, false, path.join(dataDir, 'no-sharing'));
    await ingestThrough(off, observationLines('warm', PATIENTS * 2));
    const lines = observationLines('e2e', E2E_N, PATIENTS * 2); // the same uploads for both measures
    const noSharing = await timedWithCpu(cluster, () => ingestThrough(off, lines));
    await off.close();

    const on = await gatewayFor(cluster, sharedDb, true);
    await ingestThrough(on, observationLines('warm', PATIENTS * 2));
    await untilNodesHold(cluster.dbs, PATIENTS * 2);
    const withNodes = await timedWithCpu(cluster, async () => {
      await ingestThrough(on, lines);
      await untilNodesHold(cluster.dbs, PATIENTS * 2 + E2E_N);
    });
    await on.close();
    const share = (rate(withNodes.ms) / rate(noSharing.ms)) * 100;
    return [
      { measure: `no sharing (shareSink null), IngestService, ${IN_FLIGHT} in flight`, value: rate(noSharing.ms), unit: 'obs/s' },
      {
        measure: `end to end: gateway + ${cluster.dbs.length} node processes, until every node stored every share`,
        value: rate(withNodes.ms), unit: 'obs/s', baseline: `${share.toFixed(0)}% of no sharing`,
        target: `>= ${TARGET.toLocaleString('en-US')} obs/s and >= 60 % of no sharing`,
      },
      cpuRow('no sharing', noSharing.cpu, E2E_N),
      cpuRow('end to end', withNodes.cpu, E2E_N),
    ];
  } finally {
    await plainDb.close();
    await sharedDb.close();
    await cluster.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

export async function runIngestBench(): Promise<BenchRow[]> {
  if (process.env.HGD_BENCH_E2E_ONLY === '1') {
    const rows = await runEndToEndBench();
    printTable('Ingest end to end with the compute nodes (PostgreSQL)', rows);
    return rows;
  }
  const db = await openBenchDatabase(IN_FLIGHT * 2 + 2);
  console.log(`ingest benchmark on ${db.label}, ${machine()}, ${N.toLocaleString('en-US')} Observations a measure, chunks of ${CHUNK}, ${IN_FLIGHT} in flight`);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hgd-bench-ingest-'));
  const config = loadConfig({ HGD_DATA_DIR: dataDir, HGD_LOG: 'silent', HGD_CHECKPOINT_EVERY: '1000', HGD_OUTBOX_SECONDS: '3600' });
  const gateway = await createGateway(config, { db, shareSink: null });
  const rows: BenchRow[] = [];
  const rate = (ms: number) => N / (ms / 1000);
  const vsBaseline = (r: number, base: number) => `${((r / base) * 100).toFixed(0)}% of plain INSERT`;

  const ingestChunks = async (chunks: string[], k: number) => inFlight(chunks, k, async (body) => {
    const s = await gateway.ingest.ingest({ provider: 'bench', format: 'ndjson', body });
    if (s.accepted !== body.split('\n').length) throw new Error(`expected every Observation accepted, got ${JSON.stringify({ ...s, errors: s.errors.slice(0, 3) })}`);
  });

  // Warm-up: JIT, the UCUM tables, and every patient's data key (the measures run on known patients).
  await ingestChunks(chunked(observationLines('warm', PATIENTS * 2), CHUNK).map((c) => c.join('\n')), 1);

  // Baseline: the raw JSON of each Observation, 2000 rows a statement, IN_FLIGHT statements in flight.
  await db.knex.raw('CREATE TABLE raw_observations (id text PRIMARY KEY, body jsonb NOT NULL)');
  const rawRows = observationLines('raw', N).map((body, i) => ({ id: `raw-${i}`, body }));
  const baseline = await timed(() => inFlight(chunked(rawRows, CHUNK), IN_FLIGHT, async (chunk) => {
    await db.knex('raw_observations').insert(chunk);
  }));
  const baseRate = rate(baseline.ms);
  rows.push({ measure: `baseline: plain INSERT of raw JSON (jsonb), ${CHUNK}/stmt, ${IN_FLIGHT} in flight`, value: baseRate, unit: 'obs/s' });

  const one = await timed(() => ingestChunks(chunked(observationLines('seq', N, 1 * N + PATIENTS * 2), CHUNK).map((c) => c.join('\n')), 1));
  rows.push({ measure: `IngestService, NDJSON chunks of ${CHUNK}, 1 in flight`, value: rate(one.ms), unit: 'obs/s', baseline: vsBaseline(rate(one.ms), baseRate) });

  const many = await timed(() => ingestChunks(chunked(observationLines('par', N, 2 * N + PATIENTS * 2), CHUNK).map((c) => c.join('\n')), IN_FLIGHT));
  rows.push({ measure: `IngestService, NDJSON chunks of ${CHUNK}, ${IN_FLIGHT} in flight`, value: rate(many.ms), unit: 'obs/s', baseline: vsBaseline(rate(many.ms), baseRate), target: `>= ${TARGET.toLocaleString('en-US')}/s` });

  // Through HTTP: express, body parsing, JWT check, JSON answer.
  const server = gateway.app.listen(0, '127.0.0.1');
  await new Promise<void>((r) => server.once('listening', () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const token = await gateway.tokens.issue({ role: 'provider', sub: 'bench', org: 'bench' });
  const overHttp = await timed(() => inFlight(chunked(observationLines('http', N, 3 * N + PATIENTS * 2), CHUNK).map((c) => c.join('\n')), IN_FLIGHT, async (body) => {
    const res = await fetch(`${url}/ingest`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+ndjson' }, body });
    const s = (await res.json()) as { accepted: number };
    if (res.status !== 200 || s.accepted !== CHUNK) throw new Error(`HTTP ingest answered ${res.status}: ${JSON.stringify(s).slice(0, 300)}`);
  }));
  rows.push({ measure: `POST /ingest over HTTP, ${IN_FLIGHT} in flight`, value: rate(overHttp.ms), unit: 'obs/s', baseline: `${vsBaseline(rate(overHttp.ms), baseRate)}; ${((rate(overHttp.ms) / rate(many.ms)) * 100).toFixed(0)}% of IngestService`, target: `>= ${TARGET.toLocaleString('en-US')}/s` });

  // The provider's path: `hgd ingest FILE` (read, hash, chunk, POST, state file).
  const file = path.join(dataDir, 'observations.ndjson');
  fs.writeFileSync(file, `${observationLines('cli', N, 4 * N + PATIENTS * 2).join('\n')}\n`);
  const cli = await timed(() => runIngest({ paths: [file], url, token, stateFile: path.join(dataDir, 'state.json'), reportFile: path.join(dataDir, 'report.json'), chunkLines: CHUNK, concurrency: IN_FLIGHT, quiet: true, log: () => {} }));
  if (!cli.result.ok || cli.result.accepted !== N) throw new Error(`hgd ingest: ${JSON.stringify({ ...cli.result, quarantine: undefined })}`);
  rows.push({ measure: `hgd ingest FILE (chunks of ${CHUNK}, ${IN_FLIGHT} in flight)`, value: rate(cli.ms), unit: 'obs/s', baseline: vsBaseline(rate(cli.ms), baseRate), target: `>= ${TARGET.toLocaleString('en-US')}/s` });

  await new Promise((r) => server.close(r));
  const stored = Number((await db.knex('records').count<{ c: string | number }[]>('* as c'))[0]!.c);
  if (stored !== N * 4 + PATIENTS * 2) throw new Error(`expected ${N * 4 + PATIENTS * 2} records, found ${stored}`);
  await gateway.close();
  await db.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
  rows.push(...(await runEndToEndBench()));
  printTable(`Ingest (${db.label})`, rows);
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  runIngestBench().then(() => process.exit(0), (err) => {
    console.error(err);
    process.exit(1);
  });
}
