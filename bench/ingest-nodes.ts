/**
 * The end-to-end part of `npm run bench -- ingest`: the gateway in this process with its default share
 * sink, and three compute nodes as their own processes (`hgd node --id N`), each on its own PostgreSQL
 * database (created for the run, dropped after it). Timed from the first upload until every node's
 * node_shares holds every record. Beside it, in the same run: the same uploads with sharing off
 * (shareSink: null), on a gateway of its own.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig, type Config } from '../config';
import { createGateway, type Gateway } from '../app/gateway';
import { openDatabase, type Database } from '../storage-layer/db';
import { BENCH_DATABASE_URL } from './support';

const NODES = 3;
const CLI = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'cli', 'hgd.ts');

/** Free TCP ports on the loopback interface (for the node processes' URLs). */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: count }, () => new Promise<net.Server>((resolve) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => resolve(srv));
  })));
  const ports = servers.map((srv) => (srv.address() as net.AddressInfo).port);
  await Promise.all(servers.map((srv) => new Promise((resolve) => srv.close(resolve))));
  return ports;
}

/** A database URL on the same server as BENCH_DATABASE_URL, naming another database. */
function withDatabase(name: string): string {
  const u = new URL(BENCH_DATABASE_URL);
  u.pathname = `/${name}`;
  return u.toString();
}

export interface NodeCluster {
  env: NodeJS.ProcessEnv;
  config: Config;
  /** Each node's database (open here, to count what it holds). */
  dbs: Database[];
  /** CPU seconds used so far (see CpuReading). */
  cpu(): Promise<CpuReading>;
  close(): Promise<void>;
}

/**
 * CPU seconds used so far, by whom: this process (the gateway), the PostgreSQL backends of the bench's
 * own database (BENCH_DATABASE_URL: use a scratch database, other users of it would be counted), the three
 * node processes and the backends of their databases. Linux only (/proc); the server must run here.
 */
export interface CpuReading {
  gateway: number;
  gatewayPostgres: number;
  nodes: number;
  nodesPostgres: number;
}

/** CPU seconds (user + system) a Linux process has used, from /proc; 0 once it is gone. */
function processCpuSeconds(pid: number | undefined): number {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return 0;
  }
}

/**
 * CPU seconds used so far by the PostgreSQL backends now serving these databases. A backend that has
 * exited is no longer counted: read before and after a measure while its pools are open.
 */
async function postgresCpuSeconds(admin: Database, databases: string[]): Promise<number> {
  const rows = (await admin.knex.raw('SELECT pid FROM pg_stat_activity WHERE datname = ANY(?::text[]) AND pid <> pg_backend_pid()', [`{${databases.join(',')}}`])).rows as Array<{ pid: number }>;
  return rows.reduce((acc, r) => acc + processCpuSeconds(r.pid), 0);
}

/** What each part used between two readings. */
export const cpuBetween = (a: CpuReading, b: CpuReading): CpuReading =>
  ({ gateway: b.gateway - a.gateway, gatewayPostgres: b.gatewayPostgres - a.gatewayPostgres, nodes: b.nodes - a.nodes, nodesPostgres: b.nodesPostgres - a.nodesPostgres });

async function waitUntilUp(config: Config, children: ChildProcess[], timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const [i, url] of config.nodes.urls.entries()) {
    for (;;) {
      if (children[i]!.exitCode !== null) throw new Error(`compute node ${i + 1} exited with ${children[i]!.exitCode}`);
      if (await fetch(`${url}/health`).then(() => true, () => false)) break;
      if (Date.now() > deadline) throw new Error(`compute node ${i + 1} did not answer at ${url}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** Three `hgd node` processes, each on a fresh PostgreSQL database of its own. */
export async function startNodeProcesses(dataDir: string): Promise<NodeCluster> {
  const admin = await openDatabase({ url: BENCH_DATABASE_URL, poolMax: 1 });
  const names = Array.from({ length: NODES }, (_, i) => `hgd_bench_${randomBytes(4).toString('hex')}_n${i + 1}`);
  for (const name of names) await admin.knex.raw(`CREATE DATABASE ${name}`);
  const ports = await freePorts(NODES);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HGD_DATA_DIR: dataDir,
    HGD_NODES: String(NODES),
    HGD_THRESHOLD: '1',
    HGD_NODE_URLS: ports.map((p) => `http://127.0.0.1:${p}`).join(','),
    HGD_NODE_DATABASE_URLS: names.map(withDatabase).join(','),
    HGD_LOG: process.env.HGD_BENCH_NODE_LOG ?? 'silent',
    HGD_CHECKPOINT_EVERY: '1000',
    HGD_OUTBOX_SECONDS: '3600',
  };
  const config = loadConfig(env);
  // HGD_BENCH_NODE_FLAGS: extra runtime flags for the node processes, e.g. `--cpu-prof --cpu-prof-dir=/tmp/p`.
  const flags = (process.env.HGD_BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean);
  const children = names.map((_, i) => spawn(process.execPath, [...flags, '--import', 'tsx', CLI, 'node', '--id', String(i + 1)], { env, stdio: ['ignore', 'inherit', 'inherit'] }));
  const dbs: Database[] = [];
  const cpu = async (): Promise<CpuReading> => {
    const own = process.cpuUsage();
    return {
      gateway: (own.user + own.system) / 1e6,
      gatewayPostgres: await postgresCpuSeconds(admin, [new URL(BENCH_DATABASE_URL).pathname.slice(1)]),
      nodes: children.reduce((acc, c) => acc + processCpuSeconds(c.pid), 0),
      nodesPostgres: await postgresCpuSeconds(admin, names),
    };
  };
  const close = async () => {
    await Promise.all(children.map((c) => new Promise<void>((resolve) => {
      if (c.exitCode !== null || c.signalCode !== null) return resolve();
      c.once('exit', () => resolve());
      c.kill('SIGTERM');
    })));
    for (const db of dbs) await db.close();
    for (const name of names) await admin.knex.raw(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.close();
  };
  try {
    await waitUntilUp(config, children);
    for (const [i, name] of names.entries()) dbs.push(await openDatabase({ url: withDatabase(name), schema: `hgd_node_${i + 1}`, poolMax: 1 }));
  } catch (err) {
    await close();
    throw err;
  }
  return { env, config, dbs, cpu, close };
}

/** Resolves once every node's node_shares holds `expected` rows. */
export async function untilNodesHold(dbs: Database[], expected: number, timeoutMs = 600_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const counts = await Promise.all(dbs.map(async (db) => Number((await db.knex('node_shares').count<{ c: string }[]>('* as c'))[0]!.c)));
    if (counts.every((c) => c >= expected)) return;
    if (Date.now() > deadline) throw new Error(`nodes hold ${counts.join(', ')} records, expected ${expected}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * A gateway on `db` sharing with the cluster's nodes (its default share sink), or with sharing off on
 * a data folder of its own (its own ledger key, so the nodes' witnesses never see two logs as one).
 */
export async function gatewayFor(cluster: NodeCluster, db: Database, sharing: boolean, ownDir?: string): Promise<Gateway> {
  if (sharing) return createGateway(cluster.config, { db });
  return createGateway(loadConfig({ ...cluster.env, HGD_DATA_DIR: ownDir }), { db, shareSink: null });
}

export const benchTmpDir = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'hgd-bench-e2e-'));
