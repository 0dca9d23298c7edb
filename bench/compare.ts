/**
 * `npm run bench -- compare`: secure comparisons (mpc/compare.ts) through three compute-node
 * processes, against plain SQL on the plaintext in the same run and engine (PostgreSQL when
 * HGD_BENCH_DATABASE_URL or DATABASE_URL is set, else PGlite, one folder per node process). Shares are
 * loaded straight into the node tables (bench/mpc.ts `load`; ingest is benchmarked elsewhere). Rows:
 *   count(x ≥ t)     one value per patient, N patients: a filtered count of the patients whose latest x
 *                    is ≥ t (N comparisons), no noise, checked against SQL; comparisons/s and the bytes
 *                    the nodes sent each other;
 *   filtered mean    mean of y over the patients whose latest x ≥ t (N patients), vs the same in SQL;
 *   median           the median of x (one value a patient) by the noisy binary search of
 *                    usage-layer/coordinator/quantile.ts, here without noise, so it must equal SQL's
 *                    percentile_disc(0.5) to within the search's resolution (12 rounds over 40,000
 *                    units end in an interval of ~10 units); one timed run (k count(x ≥ t) runs);
 *   clamped mean     mean of x clamped into [0, 200] (two comparisons and two products a value,
 *                    usage-layer/node/clamped.ts), no noise, vs SQL's avg(least(greatest(x, 0), 200));
 *   histogram        12 edges over each patient's latest x (one run, 12 comparisons a patient), no noise,
 *                    every bucket against SQL's width_bucket; one timed run;
 *   simulated        the three parties' comparison steps in this one thread, no network, no database;
 *   mpc-framework    count(x ≥ t) as a garbled circuit at `baselineN` values (bench/compare-baseline.ts).
 * Every timing is the median of `repeats` runs after one warm-up run. The machine's cores are shared
 * by the three nodes, the coordinator (dealer) and whatever else runs.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../config';
import { simulateComparison, STATISTICAL_BITS, comparisonPlan, offsetShares } from '../mpc/compare';
import { mod } from '../mpc/field';
import { dealCompareMaterial, materialBytes } from '../mpc/preprocessing';
import { shareMany } from '../mpc/shamir';
import { publishPartyKeys } from '../parties/key-directory';
import type { FilterLeafSpec } from '../parties/wire';
import { generateSigningKey } from '../storage-layer/signing-key';
import { createCoordinator, type AggregateQuery, type Coordinator } from '../usage-layer/coordinator';
import { runMpcFrameworkBaseline } from './compare-baseline';
import { dataset, load, openBenchDatabases, startNodes, type BenchDatabases, type RunningNodes } from './mpc';
import type { BenchRow } from './support';

const DOMAIN = { min: -120, max: 280, scale: 2 }; // bench/mpc.ts dataset: −120.00 … 280.00
const THRESHOLD = 80;

export interface CompareBenchOptions {
  size?: number;
  baselineN?: number;
  repeats?: number;
  log?: (msg: string) => void;
}

async function medianMs(fn: () => Promise<unknown>, repeats: number): Promise<number> {
  await fn(); // warm-up
  const runs: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    await fn();
    runs.push(performance.now() - t0);
  }
  return runs.sort((a, b) => a - b)[Math.floor(runs.length / 2)] as number;
}

const leaf = (): FilterLeafSpec => ({ indicator: 'cmp_x', op: '>=', value: THRESHOLD, domain: DOMAIN });

/** The median time of a secure query over `repeats` runs, with the last run's value and node-to-node bytes. */
async function timeSecure(coordinator: Coordinator, q: AggregateQuery, repeats: number): Promise<{ ms: number; value: number | null; nodeBytes: number }> {
  let value: number | null = null;
  let nodeBytes = 0;
  const ms = await medianMs(async () => {
    const r = await coordinator.aggregate(q);
    value = r.value;
    nodeBytes = r.bytes.nodeToNode;
  }, repeats);
  return { ms, value, nodeBytes };
}

/** The median time of the same question in plain SQL over the plaintext, with its answer (column `v`). */
async function timePlain(dbs: BenchDatabases, sql: string, bindings: readonly (string | number)[], repeats: number): Promise<{ ms: number; value: number }> {
  let value = 0;
  const ms = await medianMs(async () => { value = Number((await dbs.plain.knex.raw(sql, [...bindings])).rows[0].v); }, repeats);
  return { ms, value };
}

