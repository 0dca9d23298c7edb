/**
 * What a compute node does, without HTTP: store the share batches the dealer sealed to it, answer
 * linear aggregates (sums in SQL, optionally a noise round) and run the product protocol (zero and
 * reshare rounds, optionally a noise round) with its peers, filtered aggregates (comparisons and
 * products, filtered.ts), clamped ones (clamped.ts) and histograms (comparisons, histogram.ts). The
 * rounds are mpc/rounds.ts step
 * functions run by parties/round-runner.ts; every round message is sealed to its recipient
 * (parties/round-message.ts). A query id runs once at a node: it is recorded in the node's database
 * before the query runs (query-ids.ts), so it stays used across restarts. The node's routes
 * (routes.ts) only parse and call this.
 */
import type { KeyObject } from 'node:crypto';
import { shareToHex } from '../../mpc/codec';
import { measureScale, type LinearMeasure, type Measure, type ProductMeasure } from '../../mpc/aggregates';
import { centreSum, centreSumOfProducts, centreSumOfSquares } from '../../mpc/centre';
import { mod } from '../../mpc/field';
import { toFixed } from '../../mpc/fixed-point';
import { noiseRound, reshareRound, zeroRound, type NoiseElement, type RoundContext } from '../../mpc/rounds';
import { PeerKeyError } from '../../parties/errors';
import type { MpcInbox } from '../../parties/inbox';
import { nodeParty, type EncryptionKey } from '../../parties/key-directory';
import { openRoundMessage, sealRoundMessage } from '../../parties/round-message';
import { runRounds, type RoundTransport } from '../../parties/round-runner';
import { openShareBatch } from '../../parties/share-batch';
import { elementsPerItem, type ClampedRequest, type ClampedResponse, type FilteredRequest, type FilteredResponse, type HistogramRequest, type HistogramResponse, type LinearRequest, type LinearResponse, type NoiseByMeasure, type PeerMessage, type ProductRequest, type ProductResponse, type ShareBatch, type ShareBatchReceipt } from '../../parties/wire';
import type { Database } from '../../storage-layer/db';
import { clampedMeasures } from './clamped';
import { filteredMeasures } from './filtered';
import { histogramBuckets } from './histogram';
import { claimQueryId, type QueryKind } from './query-ids';
import { linearAggregate, pairAggregate, storeShareRows, type LinearLocal, type PairLocal, type ShareRow } from './store';

export interface ComputeNodeServiceDeps {
  id: number;
  /** Number of nodes and sharing degree. */
  n: number;
  t: number;
  db: Database;
  encryptionKey: EncryptionKey;
  inbox: MpcInbox;
  /** A peer node's X25519 public key (round messages are sealed to it); undefined when unknown. */
  peerEncryptionKey(node: number): KeyObject | undefined;
  /** Sends one round message to a peer node; resolves with the bytes sent. */
  sendToPeer(to: number, msg: PeerMessage): Promise<number>;
  /** How long a round waits for its peers' messages. */
  peerTimeoutMs: number;
}

/** One opened element of a response, with what it needs to be noised. */
interface Element {
  measure: Measure;
  value: bigint;
  scale: number;
}

export class ComputeNodeService {
  constructor(private readonly deps: ComputeNodeServiceDeps) {}

  /** Opens the batch's envelope and stores its shares (idempotent per record and dealing). */
  async storeShares(batch: ShareBatch): Promise<ShareBatchReceipt> {
    const { id, encryptionKey, db } = this.deps;
    const rows = this.shareRows(batch, openShareBatch(encryptionKey, id, batch));
    return { node: id, ...(await storeShareRows(db, batch.dealing, rows)) };
  }

  /**
   * x and x² of every item. A batch dealt before histograms ran on comparisons (a pending delivery)
   * may also carry one-hot entries after them (wire.ts elementsPerItem): skipped, as nothing reads them.
   */
  private shareRows(batch: ShareBatch, elements: bigint[]): ShareRow[] {
    let pos = 0;
    return batch.items.map((it) => {
      const share = elements[pos] as bigint;
      const square = elements[pos + 1] as bigint;
      pos += elementsPerItem(it, batch.histograms);
      const { hist: _, ...meta } = it;
      return { ...meta, share, square };
    });
  }

  /** Σ shares in SQL; with noise, one noise round among the participants before answering. */
  async linear(req: LinearRequest): Promise<LinearResponse> {
    return this.once(req.queryId, 'linear', async () => {
      const local = await linearAggregate(this.deps.db, req, req.measures.includes('sumSquares'));
      const elements = linearElements(req, local);
      const noised = req.noise ? await this.noise(req.queryId, req.participants as number[], req.noise, elements) : { values: elements.map((e) => e.value), bytes: 0 };
      return linearResponse(this.deps.id, req, local, elements, noised);
    });
  }

