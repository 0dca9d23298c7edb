/**
 * A compute-node cluster for tests: n nodes in this process on ephemeral ports, each with its own test
 * database (in-memory PGlite, or a throwaway schema on real PostgreSQL), keys in a temporary folder,
 * plus a gateway key, a share distributor and a coordinator.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, type Config } from '../../config';
import { createShareDistributor, type ShareDistributor, type ShareableValue } from '../../management-layer/sharing/distribute';
import type { Database } from '../../storage-layer/db';
import { generateSigningKey, type SigningKey } from '../../storage-layer/signing-key';
import { createCoordinator, type Coordinator } from '../../usage-layer/coordinator';
import { startLocalCluster, type LocalCluster } from '../../app/local-cluster';
import { openTestDatabase } from './db';

export interface TestCluster {
  cluster: LocalCluster;
  config: Config;
  dbs: Database[];
  dir: string;
  gatewayKey: SigningKey;
  distributor: ShareDistributor;
  coordinator: Coordinator;
  /** Log lines per node (index 0 = node 1). */
  logs: string[][];
  close(): Promise<void>;
}

export async function startTestCluster(opts: { n?: number; t?: number; peerTimeoutMs?: number } = {}): Promise<TestCluster> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hgd-mpc-'));
  const base = loadConfig({ HGD_DATA_DIR: dir, HGD_NODES: String(opts.n ?? 3), HGD_THRESHOLD: String(opts.t ?? 1) } as NodeJS.ProcessEnv);
  const dbs: Database[] = [];
  for (let i = 0; i < base.nodes.count; i++) dbs.push(await openTestDatabase());
  const logs: string[][] = dbs.map(() => []);
  const cluster = await startLocalCluster(base, { dbs, log: (id, line) => logs[id - 1]?.push(line), peerTimeoutMs: opts.peerTimeoutMs ?? 5_000 });
  const gatewayKey = generateSigningKey();
  const config = cluster.config;
  return {
    cluster,
    config,
    dbs,
    dir,
    gatewayKey,
    distributor: createShareDistributor(config, gatewayKey, { timeoutMs: 5_000 }),
    coordinator: createCoordinator(config, gatewayKey, { timeoutMs: 30_000 }),
    logs,
    async close() {
      await cluster.close();
      for (const db of dbs) await db.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Seeded PRNG (mulberry32) for reproducible data; sharing itself uses crypto randomness. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let r = Math.imul(a ^ (a >>> 15), 1 | a);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
}

let seq = 0;

/** ShareableValues for one indicator: one record per value, patients p0..p(k−1), one minute apart. */
export function makeValues(indicator: string, values: number[], o: { scale?: number; patients?: number; start?: number; prefix?: string } = {}): ShareableValue[] {
  const start = o.start ?? Date.UTC(2024, 0, 1);
  const prefix = o.prefix ?? `${indicator}-${++seq}`;
  return values.map((value, i) => ({
    recordId: `${prefix}-${i}`,
    pseudonym: `p${i % (o.patients ?? values.length)}`,
    indicator,
    effectiveStart: new Date(start + i * 60_000).toISOString(),
    effectiveEnd: null,
    value,
    scale: o.scale ?? 2,
  }));
}

/** A test record: a patient's value of an indicator at an instant (ms since the epoch). */
export interface TimedValue {
  patient: string;
  indicator: string;
  at: number;
  value: number;
}

/** TimedValues as ShareableValues: record ids `${prefix}-${k}`, each value at its indicator's scale. */
export function timedShareables(recs: readonly TimedValue[], prefix: string, scaleOf: (indicator: string) => number): ShareableValue[] {
  return recs.map((r, k) => ({
    recordId: `${prefix}-${k}`, pseudonym: r.patient, indicator: r.indicator, effectiveStart: new Date(r.at).toISOString(), effectiveEnd: null,
    value: r.value, scale: scaleOf(r.indicator),
  }));
}

// ---- statistical privacy checks shared by the sharing and node tests ----

/** Chi-squared thresholds at p ≈ 2.5·10^-7 (df = 15) and 5.5 σ: a correct sharing fails ~never. */
export const CHI2_15 = 60;
export const Z_MAX = 5.5;

export interface Uniformity {
  topBit: number;
  chi2: number;
  pass: boolean;
}

/** Top-bit frequency and chi-squared over 16 buckets of the top 4 bits of 127-bit shares. */
export function uniformity(shares: readonly bigint[]): Uniformity {
  const n = shares.length;
  const buckets = new Array<number>(16).fill(0);
  let top = 0;
  for (const s of shares) {
    const hi = Number(s >> 123n);
    buckets[hi]! += 1;
    if (hi >= 8) top++;
  }
  const expected = n / 16;
  const chi2 = buckets.reduce((acc, c) => acc + (c - expected) ** 2 / expected, 0);
  const z = Math.abs(top / n - 0.5) / Math.sqrt(0.25 / n);
  return { topBit: top / n, chi2, pass: chi2 < CHI2_15 && z < Z_MAX };
}

/** Two-sample chi-squared (homogeneity) over the 16 top-4-bit buckets. */
export function homogeneity(a: readonly bigint[], b: readonly bigint[]): number {
  const ca = new Array<number>(16).fill(0);
  const cb = new Array<number>(16).fill(0);
  for (const s of a) ca[Number(s >> 123n)]! += 1;
  for (const s of b) cb[Number(s >> 123n)]! += 1;
  let chi2 = 0;
  for (let i = 0; i < 16; i++) {
    const total = ca[i]! + cb[i]!;
    if (total === 0) continue;
    const ea = (total * a.length) / (a.length + b.length);
    const eb = (total * b.length) / (a.length + b.length);
    chi2 += (ca[i]! - ea) ** 2 / ea + (cb[i]! - eb) ** 2 / eb;
  }
  return chi2;
}
