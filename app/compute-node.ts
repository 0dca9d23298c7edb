/**
 * A compute node process: keys, its own database and migrations, an express app around the node's
 * routes (usage-layer/node), and listening.
 *
 * - Own database (its own PGlite folder or PostgreSQL URL), own migrations (ids prefixed 'node-').
 * - Own Ed25519 signing key and X25519 encryption key under config.nodes.keysDir, created on first
 *   start (mode 0600); public keys published as `${keysDir}/node-<id>.pub.json`.
 * - Every request must be signed by the gateway or a peer node and addressed to this node, and its body
 *   is sealed to the node's X25519 key; every answer is sealed to the party that asked and signed
 *   (parties/middleware.ts, parties/sealed-body.ts). Errors are answered by the same handler and
 *   status table as the gateway's (app/errors-middleware.ts, app/error-status.ts).
 * - Logs carry method, path, status, duration and party, never a body, a share or a database error text
 *   (PostgreSQL messages can quote input values).
 */
import type { Server } from 'node:http';
import path from 'node:path';
import express, { type Express } from 'express';
import type { Config } from '../config';
import { NodeClient } from '../parties/client';
import { SignedRequestError } from '../parties/errors';
import { MpcInbox } from '../parties/inbox';
import { KeyDirectory, loadOrCreateEncryptionKey, nodeKeyFiles, nodeParty, publishPartyKeys, type PartyIdentity } from '../parties/key-directory';
import type { PeerMessage } from '../parties/wire';
import { openDatabase, type Database } from '../storage-layer/db';
import { ValidationError } from '../storage-layer/errors';
import { runMigrations } from '../storage-layer/migrate';
import { openNodeWitness, WITNESS_ROUTE } from '../storage-layer/witness/host';
import type { Witness } from '../storage-layer/witness/witness';
import { loadOrCreateSigningKey } from '../storage-layer/signing-key';
import { ComputeNodeService, computeNodeRouter, nodeMigrations } from '../usage-layer/node';
import { errorHandler, notFoundHandler } from './errors-middleware';
import { isCodedError } from './error-status';

export interface ComputeNodeOptions {
  /** Use this database (tests, benchmarks); it is not closed by close(). */
  db?: Database;
  /** Port to listen on; 0 = ephemeral. Default: the port of config.nodes.urls[id-1]. */
  port?: number;
  host?: string;
  /** Base URLs of all nodes (index 0 = node 1); default config.nodes.urls. Can be changed with setPeerUrls. */
  peerUrls?: string[];
  /** Log sink (one JSON line per event); default stderr unless the config's log level is silent. */
  log?: (line: string) => void;
  /** How long a protocol round waits for peers' messages. */
  peerTimeoutMs?: number;
}

export interface ComputeNode {
  id: number;
  party: string;
  url: string;
  db: Database;
  setPeerUrls(urls: string[]): void;
  close(): Promise<void>;
}

type NodeLog = (level: string, msg: string, extra?: Record<string, unknown>) => void;

function nodeLogger(config: Config, party: string, sink?: (line: string) => void): NodeLog {
  const write = sink ?? ((line: string) => { if (config.logLevel !== 'silent') process.stderr.write(`${line}\n`); });
  return (level, msg, extra = {}) => write(JSON.stringify({ time: new Date().toISOString(), level, name: party, msg, ...extra }));
}

async function openNodeDatabase(config: Config, id: number, log: NodeLog, given?: Database): Promise<Database> {
  const url = config.nodes.databaseUrls[id - 1];
  const db = given ?? (url ? await openDatabase({ url, schema: `hgd_node_${id}` }) : await openDatabase({ pgliteDir: path.join(config.dataDir, `node-${id}`, 'pglite') }));
  try {
    await runMigrations(db, nodeMigrations, (m) => log('warn', m));
  } catch (err) {
    if (!given) await db.close();
    throw err;
  }
  return db;
}

/** POST /witness/add-checkpoint (C2SP tlog-witness): open to anyone; the witness checks the log's signature itself. */
function witnessRoute(witness: Witness): express.RequestHandler {
  return async (req, res, next) => {
    try {
      const body = Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '';
      const r = await witness.handle(body);
      res.status(r.status).type(r.contentType).send(r.body);
    } catch (err) {
      next(err);
    }
  };
}