  /** The product protocol for Σxy (zero and reshare rounds), then the optional noise round. */
  async product(req: ProductRequest): Promise<ProductResponse> {
    return this.once(req.queryId, 'product', async () => {
      const local = await pairAggregate(this.deps.db, req, req.indicator2, req.windowSeconds);
      const reduced = await runRounds([zeroRound(), reshareRound()], [local.sumXY2t], this.context(req.participants), this.transport(req.queryId));
      const sx = local.scaleX ?? 0;
      const sy = local.scaleY ?? 0;
      const byMeasure = productMeasures(local, reduced.values[0] as bigint, req.centre ? { x: toFixed(req.centre.x, sx), y: toFixed(req.centre.y ?? 0, sy) } : null);
      const wanted: ProductMeasure[] = req.noise?.count ? ['count', ...req.measures] : req.measures;
      const elements = wanted.map((m) => ({ measure: m, value: byMeasure[m], scale: measureScale(m, sx, sy) }));
      const noised = req.noise ? await this.noise(req.queryId, req.participants, req.noise, elements) : { values: elements.map((e) => e.value), bytes: 0 };
      const out: ProductResponse = { node: this.deps.id, pairs: local.pairs, digest: local.digest, scaleX: local.scaleX, scaleY: local.scaleY, peerBytesSent: reduced.bytes + noised.bytes };
      elements.forEach((e, k) => {
        const hex = shareToHex(noised.values[k] as bigint);
        if (e.measure === 'count') out.pairsShare = hex;
        else out[e.measure] = hex;
      });
      if (req.noise) out.noised = true;
      return out;
    });
  }

  /** A filtered linear kind: comparisons on the cohort's latest values, the filter tree, Σ b·x; then noise. */
  async filtered(req: FilteredRequest): Promise<FilteredResponse> {
    return this.once(req.queryId, 'filtered', async () => {
      const { encryptionKey, db } = this.deps;
      const r = await filteredMeasures({ db, encryptionKey, ctx: this.context(req.participants), transport: this.transport(req.queryId) }, req);
      const scale = r.local.scale ?? 0;
      // The filtered count is known to no one: it leaves only noised, or in a query without noise.
      const withCount = !req.noise || Boolean(req.noise.count);
      const elements: Element[] = [
        ...(withCount ? [{ measure: 'count' as const, value: r.count, scale: 0 }] : []),
        ...req.measures.map((m) => ({ measure: m, value: m === 'sumSquares' ? r.sumSquares : r.sum, scale: measureScale(m, scale) })),
      ];
      const noised = req.noise ? await this.noise(req.queryId, req.participants, req.noise, elements) : { values: elements.map((e) => e.value), bytes: 0 };
      const out: FilteredResponse = { node: this.deps.id, records: r.local.records, digest: r.local.digest, scale: r.local.scale, noised: Boolean(req.noise), peerBytesSent: r.bytes + noised.bytes };
      elements.forEach((e, k) => {
        const hex = shareToHex(noised.values[k] as bigint);
        if (e.measure === 'count') out.countShare = hex;
        else if (e.measure === 'sum' || e.measure === 'sumSquares') out[e.measure] = hex;
      });
      return out;
    });
  }

  /** A histogram: one comparison a patient and edge, the buckets by differences; then noise on every bucket. */
  async histogram(req: HistogramRequest): Promise<HistogramResponse> {
    return this.once(req.queryId, 'histogram', async () => {
      const { encryptionKey, db } = this.deps;
      const r = await histogramBuckets({ db, encryptionKey, ctx: this.context(req.participants), transport: this.transport(req.queryId) }, req);
      const elements: Element[] = r.buckets.map((value) => ({ measure: 'histogram', value, scale: 0 }));
      const noised = req.noise ? await this.noise(req.queryId, req.participants, req.noise, elements) : { values: r.buckets, bytes: 0 };
      return { node: this.deps.id, records: r.records, digest: r.digest, buckets: noised.values.map(shareToHex), noised: Boolean(req.noise), peerBytesSent: r.bytes + noised.bytes };
    });
  }

  /** A clamped kind: two comparisons a value, the clamp's products, the measures; then noise. */
  async clamped(req: ClampedRequest): Promise<ClampedResponse> {
    return this.once(req.queryId, 'clamped', async () => {
      const { encryptionKey, db } = this.deps;
      const r = await clampedMeasures({ db, encryptionKey, ctx: this.context(req.participants), transport: this.transport(req.queryId) }, req);
      const [sx, sy] = [req.clamp.x.domain.scale, req.clamp.y?.domain.scale ?? 0];
      // The count is public to the nodes: it leaves only noised, or in a query without noise.
      const wanted: Measure[] = !req.noise || req.noise.count ? ['count', ...req.measures] : req.measures;
      const elements: Element[] = wanted.map((m) => ({ measure: m, value: r.measures[m] ?? 0n, scale: measureScale(m, sx, sy) }));
      const noised = req.noise ? await this.noise(req.queryId, req.participants, req.noise, elements) : { values: elements.map((e) => e.value), bytes: 0 };
      const shares = Object.fromEntries(elements.map((e, k) => [e.measure, shareToHex(noised.values[k] as bigint)]));
      return { node: this.deps.id, records: r.records, digest: r.digest, scaleX: sx, scaleY: req.clamp.y ? sy : null, shares, noised: Boolean(req.noise), peerBytesSent: r.bytes + noised.bytes };
    });
  }

