/**
 * A compute node: an express service that holds secret shares only and answers aggregate requests from
 * the coordinator, running the product and noise protocols with its peers.
 *
 * - Own database (its own PGlite folder or PostgreSQL URL), own migrations (ids prefixed 'node-').
 * - Own Ed25519 signing key and X25519 encryption key under config.nodes.keysDir, created on first
 *   start (mode 0600); public keys published as `${keysDir}/node-<id>.pub.json`.
 * - Every request must be signed by the gateway or a peer node (request-signing.ts); shares arrive
 *   sealed to the node's X25519 key.
 * - Logs carry method, path, status, duration and party, never a body, a share or a database error text
 *   (PostgreSQL messages can quote input values).
 */
import type { Server } from 'node:http';
import path from 'node:path';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Config } from '../../config';
import {
  ELEMENT_BYTES,
  elementsPerItem,
  histogramKey,
  shareBatchAad,
  unpackElements,
  type ShareBatch,
  type ShareBatchItem,
} from '../../management-layer/sharing/distribute';
import { shareFromHex, shareToHex } from '../../management-layer/sharing/encoding';
import { add, mod } from '../../management-layer/sharing/field';
import { KeyDirectory, loadOrCreateEncryptionKey, nodeIdOfParty, nodeKeyFiles, nodeParty, publishPartyKeys } from '../../management-layer/sharing/key-directory';
import { unseal } from '../../management-layer/sharing/sealing';
import { openDatabase, type Database } from '../../storage-layer/db';
import { HgdError, ValidationError } from '../../storage-layer/errors';
import { runMigrations } from '../../storage-layer/migrate';
import { loadOrCreateSigningKey } from '../../storage-layer/signing-key';
import { noiseShare } from '../mpc/dp-noise';
import { combineReshares, jointZeroShare, rerandomise, reshare, zeroSharing } from '../mpc/products';
import { MpcInbox } from './mpc-inbox';
import { nodeMigrations } from './migrations';
import { NodeClient } from './node-client';
import { requireSignedRequest } from './request-signing';
import { histogramAggregate, linearAggregate, pairAggregate, storeShareRows, type ShareRow } from './store';
import { isSingleNoise, type LinearMeasure, type LinearRequest, type LinearResponse, type NoiseByMeasure, type NoiseSpec, type PeerMessage, type PeerRound, type ProductMeasure, type ProductResponse, type RecordFilter } from './wire';

