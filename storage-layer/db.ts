/**
 * Opens the database behind every layer: real PostgreSQL when a URL is given, otherwise
 * PGlite (PostgreSQL compiled to WASM, in-process) in a folder or in memory.
 */
import fs from 'node:fs';
import path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import ClientPgLite from 'knex-pglite';
import pg from 'pg';
import { HgdError } from './errors';

// node-pg returns int8 as a string by default; ledger sequence numbers fit in a double.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

export type DatabaseKind = 'postgres' | 'pglite';

export interface Database {
  knex: Knex;
  kind: DatabaseKind;
  /** Schema that holds HGD's tables (tests use a throwaway one per run on real PostgreSQL). */
  schema: string;
  /**
   * Where migrations run when it is not this connection: the owner of the tables, while this one
   * is the least-privileged application role (runMigrations uses it; see roles.ts).
   */
  migrationDatabase?: Database;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  /** postgres://... for real PostgreSQL. */
  url?: string;
  /** PGlite folder; omitted together with url means an in-memory PGlite. */
  pgliteDir?: string;
  /** Schema to create (if missing) and use. Default "public". */
  schema?: string;
  /** false: the schema exists already (a role without CREATE on the database connects to it). */
  createSchema?: boolean;
  /** postgres://... of the owner role that runs migrations, when `url` is a restricted application role. */
  migrationUrl?: string;
  poolMax?: number;
}

export class DatabaseBusyError extends HgdError {
  constructor(dir: string, pid: number) {
    super(`the embedded database in ${dir} is open in process ${pid}; stop it first (PGlite allows one process at a time) or use DATABASE_URL`, 'database_busy');
  }
}

/** PGlite is single-process: a pid lock file keeps a second process from opening the same folder. */
function lockDirectory(dir: string): () => void {
  const file = path.join(dir, '.hgd.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
      return () => fs.rmSync(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(fs.readFileSync(file, 'utf8'));
      let alive = false;
      try {
        process.kill(pid, 0);
        alive = true;
      } catch {
        alive = false;
      }
      if (alive) throw new DatabaseBusyError(dir, pid);
      fs.rmSync(file, { force: true }); // a stale lock from a process that died
    }
  }
  throw new Error(`could not lock ${dir}`);
}

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  const schema = options.schema ?? 'public';
  if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`invalid schema name ${schema}`);
  let knex: Knex;
  let kind: DatabaseKind;
  let release = () => {};
  if (options.url) {
    kind = 'postgres';
    knex = knexFactory({
      client: 'pg',
      connection: options.url,
      searchPath: [schema],
      pool: { min: 0, max: options.poolMax ?? 10 },
    });
  } else {
    kind = 'pglite';
    if (options.pgliteDir) {
      fs.mkdirSync(options.pgliteDir, { recursive: true });
      release = lockDirectory(options.pgliteDir);
    }
    knex = knexFactory({
      client: ClientPgLite as unknown as typeof knexFactory.Client,
      dialect: 'postgres',
      connection: options.pgliteDir ? { filename: options.pgliteDir } : {},
      searchPath: [schema],
    } as Knex.Config);
  }
  let migrationDatabase: Database | undefined;
  try {
    // The owner first: it creates the schema the application role then connects to.
    if (options.url && options.migrationUrl) migrationDatabase = await openDatabase({ url: options.migrationUrl, schema, createSchema: options.createSchema, poolMax: 2 });
    if (schema !== 'public' && options.createSchema !== false && !migrationDatabase) await knex.raw(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await knex.raw(`SET search_path TO ${schema}`);
  } catch (err) {
    await knex.destroy().catch(() => {});
    await migrationDatabase?.close().catch(() => {});
    release();
    throw err;
  }
  return {
    knex,
    kind,
    schema,
    ...(migrationDatabase ? { migrationDatabase } : {}),
    close: async () => {
      await knex.destroy();
      await migrationDatabase?.close();
      release();
    },
  };
}

/** Bytes from either driver (node-pg gives Buffer, PGlite gives Uint8Array). */
export function asBuffer(value: Buffer | Uint8Array): Buffer {
  return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