async function countRow(coordinator: Coordinator, dbs: BenchDatabases, cohort: string[], repeats: number): Promise<BenchRow> {
  const q: AggregateQuery = { indicator: 'cmp_x', aggregate: 'count', cohort, filter: leaf(), perPatient: 1 };
  const { ms, value, nodeBytes } = await timeSecure(coordinator, q, repeats);
  const { ms: sqlMs, value: plain } = await timePlain(dbs, 'SELECT count(*) AS v FROM bench_plain WHERE indicator = ? AND value >= ?', ['cmp_x', THRESHOLD], repeats);
  if (value !== plain) throw new Error(`count(x ≥ t): secure ${value} differs from SQL ${plain}`);
  const perComparison = nodeBytes / cohort.length;
  return {
    measure: `count(x ≥ t), ${cohort.length.toLocaleString('en-US')} values, 3 node processes`,
    value: cohort.length / (ms / 1000),
    unit: 'comparisons/s',
    baseline: `${(ms / 1000).toFixed(2)} s vs plain SQL ${sqlMs.toFixed(1)} ms (${(ms / sqlMs).toFixed(0)}x); nodes sent ${(nodeBytes / 2 ** 20).toFixed(1)} MiB = ${perComparison.toFixed(0)} B a comparison`,
    target: '≥ 10,000/s',
  };
}

async function meanRow(coordinator: Coordinator, dbs: BenchDatabases, cohort: string[], repeats: number): Promise<BenchRow> {
  const q: AggregateQuery = { indicator: 'cmp_y', aggregate: 'mean', cohort, filter: leaf(), perPatient: 1, centre: { x: 80 } };
  const { ms, value, nodeBytes } = await timeSecure(coordinator, q, repeats);
  const sql = `SELECT avg(y.value) AS v FROM bench_plain y JOIN (
      SELECT DISTINCT ON (pseudonym) pseudonym, value FROM bench_plain WHERE indicator = 'cmp_x' ORDER BY pseudonym, effective_start DESC, record_id) x
    ON x.pseudonym = y.pseudonym WHERE y.indicator = 'cmp_y' AND x.value >= ?`;
  const { ms: sqlMs, value: plain } = await timePlain(dbs, sql, [THRESHOLD], repeats);
  if (value === null || Math.abs(value - plain) > 1e-9 * Math.max(1, Math.abs(plain))) throw new Error(`filtered mean: secure ${value} differs from SQL ${plain}`);
  return {
    measure: `filtered mean (y where latest x ≥ t), ${cohort.length.toLocaleString('en-US')} patients`,
    value: ms / 1000,
    unit: 's',
    baseline: `plain SQL ${sqlMs.toFixed(1)} ms: ${(ms / sqlMs).toFixed(0)}x; nodes sent ${(nodeBytes / 2 ** 20).toFixed(1)} MiB`,
    target: '< 10 s',
  };
}

async function medianRow(coordinator: Coordinator, dbs: BenchDatabases, cohort: string[]): Promise<BenchRow> {
  const q: AggregateQuery = { indicator: 'cmp_x', aggregate: 'median', cohort, perPatient: 1, domain: DOMAIN, quantile: { q: 0.5, total: cohort.length } };
  const t0 = performance.now();
  const r = await coordinator.aggregate(q);
  const ms = performance.now() - t0;
  const { ms: sqlMs, value: plain } = await timePlain(dbs, 'SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY value) AS v FROM bench_plain WHERE indicator = ?', ['cmp_x'], 3);
  // The search stops after at most 12 rounds: exact to within the interval it ended in.
  const resolution = r.search?.resolution ?? 0;
  if (r.value === null || Math.abs(r.value - plain) > resolution + 1e-9) throw new Error(`median: secure ${r.value} differs from SQL ${plain} by more than the search's resolution ${resolution}`);
  const rounds = r.search?.rounds.length ?? 0;
  return {
    measure: `median of ${cohort.length.toLocaleString('en-US')} values (${rounds} rounds of count(x ≥ t), resolution ${resolution})`,
    value: ms / 1000,
    unit: 's',
    baseline: `plain SQL ${sqlMs.toFixed(1)} ms: ${(ms / sqlMs).toFixed(0)}x; ${(ms / rounds / 1000).toFixed(2)} s a round; nodes sent ${(r.bytes.nodeToNode / 2 ** 20).toFixed(1)} MiB`,
    target: '< 10 s',
  };
}