export interface ComputeNodeOptions {
  /** Use this database (tests, benchmarks); it is not closed by close(). */
  db?: Database;
  /** Port to listen on; 0 = ephemeral. Default: the port of config.nodes.urls[id-1]. */
  port?: number;
  host?: string;
  /** Base URLs of all nodes (index 0 = node 1); default config.nodes.urls. Can be changed with setPeerUrls. */
  peerUrls?: string[];
  /** Log sink (one JSON line per event); default stderr unless HGD_LOG=silent. */
  log?: (line: string) => void;
  /** How long a protocol step waits for peers' messages. */
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

const QUERY_ID = /^[A-Za-z0-9_-]{8,80}$/;
const MAX_ITEMS = 100_000;
const MEASURES: readonly LinearMeasure[] = ['sum', 'sumSquares', 'histogram', 'count'];

function str(x: unknown, field: string, max = 200): string {
  if (typeof x !== 'string' || x.length === 0 || x.length > max) throw new ValidationError(`${field} must be a non-empty string`, field);
  return x;
}

function instantOrNull(x: unknown, field: string): string | null {
  if (x === null || x === undefined) return null;
  if (typeof x !== 'string' || Number.isNaN(Date.parse(x))) throw new ValidationError(`${field} must be an instant or null`, field);
  return x;
}

function parseFilter(body: Record<string, unknown>): RecordFilter {
  const cohort = body.cohort;
  if (cohort !== null && cohort !== undefined) {
    if (!Array.isArray(cohort) || cohort.some((p) => typeof p !== 'string' || p.length === 0 || p.length > 200)) {
      throw new ValidationError('cohort must be an array of pseudonyms or null', 'cohort');
    }
  }
  return {
    indicator: str(body.indicator, 'indicator'),
    from: instantOrNull(body.from, 'from'),
    to: instantOrNull(body.to, 'to'),
    cohort: (cohort as string[] | null | undefined) ?? null,
  };
}

function parseQueryId(x: unknown): string {
  if (typeof x !== 'string' || !QUERY_ID.test(x)) throw new ValidationError('queryId must be 8 to 80 characters [A-Za-z0-9_-]', 'queryId');
  return x;
}

function parseItem(x: unknown, k: number, histograms: Record<string, number[]>): ShareBatchItem {
  const it = (x ?? {}) as Record<string, unknown>;
  const scale = it.scale;
  if (!Number.isInteger(scale) || (scale as number) < 0 || (scale as number) > 18) throw new ValidationError(`items[${k}].scale must be an integer in [0, 18]`, 'scale');
  const effectiveStart = instantOrNull(it.effectiveStart, `items[${k}].effectiveStart`);
  if (effectiveStart === null) throw new ValidationError(`items[${k}].effectiveStart is required`, 'effectiveStart');
  const hist = it.hist ?? null;
  if (hist !== null && (typeof hist !== 'string' || !histograms[hist])) throw new ValidationError(`items[${k}].hist names no histogram of the batch`, 'hist');
  return {
    recordId: str(it.recordId, 'recordId'),
    pseudonym: str(it.pseudonym, 'pseudonym'),
    indicator: str(it.indicator, 'indicator'),
    effectiveStart,
    effectiveEnd: instantOrNull(it.effectiveEnd, `items[${k}].effectiveEnd`),
    scale: scale as number,
    hist: hist as string | null,
  };
}

function parseParticipants(x: unknown, n: number, self: number, min: number): number[] {
  if (!Array.isArray(x) || x.some((v) => !Number.isInteger(v) || v < 1 || v > n) || new Set(x).size !== x.length) {
    throw new ValidationError(`participants must be distinct node ids in [1, ${n}]`, 'participants');
  }
  if (!x.includes(self)) throw new ValidationError(`participants must include this node (${self})`, 'participants');
  if (x.length < min) throw new ValidationError(`at least ${min} participants are needed`, 'participants');
  return [...(x as number[])].sort((a, b) => a - b);
}

interface NoisyElement {
  value: bigint;
  spec: NoiseSpec;
  scale: number;
}

const PRODUCT_MEASURES: readonly ProductMeasure[] = ['count', 'sumX', 'sumY', 'sumXX', 'sumYY', 'sumXY'];

function parseNoiseSpec(x: unknown, field: string): NoiseSpec {
  const o = (x ?? {}) as Record<string, unknown>;
  const ok = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v > 0;
  if (typeof x !== 'object' || x === null || !ok(o.epsilon) || !ok(o.sensitivity)) throw new ValidationError(`${field} needs epsilon > 0 and sensitivity > 0`, field);
  return { epsilon: o.epsilon as number, sensitivity: o.sensitivity as number };
}

/** A per-measure noise map whose keys are among `allowed`. */
function parseNoiseMap(x: unknown, allowed: readonly string[], field: string): Record<string, NoiseSpec> {
  if (typeof x !== 'object' || x === null || Array.isArray(x) || Object.keys(x).length === 0) throw new ValidationError(`${field} must map measures to {epsilon, sensitivity}`, field);
  const out: Record<string, NoiseSpec> = {};
  for (const [k, v] of Object.entries(x)) {
    if (!allowed.includes(k)) throw new ValidationError(`${field}.${k}: only ${allowed.join(', ')} can be noised here`, field);
    out[k] = parseNoiseSpec(v, `${field}.${k}`);
  }
  return out;
}

function defaultLog(line: string): void {
  if (process.env.HGD_LOG !== 'silent') process.stderr.write(`${line}\n`);
}

export async function startComputeNode(config: Config, id: number, opts: ComputeNodeOptions = {}): Promise<ComputeNode> {
  const { count: n, threshold: t, keysDir } = config.nodes;
  if (!Number.isInteger(id) || id < 1 || id > n) throw new ValidationError(`node id must be in [1, ${n}], got ${id}`, 'id');
  const party = nodeParty(id);
  const writeLog = opts.log ?? defaultLog;
  const log = (level: string, msg: string, extra: Record<string, unknown> = {}) =>
    writeLog(JSON.stringify({ time: new Date().toISOString(), level, name: party, msg, ...extra }));

  const files = nodeKeyFiles(keysDir, id);
  const signingKey = loadOrCreateSigningKey(files.signing);
  const encryptionKey = loadOrCreateEncryptionKey(files.encryption);
  publishPartyKeys(keysDir, party, { sign: signingKey.publicKeyBase64, encrypt: encryptionKey.publicKeyBase64 });

  const ownDb = !opts.db;
  const url = config.nodes.databaseUrls[id - 1];
  const db =
    opts.db ??
    (url ? await openDatabase({ url, schema: `hgd_node_${id}` }) : await openDatabase({ pgliteDir: path.join(config.dataDir, `node-${id}`, 'pglite') }));
  try {
    await runMigrations(db, nodeMigrations, (m) => log('warn', m));
  } catch (err) {
    if (ownDb) await db.close();
    throw err;
  }

  const directory = new KeyDirectory(keysDir);
  const inbox = new MpcInbox();
  const peerTimeoutMs = opts.peerTimeoutMs ?? 30_000;
  let peerUrls = opts.peerUrls ?? [...config.nodes.urls];
  const peer = (j: number) => new NodeClient({
    baseUrl: peerUrls[j - 1] as string, key: signingKey, party, timeoutMs: peerTimeoutMs,
    expectSigner: { party: nodeParty(j), publicKey: (p) => directory.signingKey(p) },
  });

  /** Sends each peer in `to` its values for a round; returns bytes sent. */
  async function sendRound(queryId: string, round: PeerRound, to: number[], valuesFor: (j: number) => bigint[]): Promise<number> {
    const sizes = await Promise.all(
      to.map(async (j) => {
        const msg: PeerMessage = { queryId, round, values: valuesFor(j).map(shareToHex) };
        return (await peer(j).message(msg)).bytesSent;
      }),
    );
    return sizes.reduce((a, b) => a + b, 0);
  }

  /** One exchange round: send to the other participants and collect what they send to us. */
  async function exchange(queryId: string, round: PeerRound, participants: number[], valuesFor: (j: number) => bigint[]): Promise<{ received: Map<number, bigint[]>; bytes: number }> {
    const others = participants.filter((j) => j !== id);
    const [bytes, received] = await Promise.all([sendRound(queryId, round, others, valuesFor), inbox.collect(queryId, round, others, peerTimeoutMs)]);
    return { received, bytes };
  }

  /**
   * Distributed DP noise on opened elements: each participant samples its own discrete-Laplace noise per
   * element and deals degree-t shares of it to every participant; every node adds the sub-shares of all
   * participants' noise to its shares (one exchange round).
   */
  async function addDistributedNoise(queryId: string, participants: number[], elements: NoisyElement[]): Promise<{ values: bigint[]; bytes: number }> {
    const dealt = elements.map((e) => noiseShare(e.spec.epsilon, e.spec.sensitivity, e.scale, n, t));
    const { received, bytes } = await exchange(queryId, 'noise', participants, (j) => dealt.map((d) => d[j - 1] as bigint));
    for (const [from, values] of received) {
      if (values.length !== elements.length) throw new HgdError(`node-${from} dealt noise for ${values.length} elements, this node has ${elements.length}`, 502, 'protocol_mismatch');
    }
    const values = elements.map((e, l) => {
      let acc = add(e.value, (dealt[l] as bigint[])[id - 1] as bigint);
      for (const v of received.values()) acc = add(acc, v[l] as bigint);
      return acc;
    });
    return { values, bytes };
  }

  const app = express();
  app.disable('x-powered-by');
  app.use((req, res, next) => {
    const start = performance.now();
    res.on('finish', () => {
      log('info', 'request', { method: req.method, path: req.path, status: res.statusCode, ms: Math.round(performance.now() - start), party: res.locals.party ?? null });
    });
    next();
  });
  app.use(express.raw({ type: () => true, limit: config.http.bodyLimit }));

  const signResponsesAs = { key: signingKey, party };
  const gatewayOnly = requireSignedRequest(directory, { allow: (p) => p === 'gateway', signResponsesAs });
  const peersOnly = requireSignedRequest(directory, { allow: (p) => nodeIdOfParty(p) !== undefined && p !== party, signResponsesAs });
  const anyParty = requireSignedRequest(directory, { signResponsesAs });

  app.get('/health', anyParty, (_req, res) => {
    res.json({ node: id, status: 'ok' });
  });

  app.post('/shares', gatewayOnly, async (req, res) => {
    const body = (req.body ?? {}) as Partial<ShareBatch>;
    if (body.v !== 1) throw new ValidationError('unsupported share batch version', 'v');
    const dealing = body.dealing;
    if (typeof dealing !== 'string' || !/^[1-9][0-9]{0,15}$/.test(dealing)) throw new ValidationError('dealing must be a positive decimal integer', 'dealing');
    if (!Array.isArray(body.items) || body.items.length === 0 || body.items.length > MAX_ITEMS) {
      throw new ValidationError(`items must be an array of 1 to ${MAX_ITEMS} records`, 'items');
    }
    const histograms: Record<string, number[]> = {};
    for (const [key, edges] of Object.entries(body.histograms ?? {})) {
      if (!Array.isArray(edges) || edges.length < 2 || edges.some((e) => typeof e !== 'number' || !Number.isFinite(e)) || histogramKey(edges) !== key) {
        throw new ValidationError(`histogram ${key} does not match its edges`, 'histograms');
      }
      histograms[key] = edges;
    }
    const items = body.items.map((it, k) => parseItem(it, k, histograms));
    if (new Set(items.map((i) => i.recordId)).size !== items.length) throw new ValidationError('a record id appears twice in the batch', 'items');
    const plain = unseal(encryptionKey, str(body.sealed, 'sealed', 64 * 1024 * 1024), shareBatchAad(id, dealing, items.map((i) => i.recordId)));
    const expected = items.reduce((acc, it) => acc + elementsPerItem(it, histograms), 0);
    if (plain.length !== expected * ELEMENT_BYTES) throw new ValidationError(`sealed shares hold ${plain.length / ELEMENT_BYTES} elements, expected ${expected}`, 'sealed');
    const elements = unpackElements(plain);
    plain.fill(0);
    let pos = 0;
    const rows: ShareRow[] = items.map((it) => {
      const share = elements[pos++] as bigint;
      const square = elements[pos++] as bigint;
      let hist: ShareRow['hist'] = null;
      if (it.hist !== null) {
        const size = elementsPerItem(it, histograms) - 2;
        hist = { key: it.hist, shares: elements.slice(pos, pos + size) };
        pos += size;
      }
      return { ...it, share, square, hist };
    });
    const used: Record<string, number[]> = {};
    for (const it of items) if (it.hist !== null) used[it.hist] = histograms[it.hist] as number[];
    const result = await storeShareRows(db, dealing, rows, used);
    res.json({ node: id, ...result });
  });

  app.post('/aggregate/linear', gatewayOnly, async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const queryId = parseQueryId(body.queryId);
    const filter = parseFilter(body);
    const measures = body.measures;
    if (!Array.isArray(measures) || measures.length === 0 || measures.some((m) => !MEASURES.includes(m as LinearMeasure))) {
      throw new ValidationError(`measures must be a non-empty list of ${MEASURES.join(', ')}`, 'measures');
    }
    const rawNoise = (body.noise ?? null) as LinearRequest['noise'];
    let noise: NoiseByMeasure<LinearMeasure> | null = null;
    let participants: number[] = [];
    if (rawNoise) {
      if (isSingleNoise(rawNoise)) {
        if (measures.length !== 1 || measures[0] === 'sumSquares') throw new ValidationError('noise applies to exactly one measure: count, sum or histogram', 'noise');
        noise = { [measures[0] as LinearMeasure]: parseNoiseSpec(rawNoise, 'noise') };
      } else {
        noise = parseNoiseMap(rawNoise, measures as string[], 'noise') as NoiseByMeasure<LinearMeasure>;
      }
      participants = parseParticipants(body.participants, n, id, t + 1);
    }
    inbox.start(queryId);
    try {
      const local = await linearAggregate(db, filter, measures.includes('sumSquares'));
      const hists = measures.includes('histogram') ? await histogramAggregate(db, filter) : undefined;
      const out: LinearResponse = { node: id, count: local.count, digest: local.digest, scale: local.scale, noised: false, peerBytesSent: 0 };
      if (measures.includes('sum')) out.sum = shareToHex(local.sum);
      if (measures.includes('sumSquares')) out.sumSquares = shareToHex(local.sumSquares);
      if (hists) out.histograms = hists.map((h) => ({ key: h.key, edges: h.edges, count: h.count, buckets: h.buckets.map(shareToHex) }));

      if (noise) {
        // The opened elements of every noised measure, each with its fixed-point scale.
        const scale = local.scale ?? 0;
        const elements: NoisyElement[] = [];
        if (noise.count) elements.push({ value: mod(BigInt(local.count)), spec: noise.count, scale: 0 }); // a public constant is a valid (degree-0) sharing
        if (noise.sum) elements.push({ value: local.sum, spec: noise.sum, scale });
        if (noise.sumSquares) elements.push({ value: local.sumSquares, spec: noise.sumSquares, scale: 2 * scale });
        if (noise.histogram) for (const h of hists ?? []) for (const b of h.buckets) elements.push({ value: b, spec: noise.histogram, scale: 0 });
        const { values, bytes } = await addDistributedNoise(queryId, participants, elements);
        out.peerBytesSent = bytes;
        out.noised = true;
        let pos = 0;
        if (noise.count) out.countShare = shareToHex(values[pos++] as bigint);
        if (noise.sum) out.sum = shareToHex(values[pos++] as bigint);
        if (noise.sumSquares) out.sumSquares = shareToHex(values[pos++] as bigint);
        if (noise.histogram) for (const h of out.histograms ?? []) h.buckets = h.buckets.map(() => shareToHex(values[pos++] as bigint));
      }
      res.json(out);
    } catch (err) {
      inbox.discard(queryId);
      throw err;
    }
  });

