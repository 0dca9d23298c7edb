/**
 * The one place where HGD reads its environment. Every other module receives a Config
 * (or a part of it) as an argument, so tests can build their own without touching process.env.
 */
import path from 'node:path';

export interface Config {
  /** Folder for the embedded database, keys and reports. */
  dataDir: string;
  /** Real PostgreSQL when set; otherwise PGlite under dataDir/pglite. */
  databaseUrl: string | undefined;
  /** Gateway HTTP port. */
  port: number;
  host: string;
  ledger: {
    /** Sign a checkpoint once this many entries are uncovered... */
    checkpointEvery: number;
    /** ...or once the oldest uncovered entry is this old, whichever comes first. */
    checkpointIntervalMs: number;
    /** Largest number of entries written in one group-commit transaction. */
    maxBatch: number;
  };
  http: {
    /** Largest accepted request body, in a form `express` understands ("10mb"). */
    bodyLimit: string;
  };
}

function intFrom(env: NodeJS.ProcessEnv, name: string, fallback: number, min = 0): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) {
    throw new Error(`Environment variable ${name} must be an integer >= ${min}, got "${raw}"`);
  }
  return value;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const dataDir = path.resolve(env.HGD_DATA_DIR ?? './data');
  return Object.freeze({
    dataDir,
    databaseUrl: env.DATABASE_URL || undefined,
    port: intFrom(env, 'PORT', 8080),
    host: env.HGD_HOST ?? '127.0.0.1',
    ledger: Object.freeze({
      checkpointEvery: intFrom(env, 'HGD_CHECKPOINT_EVERY', 1000, 1),
      checkpointIntervalMs: intFrom(env, 'HGD_CHECKPOINT_SECONDS', 5, 1) * 1000,
      maxBatch: intFrom(env, 'HGD_LEDGER_MAX_BATCH', 500, 1),
    }),
    http: Object.freeze({
      bodyLimit: env.HGD_BODY_LIMIT ?? '10mb',
    }),
  });
}
