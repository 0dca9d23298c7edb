/**
 * Test databases: real PostgreSQL when HGD_TEST_DATABASE_URL is set (CI sets it and then a
 * connection failure fails the run), otherwise in-memory PGlite. On PostgreSQL each call gets a
 * fresh schema, dropped by `close()`.
 */
import { randomBytes } from 'node:crypto';
import { openDatabase, type Database } from '../../storage-layer/db';

export const TEST_DATABASE_URL = process.env.HGD_TEST_DATABASE_URL || undefined;
export const onRealPostgres = TEST_DATABASE_URL !== undefined;
if (process.env.HGD_REQUIRE_POSTGRES === '1' && !onRealPostgres) {
  throw new Error('HGD_REQUIRE_POSTGRES=1 but HGD_TEST_DATABASE_URL is not set: CI must test on real PostgreSQL');
}

export async function openTestDatabase(opts: { poolMax?: number } = {}): Promise<Database> {
  if (!TEST_DATABASE_URL) return openDatabase({});
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const db = await openDatabase({ url: TEST_DATABASE_URL, schema, poolMax: opts.poolMax });
  return {
    ...db,
    close: async () => {
      await db.knex.raw(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await db.close();
    },
  };
}

/** A second connection to the same schema (another "process", or the superuser). */
export async function openPeer(db: Database, opts: { poolMax?: number } = {}): Promise<Database> {
  if (!TEST_DATABASE_URL) throw new Error('openPeer needs real PostgreSQL');
  return openDatabase({ url: TEST_DATABASE_URL, schema: db.schema, poolMax: opts.poolMax });
}

/**
 * Fresh databases on the test server, for HGD processes started with a DATABASE_URL (their tables go
 * in `public`, so each gets a database of its own). Undefined without HGD_TEST_DATABASE_URL: such
 * processes then use their embedded PGlite. `drop()` removes them (closing what is still connected).
 */
export async function createScratchDatabases(count: number): Promise<{ urls: string[]; drop(): Promise<void> } | undefined> {
  if (!TEST_DATABASE_URL) return undefined;
  const base = `hgd_scratch_${randomBytes(5).toString('hex')}`;
  const names = Array.from({ length: count }, (_, i) => `${base}_${i}`);
  const admin = await openDatabase({ url: TEST_DATABASE_URL, poolMax: 1 });
  try {
    for (const name of names) await admin.knex.raw(`CREATE DATABASE ${name}`);
  } finally {
    await admin.close();
  }
  const urlOf = (name: string) => {
    const u = new URL(TEST_DATABASE_URL!);
    u.pathname = `/${name}`;
    return u.toString();
  };
  return {
    urls: names.map(urlOf),
    drop: async () => {
      const db = await openDatabase({ url: TEST_DATABASE_URL!, poolMax: 1 });
      try {
        for (const name of names) await db.knex.raw(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await db.close();
      }
    },
  };
}