  app.post('/aggregate/product', gatewayOnly, async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const queryId = parseQueryId(body.queryId);
    const filter = parseFilter(body);
    const indicator2 = str(body.indicator2, 'indicator2');
    const windowSeconds = body.windowSeconds;
    if (typeof windowSeconds !== 'number' || !Number.isFinite(windowSeconds) || windowSeconds < 0 || windowSeconds > 366 * 86400) {
      throw new ValidationError('windowSeconds must be a number of seconds in [0, 1 year]', 'windowSeconds');
    }
    const participants = parseParticipants(body.participants, n, id, 2 * t + 1);
    const noise = body.noise ? (parseNoiseMap(body.noise, PRODUCT_MEASURES, 'noise') as NoiseByMeasure<ProductMeasure>) : null;
    inbox.start(queryId);
    try {
      const local = await pairAggregate(db, filter, indicator2, windowSeconds);
      // 1. Re-randomise the degree-2t share of Σxy with a joint random sharing of zero.
      const zero = zeroSharing(n, 2 * t);
      const r1 = await exchange(queryId, 'zero', participants, (j) => [zero[j - 1] as bigint]);
      const zeros = [zero[id - 1] as bigint, ...[...r1.received.values()].map((v) => v[0] as bigint)];
      const zPrime = rerandomise(local.sumXY2t, jointZeroShare(zeros));
      // 2. Degree reduction: reshare z' with degree t, combine the sub-shares received with Lagrange at 0.
      const sub = reshare(zPrime, n, t);
      const r2 = await exchange(queryId, 'reshare', participants, (j) => [sub[j - 1] as bigint]);
      const w = combineReshares(
        participants.map((j) => (j === id ? (sub[id - 1] as bigint) : ((r2.received.get(j) as bigint[])[0] as bigint))),
        participants,
      );
      const out: ProductResponse = {
        node: id,
        pairs: local.pairs,
        digest: local.digest,
        scaleX: local.scaleX,
        scaleY: local.scaleY,
        sumX: shareToHex(local.sumX),
        sumY: shareToHex(local.sumY),
        sumXX: shareToHex(local.sumXX),
        sumYY: shareToHex(local.sumYY),
        sumXY: shareToHex(w),
        peerBytesSent: r1.bytes + r2.bytes,
      };
      if (noise) {
        // 4. Noise, added to the degree-t shares (after the degree reduction, before opening).
        const sx = local.scaleX ?? 0;
        const sy = local.scaleY ?? 0;
        const plan: Array<[ProductMeasure, bigint, number]> = [
          ['count', mod(BigInt(local.pairs)), 0],
          ['sumX', local.sumX, sx],
          ['sumY', local.sumY, sy],
          ['sumXX', local.sumXX, 2 * sx],
          ['sumYY', local.sumYY, 2 * sy],
          ['sumXY', w, sx + sy],
        ];
        const chosen = plan.filter(([m]) => noise[m]);
        const { values, bytes } = await addDistributedNoise(
          queryId,
          participants,
          chosen.map(([m, value, scale]) => ({ value, spec: noise[m] as NoiseSpec, scale })),
        );
        chosen.forEach(([m], k) => {
          const hex = shareToHex(values[k] as bigint);
          if (m === 'count') out.pairsShare = hex;
          else out[m] = hex;
        });
        out.noised = true;
        out.peerBytesSent += bytes;
      }
      res.json(out);
    } catch (err) {
      inbox.discard(queryId);
      throw err;
    }
  });

  app.post('/mpc/message', peersOnly, (req, res) => {
    const body = (req.body ?? {}) as Partial<PeerMessage>;
    const from = nodeIdOfParty(res.locals.party as string) as number;
    const queryId = parseQueryId(body.queryId);
    if (body.round !== 'zero' && body.round !== 'reshare' && body.round !== 'noise') throw new ValidationError('round must be zero, reshare or noise', 'round');
    if (!Array.isArray(body.values) || body.values.length > 100_000) throw new ValidationError('values must be an array of shares', 'values');
    const values = body.values.map((v) => shareFromHex(v));
    inbox.deliver(queryId, body.round, from, values);
    res.json({ ok: true });
  });

  app.use((req, res) => {
    res.status(404).json({ error: 'not_found', message: `no route for ${req.method} ${req.path}` });
  });
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const e = err as { type?: string; status?: number; name?: string; code?: string };
    if (err instanceof HgdError) {
      if (err.status >= 500) log('error', 'request failed', { error: err.code, message: err.message });
      res.status(err.status).json({ error: err.code, message: err.message, ...(err instanceof ValidationError && err.field ? { field: err.field } : {}) });
    } else if (e?.type === 'entity.too.large') {
      res.status(413).json({ error: 'body_too_large', message: 'request body exceeds the limit' });
    } else {
      // Never log the message: database errors can quote input (shares).
      log('error', 'internal error', { error: e?.name ?? 'Error', code: typeof e?.code === 'string' ? e.code : undefined });
      res.status(500).json({ error: 'internal', message: 'internal error' });
    }
  });

  const server: Server = app.listen(opts.port ?? (Number(new URL(config.nodes.urls[id - 1] as string).port) || config.nodes.basePort + id - 1), opts.host ?? config.host);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
  } catch (err) {
    if (ownDb) await db.close();
    throw err;
  }
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const host = opts.host ?? config.host;
  const nodeUrl = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  log('info', 'compute node listening', { url: nodeUrl, database: db.kind });

  let closed = false;
  return {
    id,
    party,
    url: nodeUrl,
    db,
    setPeerUrls(urls: string[]) {
      peerUrls = [...urls];
    },
    async close() {
      if (closed) return;
      closed = true;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      if (ownDb) await db.close();
    },
  };
}
