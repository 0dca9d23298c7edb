/**
 * The composition root: opens the database, runs every layer's migrations, opens the ledger and
 * mounts each layer's HTTP routes on one express app. It competes for the database's writer lease
 * (writer-lease.ts); whichever gateway holds it recovers the queries a stopped gateway left behind.
 * Administrative commands use the smaller composition in admin.ts instead.
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
import { configuredWitnesses, httpWitnessTransport, trustFromConfig, witnessEndpoints } from './ledger-trust';
import type { WitnessTransport } from '../storage-layer/witness/protocol';
import { errorHandler, notFoundHandler, rejectNulInUrl } from './errors-middleware';
import { createLogger, type Logger } from './logger';
import { rejectNulInJsonBody } from './json-body';
import { failedAuthLimiter, TokenService } from './auth';
import { ingestDataMigrations, ingestMigrations } from '../management-layer/ingest/schema';
import { IngestService, type ShareSink } from '../management-layer/ingest/ingest-service';
import { createShareDistributor } from '../management-layer/sharing/distribute';
import { deriveKeyRing, loadMasterKey, type KeyRing } from '../management-layer/ingest/envelope';
import { ingestBodyParser, managementRouter } from '../management-layer/http';
import type { Migration } from '../storage-layer/migrate';
import { createCoordinator, type Coordinator } from '../usage-layer/coordinator';
import { createUsageServices, usageMigrations, usageRouter, type UsageServices } from '../usage-layer';
import { IdentityService, identityMigrations, identityRouter } from './identity';
import { adminRouter } from './admin-routes';
import { AdminOperations } from './admin-operations';
import { WriterLease, writerLeaseMigrations } from './writer-lease';
import { patientLedgerEntry } from './patient-ledger';
import { patientSourceRouter } from '../management-layer/patient-source';
import { AlertHub, Monitor, MonitoringSealer, RuleService, WebhookService, alertId, monitoringDataMigrations, monitoringMigrations, type MonitoringServices } from '../management-layer/monitoring';
import { monitoringRouter } from '../usage-layer/care/monitoring-http';
import { webAppRouter } from './static';

export interface Gateway {
  app: Express;
  db: Database;
  ledger: Ledger;
  ingest: IngestService;
  usage: UsageServices;
  tokens: TokenService;
  identity: IdentityService;
  lease: WriterLease;
  monitoring: MonitoringServices;
  log: Logger;
  close(): Promise<void>;
}

export async function openConfiguredDatabase(config: Config): Promise<Database> {
  return config.databaseUrl
    ? openDatabase({ url: config.databaseUrl, migrationUrl: config.migrationDatabaseUrl })
    : openDatabase({ pgliteDir: pgliteDir(config) });
}

export const allMigrations = [...ledgerMigrations, ...ingestMigrations, ...usageMigrations, ...identityMigrations, ...writerLeaseMigrations, ...monitoringMigrations];

/** The key ring derived from the configured master key (created on first use for the embedded default). */
export function configuredKeyRing(config: Config): KeyRing {
  return deriveKeyRing(loadMasterKey(config.ingest.masterKey, config.ingest.masterKeyFile));
}

/** Every migration, including those that rewrite stored data with the key ring. */
export function migrationsWith(keys: KeyRing): Migration[] {
  return [...allMigrations, ...ingestDataMigrations(keys), ...monitoringDataMigrations(new MonitoringSealer(keys.monitoringKey))];
}

export interface GatewayOptions {
  db?: Database;
  log?: Logger;
  /** Where values go for secret sharing; default: the configured compute nodes. null: keep them in the outbox. */
  shareSink?: ShareSink | null;
  /** Runs research queries over the compute nodes; default: the configured nodes. */
  coordinator?: Coordinator;
  /** Carries add-checkpoint requests to the configured witnesses; default: HTTP to their URLs. */
  witnessTransport?: WitnessTransport;
  /** The built web app served at / (app/static.ts); default: web/dist. */
  webDist?: string;
}

