/**
 * The composition root: opens the database, runs every layer's migrations, opens the ledger and
 * mounts each layer's HTTP routes on one express app.
 */
import express, { type Express } from 'express';
import helmet from 'helmet';
import { rateLimit, ipKeyGenerator } from 'express-rate-limit';
import type { Identity } from '../storage-layer/http-identity';
import { pgliteDir, type Config } from '../config';
import { openDatabase, type Database } from '../storage-layer/db';
import { runMigrations } from '../storage-layer/migrate';
import { ledgerMigrations } from '../storage-layer/ledger-schema';
import { Ledger } from '../storage-layer/ledger';
import { loadOrCreateSigningKey } from '../storage-layer/signing-key';
import { ledgerRouter } from './ledger-routes';
import { httpWitnessTransport, trustFromConfig, witnessEndpoints } from './ledger-trust';
import type { WitnessTransport } from '../storage-layer/witness/protocol';
import { errorHandler, notFoundHandler, rejectNulInUrl } from './errors-middleware';
import { createLogger, type Logger } from './logger';
import { TokenService } from './auth';
import { ingestMigrations } from '../management-layer/ingest/schema';
import { IngestService, type ShareSink } from '../management-layer/ingest/ingest-service';
import { createShareDistributor } from '../management-layer/sharing/distribute';
import { deriveKeyRing, loadMasterKey } from '../management-layer/ingest/envelope';
import { managementRouter } from '../management-layer/http';
import { createCoordinator, type Coordinator } from '../usage-layer/coordinator';
import { createUsageServices, usageMigrations, usageRouter, type UsageServices } from '../usage-layer';
import { IdentityService, identityMigrations, identityRouter } from './identity';

export interface Gateway {
  app: Express;
  db: Database;
  ledger: Ledger;
  ingest: IngestService;
  usage: UsageServices;
  tokens: TokenService;
  identity: IdentityService;
  log: Logger;
  close(): Promise<void>;
}

export async function openConfiguredDatabase(config: Config): Promise<Database> {
  return config.databaseUrl
    ? openDatabase({ url: config.databaseUrl, migrationUrl: config.migrationDatabaseUrl })
    : openDatabase({ pgliteDir: pgliteDir(config) });
}

export const allMigrations = [...ledgerMigrations, ...ingestMigrations, ...usageMigrations, ...identityMigrations];

export interface GatewayOptions {
  db?: Database;
  log?: Logger;
  /** Where values go for secret sharing; default: the configured compute nodes. null: keep them in the outbox. */
  shareSink?: ShareSink | null;
  /** Runs research queries over the compute nodes; default: the configured nodes. */
  coordinator?: Coordinator;
  /** Carries add-checkpoint requests to the configured witnesses; default: HTTP to their URLs. */
  witnessTransport?: WitnessTransport;
}

export async function createGateway(config: Config, options: GatewayOptions = {}): Promise<Gateway> {
  const log = options.log ?? createLogger('hgd', config.logLevel === 'silent');
  const db = options.db ?? (await openConfiguredDatabase(config));
  const applied = await runMigrations(db, allMigrations, (m) => log.warn(m));
  if (applied.length) log.info(`applied migrations: ${applied.join(', ')}`);
  const signingKey = loadOrCreateSigningKey(config.ledger.signingKeyFile);
  const ledger = await Ledger.open(db, {
    ...config.ledger,
    signingKey,
    witnesses: witnessEndpoints(config),
    quorum: config.witnesses.quorum,
    witnessTimeoutMs: config.witnesses.timeoutMs,
    transport: options.witnessTransport ?? httpWitnessTransport(config),
    log: (msg) => log.warn(msg),
  });

  const ingest = new IngestService(db, ledger, deriveKeyRing(loadMasterKey(config.ingest.masterKey, config.ingest.masterKeyFile)));
  const tokens = TokenService.fromConfig(config);
  const identity = new IdentityService(db, ledger, (system, value) => ingest.pseudonymOf(system, value));
  // The gateway's key for talking to the compute nodes (sharing at ingest, queries).
  const nodeKey = loadOrCreateSigningKey(config.nodes.gatewayKeyFile);
  const shareSink = options.shareSink === undefined ? createShareDistributor(config, nodeKey) : options.shareSink;
  let outbox: NodeJS.Timeout | null = null;
  if (shareSink) {
    ingest.setShareSink(shareSink);
    let sharing = false; // one outbox pass at a time
    outbox = setInterval(() => {
      if (sharing) return;
      sharing = true;
      ingest.shareOutstanding()
        .catch((err) => log.warn('outbox: sharing failed, will retry', { reason: (err as Error).message }))
        .finally(() => { sharing = false; });
    }, config.nodes.outboxIntervalMs);
    outbox.unref();
  }

  const app = express();
  app.disable('x-powered-by');
  app.use(helmet());
  app.use(rejectNulInUrl);
  app.use(express.json({ limit: config.http.bodyLimit, type: ['application/json', 'application/fhir+json'] }));
  app.use(express.text({ limit: config.http.bodyLimit, type: ['text/csv', 'application/fhir+ndjson', 'application/x-ndjson', 'application/ndjson'] }));
  app.use(tokens.middleware((key) => identity.authenticateApiKey(key)));
  app.use(rateLimit({
    windowMs: 60_000,
    limit: config.http.rateLimitPerMinute,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    keyGenerator: (req, res) => {
      const id = res.locals.identity as Identity | undefined;
      return id ? `${id.role}:${id.sub}` : `ip:${ipKeyGenerator(req.ip ?? '')}`;
    },
    handler: (_req, res) => {
      res.status(429).json({ error: 'rate_limited', message: `more than ${config.http.rateLimitPerMinute} requests a minute from this identity; retry later` });
    },
  }));
  app.get('/health', (_req, res) => {
    // A damaged ledger degrades the gateway (writes answer 503) but it keeps serving reads.
    const damage = ledger.damage;
    res.json({ status: damage ? 'degraded' : 'ok', ledgerSize: ledger.size, database: db.kind, ...(damage ? { ledger: { damaged: damage } } : {}) });
  });
  app.use(identityRouter(identity, tokens, { loginsPerMinute: config.http.loginRateLimitPerMinute }));
  app.use(ledgerRouter(ledger, trustFromConfig(config, signingKey)));
  app.use(managementRouter(ingest));
  const coordinator = options.coordinator ?? createCoordinator(config, nodeKey);
  const usage = createUsageServices({ db, ledger, coordinator, options: { log: (msg, err) => log.error(msg, err) } });
  // Queries a crash left queued or running: failed, their epsilon released (one ledger entry each).
  await usage.queries.recoverInterrupted();
  app.use(usageRouter(usage));
  app.use(notFoundHandler);
  app.use(errorHandler((msg, err) => log.error(msg, err)));

  return {
    app,
    db,
    ledger,
    ingest,
    usage,
    tokens,
    identity,
    log,
    close: async () => {
      if (outbox) clearInterval(outbox);
      await usage.close();
      await ledger.close();
      if (!options.db) await db.close();
    },
  };
}
