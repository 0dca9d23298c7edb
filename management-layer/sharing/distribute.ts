/**
 * The gateway side of secret sharing: turns normalised values into Shamir shares, seals each node's
 * shares to that node's X25519 key and delivers them with signed requests (POST /shares).
 *
 * What is shared per record (all degree t, n = config.nodes.count):
 *   x        the value in fixed point, round(v·10^scale)                      (sum, mean)
 *   x²       its square, at scale 2·scale (known to the gateway at ingest)     (variance, stddev)
 *   onehot   a one-hot vector over the histogram buckets, when edges are given (histogram)
 * With edges e_0 < … < e_B the vector has B + 2 entries: [below e_0, [e_0,e_1), …, [e_{B−1},e_B], above e_B].
 * Nodes cannot compare shares, so the gateway (which sees the plaintext at ingest anyway) does the
 * bucketing and a histogram becomes a linear sum. Cross-indicator products (covariance, correlation) are
 * not precomputable per record and use the product protocol (usage-layer/mpc/products.ts) at query time.
 *
 * Retry safety. Every distribute() call gets a new, strictly increasing `dealing` id. A node stores a
 * record once (record_id primary key) and replaces it only with a NEWER dealing, so:
 *   - re-delivering the same envelope (redeliver(), or a retried request) stores nothing twice;
 *   - calling distribute() again for the same records (fresh shares) supersedes the old dealing on
 *     every node it reaches, and an older dealing arriving late never overwrites a newer one.
 * Nodes report a digest over (record_id, dealing), so the coordinator never mixes shares of different
 * dealings. The gateway keeps no share: for a node that is down it returns the SEALED envelope (only that
 * node can open it) for the caller's outbox.
 *
 * Wire format (POST /shares, JSON, signed as 'gateway'), see ShareBatch: item metadata in clear, one
 * envelope per node per batch holding that node's shares of every item, each share 16 bytes big-endian,
 * item by item: x, x², then `buckets` one-hot entries. AAD = `hgd-shares|node-<i>|<dealing>|<sha256 of the
 * record ids joined by \n>`. One envelope per batch instead of per item: one seal costs about 0.1–0.3 ms
 * (ephemeral X25519 key, agreement, HKDF) whatever its size, so sealing per record would cost 0.3–1 ms per
 * record for three nodes, far more than the sharing; a 2000-record envelope (480 kB) costs under 1 ms.
 */
import type { Config } from '../../config';
import { ValidationError } from '../../storage-layer/errors';
import type { SigningKey } from '../../storage-layer/signing-key';
import { P, mod } from './field';
import { decode, toFixed } from './fixed-point';
import { KeyDirectory, nodeParty, publishPartyKeys } from './key-directory';
import { fetchSigned, sha256Hex } from './request-signing';
import { seal } from './sealing';
import { shareMany } from './shamir';

export interface ShareableValue {
  recordId: string;
  pseudonym: string;
  indicator: string;
  effectiveStart: string;
  effectiveEnd: string | null;
  value: number;
  scale: number;
  histogramEdges?: number[];
}

/** One record's metadata on the wire (no value, no provider, no unit). */
export interface ShareBatchItem {
  recordId: string;
  pseudonym: string;
  indicator: string;
  effectiveStart: string;
  effectiveEnd: string | null;
  scale: number;
  /** Key into ShareBatch.histograms, null when the record has no histogram vector. */
  hist: string | null;
}

/** Body of POST /shares. */
export interface ShareBatch {
  v: 1;
  /** Decimal string; larger = newer. */
  dealing: string;
  items: ShareBatchItem[];
  /** histogramKey(edges) → edges, for the keys the items use. */
  histograms: Record<string, number[]>;
  /** This node's shares of every item (see module comment). */
  sealed: string;
}

