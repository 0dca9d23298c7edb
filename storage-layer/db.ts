/**
 * Opens the database behind every layer: real PostgreSQL when a URL is given, otherwise
 * PGlite (PostgreSQL compiled to WASM, in-process) in a folder or in memory.
 */
import fs from 'node:fs';
import knexFactory, { type Knex } from 'knex';
import ClientPgLite from 'knex-pglite';
import pg from 'pg';

// node-pg returns int8 as a string by default; ledger sequence numbers fit in a double.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

export type DatabaseKind = 'postgres' | 'pglite';

export interface Database {
  knex: Knex;
  kind: DatabaseKind;
  /** Schema that holds HGD's tables (tests use a throwaway one per run on real PostgreSQL). */
  schema: string;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  /** postgres://... for real PostgreSQL. */
  url?: string;
  /** PGlite folder; omitted together with url means an in-memory PGlite. */
  pgliteDir?: string;
  /** Schema to create (if missing) and use. Default "public". */
  schema?: string;
  poolMax?: number;
}

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  const schema = options.schema ?? 'public';
  if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`invalid schema name ${schema}`);
  let knex: Knex;
  let kind: DatabaseKind;
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
    if (options.pgliteDir) fs.mkdirSync(options.pgliteDir, { recursive: true });
    knex = knexFactory({
      client: ClientPgLite as unknown as typeof knexFactory.Client,
      dialect: 'postgres',
      connection: options.pgliteDir ? { filename: options.pgliteDir } : {},
      searchPath: [schema],
    } as Knex.Config);
  }
  if (schema !== 'public') await knex.raw(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
  await knex.raw(`SET search_path TO ${schema}`);
  return { knex, kind, schema, close: () => knex.destroy() };
}

/** Bytes from either driver (node-pg gives Buffer, PGlite gives Uint8Array). */
export function asBuffer(value: Buffer | Uint8Array): Buffer {
  return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}
