/**
 * Secure aggregates vs plain SQL, measured in the same run on the same engine.
 *
 * For each size m, m fixed-point values (scale 2, negatives included) are Shamir-shared (n = 3, t = 1)
 * and the shares are loaded DIRECTLY into the three compute nodes' tables (ingest — parsing, sealing,
 * HTTP delivery — is benchmarked elsewhere), and the same plaintext values into a plain table of the
 * same engine (`bench_plain`). Then, through the real coordinator and HTTP nodes:
 *   mean      secure mean (nodes: SELECT sum(share); coordinator: interpolate)   vs  SELECT avg(value)
 *             (all 3 nodes, consistency-checked; and 'mean, t+1 nodes': only 2 nodes asked)
 *   variance  secure sample variance (Σx, Σx² shares)                            vs  SELECT var_samp(value)
 *   corr      secure Pearson r over pairs (product protocol, 3 nodes)            vs  the same pairing + corr()
 * Each timing is the median of `repeats` (5) runs after a warm-up (≥ 3 runs and ≥ 500 ms). bytesSent
 * counts every byte of request and response bodies between the parties for one query
 * (coordinator↔nodes and node↔node).
 *
 * Engines: PGlite (default) or PostgreSQL: set HGD_BENCH_DATABASE_URL (one database, one schema per
 * node) or HGD_NODE_DATABASE_URLS (one database per node).
 * Layouts: --processes (default on PGlite): each node in its own child process with its own PGlite
 * folder, as `npm start` runs them; --in-process (default on PostgreSQL): all nodes in this process (on
 * PGlite their queries then run one after another on one thread).
 * All parties share this machine's cores, so the secure query (every node scans its own full copy of
 * the shares) competes with itself; on separate machines its latency is about one node's query time.
 *
 * Run: `npx tsx bench/mpc.ts [sizes…] [--processes|--in-process] [--pairs=N]`, e.g.
 * `npx tsx bench/mpc.ts 10000 100000 --pairs=20000`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { loadConfig, type Config } from '../config';
import { nextDealing } from '../management-layer/sharing/distribute';
import { shareToNumeric } from '../mpc/codec';
import { publishPartyKeys } from '../parties/key-directory';
import { mod } from '../mpc/field';
import { shareMany } from '../mpc/shamir';
import { openDatabase, type Database } from '../storage-layer/db';
import { runMigrations } from '../storage-layer/migrate';
import { generateSigningKey } from '../storage-layer/signing-key';
import { createCoordinator, type AggregateQuery } from '../usage-layer/coordinator';
import { runNodeCli } from '../app/compute-node';
import { startLocalCluster } from '../app/local-cluster';
import { nodeMigrations } from '../usage-layer/node';
import { recordHash } from '../usage-layer/node/store';

export interface MpcBenchRow {
  measure: string;
  size: number;
  secureMs: number;
  plainSqlMs: number;
  ratio: number;
  bytesSent: number;
}

export interface MpcBenchOptions {
  /**
   * 'processes' (default on PGlite): one child process per node, as `npm start` runs them;
   * 'in-process' (default on PostgreSQL): all nodes in this process.
   */
  layout?: 'in-process' | 'processes';
  /** Pairs for the correlation measure (0 = skip). Default 100 000. */
  pairs?: number;
  repeats?: number;
  log?: (msg: string) => void;
}

const N = 3;
const T = 1;
const SCALE = 2;
const ROWS_PER_INSERT = 1000;

/** Deterministic pseudo-random integers in fixed point (no crypto needed for bench data). */
export function dataset(size: number, seed: number): bigint[] {
  let a = seed >>> 0;
  const out = new Array<bigint>(size);
  for (let k = 0; k < size; k++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let r = Math.imul(a ^ (a >>> 15), 1 | a);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    out[k] = BigInt(Math.floor((((r ^ (r >>> 14)) >>> 0) / 4294967296 - 0.3) * 40000)); // −120.00 … 280.00
  }
  return out;
}

export type Layout = 'in-process' | 'processes';

