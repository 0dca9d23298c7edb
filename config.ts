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
  /** The owner role that runs migrations, when databaseUrl is the restricted application role (storage-layer/roles.ts). */
  migrationDatabaseUrl: string | undefined;
  /** "silent" turns the structured log off (tests). */
  logLevel: 'info' | 'silent';
  /** Gateway HTTP port. */
  port: number;
  host: string;
  /** How long the database's writer lease lasts without renewal (app/writer-lease.ts). */
  writerLeaseMs: number;
  ledger: {
    /** Sign a checkpoint once this many entries are uncovered... */
    checkpointEvery: number;
    /** ...or once the oldest uncovered entry is this old, whichever comes first. */
    checkpointIntervalMs: number;
    /** Largest number of entries written in one group-commit transaction. */
    maxBatch: number;
    /** Ed25519 checkpoint-signing key (PKCS#8 PEM), created on first start. */
    signingKeyFile: string;
    /** The log's name in its checkpoint notes (C2SP origin line). */
    origin: string;
    /** More log public keys (raw Ed25519, base64) the verifier trusts besides the signing key's, e.g. rotated ones. */
    trustedKeys: string[];
  };
  /** Witnesses that cosign the ledger's checkpoints (C2SP tlog-witness); empty: checkpoints are signed by the log alone. */
  witnesses: {
    /** Name, pinned Ed25519 public key (raw, base64) and URL prefix of each witness's add-checkpoint endpoint. */
    list: Array<{ name: string; publicKey: string; url: string }>;
    /** Cosignatures that make a checkpoint witnessed (default: a majority, 2 of 3). */
    quorum: number;
    /** How long publishing waits for the quorum (the rest are stored when they answer). */
    timeoutMs: number;
  };
  /** This process as a witness of the ledger (a compute node hosts one; see storage-layer/witness/witness.ts). */
  witness: {
    /** The pinned log key (raw Ed25519, base64); unset: the public half of ledger.signingKeyFile, read from that file. */
    logPublicKey: string | undefined;
    /** Node i's witness name is `${namePrefix}${i}`. */
    namePrefix: string;
  };
  http: {
    /** Largest accepted request body, in a form `express` understands ("10mb"). */
    bodyLimit: string;
    /** Requests a minute one identity (or, unauthenticated, one address) may make. */
    rateLimitPerMinute: number;
    /** Login attempts a minute from one address (POST /auth/login), on top of rateLimitPerMinute. */
    loginRateLimitPerMinute: number;
    /** Failed authentications (bad token, API key or password) a minute from one address before 429. */
    authFailuresPerMinute: number;
  };
  ingest: {
    /** Master key (base64 or hex, 32 bytes) that wraps every patient's data key; if unset, a key
     *  is created on first start in masterKeyFile (fine for the embedded default, not for production). */
    masterKey: string | undefined;
    masterKeyFile: string;
  };
  auth: {
    /** Lifetime of issued JWTs. */
    tokenTtlSeconds: number;
    /** Ed25519 key that signs the gateway's JWTs. */
    tokenKeyFile: string;
    /** The first administrator's password (HGD_ADMIN_PASSWORD); unset: generated on first start into adminPasswordFile. */
    adminPassword: string | undefined;
    /** Where the first start writes the generated password of user `admin`, once, mode 0600. */
    adminPasswordFile: string;
  };
  /** Research queries and studies (usage layer): privacy parameters and their bounds. */
  usage: {
    /** Epsilon of a query that names none, and the range a query may name. */
    defaultEpsilon: number;
    minEpsilon: number;
    maxEpsilon: number;
    /** Defaults of a new study: the minimum cohort size, its privacy budget and contribution bound L. */
    minCohort: number;
    epsilonBudget: number;
    maxContributions: number;
    /** Every patient's own ε budget across all studies, renewing every periodDays (null: lifetime). */
    patientBudget: { epsilon: number; periodDays: number | null };
  };
  /** How `hgd` commands (hgd ingest) reach a running gateway. */
  client: {
    /** The gateway's base URL: HGD_URL, else the address the gateway listens on (HGD_HOST, PORT). */
    url: string;
    /** A provider's JWT (HGD_TOKEN) or API key (HGD_API_KEY), when given in the environment. */
    token: string | undefined;
    apiKey: string | undefined;
    /** An admin JWT for `hgd admin …` against a running gateway (HGD_ADMIN_TOKEN). */
    adminToken: string | undefined;
  };
  /** Remote monitoring (management-layer/monitoring): webhook delivery of alerts. */
  monitoring: {
    /** How often due webhook deliveries are attempted. */
    webhookPollMs: number;
    /** First retry delay; each further retry doubles it, up to webhookMaxBackoffMs. */
    webhookRetryBaseMs: number;
    webhookMaxBackoffMs: number;
    /** Attempts before a delivery is given up (it stays listed as failed). */
    webhookMaxAttempts: number;
    webhookTimeoutMs: number;
    /** Allow http:// webhook URLs (tests, local use); otherwise https:// only. */
    allowHttpWebhooks: boolean;
    /**
     * Host names (or literal addresses) a webhook may target even when they are, or resolve to, a
     * loopback, private or link-local address (HGD_WEBHOOK_ALLOW_HOSTS, comma-separated); default none.
     */
    webhookAllowHosts: readonly string[];
  };
  /** The compute nodes that hold secret shares. */
  nodes: {
    /** Number of nodes n (shares per value). */
    count: number;
    /** Polynomial degree t: any t+1 shares reconstruct, t reveal nothing; n >= 2t+1. */
    threshold: number;
    /** Node i (1-based) listens on basePort + i - 1 unless HGD_NODE_URLS says otherwise. */
    basePort: number;
    /** Base URL of each node, index 0 = node 1. */
    urls: string[];
    /** Each node's own database URL; undefined entries mean PGlite under dataDir/node-<i>/pglite. */
    databaseUrls: Array<string | undefined>;
    /** Folder with every party's key files (private keys stay with their owner). */
    keysDir: string;
    /** The gateway's Ed25519 key for signing its requests to the nodes. */
    gatewayKeyFile: string;
    /** The gateway's X25519 key: the nodes seal their answers to it (published in keysDir as gateway.pub.json). */
    gatewayEncryptionKeyFile: string;
    /** How often the gateway retries sharing records a node missed (the outbox). */
    outboxIntervalMs: number;
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

/** Where the embedded PGlite database lives when no DATABASE_URL is set. */
export function pgliteDir(config: Config): string {
  return path.join(config.dataDir, 'pglite');
}

function numberFrom(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`Environment variable ${name} must be a positive number, got "${raw}"`);
  return value;
}