/** Answer of POST /shares. */
export interface ShareBatchReceipt {
  node: number;
  /** New records. */
  inserted: number;
  /** Records replaced by this newer dealing. */
  replaced: number;
  /** Records already stored with this or a newer dealing (a retry). */
  unchanged: number;
}

/** A sealed batch that could not be delivered; keep it in an outbox and pass it to redeliver(). */
export interface PendingDelivery {
  node: number;
  dealing: string;
  records: number;
  /** The exact JSON body (metadata + envelope only that node can open). */
  body: string;
}

export interface DistributionResult {
  dealing: string;
  records: number;
  /** Nodes that now hold shares of every record. */
  delivered: number[];
  /** Nodes that do not, with the reason. */
  failed: Array<{ node: number; error: string }>;
  /** Sealed envelopes for the failed nodes. */
  pending: PendingDelivery[];
  /**
   * Failed nodes for which no envelope could be sealed (no published key yet): distribute() the same
   * values again later (a newer dealing supersedes this one everywhere, which is safe).
   */
  needsRedistribute: number[];
  receipts: ShareBatchReceipt[];
}

export interface RedeliveryResult {
  delivered: ShareBatchReceipt[];
  failed: Array<{ node: number; error: string }>;
  /** What is still pending (the failed ones), to keep in the outbox. */
  pending: PendingDelivery[];
}

export interface ShareDistributor {
  distribute(values: ShareableValue[]): Promise<DistributionResult>;
  redeliver(pending: PendingDelivery[]): Promise<RedeliveryResult>;
}

export interface DistributorOptions {
  /** Records per request (default 2000). */
  batchSize?: number;
  timeoutMs?: number;
}

/** Bytes of one serialised field element in an envelope. */
export const ELEMENT_BYTES = 16;

/** Number of one-hot entries for `edges` (B + 2 for B buckets: underflow and overflow included). */
export function bucketCount(edges: readonly number[]): number {
  return edges.length + 1;
}

/** A short, stable key for a set of edges. */
export function histogramKey(edges: readonly number[]): string {
  return sha256Hex(JSON.stringify(edges)).slice(0, 16);
}

function checkEdges(edges: readonly number[]): void {
  if (!Array.isArray(edges) || edges.length < 2) throw new ValidationError('histogramEdges needs at least two edges', 'histogramEdges');
  for (let k = 0; k < edges.length; k++) {
    const e = edges[k];
    if (typeof e !== 'number' || !Number.isFinite(e) || (k > 0 && !(e > (edges[k - 1] as number)))) {
      throw new ValidationError('histogramEdges must be finite and strictly increasing', 'histogramEdges');
    }
  }
}

/**
 * Index of the one-hot entry for `value` rounded to `scale`: 0 below e_0, k for [e_{k−1}, e_k)
 * (the last interior bucket [e_{B−1}, e_B] is closed), B + 1 above e_B.
 */
export function bucketIndex(value: number, scale: number, edges: readonly number[]): number {
  const v = decode(mod(toFixed(value, scale)), scale);
  const last = edges.length - 1;
  if (v < (edges[0] as number)) return 0;
  if (v > (edges[last] as number)) return last + 1;
  if (v === edges[last]) return last;
  let lo = 0; // edges[lo] <= v
  let hi = last; // v < edges[hi]
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if ((edges[mid] as number) <= v) lo = mid;
    else hi = mid;
  }
  return lo + 1;
}

/** Field elements → 16 bytes each, big-endian. */
export function packElements(elements: readonly bigint[]): Buffer {
  const buf = Buffer.allocUnsafe(elements.length * ELEMENT_BYTES);
  const mask = (1n << 64n) - 1n;
  for (let k = 0; k < elements.length; k++) {
    const x = elements[k] as bigint;
    buf.writeBigUInt64BE(x >> 64n, k * ELEMENT_BYTES);
    buf.writeBigUInt64BE(x & mask, k * ELEMENT_BYTES + 8);
  }
  return buf;
}