export interface BenchDatabases {
  engine: 'PGlite' | 'PostgreSQL';
  /** Node databases (open while loading). */
  nodes: Database[];
  plain: Database;
  /** Where each node's PGlite folder is (processes layout). */
  dataDir: string;
}

export async function openBenchDatabases(dataDir: string, layout: Layout): Promise<BenchDatabases> {
  const perNode = process.env.HGD_NODE_DATABASE_URLS?.split(',').map((s) => s.trim());
  const shared = process.env.HGD_BENCH_DATABASE_URL;
  const nodes: Database[] = [];
  for (let i = 1; i <= N; i++) {
    // Schema hgd_node_<i>: where a node started from the configuration (processes layout) looks.
    if (perNode?.[i - 1]) nodes.push(await openDatabase({ url: perNode[i - 1], schema: `hgd_node_${i}` }));
    else if (shared) nodes.push(await openDatabase({ url: shared, schema: `hgd_node_${i}` }));
    else if (layout === 'processes') nodes.push(await openDatabase({ pgliteDir: path.join(dataDir, `node-${i}`, 'pglite') }));
    else nodes.push(await openDatabase({}));
  }
  const engine = nodes[0]?.kind === 'postgres' ? 'PostgreSQL' : 'PGlite';
  const plain =
    engine === 'PostgreSQL'
      ? await openDatabase({ url: perNode?.[0] || shared, schema: 'bench_plain' })
      : await openDatabase(layout === 'processes' ? { pgliteDir: path.join(dataDir, 'plain', 'pglite') } : {});
  for (const db of [...nodes, plain]) {
    if (db.kind === 'postgres') {
      for (const table of ['node_hist_shares', 'node_histograms', 'node_indicator_scales', 'node_shares', 'bench_plain', 'hgd_migrations']) await db.knex.raw(`DROP TABLE IF EXISTS ${table} CASCADE`);
    }
  }
  for (const db of nodes) await runMigrations(db, nodeMigrations);
  await plain.knex.raw(
    `CREATE TABLE bench_plain (record_id text PRIMARY KEY, pseudonym text NOT NULL, indicator text NOT NULL,
       effective_start timestamptz NOT NULL, value numeric(12, 2) NOT NULL)`,
  );
  await plain.knex.raw('CREATE INDEX bench_plain_indicator_start ON bench_plain (indicator, effective_start)');
  await plain.knex.raw('CREATE INDEX bench_plain_pairing ON bench_plain (indicator, pseudonym, effective_start)');
  return { engine, nodes, plain, dataDir };
}

interface Row {
  id: string;
  pseudonym: string;
  start: string;
}

/** Loads shares of `ints` into every node and the plaintext into bench_plain. */
export async function load(dbs: BenchDatabases, indicator: string, ints: bigint[], meta: (k: number) => Row): Promise<void> {
  const dealing = nextDealing();
  for (let start = 0; start < ints.length; start += ROWS_PER_INSERT) {
    const chunk = ints.slice(start, start + ROWS_PER_INSERT);
    const rows = chunk.map((_, j) => meta(start + j));
    const shares = shareMany(chunk.map(mod), N, T);
    const squares = shareMany(chunk.map((x) => mod(x * x)), N, T);
    const hashes = rows.map((r) => recordHash(r.id, dealing));
    await Promise.all(
      dbs.nodes.map(async (db, i) => {
        const bindings: Array<string | number> = [];
        const tuples = rows.map((r, j) => {
          bindings.push(r.id, r.pseudonym, indicator, r.start, SCALE, dealing, hashes[j] as number, shareToNumeric((shares[i] as bigint[])[j] as bigint), shareToNumeric((squares[i] as bigint[])[j] as bigint));
          return '(?, ?, ?, ?::timestamptz, ?, ?::bigint, ?, ?::numeric, ?::numeric)';
        });
        await db.knex.raw(`INSERT INTO node_shares (record_id, pseudonym, indicator, effective_start, scale, dealing, rid_hash, share, square) VALUES ${tuples.join(', ')}`, bindings);
      }),
    );
    const plain: Array<string> = [];
    if (start === 0) for (const db of dbs.nodes) await db.knex.raw('INSERT INTO node_indicator_scales (indicator, scale) VALUES (?, ?) ON CONFLICT DO NOTHING', [indicator, SCALE]);
    const tuples = rows.map((r, j) => {
      plain.push(r.id, r.pseudonym, indicator, r.start, `${chunk[j]}e-${SCALE}`);
      return '(?, ?, ?, ?::timestamptz, ?::numeric)';
    });
    await dbs.plain.knex.raw(`INSERT INTO bench_plain (record_id, pseudonym, indicator, effective_start, value) VALUES ${tuples.join(', ')}`, plain);
  }
}