export async function createGateway(config: Config, options: GatewayOptions = {}): Promise<Gateway> {
  const log = options.log ?? createLogger('hgd', config.logLevel === 'silent');
  const db = options.db ?? (await openConfiguredDatabase(config));
  const keys = configuredKeyRing(config);
  const applied = await runMigrations(db, migrationsWith(keys), (m) => log.warn(m));
  if (applied.length) log.info(`applied migrations: ${applied.join(', ')}`);
  const signingKey = loadOrCreateSigningKey(config.ledger.signingKeyFile);
  const ledger = await Ledger.open(db, {
    ...config.ledger,
    signingKey,
    witnesses: witnessEndpoints(config),
    quorum: configuredWitnesses(config).quorum,
    witnessTimeoutMs: config.witnesses.timeoutMs,
    transport: options.witnessTransport ?? httpWitnessTransport(config),
    log: (msg) => log.warn(msg),
  });

  const ingest = new IngestService(db, ledger, keys);
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
  // Uploads are read as bytes, exactly as sent; every other route's JSON and text as usual.
  app.use('/ingest', ingestBodyParser(config.http.bodyLimit));
  app.use(express.json({ limit: config.http.bodyLimit, type: ['application/json', 'application/fhir+json'] }));
  app.use(express.text({ limit: config.http.bodyLimit, type: ['text/csv', 'application/fhir+ndjson', 'application/x-ndjson', 'application/ndjson'] }));
  app.use(rejectNulInJsonBody({ except: ['/ingest'] }));
  app.use(failedAuthLimiter(config.http.authFailuresPerMinute));
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
    res.json({ status: damage ? 'degraded' : 'ok', ledgerSize: ledger.size, database: db.kind, writerLease: lease.held, ...(damage ? { ledger: { damaged: damage } } : {}) });
  });
  app.use(identityRouter(identity, tokens, { loginsPerMinute: config.http.loginRateLimitPerMinute }));
  const coordinator = options.coordinator ?? createCoordinator(config, nodeKey);
  const usage = createUsageServices({ db, ledger, coordinator, records: ingest, options: { ...config.usage, log: (msg, err) => log.error(msg, err) } });
  app.get('/ledger/entries/:seq', patientLedgerEntry(ledger, usage));
  app.use(ledgerRouter(ledger, trustFromConfig(config, signingKey)));
  app.use(managementRouter(ingest));
  app.use(patientSourceRouter(ingest));
  // Queries a stopped gateway left queued or running: failed, their epsilon released (one ledger
  // entry each), by the lease holder only, so a second gateway never fails a live one's queries.
  const lease = await WriterLease.start(db, {
    leaseMs: config.writerLeaseMs,
    onAcquired: () => usage.queries.recoverInterrupted(),
    log: (msg, extra) => log.info(msg, extra),
  });
  const monitoring = await startMonitoring(config, { db, ledger, sealer: new MonitoringSealer(keys.monitoringKey) }, ingest, usage, log);
  app.use(adminRouter(new AdminOperations(identity, usage.studies)));
  app.use(usageRouter(usage));
  app.use(monitoringRouter(monitoring, usage.care));
  // After every API route, so the JSON API answers first and unchanged.
  app.use(webAppRouter(options.webDist));
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
    lease,
    monitoring,
    log,
    close: async () => {
      if (outbox) clearInterval(outbox);
      await monitoring.webhooks.stop();
      await monitoring.monitor.idle();
      await usage.close();
      await lease.close();
      await ledger.close();
      if (!options.db) await db.close();
    },
  };
}

/**
 * Remote monitoring: rules evaluated on every stored batch, break-the-glass reads raised as alerts
 * to the patient, provider recipients only while their TREAT grant covers the indicator, webhook
 * delivery kicked by each alert; batches a crash left unevaluated are evaluated first.
 */
async function startMonitoring(config: Config, stores: { db: Database; ledger: Ledger; sealer: MonitoringSealer }, ingest: IngestService, usage: UsageServices, log: Logger): Promise<MonitoringServices> {
  const { db, ledger, sealer } = stores;
  const hub = new AlertHub();
  const m = config.monitoring;
  const webhooks = new WebhookService(db, sealer, { pollMs: m.webhookPollMs, retryBaseMs: m.webhookRetryBaseMs, maxBackoffMs: m.webhookMaxBackoffMs, maxAttempts: m.webhookMaxAttempts, timeoutMs: m.webhookTimeoutMs, allowHttp: m.allowHttpWebhooks, allowHosts: m.webhookAllowHosts });
  const monitor = new Monitor(db, ledger, hub, sealer, {
    mayNotify: async (recipient, patient, indicator, knex) => {
      const grants = await usage.consents.activeTreatmentGrants(patient, recipient.slice('org:'.length), new Date(), knex);
      return grants.some((g) => g.indicators.includes(indicator));
    },
    onAlerts: () => webhooks.kick(),
    log: (msg, err) => log.error(msg, err),
  });
  ingest.onStored(monitor.onStored);
  usage.care.setNotifier({
    breakGlass: async (patient, read) => {
      await monitor.raise(
        { id: alertId('break-glass', read.readId), kind: 'break-glass', patient, detail: { readId: read.readId, org: read.org, reader: read.reader, reason: read.reason, indicators: read.indicators }, recipients: [`patient:${patient}`] },
        { readId: read.readId, org: read.org, readLedgerSeq: read.ledgerSeq },
      );
    },
  });
  const recovered = await monitor.catchUp(ingest);
  if (recovered) log.info(`monitoring: evaluated ${recovered} batches left unevaluated`);
  webhooks.start();
  return { db, sealer, hub, monitor, rules: new RuleService(db, ledger), webhooks };
}
