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
import { TokenService } from './auth';
import { ingestMigrations } from '../management-layer/ingest/schema';
import { IngestService } from '../management-layer/ingest/ingest-service';
import { deriveKeyRing, loadMasterKey } from '../management-layer/ingest/envelope';
import { managementRouter } from '../management-layer/http';

export interface Gateway {
  app: Express;
  db: Database;
  ledger: Ledger;
  ingest: IngestService;
  tokens: TokenService;
  log: Logger;
  close(): Promise<void>;
}

export async function openConfiguredDatabase(config: Config): Promise<Database> {
  return config.databaseUrl ? openDatabase({ url: config.databaseUrl }) : openDatabase({ pgliteDir: pgliteDir(config) });
}

export const allMigrations = [...ledgerMigrations, ...ingestMigrations];

export async function createGateway(config: Config, options: { db?: Database; log?: Logger } = {}): Promise<Gateway> {
  const log = options.log ?? createLogger('hgd', config.logLevel === 'silent');
  const db = options.db ?? (await openConfiguredDatabase(config));
  const applied = await runMigrations(db, allMigrations, (m) => log.warn(m));
  if (applied.length) log.info(`applied migrations: ${applied.join(', ')}`);
  const ledger = await Ledger.open(db, { ...config.ledger, signingKey: loadOrCreateSigningKey(config.ledger.signingKeyFile) });

  const ingest = new IngestService(db, ledger, deriveKeyRing(loadMasterKey(config.ingest.masterKey, config.ingest.masterKeyFile)));
  const tokens = TokenService.fromConfig(config);

  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ limit: config.http.bodyLimit, type: ['application/json', 'application/fhir+json'] }));
  app.use(express.text({ limit: config.http.bodyLimit, type: ['text/csv', 'application/fhir+ndjson', 'application/x-ndjson', 'application/ndjson'] }));
  app.use(tokens.middleware());
  app.get('/health', (_req, res) => {
    res.json({ status: 'ok', ledgerSize: ledger.size, database: db.kind });
  });
  app.use(ledgerRouter(ledger));
  app.use(managementRouter(ingest));
  app.use(notFoundHandler);
  app.use(errorHandler((msg, err) => log.error(msg, err)));

  return {
    app,
    db,
    ledger,
    ingest,
    tokens,
    log,
    close: async () => {
      await ledger.close();
      if (!options.db) await db.close();
    },
  };
}