function nodeApp(router: express.Router, log: NodeLog, bodyLimit: string, witness: Witness): Express {
  const app = express();
  app.disable('x-powered-by');
  app.use((req, res, next) => {
    const start = performance.now();
    res.on('finish', () => {
      log('info', 'request', { method: req.method, path: req.path, status: res.statusCode, ms: Math.round(performance.now() - start), party: res.locals.party ?? null });
    });
    next();
  });
  app.use(express.raw({ type: () => true, limit: bodyLimit }));
  app.post(WITNESS_ROUTE, witnessRoute(witness));
  app.use(router);
  app.use(notFoundHandler);
  // Coded errors are HGD's own (their messages carry no data); for anything else only the name and
  // code are logged, never the message: database errors can quote input (shares).
  app.use(errorHandler((msg, err) => {
    const e = err as { name?: string; code?: unknown; message?: string };
    log('error', msg, isCodedError(err) ? { error: err.code, message: err.message } : { error: e?.name ?? 'Error', code: typeof e?.code === 'string' ? e.code : undefined });
  }));
  return app;
}

async function listen(app: Express, port: number, host: string): Promise<{ server: Server; url: string }> {
  const server: Server = app.listen(port, host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const address = server.address();
  const bound = typeof address === 'object' && address ? address.port : 0;
  return { server, url: `http://${host.includes(':') ? `[${host}]` : host}:${bound}` };
}

/** Sends a sealed round message to a peer; a failure names the peer (the coordinator reports it). */
function peerSender(self: PartyIdentity, directory: KeyDirectory, peerUrls: () => string[], timeoutMs: number) {
  return async (to: number, msg: PeerMessage) => {
    const client = new NodeClient({ baseUrl: peerUrls()[to - 1] as string, self, recipient: nodeParty(to), keys: directory, timeoutMs });
    try {
      return (await client.message(msg)).bytesSent;
    } catch (err) {
      if (!(err instanceof SignedRequestError)) throw err;
      throw new SignedRequestError(`${nodeParty(to)} did not take the ${msg.round} message of query ${msg.queryId}: ${err.message}`, err.peerStatus, err.peerCode);
    }
  };
}

export async function startComputeNode(config: Config, id: number, opts: ComputeNodeOptions = {}): Promise<ComputeNode> {
  const { count: n, threshold: t, keysDir } = config.nodes;
  if (!Number.isInteger(id) || id < 1 || id > n) throw new ValidationError(`node id must be in [1, ${n}], got ${id}`, 'id');
  const party = nodeParty(id);
  const log = nodeLogger(config, party, opts.log);
  const files = nodeKeyFiles(keysDir, id);
  const signingKey = loadOrCreateSigningKey(files.signing);
  const encryptionKey = loadOrCreateEncryptionKey(files.encryption);
  publishPartyKeys(keysDir, party, { sign: signingKey.publicKeyBase64, encrypt: encryptionKey.publicKeyBase64 });
  const self: PartyIdentity = { party, signingKey, encryptionKey };
  const db = await openNodeDatabase(config, id, log, opts.db);
  // Each node is also a witness of the gateway's ledger, on its own database and key (storage-layer/witness).
  const witness = await openNodeWitness(config, id, db);

  const directory = new KeyDirectory(keysDir);
  const peerTimeoutMs = opts.peerTimeoutMs ?? 30_000;
  let peerUrls = opts.peerUrls ?? [...config.nodes.urls];
  const service = new ComputeNodeService({
    id, n, t, db, encryptionKey, inbox: new MpcInbox(), peerTimeoutMs,
    peerEncryptionKey: (node) => directory.encryptionKey(nodeParty(node)),
    sendToPeer: peerSender(self, directory, () => peerUrls, peerTimeoutMs),
  });
  const app = nodeApp(computeNodeRouter(service, { id, n, t, self, directory }), log, config.http.bodyLimit, witness);
  const host = opts.host ?? config.host;
  let bound: { server: Server; url: string };
  try {
    bound = await listen(app, opts.port ?? (Number(new URL(config.nodes.urls[id - 1] as string).port) || config.nodes.basePort + id - 1), host);
  } catch (err) {
    if (!opts.db) await db.close();
    throw err;
  }
  log('info', 'compute node listening', { url: bound.url, database: db.kind });

  let closed = false;
  return {
    id,
    party,
    url: bound.url,
    db,
    setPeerUrls(urls: string[]) {
      peerUrls = [...urls];
    },
    async close() {
      if (closed) return;
      closed = true;
      await new Promise<void>((resolve) => {
        bound.server.close(() => resolve());
        bound.server.closeAllConnections();
      });
      if (!opts.db) await db.close();
    },
  };
}

/** `hgd node --id N`: starts node N on its configured port and database; stops cleanly on SIGINT/SIGTERM. */
export async function runNodeCli(config: Config, id: number): Promise<ComputeNode> {
  const node = await startComputeNode(config, id);
  const stop = async () => {
    await node.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
  return node;
}
