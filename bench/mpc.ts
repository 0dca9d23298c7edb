/**
 * Secure aggregates vs plain SQL, measured in the same run on the same engine.
 *
 * For each size m, m fixed-point values (scale 2, negatives included) are Shamir-shared (n = 3, t = 1)
 * and the shares are loaded DIRECTLY into the three compute nodes' tables (ingest — parsing, sealing,
 * HTTP delivery — is benchmarked elsewhere), and the same plaintext values into a plain table in node
 * 1's database. Then, through the real coordinator and HTTP nodes:
 *   mean      secure mean (nodes: SELECT sum(share); coordinator: interpolate)   vs  SELECT avg(value)
 *   variance  secure sample variance (Σx, Σx² shares)                            vs  SELECT var_samp(value)
 *   corr      secure Pearson r over pairs (product protocol, 3 nodes)            vs  the same pairing + corr()
 * Each timing is the median of `repeats` runs after one warm-up. bytesSent counts every byte of request
 * and response bodies between the parties for one query (coordinator↔nodes and node↔node).
 *
 * Engines: in-memory PGlite per node (default; the three nodes then share this process's one thread, so
 * their queries run one after another), or PostgreSQL: set HGD_BENCH_DATABASE_URL (one database, one
 * schema per node) or HGD_NODE_DATABASE_URLS (one database per node).
 *
 * Run: `npx tsx bench/mpc.ts [sizes…]`, e.g. `npx tsx bench/mpc.ts 10000 100000`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadConfig } from '../config';
import { nextDealing } from '../management-layer/sharing/distribute';
import { shareToNumeric } from '../management-layer/sharing/encoding';
import { mod } from '../management-layer/sharing/field';
import { shareMany } from '../management-layer/sharing/shamir';
import { openDatabase, type Database } from '../storage-layer/db';
import { runMigrations } from '../storage-layer/migrate';
import { generateSigningKey } from '../storage-layer/signing-key';
import { createCoordinator, type AggregateQuery } from '../usage-layer/coordinator';
import { nodeMigrations, startLocalCluster } from '../usage-layer/node';
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
function dataset(size: number, seed: number): bigint[] {
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

async function openBenchDatabases(): Promise<{ dbs: Database[]; engine: string }> {
  const perNode = process.env.HGD_NODE_DATABASE_URLS?.split(',').map((s) => s.trim());
  const shared = process.env.HGD_BENCH_DATABASE_URL;
  const dbs: Database[] = [];
  for (let i = 1; i <= N; i++) {
    if (perNode?.[i - 1]) dbs.push(await openDatabase({ url: perNode[i - 1], schema: `bench_node_${i}` }));
    else if (shared) dbs.push(await openDatabase({ url: shared, schema: `bench_node_${i}` }));
    else dbs.push(await openDatabase({}));
  }
  for (const db of dbs) {
    if (db.kind === 'postgres') {
      for (const table of ['node_hist_shares', 'node_histograms', 'node_shares', 'bench_plain', 'hgd_migrations']) await db.knex.raw(`DROP TABLE IF EXISTS ${table} CASCADE`);
    }
    await runMigrations(db, nodeMigrations);
  }
  await (dbs[0] as Database).knex.raw(
    `CREATE TABLE bench_plain (record_id text PRIMARY KEY, pseudonym text NOT NULL, indicator text NOT NULL,
       effective_start timestamptz NOT NULL, value numeric(12, 2) NOT NULL)`,
  );
  await (dbs[0] as Database).knex.raw('CREATE INDEX bench_plain_indicator_start ON bench_plain (indicator, effective_start)');
  await (dbs[0] as Database).knex.raw('CREATE INDEX bench_plain_pairing ON bench_plain (indicator, pseudonym, effective_start)');
  return { dbs, engine: dbs[0]?.kind === 'postgres' ? 'PostgreSQL' : 'PGlite (in-memory, one process)' };
}

interface Row {
  id: string;
  pseudonym: string;
  start: string;
}

/** Loads shares of `ints` into every node and the plaintext into bench_plain. */
async function load(dbs: Database[], indicator: string, ints: bigint[], meta: (k: number) => Row): Promise<void> {
  const dealing = nextDealing();
  for (let start = 0; start < ints.length; start += ROWS_PER_INSERT) {
    const chunk = ints.slice(start, start + ROWS_PER_INSERT);
    const rows = chunk.map((_, j) => meta(start + j));
    const shares = shareMany(chunk.map(mod), N, T);
    const squares = shareMany(chunk.map((x) => mod(x * x)), N, T);
    const hashes = rows.map((r) => recordHash(r.id, dealing));
    await Promise.all(
      dbs.map(async (db, i) => {
        const bindings: Array<string | number> = [];
        const tuples = rows.map((r, j) => {
          bindings.push(r.id, r.pseudonym, indicator, r.start, SCALE, dealing, hashes[j] as number, shareToNumeric((shares[i] as bigint[])[j] as bigint), shareToNumeric((squares[i] as bigint[])[j] as bigint));
          return '(?, ?, ?, ?::timestamptz, ?, ?::bigint, ?, ?::numeric, ?::numeric)';
        });
        await db.knex.raw(`INSERT INTO node_shares (record_id, pseudonym, indicator, effective_start, scale, dealing, rid_hash, share, square) VALUES ${tuples.join(', ')}`, bindings);
      }),
    );
    const plain: Array<string> = [];
    const tuples = rows.map((r, j) => {
      plain.push(r.id, r.pseudonym, indicator, r.start, `${chunk[j]}e-${SCALE}`);
      return '(?, ?, ?, ?::timestamptz, ?::numeric)';
    });
    await (dbs[0] as Database).knex.raw(`INSERT INTO bench_plain (record_id, pseudonym, indicator, effective_start, value) VALUES ${tuples.join(', ')}`, plain);
  }
  for (const db of dbs) await db.knex.raw('ANALYZE');
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

async function time(fn: () => Promise<unknown>, repeats: number): Promise<number> {
  await fn(); // warm-up
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
  const repeats = opts.repeats ?? 3;
  const pairs = opts.pairs ?? 100_000;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hgd-bench-mpc-'));
  const base = loadConfig({ HGD_DATA_DIR: dir, HGD_NODES: String(N), HGD_THRESHOLD: String(T) } as NodeJS.ProcessEnv);
  const { dbs, engine } = await openBenchDatabases();
  log(`engine: ${engine}`);
  const cluster = await startLocalCluster(base, { dbs, log: () => {} });
  const gatewayKey = generateSigningKey();
  const coordinator = createCoordinator(cluster.config, gatewayKey);
  const plainDb = dbs[0] as Database;
  const rows: MpcBenchRow[] = [];
  const t0 = Date.UTC(2024, 0, 1);
  try {
    for (const size of sizes) {
      const indicator = `bench_${size}`;
      const ints = dataset(size, size);
      const patients = Math.max(1, Math.floor(size / 10));
      const loadStart = performance.now();
      await load(dbs, indicator, ints, (k) => ({ id: `${indicator}-${k}`, pseudonym: `p${k % patients}`, start: new Date(t0 + k * 1000).toISOString() }));
      log(`loaded ${size} values into 3 nodes + plain table in ${Math.round(performance.now() - loadStart)} ms`);

      for (const [measure, aggregate, sql] of [
        ['mean', 'mean', 'SELECT avg(value) AS v FROM bench_plain WHERE indicator = ?'],
        ['variance', 'variance', 'SELECT var_samp(value) AS v FROM bench_plain WHERE indicator = ?'],
      ] as const) {
        const query: AggregateQuery = { indicator, aggregate };
        let bytesSent = 0;
        let secureValue: number | null = null;
        const secureMs = await time(async () => {
          const r = await coordinator.aggregate(query);
          bytesSent = r.bytes.total;
          secureValue = r.value;
        }, repeats);
        let plainValue = 0;
        const plainSqlMs = await time(async () => {
          const r = await plainDb.knex.raw(sql, [indicator]);
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
      const a = dataset(pairs, 7);
      const b = a.map((x, k) => x / 2n + (dataset(1, k)[0] as bigint) / 4n);
      const patients = Math.max(1, Math.floor(pairs / 10));
      // Patient k % patients, one record a day; the partner 5 minutes later: one candidate per window.
      const when = (k: number, offsetMin: number) => new Date(t0 + Math.floor(k / patients) * 86_400_000 + (k % 1000) * 1000 + offsetMin * 60_000).toISOString();
      const loadStart = performance.now();
      await load(dbs, 'bench_pair_x', a, (k) => ({ id: `px-${k}`, pseudonym: `q${k % patients}`, start: when(k, 0) }));
      await load(dbs, 'bench_pair_y', b, (k) => ({ id: `py-${k}`, pseudonym: `q${k % patients}`, start: when(k, 5) }));
      log(`loaded ${pairs} pairs in ${Math.round(performance.now() - loadStart)} ms`);
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
        const r = await plainDb.knex.raw(sql);
        plainValue = Number(r.rows[0].v);
      }, repeats);
      if (count !== pairs || secureValue === null || Math.abs(secureValue - plainValue) > 1e-9) {
        throw new Error(`correlation: secure ${secureValue} over ${count} pairs differs from plain ${plainValue}`);
      }
      rows.push({ measure: 'correlation', size: pairs, secureMs, plainSqlMs, ratio: secureMs / plainSqlMs, bytesSent });
      log(`correlation ${pairs}: secure ${secureMs.toFixed(1)} ms, plain ${plainSqlMs.toFixed(1)} ms`);
    }
  } finally {
    await cluster.close();
    for (const db of dbs) {
      if (db.kind === 'postgres') {
        await db.knex.raw(`DROP SCHEMA IF EXISTS ${db.schema} CASCADE`).catch(() => undefined);
      }
      await db.close();
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2).map(Number).filter((x) => Number.isInteger(x) && x > 0);
  const rows = await runMpcBench(args.length ? args : undefined, { log: (m) => console.error(m) });
  console.log('| measure | size | secure ms | plain SQL ms | ratio | bytes sent |');
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.measure} | ${r.size.toLocaleString('en')} | ${r.secureMs.toFixed(1)} | ${r.plainSqlMs.toFixed(1)} | ${r.ratio.toFixed(2)} | ${r.bytesSent.toLocaleString('en')} |`);
  process.exit(0);
}
