/**
 * The composition root: opens the database, runs every layer's migrations, opens the ledger and
 * mounts each layer's HTTP routes on one express app.
 */
import express, { type Express } from 'express';
import { pgliteDir, type Config } from '../config';
import { openDatabase, type Database } from '../storage-layer/db';
import { runMigrations } from '../storage-layer/migrate';
import { ledgerMigrations } from '../storage-layer/ledger-schema';
import { Ledger } from '../storage-layer/ledger';
import { loadOrCreateSigningKey } from '../storage-layer/signing-key';
import { ledgerRouter } from '../storage-layer/http';
import { errorHandler, notFoundHandler } from './errors-middleware';
import { createLogger, type Logger } from './logger';

export interface Gateway {
  app: Express;
  db: Database;
  ledger: Ledger;
  log: Logger;
  close(): Promise<void>;
}

export async function openConfiguredDatabase(config: Config): Promise<Database> {
  return config.databaseUrl ? openDatabase({ url: config.databaseUrl }) : openDatabase({ pgliteDir: pgliteDir(config) });
}

export const allMigrations = [...ledgerMigrations];

export async function createGateway(config: Config, options: { db?: Database; log?: Logger } = {}): Promise<Gateway> {
  const log = options.log ?? createLogger('hgd', config.logLevel === 'silent');
  const db = options.db ?? (await openConfiguredDatabase(config));
  const applied = await runMigrations(db, allMigrations, (m) => log.warn(m));
  if (applied.length) log.info(`applied migrations: ${applied.join(', ')}`);
  const ledger = await Ledger.open(db, { ...config.ledger, signingKey: loadOrCreateSigningKey(config.ledger.signingKeyFile) });

  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ limit: config.http.bodyLimit }));
  app.get('/health', (_req, res) => {
    res.json({ status: 'ok', ledgerSize: ledger.size, database: db.kind });
  });
  app.use(ledgerRouter(ledger));
  app.use(notFoundHandler);
  app.use(errorHandler((msg, err) => log.error(msg, err)));

  return {
    app,
    db,
    ledger,
    log,
    close: async () => {
      await ledger.close();
      if (!options.db) await db.close();
    },
  };
}