/** The inverse of packElements; rejects a length that is not a multiple of 16 or an element ≥ P. */
export function unpackElements(buf: Buffer): bigint[] {
  if (buf.length % ELEMENT_BYTES !== 0) throw new ValidationError('sealed shares have a wrong length', 'sealed');
  const out = new Array<bigint>(buf.length / ELEMENT_BYTES);
  for (let k = 0; k < out.length; k++) {
    const x = (buf.readBigUInt64BE(k * ELEMENT_BYTES) << 64n) | buf.readBigUInt64BE(k * ELEMENT_BYTES + 8);
    if (x >= P) throw new ValidationError('a sealed share is not a field element', 'sealed');
    out[k] = x;
  }
  return out;
}

/** Associated data of a node's envelope. */
export function shareBatchAad(node: number, dealing: string, recordIds: readonly string[]): string {
  return `hgd-shares|${nodeParty(node)}|${dealing}|${sha256Hex(recordIds.join('\n'))}`;
}

/** Number of elements each item carries in the envelope (x, x², one-hot). */
export function elementsPerItem(item: ShareBatchItem, histograms: Record<string, number[]>): number {
  if (item.hist === null) return 2;
  const edges = histograms[item.hist];
  if (!edges) throw new ValidationError(`histogram ${item.hist} is not described in the batch`, 'histograms');
  return 2 + bucketCount(edges);
}

let lastDealing = 0;

/** Strictly increasing dealing ids (µs-ish resolution, safe integers). */
export function nextDealing(): string {
  lastDealing = Math.max(Date.now() * 1000, lastDealing + 1);
  return String(lastDealing);
}

function checkValue(v: ShareableValue, k: number): void {
  const str = (x: unknown) => typeof x === 'string' && x.length > 0 && x.length <= 200;
  if (!str(v.recordId)) throw new ValidationError(`values[${k}].recordId must be a non-empty string`, 'recordId');
  if (!str(v.pseudonym)) throw new ValidationError(`values[${k}].pseudonym must be a non-empty string`, 'pseudonym');
  if (!str(v.indicator)) throw new ValidationError(`values[${k}].indicator must be a non-empty string`, 'indicator');
  if (!str(v.effectiveStart) || Number.isNaN(Date.parse(v.effectiveStart))) throw new ValidationError(`values[${k}].effectiveStart must be an instant`, 'effectiveStart');
  if (v.effectiveEnd !== null && (!str(v.effectiveEnd) || Number.isNaN(Date.parse(v.effectiveEnd)))) {
    throw new ValidationError(`values[${k}].effectiveEnd must be an instant or null`, 'effectiveEnd');
  }
}

