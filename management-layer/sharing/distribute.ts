/**
 * The gateway side of secret sharing: turns normalised values into Shamir shares, seals each node's
 * shares to that node's X25519 key and delivers them with signed requests (POST /shares).
 *
 * What is shared per record (all degree t, n = config.nodes.count):
 *   x        the value in fixed point, round(v·10^scale)                      (sum, mean)
 *   x²       its square, at scale 2·scale (known to the gateway at ingest)     (variance, stddev)
 * Histograms compare x with their edges at query time (usage-layer/coordinator/edge-histogram.ts), and
 * cross-indicator products (covariance, correlation) are not precomputable per record: they use the
 * product protocol (mpc/products.ts, mpc/rounds.ts) at query time.
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
 * Wire format (POST /shares, JSON, signed as gateway): parties/wire.ts ShareBatch, whose shares are
 * sealed to the node inside it (so the outbox holds no share in clear); on the wire the whole body,
 * record metadata included, is sealed to the node once more by the transport (parties/client.ts,
 * parties/sealed-body.ts). One envelope per batch instead of per item: one seal costs about 0.1–0.3 ms
 * (ephemeral X25519 key, agreement, HKDF) whatever its size, so sealing per record would cost 0.3–1 ms per
 * record for three nodes, far more than the sharing; a 2000-record envelope (480 kB) costs under 1 ms.
 */
import type { Config } from '../../config';
import { mod } from '../../mpc/field';
import { toFixed } from '../../mpc/fixed-point';
import type { RandomSource } from '../../mpc/random';
import { shareMany } from '../../mpc/shamir';
import { fetchSigned } from '../../parties/client';
import { gatewayIdentity, KeyDirectory, nodeParty } from '../../parties/key-directory';
import { sealShareBatch, shareBatchBodies } from '../../parties/share-batch';
import type { ShareBatch, ShareBatchItem, ShareBatchReceipt } from '../../parties/wire';
import { ValidationError } from '../../storage-layer/errors';
import type { SigningKey } from '../../storage-layer/signing-key';

export type { ShareBatch, ShareBatchItem, ShareBatchReceipt } from '../../parties/wire';

export interface ShareableValue {
  recordId: string;
  pseudonym: string;
  indicator: string;
  effectiveStart: string;
  effectiveEnd: string | null;
  value: number;
  scale: number;
  /** `patient` for a patient-reported record (the nodes may then leave it out); absent = a provider's. */
  source?: 'patient';
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

function checkValues(values: readonly ShareableValue[]): void {
  const seen = new Set<string>();
  values.forEach((v, k) => {
    checkValue(v, k);
    if (seen.has(v.recordId)) throw new ValidationError(`record ${v.recordId} appears twice in one distribution`, 'recordId');
    seen.add(v.recordId);
  });
}

/** One chunk dealt: the items' metadata and every node's shares (perNode[i] for node i + 1). */
export interface DealtChunk {
  items: ShareBatchItem[];
  perNode: bigint[][];
}

/**
 * The secrets of each record (x, x²) shared with degree t; the plaintext is wiped. `rng` is for
 * replayable tests and the fixed vectors (test/vectors/share-batch.json) only.
 */
export function dealChunk(chunk: readonly ShareableValue[], n: number, t: number, rng?: RandomSource): DealtChunk {
  const items: ShareBatchItem[] = [];
  const secrets: bigint[] = [];
  for (const v of chunk) {
    const fixed = toFixed(v.value, v.scale);
    secrets.push(mod(fixed), mod(fixed * fixed));
    items.push({ recordId: v.recordId, pseudonym: v.pseudonym, indicator: v.indicator, effectiveStart: v.effectiveStart, effectiveEnd: v.effectiveEnd, scale: v.scale, ...(v.source ? { source: v.source } : {}) });
  }
  const perNode = shareMany(secrets, n, t, undefined, rng);
  secrets.fill(0n);
  return { items, perNode };
}

export function createShareDistributor(config: Config, gatewaySigningKey: SigningKey, opts: DistributorOptions = {}): ShareDistributor {
  const { count: n, threshold: t, urls, keysDir } = config.nodes;
  const batchSize = opts.batchSize ?? 2000;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const self = gatewayIdentity(keysDir, gatewaySigningKey, config.nodes.gatewayEncryptionKeyFile);
  const directory = new KeyDirectory(keysDir);
  const nodeIds = Array.from({ length: n }, (_, i) => i + 1);

  async function post(node: number, body: string): Promise<ShareBatchReceipt> {
    const res = await fetchSigned<ShareBatchReceipt>(urls[node - 1] as string, '/shares', { self, recipient: nodeParty(node), keys: directory, body, timeoutMs });
    return res.body;
  }

  /** Delivery state of one distribute() call across its chunks. */
  interface Progress {
    dealing: string;
    failed: Map<number, string>;
    noKey: Set<number>;
    pending: PendingDelivery[];
    receipts: ShareBatchReceipt[];
  }

  /** Seals node `node`'s shares of a chunk to its key and posts them (or keeps the envelope pending). */
  async function deliverToNode(node: number, dealt: DealtChunk, bodyOf: (batch: ShareBatch) => string, p: Progress): Promise<void> {
    const shares = dealt.perNode[node - 1] as bigint[];
    const key = directory.encryptionKey(nodeParty(node));
    if (!key) {
      p.failed.set(node, p.failed.get(node) ?? `${nodeParty(node)} has not published an encryption key in ${keysDir}`);
      p.noKey.add(node);
      shares.fill(0n);
      return;
    }
    const batch = sealShareBatch(node, { dealing: p.dealing, items: dealt.items }, shares, key);
    shares.fill(0n); // the gateway keeps no share once sealed
    const body = bodyOf(batch);
    const pending = { node, dealing: p.dealing, records: dealt.items.length, body };
    if (p.failed.has(node)) {
      p.pending.push(pending);
      return;
    }
    try {
      p.receipts.push(await post(node, body));
    } catch (err) {
      p.failed.set(node, (err as Error).message);
      p.pending.push(pending);
    }
  }

  async function distribute(values: ShareableValue[]): Promise<DistributionResult> {
    checkValues(values);
    const p: Progress = { dealing: nextDealing(), failed: new Map(), noKey: new Set(), pending: [], receipts: [] };
    for (let start = 0; start < values.length; start += batchSize) {
      const dealt = dealChunk(values.slice(start, start + batchSize), n, t);
      const bodyOf = shareBatchBodies({ dealing: p.dealing, items: dealt.items });
      await Promise.all(nodeIds.map((node) => deliverToNode(node, dealt, bodyOf, p)));
    }
    return {
      dealing: p.dealing,
      records: values.length,
      delivered: nodeIds.filter((id) => !p.failed.has(id)),
      failed: [...p.failed].map(([node, error]) => ({ node, error })).sort((a, b) => a.node - b.node),
      pending: p.pending.sort((a, b) => a.node - b.node),
      needsRedistribute: [...p.noKey].sort((a, b) => a - b),
      receipts: p.receipts,
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