async function clampedRow(coordinator: Coordinator, dbs: BenchDatabases, cohort: string[], repeats: number): Promise<BenchRow> {
  const bounds = { min: 0, max: 200 };
  const q: AggregateQuery = { indicator: 'cmp_x', aggregate: 'mean', cohort, perPatient: 1, clamp: { x: { ...bounds, domain: DOMAIN } }, centre: { x: 100 } };
  const { ms, value, nodeBytes } = await timeSecure(coordinator, q, repeats);
  const { ms: sqlMs, value: plain } = await timePlain(dbs, 'SELECT avg(least(greatest(value, ?), ?)) AS v FROM bench_plain WHERE indicator = ?', [bounds.min, bounds.max, 'cmp_x'], repeats);
  if (value === null || Math.abs(value - plain) > 1e-9 * Math.max(1, Math.abs(plain))) throw new Error(`clamped mean: secure ${value} differs from SQL ${plain}`);
  return {
    measure: `clamped mean (x into [${bounds.min}, ${bounds.max}]), ${cohort.length.toLocaleString('en-US')} values, 2 comparisons each`,
    value: ms / 1000,
    unit: 's',
    baseline: `plain SQL ${sqlMs.toFixed(1)} ms: ${(ms / sqlMs).toFixed(0)}x; nodes sent ${(nodeBytes / 2 ** 20).toFixed(1)} MiB`,
    target: '',
  };
}

/** A catalogue-like histogram: 12 edges over the domain, 13 buckets (below and above included). */
const HISTOGRAM_EDGES = [-120, -80, -40, 0, 20, 40, 60, 80, 100, 140, 200, 280];

/**
 * A histogram over each patient's latest x with HISTOGRAM_EDGES (usage-layer/coordinator/edge-histogram.ts:
 * one run, a comparison a patient and edge, as every histogram runs since the one-hot shares went), no
 * noise, every bucket checked against SQL's width_bucket over the same latest values.
 */
async function histogramRow(coordinator: Coordinator, dbs: BenchDatabases, cohort: string[]): Promise<BenchRow> {
  const q: AggregateQuery = { indicator: 'cmp_x', aggregate: 'histogram', cohort, perPatient: 1, edges: HISTOGRAM_EDGES, domain: DOMAIN };
  const t0 = performance.now();
  const r = await coordinator.aggregate(q);
  const ms = performance.now() - t0;
  const sql = `SELECT width_bucket(value, ?::numeric[]) AS b, count(*) AS n FROM (
      SELECT DISTINCT ON (pseudonym) value FROM bench_plain WHERE indicator = 'cmp_x' ORDER BY pseudonym, effective_start DESC, record_id) x GROUP BY 1`;
  const s0 = performance.now();
  const plain = new Map(((await dbs.plain.knex.raw(sql, [`{${HISTOGRAM_EDGES.join(',')}}`])).rows as Array<{ b: number; n: string }>).map((row) => [Number(row.b), Number(row.n)]));
  const sqlMs = performance.now() - s0;
  const h = r.histogram!;
  const secure = [h.below, ...h.counts, h.above];
  secure.forEach((c, b) => { if (c !== (plain.get(b) ?? 0)) throw new Error(`histogram bucket ${b}: secure ${c} differs from SQL ${plain.get(b) ?? 0}`); });
  return {
    measure: `histogram, ${HISTOGRAM_EDGES.length} edges (${secure.length} buckets, one comparison a patient and edge), ${cohort.length.toLocaleString('en-US')} patients`,
    value: ms / 1000,
    unit: 's',
    baseline: `plain SQL ${sqlMs.toFixed(1)} ms: ${(ms / sqlMs).toFixed(0)}x; nodes sent ${(r.bytes.nodeToNode / 2 ** 20).toFixed(1)} MiB`,
    target: '',
  };
}

/** The comparison steps for three parties in this thread: no network, no database, no sealing. */
function simulatedRow(size: number): BenchRow {
  const plan = comparisonPlan('>=', THRESHOLD, DOMAIN);
  const maskBits = plan.valueBits + STATISTICAL_BITS;
  const shares = shareMany(dataset(size, 11).map(mod), 3, 1);
  const t0 = performance.now();
  const material = dealCompareMaterial(size, maskBits);
  const t1 = performance.now();
  const inputs = new Map([1, 2, 3].map((node) => [node, { y: offsetShares(shares[node - 1] as bigint[], plan.offset), material: material[node - 1]! }]));
  let sent = 0;
  simulateComparison({ m: size, maskBits, valueBits: plan.valueBits, thresholds: new Array<bigint>(size).fill(plan.threshold) }, inputs, { n: 3, t: 1, observe: (_to, _from, _round, v) => { sent += v.length * 16; } });
  const ms = performance.now() - t1;
  return {
    measure: `simulated, ${size.toLocaleString('en-US')} comparisons, 3 parties in one thread`,
    value: size / (ms / 1000),
    unit: 'comparisons/s',
    baseline: `${ms.toFixed(0)} ms (all three parties); dealing ${(t1 - t0).toFixed(0)} ms, ${(materialBytes(size, maskBits) / size).toFixed(0)} B a node a comparison; messages ${(sent / size).toFixed(0)} B a comparison`,
    target: '',
  };
}

