/** Shared bits for benchmarks: which database to run on, and printing a result table. */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { openDatabase, type Database } from '../storage-layer/db';

export interface BenchRow {
  measure: string;
  value: number;
  unit: string;
  baseline?: string;
  target?: string;
}

export const BENCH_DATABASE_URL = process.env.HGD_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Real PostgreSQL when reachable (the targets are stated for it), otherwise in-memory PGlite. */
export async function openBenchDatabase(poolMax = 10): Promise<Database & { label: string }> {
  if (process.env.HGD_BENCH_PGLITE !== '1') {
    const schema = `bench_${randomBytes(4).toString('hex')}`;
    try {
      const db = await openDatabase({ url: BENCH_DATABASE_URL, schema, poolMax });
      return {
        ...db,
        label: 'PostgreSQL (127.0.0.1)',
        close: async () => {
          await db.knex.raw(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
          await db.close();
        },
      };
    } catch (err) {
      console.error(`PostgreSQL not reachable (${(err as Error).message}); benchmarking on PGlite`);
    }
  }
  return { ...(await openDatabase({})), label: 'PGlite (in-memory)' };
}

export function machine(): string {
  return `${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown cpu'}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
}

export function printTable(title: string, rows: BenchRow[]): void {
  const fmt = (v: number) => (v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toPrecision(3));
  const cells = rows.map((r) => [r.measure, `${fmt(r.value)} ${r.unit}`, r.baseline ?? '', r.target ?? '']);
  const head = ['measure', 'result', 'vs baseline (same run)', 'target'];
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => `| ${c.map((x, i) => x.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(`\n${title}\n${line(head)}\n| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`);
  for (const c of cells) console.log(line(c));
}

export async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; result: T }> {
  const t0 = performance.now();
  const result = await fn();
  return { ms: performance.now() - t0, result };
}