export function createShareDistributor(config: Config, gatewaySigningKey: SigningKey, opts: DistributorOptions = {}): ShareDistributor {
  const { count: n, threshold: t, urls, keysDir } = config.nodes;
  const batchSize = opts.batchSize ?? 2000;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  publishPartyKeys(keysDir, 'gateway', { sign: gatewaySigningKey.publicKeyBase64 });
  const directory = new KeyDirectory(keysDir);
  const nodeIds = Array.from({ length: n }, (_, i) => i + 1);

  async function post(node: number, body: string): Promise<ShareBatchReceipt> {
    const res = await fetchSigned<ShareBatchReceipt>(urls[node - 1] as string, '/shares', {
      key: gatewaySigningKey, party: 'gateway', body, timeoutMs,
      expectSigner: { party: nodeParty(node), publicKey: (p) => directory.signingKey(p) },
    });
    return res.body;
  }

  async function distribute(values: ShareableValue[]): Promise<DistributionResult> {
    const dealing = nextDealing();
    const seen = new Set<string>();
    values.forEach((v, k) => {
      checkValue(v, k);
      if (seen.has(v.recordId)) throw new ValidationError(`record ${v.recordId} appears twice in one distribution`, 'recordId');
      seen.add(v.recordId);
      if (v.histogramEdges) checkEdges(v.histogramEdges);
    });

    const failed = new Map<number, string>();
    const noKey = new Set<number>();
    const pending: PendingDelivery[] = [];
    const receipts: ShareBatchReceipt[] = [];

    for (let start = 0; start < values.length; start += batchSize) {
      const chunk = values.slice(start, start + batchSize);
      const histograms: Record<string, number[]> = {};
      const items: ShareBatchItem[] = [];
      const secrets: bigint[] = [];
      for (const v of chunk) {
        const fixed = toFixed(v.value, v.scale);
        secrets.push(mod(fixed), mod(fixed * fixed));
        let hist: string | null = null;
        if (v.histogramEdges) {
          hist = histogramKey(v.histogramEdges);
          histograms[hist] ??= [...v.histogramEdges];
          const idx = bucketIndex(v.value, v.scale, v.histogramEdges);
          const size = bucketCount(v.histogramEdges);
          for (let b = 0; b < size; b++) secrets.push(b === idx ? 1n : 0n);
        }
        items.push({
          recordId: v.recordId,
          pseudonym: v.pseudonym,
          indicator: v.indicator,
          effectiveStart: v.effectiveStart,
          effectiveEnd: v.effectiveEnd,
          scale: v.scale,
          hist,
        });
      }
      const perNode = shareMany(secrets, n, t);
      secrets.fill(0n);
      const recordIds = items.map((i) => i.recordId);

      await Promise.all(
        nodeIds.map(async (node) => {
          const shares = perNode[node - 1] as bigint[];
          const key = directory.encryptionKey(nodeParty(node));
          if (!key) {
            failed.set(node, failed.get(node) ?? `${nodeParty(node)} has not published an encryption key in ${keysDir}`);
            noKey.add(node);
            shares.fill(0n);
            return;
          }
          const batch: ShareBatch = { v: 1, dealing, items, histograms, sealed: seal(key, packElements(shares), shareBatchAad(node, dealing, recordIds)) };
          shares.fill(0n); // the gateway keeps no share once sealed
          const body = JSON.stringify(batch);
          if (failed.has(node)) {
            pending.push({ node, dealing, records: items.length, body });
            return;
          }
          try {
            receipts.push(await post(node, body));
          } catch (err) {
            failed.set(node, (err as Error).message);
            pending.push({ node, dealing, records: items.length, body });
          }
        }),
      );
    }

    return {
      dealing,
      records: values.length,
      delivered: nodeIds.filter((id) => !failed.has(id)),
      failed: [...failed].map(([node, error]) => ({ node, error })).sort((a, b) => a.node - b.node),
      pending: pending.sort((a, b) => a.node - b.node),
      needsRedistribute: [...noKey].sort((a, b) => a - b),
      receipts,
    };
  }

  async function redeliver(list: PendingDelivery[]): Promise<RedeliveryResult> {
    const delivered: ShareBatchReceipt[] = [];
    const failed = new Map<number, string>();
    const still: PendingDelivery[] = [];
    // One node at a time in order (batches of one node keep their order), nodes in parallel.
    const byNode = new Map<number, PendingDelivery[]>();
    for (const p of list) {
      if (!Number.isInteger(p.node) || p.node < 1 || p.node > n) throw new ValidationError(`pending delivery for unknown node ${p.node}`, 'node');
      byNode.set(p.node, [...(byNode.get(p.node) ?? []), p]);
    }
    await Promise.all(
      [...byNode].map(async ([node, deliveries]) => {
        for (const p of deliveries) {
          if (failed.has(node)) {
            still.push(p);
            continue;
          }
          try {
            delivered.push(await post(node, p.body));
          } catch (err) {
            failed.set(node, (err as Error).message);
            still.push(p);
          }
        }
      }),
    );
    return { delivered, failed: [...failed].map(([node, error]) => ({ node, error })), pending: still };
  }

  return { distribute, redeliver };
}
