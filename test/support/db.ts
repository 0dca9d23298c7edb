/**
 * Test databases: real PostgreSQL when HGD_TEST_DATABASE_URL is set (CI sets it and then a
 * connection failure fails the run), otherwise in-memory PGlite. On PostgreSQL each call gets a
 * fresh schema, dropped by `close()`, and the least privilege the gateway runs with in production:
 * the schema is created and migrated by the owner (the URL's user), and the returned connection is
 * the restricted application role (hgd_app), with the owner as its `migrationDatabase`.
 */
import { randomBytes } from 'node:crypto';
import { openDatabase, type Database } from '../../storage-layer/db';
import { APP_ROLE } from '../../storage-layer/ledger-schema';

export const TEST_DATABASE_URL = process.env.HGD_TEST_DATABASE_URL || undefined;
export const onRealPostgres = TEST_DATABASE_URL !== undefined;
if (process.env.HGD_REQUIRE_POSTGRES === '1' && !onRealPostgres) {
  throw new Error('HGD_REQUIRE_POSTGRES=1 but HGD_TEST_DATABASE_URL is not set: CI must test on real PostgreSQL');
}

/** The test cluster's URL as the application role (CI's PostgreSQL trusts local connections). */
export function appRoleUrl(url = TEST_DATABASE_URL!): string {
  const u = new URL(url);
  u.username = APP_ROLE;
  u.password = '';
  return u.toString();
}

/** Creates the application role once per cluster; concurrent test runs may race on it. */
async function ensureAppRole(owner: Database): Promise<void> {
  await owner.knex.raw(`DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${APP_ROLE}') THEN CREATE ROLE ${APP_ROLE} LOGIN; END IF;
  EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
  END $$`);
}

export async function openTestDatabase(opts: { poolMax?: number } = {}): Promise<Database> {
  if (!TEST_DATABASE_URL) return openDatabase({});
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const owner = await openDatabase({ url: TEST_DATABASE_URL, schema, poolMax: 4 });
  await ensureAppRole(owner);
  await owner.knex.raw(`GRANT USAGE ON SCHEMA ${schema} TO ${APP_ROLE}`);
  const app = await openDatabase({ url: appRoleUrl(), schema, createSchema: false, poolMax: opts.poolMax });
  return {
    ...app,
    migrationDatabase: owner,
    close: async () => {
      await app.close();
      await owner.knex.raw(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await owner.close();
    },
  };
}

/** A second application-role connection to the same schema (another gateway process). */
export async function openPeer(db: Database, opts: { poolMax?: number } = {}): Promise<Database> {
  if (!TEST_DATABASE_URL) throw new Error('openPeer needs real PostgreSQL');
  const peer = await openDatabase({ url: appRoleUrl(), schema: db.schema, createSchema: false, poolMax: opts.poolMax });
  return { ...peer, migrationDatabase: db.migrationDatabase };
}

/**
 * The owner of the test schema, with the powers an attacker who holds the owner's or a superuser's
 * credentials has (on PostgreSQL the test URL's user is a superuser). On PGlite, the one connection.
 */
export function ownerOf(db: Database): Database {
  return db.migrationDatabase ?? db;
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