async function baselineRow(n: number): Promise<BenchRow> {
  const r = await runMpcFrameworkBaseline(n);
  if (r.count !== r.expected) throw new Error(`mpc-framework counted ${r.count}, expected ${r.expected}`);
  return {
    measure: `mpc-framework count(x ≥ t), ${n.toLocaleString('en-US')} values, 2 parties in one process`,
    value: n / (r.runMs / 1000),
    unit: 'comparisons/s',
    baseline: `run ${(r.runMs / 1000).toFixed(1)} s, compile ${(r.compileMs / 1000).toFixed(1)} s, ${(r.bytes / 2 ** 20).toFixed(0)} MiB sent`,
    target: 'baseline',
  };
}

export async function runCompareBench(opts: CompareBenchOptions = {}): Promise<BenchRow[]> {
  const log = opts.log ?? (() => {});
  const size = opts.size ?? 100_000;
  const repeats = opts.repeats ?? 3;
  if (!process.env.HGD_BENCH_DATABASE_URL && process.env.DATABASE_URL) process.env.HGD_BENCH_DATABASE_URL = process.env.DATABASE_URL;
  // A filtered query's request carries the cohort and the node's sealed material (≈ 60 B a patient).
  process.env.HGD_BODY_LIMIT ??= '64mb';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hgd-bench-compare-'));
  const base = loadConfig({ HGD_DATA_DIR: dir, HGD_NODES: '3', HGD_THRESHOLD: '1' } as NodeJS.ProcessEnv);
  const dbs = await openBenchDatabases(dir, 'processes');
  log(`engine: ${dbs.engine}; nodes in 3 child processes`);
  const rows: BenchRow[] = [];
  let nodes: RunningNodes | undefined;
  try {
    const t0 = Date.UTC(2024, 0, 1);
    const meta = (tag: string) => (k: number) => ({ id: `${tag}-${k}`, pseudonym: `c${k}`, start: new Date(t0 + k * 1000).toISOString() });
    await load(dbs, 'cmp_x', dataset(size, 11), meta('x'));
    await load(dbs, 'cmp_y', dataset(size, 12), meta('y'));
    for (const db of [...dbs.nodes, dbs.plain]) await db.knex.raw('ANALYZE');
    log(`loaded 2 × ${size} values`);
    const gatewayKey = generateSigningKey();
    publishPartyKeys(base.nodes.keysDir, 'gateway', { sign: gatewayKey.publicKeyBase64 });
    nodes = await startNodes(base, dbs, 'processes');
    const coordinator = createCoordinator(nodes.config, gatewayKey, { timeoutMs: 600_000 });
    const cohort = Array.from({ length: size }, (_, k) => `c${k}`);
    rows.push(await countRow(coordinator, dbs, cohort, repeats));
    log(rows.at(-1)!.baseline ?? '');
    rows.push(await meanRow(coordinator, dbs, cohort, repeats));
    log(rows.at(-1)!.baseline ?? '');
    rows.push(await medianRow(coordinator, dbs, cohort));
    log(rows.at(-1)!.baseline ?? '');
    rows.push(await clampedRow(coordinator, dbs, cohort, repeats));
    log(rows.at(-1)!.baseline ?? '');
    rows.push(await histogramRow(coordinator, dbs, cohort));
    log(rows.at(-1)!.baseline ?? '');
  } finally {
    await nodes?.close();
    // PGlite node folders were closed for the node processes; PostgreSQL schemas are dropped here.
    for (const db of dbs.engine === 'PGlite' ? [dbs.plain] : [...dbs.nodes, dbs.plain]) {
      if (db.kind === 'postgres') await db.knex.raw(`DROP SCHEMA IF EXISTS ${db.schema} CASCADE`).catch(() => undefined);
      await db.close();
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
  rows.push(simulatedRow(size));
  rows.push(await baselineRow(opts.baselineN ?? 1_000));
  return rows;
}