/** Where a client on this machine reaches a gateway listening on `host` (a wildcard address means loopback). */
function localUrl(host: string, port: number): string {
  const reachable = host === '' || host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}`;
}

/** Node i's own witness key (one Ed25519 key per cosigner, apart from its request-signing key). */
export function witnessKeyFile(config: Config, nodeId: number): string {
  return path.join(config.nodes.keysDir, `node-${nodeId}-witness-ed25519.pem`);
}

function witnessesFrom(env: NodeJS.ProcessEnv): Config['witnesses']['list'] {
  const raw = env.HGD_WITNESSES;
  if (!raw) return [];
  let list: unknown;
  try {
    list = JSON.parse(raw);
  } catch {
    throw new Error('HGD_WITNESSES must be a JSON array of {"name", "publicKey", "url"}');
  }
  if (!Array.isArray(list)) throw new Error('HGD_WITNESSES must be a JSON array of {"name", "publicKey", "url"}');
  return list.map((w: { name?: unknown; publicKey?: unknown; url?: unknown }, i) => {
    if (typeof w?.name !== 'string' || typeof w.publicKey !== 'string' || typeof w.url !== 'string') {
      throw new Error(`HGD_WITNESSES[${i}] must have string fields "name", "publicKey" and "url"`);
    }
    return Object.freeze({ name: w.name, publicKey: w.publicKey, url: w.url });
  });
}

function listFrom(env: NodeJS.ProcessEnv, name: string): string[] | undefined {
  const raw = env[name];
  return raw ? raw.split(',').map((s) => s.trim()) : undefined;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const dataDir = path.resolve(env.HGD_DATA_DIR ?? './data');
  const nodeCount = intFrom(env, 'HGD_NODES', 3, 2);
  const threshold = intFrom(env, 'HGD_THRESHOLD', 1, 1);
  if (nodeCount < 2 * threshold + 1) throw new Error(`HGD_NODES (${nodeCount}) must be at least 2 * HGD_THRESHOLD + 1 (${2 * threshold + 1})`);
  const basePort = intFrom(env, 'HGD_NODE_BASE_PORT', 8091, 1);
  const host = env.HGD_HOST ?? '127.0.0.1';
  const urls = listFrom(env, 'HGD_NODE_URLS') ?? Array.from({ length: nodeCount }, (_, i) => `http://${host}:${basePort + i}`);
  if (urls.length !== nodeCount) throw new Error(`HGD_NODE_URLS lists ${urls.length} URLs but HGD_NODES is ${nodeCount}`);
  const witnesses = witnessesFrom(env);
  const quorum = intFrom(env, 'HGD_WITNESS_QUORUM', witnesses.length === 0 ? 0 : Math.floor(witnesses.length / 2) + 1, 0);
  if (quorum > witnesses.length) throw new Error(`HGD_WITNESS_QUORUM (${quorum}) must be at most the number of witnesses (${witnesses.length})`);
  const databaseUrls = listFrom(env, 'HGD_NODE_DATABASE_URLS')?.map((u) => u || undefined) ?? Array.from({ length: nodeCount }, () => undefined);
  const port = intFrom(env, 'PORT', 8080);
  return Object.freeze({
    dataDir,
    databaseUrl: env.DATABASE_URL || undefined,
    migrationDatabaseUrl: env.HGD_MIGRATION_DATABASE_URL || undefined,
    logLevel: env.HGD_LOG === 'silent' ? 'silent' : 'info',
    port,
    host,
    writerLeaseMs: intFrom(env, 'HGD_WRITER_LEASE_SECONDS', 15, 1) * 1000,
    ledger: Object.freeze({
      checkpointEvery: intFrom(env, 'HGD_CHECKPOINT_EVERY', 1000, 1),
      checkpointIntervalMs: intFrom(env, 'HGD_CHECKPOINT_SECONDS', 5, 1) * 1000,
      maxBatch: intFrom(env, 'HGD_LEDGER_MAX_BATCH', 500, 1),
      signingKeyFile: path.resolve(env.HGD_LEDGER_KEY_FILE ?? path.join(dataDir, 'keys', 'ledger-ed25519.pem')),
      origin: env.HGD_LEDGER_ORIGIN || 'hgd.local/ledger',
      trustedKeys: Object.freeze(listFrom(env, 'HGD_LEDGER_TRUSTED_KEYS') ?? []) as string[],
    }),
    witnesses: Object.freeze({
      list: Object.freeze(witnesses) as Config['witnesses']['list'],
      quorum,
      timeoutMs: intFrom(env, 'HGD_WITNESS_TIMEOUT_SECONDS', 5, 1) * 1000,
    }),
    witness: Object.freeze({
      logPublicKey: env.HGD_WITNESS_LOG_KEY || undefined,
      namePrefix: env.HGD_WITNESS_NAME_PREFIX || 'hgd.local/witness-',
    }),
    http: Object.freeze({
      bodyLimit: env.HGD_BODY_LIMIT ?? '10mb',
      rateLimitPerMinute: intFrom(env, 'HGD_RATE_LIMIT_PER_MINUTE', 1200, 1),
      loginRateLimitPerMinute: intFrom(env, 'HGD_LOGIN_RATE_LIMIT_PER_MINUTE', 30, 1),
      authFailuresPerMinute: intFrom(env, 'HGD_AUTH_FAILURES_PER_MINUTE', 20, 1),
    }),
    ingest: Object.freeze({
      masterKey: env.HGD_MASTER_KEY || undefined,
      masterKeyFile: path.resolve(env.HGD_MASTER_KEY_FILE ?? path.join(dataDir, 'keys', 'master.key')),
    }),
    auth: Object.freeze({
      tokenTtlSeconds: intFrom(env, 'HGD_TOKEN_TTL_SECONDS', 900, 1),
      tokenKeyFile: path.resolve(path.join(dataDir, 'keys', 'gateway-ed25519.pem')),
      adminPassword: env.HGD_ADMIN_PASSWORD || undefined,
      adminPasswordFile: path.join(dataDir, 'admin-password'),
    }),
    usage: Object.freeze({
      defaultEpsilon: numberFrom(env, 'HGD_DEFAULT_EPSILON', 0.5),
      minEpsilon: numberFrom(env, 'HGD_MIN_EPSILON', 0.01),
      maxEpsilon: numberFrom(env, 'HGD_MAX_EPSILON', 1),
      minCohort: intFrom(env, 'HGD_MIN_COHORT', 10, 1),
      epsilonBudget: numberFrom(env, 'HGD_STUDY_EPSILON_BUDGET', 10),
      maxContributions: intFrom(env, 'HGD_STUDY_MAX_CONTRIBUTIONS', 1, 1),
      patientBudget: Object.freeze({
        epsilon: numberFrom(env, 'HGD_PATIENT_EPSILON_BUDGET', 5),
        // 0 days means a lifetime budget that never renews.
        periodDays: intFrom(env, 'HGD_PATIENT_BUDGET_PERIOD_DAYS', 365, 0) || null,
      }),
    }),
    client: Object.freeze({
      url: env.HGD_URL || localUrl(host, port),
      token: env.HGD_TOKEN || undefined,
      apiKey: env.HGD_API_KEY || undefined,
      adminToken: env.HGD_ADMIN_TOKEN || undefined,
    }),
    monitoring: Object.freeze({
      webhookPollMs: intFrom(env, 'HGD_WEBHOOK_POLL_MS', 500, 10),
      webhookRetryBaseMs: intFrom(env, 'HGD_WEBHOOK_RETRY_BASE_MS', 1000, 1),
      webhookMaxBackoffMs: intFrom(env, 'HGD_WEBHOOK_MAX_BACKOFF_MS', 3_600_000, 1),
      webhookMaxAttempts: intFrom(env, 'HGD_WEBHOOK_MAX_ATTEMPTS', 15, 1),
      webhookTimeoutMs: intFrom(env, 'HGD_WEBHOOK_TIMEOUT_MS', 5000, 1),
      allowHttpWebhooks: env.HGD_WEBHOOK_ALLOW_HTTP === '1' || env.HGD_WEBHOOK_ALLOW_HTTP === 'true',
      webhookAllowHosts: Object.freeze((env.HGD_WEBHOOK_ALLOW_HOSTS ?? '').split(',').map((h) => h.trim()).filter(Boolean)),
    }),
    nodes: Object.freeze({
      count: nodeCount,
      threshold,
      basePort,
      urls,
      databaseUrls,
      keysDir: path.resolve(env.HGD_KEYS_DIR ?? path.join(dataDir, 'keys')),
      gatewayKeyFile: path.resolve(env.HGD_KEYS_DIR ?? path.join(dataDir, 'keys'), 'gateway-nodes-ed25519.pem'),
      gatewayEncryptionKeyFile: path.resolve(env.HGD_KEYS_DIR ?? path.join(dataDir, 'keys'), 'gateway-nodes-x25519.pem'),
      outboxIntervalMs: intFrom(env, 'HGD_OUTBOX_SECONDS', 10, 1) * 1000,
    }),
  });
}
