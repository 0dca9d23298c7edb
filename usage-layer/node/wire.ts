/**
 * Wire formats between the coordinator and the compute nodes, and between nodes (all JSON, all signed).
 * Field elements travel as 32 lower-case hex characters (encoding.ts shareToHex). Every share a node
 * returns is a degree-t Shamir share; degree-2t product shares never leave a node except inside a fresh
 * degree-t resharing.
 *
 *   GET  /health                 any party → { node, status: 'ok' }
 *   POST /shares                 gateway   → ShareBatch (management-layer/sharing/distribute.ts) → ShareBatchReceipt
 *   POST /aggregate/linear       gateway   → LinearRequest → LinearResponse
 *   POST /aggregate/product      gateway   → ProductRequest → ProductResponse (runs the product protocol)
 *   POST /mpc/message            node-j    → PeerMessage → { ok: true }
 */

/** Record filter shared by every query. Times are instants; `to` is exclusive; null = unbounded. */
export interface RecordFilter {
  indicator: string;
  from: string | null;
  to: string | null;
  /** Pseudonyms to include (consent/cohort); null = everyone. */
  cohort: string[] | null;
}

export type LinearMeasure = 'sum' | 'sumSquares' | 'histogram' | 'count';

export interface NoiseSpec {
  epsilon: number;
  /** In natural units of the noised measure (e.g. max |value| for a sum, 1 for a count). */
  sensitivity: number;
}

/** Measures of the product protocol that can carry noise (`count` = the number of pairs). */
export type ProductMeasure = 'count' | 'sumX' | 'sumY' | 'sumXX' | 'sumYY' | 'sumXY';

/**
 * Per-measure noise: every listed measure gets its own discrete-Laplace noise, dealt in shares by every
 * participant. The node encodes the noise at the measure's fixed-point scale (count, histogram: 0; sum:
 * the data's scale; sumSquares: 2·scale; sumXY: scaleX + scaleY).
 */
export type NoiseByMeasure<M extends string> = Partial<Record<M, NoiseSpec>>;

/** True for the legacy single-measure form `{epsilon, sensitivity}`. */
export function isSingleNoise(x: unknown): x is NoiseSpec {
  return typeof x === 'object' && x !== null && typeof (x as NoiseSpec).epsilon === 'number';
}

export interface LinearRequest extends RecordFilter {
  /** Unique per query (single use at every node). */
  queryId: string;
  measures: LinearMeasure[];
  /**
   * Nodes taking part in the noise protocol (only with `noise`): each deals its own noise to all of them
   * and waits for theirs.
   */
  participants?: number[];
  /**
   * Distributed DP noise: either one spec for the single measure requested (legacy form), or one spec per
   * requested measure (only those listed are noised).
   */
  noise?: NoiseSpec | NoiseByMeasure<LinearMeasure> | null;
}

export interface HistogramShares {
  /** histogramKey(edges). */
  key: string;
  edges: number[];
  /** Records with this histogram layout (known to the node). */
  count: number;
  /** One share per one-hot entry: [below e_0, buckets…, above e_B]. */
  buckets: string[];
}

export interface LinearResponse {
  node: number;
  /** Matching records: every node holds a share of every record, so a node knows this count. */
  count: number;
  /** Σ hash(record_id, dealing) over the matching records: equal on nodes that hold the same dealings. */
  digest: string;
  /** Fixed-point scale of `sum` (sumSquares: 2·scale); null when nothing matched. */
  scale: number | null;
  sum?: string;
  sumSquares?: string;
  /** Share of count + noise (only with noise on 'count'). */
  countShare?: string;
  histograms?: HistogramShares[];
  /** True when the shares include every participant's noise. */
  noised: boolean;
  /** Bytes this node sent to peers for this query. */
  peerBytesSent: number;
}

export interface ProductRequest extends RecordFilter {
  queryId: string;
  indicator2: string;
  /** A record of `indicator` pairs with the nearest record of `indicator2` of the same pseudonym within ± this. */
  windowSeconds: number;
  /** Nodes running the protocol: at least 2t + 1. */
  participants: number[];
  /** Distributed DP noise per measure, added in shares after the degree reduction, before opening. */
  noise?: NoiseByMeasure<ProductMeasure> | null;
}

export interface ProductResponse {
  node: number;
  /** Number of matched pairs. */
  pairs: number;
  digest: string;
  scaleX: number | null;
  scaleY: number | null;
  /** Degree-t shares of Σx, Σy, Σx², Σy² over the pairs (linear, from the ingest shares). */
  sumX: string;
  sumY: string;
  sumXX: string;
  sumYY: string;
  /** Degree-t share of Σx·y after re-randomisation and degree reduction. */
  sumXY: string;
  /** Share of pairs + noise (only with noise on 'count'). */
  pairsShare?: string;
  /** True when the listed measures include every participant's noise. */
  noised?: boolean;
  peerBytesSent: number;
}

export type PeerRound = 'zero' | 'reshare' | 'noise';

export interface PeerMessage {
  queryId: string;
  round: PeerRound;
  /** Sub-shares for the receiving node, hex. */
  values: string[];
}