  /** A peer's sealed round message for a query (it may arrive before this node starts the query). */
  deliver(from: number, msg: PeerMessage): void {
    this.deps.inbox.deliver(msg.queryId, msg.round, from, openRoundMessage(this.deps.encryptionKey, from, this.deps.id, msg));
  }

  /** Runs a query id once at this node (recorded before it runs); on failure its buffered messages are dropped. */
  private async once<T>(queryId: string, kind: QueryKind, run: () => Promise<T>): Promise<T> {
    await claimQueryId(this.deps.db, queryId, kind);
    try {
      return await run();
    } catch (err) {
      this.deps.inbox.discard(queryId);
      throw err;
    }
  }

  /** Noises the elements whose measure has a spec; the others pass through unchanged. */
  private async noise(queryId: string, participants: number[], specs: NoiseByMeasure<Measure>, elements: Element[]): Promise<{ values: bigint[]; bytes: number }> {
    const chosen = elements.map((e, k) => ({ e, k, spec: specs[e.measure] })).filter((c) => c.spec !== undefined);
    const noise: NoiseElement[] = chosen.map((c) => ({ epsilon: c.spec!.epsilon, sensitivity: c.spec!.sensitivity, scale: c.e.scale }));
    const r = await runRounds([noiseRound(noise)], chosen.map((c) => c.e.value), this.context(participants), this.transport(queryId));
    const values = elements.map((e) => e.value);
    chosen.forEach((c, l) => { values[c.k] = r.values[l] as bigint; });
    return { values, bytes: r.bytes };
  }

  private context(participants: readonly number[]): RoundContext {
    return { self: this.deps.id, participants, n: this.deps.n, t: this.deps.t };
  }

  private peerKey(node: number): KeyObject {
    const key = this.deps.peerEncryptionKey(node);
    if (!key) throw new PeerKeyError(`${nodeParty(node)} has published no encryption key: round messages to it cannot be sealed`);
    return key;
  }

  private transport(queryId: string): RoundTransport {
    const from = this.deps.id;
    return {
      send: (to, round, values) => this.deps.sendToPeer(to, sealRoundMessage(this.peerKey(to), { from, to, queryId, round }, values)),
      collect: (round, from) => this.deps.inbox.collect(queryId, round, from, this.deps.peerTimeoutMs),
    };
  }
}

/** The product kinds' sums over the pairs, centred when the request gives a centre (mpc/centre.ts). */
function productMeasures(local: PairLocal, sumXY: bigint, c: { x: bigint; y: bigint } | null): Record<ProductMeasure, bigint> {
  const count = mod(BigInt(local.pairs));
  if (!c) return { count, sumX: local.sumX, sumY: local.sumY, sumXX: local.sumXX, sumYY: local.sumYY, sumXY };
  return {
    count,
    sumX: centreSum(local.sumX, local.pairs, c.x),
    sumY: centreSum(local.sumY, local.pairs, c.y),
    sumXX: centreSumOfSquares(local.sumXX, local.sumX, local.pairs, c.x),
    sumYY: centreSumOfSquares(local.sumYY, local.sumY, local.pairs, c.y),
    sumXY: centreSumOfProducts(sumXY, local.sumX, local.sumY, local.pairs, c.x, c.y),
  };
}

/** The opened elements of a linear answer, in a fixed order: count, sum, Σx². */
function linearElements(req: LinearRequest, local: LinearLocal): Element[] {
  const scale = local.scale ?? 0;
  const has = (m: LinearMeasure) => req.measures.includes(m);
  const c = req.centre ? toFixed(req.centre.x, scale) : null;
  const sum = c === null ? local.sum : centreSum(local.sum, local.count, c);
  const sumSquares = c === null ? local.sumSquares : centreSumOfSquares(local.sumSquares, local.sum, local.count, c);
  const out: Element[] = [];
  if (has('count') && req.noise?.count) out.push({ measure: 'count', value: mod(BigInt(local.count)), scale: 0 }); // a public constant is a valid (degree-0) sharing
  if (has('sum')) out.push({ measure: 'sum', value: sum, scale: measureScale('sum', scale) });
  if (has('sumSquares')) out.push({ measure: 'sumSquares', value: sumSquares, scale: measureScale('sumSquares', scale) });
  return out;
}

function linearResponse(
  node: number, req: LinearRequest, local: LinearLocal, elements: Element[], noised: { values: bigint[]; bytes: number },
): LinearResponse {
  const out: LinearResponse = { node, count: local.count, digest: local.digest, scale: local.scale, noised: Boolean(req.noise), peerBytesSent: noised.bytes };
  const hex = noised.values.map(shareToHex);
  let pos = 0;
  for (const e of elements) {
    if (e.measure === 'count') out.countShare = hex[pos++];
    else if (e.measure === 'sum') out.sum = hex[pos++];
    else if (e.measure === 'sumSquares') out.sumSquares = hex[pos++];
  }
  return out;
}