/** Free TCP ports on the loopback interface (for the node processes' URLs). */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<net.Server>((resolve) => {
      const srv = net.createServer();
      srv.listen(0, '127.0.0.1', () => resolve(srv));
    })),
  );
  const ports = servers.map((srv) => (srv.address() as net.AddressInfo).port);
  await Promise.all(servers.map((srv) => new Promise((resolve) => srv.close(resolve))));
  return ports;
}

export interface RunningNodes {
  config: Config;
  close(): Promise<void>;
}

/** Starts the nodes: in this process on the open databases, or one child process per node. */
export async function startNodes(base: Config, dbs: BenchDatabases, layout: Layout): Promise<RunningNodes> {
  if (layout === 'in-process') {
    const cluster = await startLocalCluster(base, { dbs: dbs.nodes, log: () => {} });
    return { config: cluster.config, close: () => cluster.close() };
  }
  for (const db of dbs.nodes) if (db.kind === 'pglite') await db.close(); // PGlite: one process per folder
  const urls = process.env.HGD_NODE_DATABASE_URLS || (process.env.HGD_BENCH_DATABASE_URL ? Array.from({ length: N }, () => process.env.HGD_BENCH_DATABASE_URL).join(',') : undefined);
  const ports = await freePorts(N);
  const env = {
    ...process.env,
    HGD_DATA_DIR: dbs.dataDir,
    HGD_NODES: String(N),
    HGD_THRESHOLD: String(T),
    HGD_NODE_URLS: ports.map((p) => `http://127.0.0.1:${p}`).join(','),
    HGD_LOG: process.env.HGD_BENCH_NODE_LOG ?? 'silent',
    ...(urls ? { HGD_NODE_DATABASE_URLS: urls } : {}),
  };
  const children: ChildProcess[] = [];
  const self = fileURLToPath(import.meta.url);
  try {
    await Promise.all(
      Array.from({ length: N }, (_, i) => new Promise<void>((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', self, '--serve-node', String(i + 1)], { env, stdio: ['ignore', 'pipe', 'inherit'] });
        children.push(child);
        child.once('exit', (code) => reject(new Error(`node ${i + 1} exited with ${code}`)));
        child.stdout?.on('data', (d: Buffer) => {
          if (d.toString().includes('ready')) resolve();
        });
      })),
    );
  } catch (err) {
    for (const c of children) c.kill('SIGTERM');
    throw err;
  }
  const config = loadConfig(env);
  return {
    config,
    close: async () => {
      await Promise.all(children.map((c) => new Promise((resolve) => {
        c.removeAllListeners('exit');
        c.once('exit', resolve);
        c.kill('SIGTERM');
      })));
    },
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

async function time(fn: () => Promise<unknown>, repeats: number): Promise<number> {
  // Warm-up (JIT in every process, caches, pooled connections): at least 3 runs and 500 ms.
  const warm = performance.now();
  for (let r = 0; r < 3 || performance.now() - warm < 500; r++) await fn();
  const runs: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    await fn();
    runs.push(performance.now() - t0);
  }
  return median(runs);
}

export async function runMpcBench(sizes: number[] = [10_000, 100_000, 1_000_000], opts: MpcBenchOptions = {}): Promise<MpcBenchRow[]> {
  const log = opts.log ?? (() => {});
  const repeats = opts.repeats ?? 5;
  const pairs = opts.pairs ?? 100_000;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hgd-bench-mpc-'));
  const base = loadConfig({ HGD_DATA_DIR: dir, HGD_NODES: String(N), HGD_THRESHOLD: String(T) } as NodeJS.ProcessEnv);
  const postgres = Boolean(process.env.HGD_BENCH_DATABASE_URL || process.env.HGD_NODE_DATABASE_URLS);
  const layout: Layout = opts.layout ?? (postgres ? 'in-process' : 'processes');
  const dbs = await openBenchDatabases(dir, layout);
  log(`engine: ${dbs.engine}; nodes ${layout === 'processes' ? 'in 3 child processes' : 'in this process'}`);
  const rows: MpcBenchRow[] = [];
  const t0 = Date.UTC(2024, 0, 1);
  const datasets = new Map<number, bigint[]>();
  let nodes: RunningNodes | undefined;
  try {
    // 1. Load everything (shares straight into the node tables; ingest is benchmarked elsewhere).
    for (const size of sizes) {
      const indicator = `bench_${size}`;
      const ints = dataset(size, size);
      datasets.set(size, ints);
      const patients = Math.max(1, Math.floor(size / 10));
      const loadStart = performance.now();
      await load(dbs, indicator, ints, (k) => ({ id: `${indicator}-${k}`, pseudonym: `p${k % patients}`, start: new Date(t0 + k * 1000).toISOString() }));
      log(`loaded ${size} values into 3 nodes + plain table in ${Math.round(performance.now() - loadStart)} ms`);
    }
    if (pairs > 0) {
      const a = dataset(pairs, 7);
      const noise = dataset(pairs, 8);
      const b = a.map((x, k) => x / 2n + (noise[k] as bigint) / 4n);
      const patients = Math.max(1, Math.floor(pairs / 10));
      // Patient k % patients, one record a day; the partner 5 minutes later: one candidate per window.
      const when = (k: number, offsetMin: number) => new Date(t0 + Math.floor(k / patients) * 86_400_000 + (k % 1000) * 1000 + offsetMin * 60_000).toISOString();
      const loadStart = performance.now();
      await load(dbs, 'bench_pair_x', a, (k) => ({ id: `px-${k}`, pseudonym: `q${k % patients}`, start: when(k, 0) }));
      await load(dbs, 'bench_pair_y', b, (k) => ({ id: `py-${k}`, pseudonym: `q${k % patients}`, start: when(k, 5) }));
      log(`loaded ${pairs} pairs in ${Math.round(performance.now() - loadStart)} ms`);
    }
    for (const db of [...dbs.nodes, dbs.plain]) await db.knex.raw('ANALYZE');

    // 2. Start the nodes and the coordinator.
    const gatewayKey = generateSigningKey();
    publishPartyKeys(base.nodes.keysDir, 'gateway', { sign: gatewayKey.publicKeyBase64 });
    nodes = await startNodes(base, dbs, layout);
    const coordinator = createCoordinator(nodes.config, gatewayKey);

    // 3. Measure.
    for (const size of sizes) {
      const indicator = `bench_${size}`;
      for (const [measure, aggregate, sql, nodesMode] of [
        ['mean', 'mean', 'SELECT avg(value) AS v FROM bench_plain WHERE indicator = ?', 'all'],
        ['mean, t+1 nodes', 'mean', 'SELECT avg(value) AS v FROM bench_plain WHERE indicator = ?', 'minimal'],
        ['variance', 'variance', 'SELECT var_samp(value) AS v FROM bench_plain WHERE indicator = ?', 'all'],
      ] as const) {
        const query: AggregateQuery = { indicator, aggregate, nodes: nodesMode };
        let bytesSent = 0;
        let secureValue: number | null = null;
        const secureMs = await time(async () => {
          const r = await coordinator.aggregate(query);
          bytesSent = r.bytes.total;
          secureValue = r.value;
        }, repeats);
        let plainValue = 0;
        const plainSqlMs = await time(async () => {
          const r = await dbs.plain.knex.raw(sql, [indicator]);
          plainValue = Number(r.rows[0].v);
        }, repeats);
        if (secureValue === null || Math.abs(secureValue - plainValue) > 1e-9 * Math.max(1, Math.abs(plainValue))) {
          throw new Error(`${measure} at ${size}: secure ${secureValue} differs from plain ${plainValue}`);
        }
        rows.push({ measure, size, secureMs, plainSqlMs, ratio: secureMs / plainSqlMs, bytesSent });
        log(`${measure} ${size}: secure ${secureMs.toFixed(1)} ms, plain ${plainSqlMs.toFixed(1)} ms`);
      }
    }

    if (pairs > 0) {
      const query: AggregateQuery = { indicator: 'bench_pair_x', indicator2: 'bench_pair_y', aggregate: 'correlation', pairWindowSeconds: 3600 };
      let bytesSent = 0;
      let secureValue: number | null = null;
      let count = 0;
      const secureMs = await time(async () => {
        const r = await coordinator.aggregate(query);
        bytesSent = r.bytes.total;
        secureValue = r.value;
        count = r.count ?? 0;
      }, repeats);
      const sql = `SELECT corr(x.value, y.value) AS v, count(*) AS n FROM bench_plain x CROSS JOIN LATERAL (
          SELECT y0.value FROM bench_plain y0 WHERE y0.indicator = 'bench_pair_y' AND y0.pseudonym = x.pseudonym
            AND y0.effective_start >= x.effective_start - make_interval(secs => 3600) AND y0.effective_start <= x.effective_start + make_interval(secs => 3600)
          ORDER BY abs(extract(epoch FROM (y0.effective_start - x.effective_start))), y0.record_id LIMIT 1) y
        WHERE x.indicator = 'bench_pair_x'`;
      let plainValue = 0;
      const plainSqlMs = await time(async () => {
        const r = await dbs.plain.knex.raw(sql);
        plainValue = Number(r.rows[0].v);
      }, repeats);
      if (count !== pairs || secureValue === null || Math.abs(secureValue - plainValue) > 1e-9) {
        throw new Error(`correlation: secure ${secureValue} over ${count} pairs differs from plain ${plainValue}`);
      }
      rows.push({ measure: 'correlation', size: pairs, secureMs, plainSqlMs, ratio: secureMs / plainSqlMs, bytesSent });
      log(`correlation ${pairs}: secure ${secureMs.toFixed(1)} ms, plain ${plainSqlMs.toFixed(1)} ms`);
    }
  } finally {
    await nodes?.close();
    for (const db of layout === 'processes' && dbs.engine === 'PGlite' ? [dbs.plain] : [...dbs.nodes, dbs.plain]) {
      if (db.kind === 'postgres') await db.knex.raw(`DROP SCHEMA IF EXISTS ${db.schema} CASCADE`).catch(() => undefined);
      await db.close();
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const serve = process.argv.indexOf('--serve-node');
  if (serve > 0) {
    // A node process of the 'processes' layout: the node's own PGlite folder under HGD_DATA_DIR.
    await runNodeCli(loadConfig(), Number(process.argv[serve + 1]));
    process.stdout.write('ready\n');
  } else {
    const args = process.argv.slice(2);
    const sizes = args.map(Number).filter((x) => Number.isInteger(x) && x > 0);
    const layout: Layout | undefined = args.includes('--in-process') ? 'in-process' : args.includes('--processes') ? 'processes' : undefined;
    const pairsArg = args.find((a) => a.startsWith('--pairs='));
    const rows = await runMpcBench(sizes.length ? sizes : undefined, { layout, pairs: pairsArg ? Number(pairsArg.slice(8)) : undefined, log: (m) => console.error(m) });
    console.log('| measure | size | secure ms | plain SQL ms | ratio | bytes sent |');
    console.log('|---|---|---|---|---|---|');
    for (const r of rows) console.log(`| ${r.measure} | ${r.size.toLocaleString('en')} | ${r.secureMs.toFixed(1)} | ${r.plainSqlMs.toFixed(1)} | ${r.ratio.toFixed(2)} | ${r.bytesSent.toLocaleString('en')} |`);
    process.exit(0);
  }
}
