/**
 * Wire formats between the gateway (dealer and coordinator) and the compute nodes, and between nodes
 * (all JSON, each body sealed to its recipient on the wire and signed, see sealed-body.ts and
 * request-signing.ts; the types below are the plaintexts). Field elements travel as 32 lower-case hex characters
 * (mpc/codec.ts shareToHex). Every share a node returns is a degree-t Shamir share; degree-2t product
 * shares never leave a node except inside a fresh degree-t resharing.
 *
 *   GET  /health                 any party → { node, status: 'ok' }
 *   POST /shares                 gateway   → ShareBatch → ShareBatchReceipt
 *   POST /aggregate/linear       gateway   → LinearRequest → LinearResponse
 *   POST /aggregate/product      gateway   → ProductRequest → ProductResponse (runs the product protocol)
 *   POST /aggregate/filtered     gateway   → FilteredRequest → FilteredResponse (comparisons, products)
 *   POST /aggregate/clamped      gateway   → ClampedRequest → ClampedResponse (comparisons, products)
 *   POST /mpc/message            node-j    → PeerMessage (sealed to the recipient) → { ok: true }
 */
import { createHash } from 'node:crypto';
import type { LinearMeasure, Measure, ProductMeasure } from '../mpc/aggregates';
import type { ClampBounds } from '../mpc/clamp';
import type { ValueDomain } from '../mpc/compare';
import type { FilterLeaf, FilterTree } from '../mpc/filters';
import { bucketCount } from '../mpc/histogram';
import type { RoundName } from '../mpc/rounds';
import { ValidationError } from '../storage-layer/errors';
import { nodeParty } from './key-directory';

// ---- share batches (dealer → node) ----------------------------------------------------------------

/** One record's metadata on the wire (no value, no provider, no unit). */
export interface ShareBatchItem {
  recordId: string;
  pseudonym: string;
  indicator: string;
  effectiveStart: string;
  effectiveEnd: string | null;
  scale: number;
  /**
   * Legacy (batches dealt before histograms ran on comparisons, which a gateway's outbox may still
   * hold): a key into ShareBatch.histograms when one-hot entries follow x and x². The dealer sends
   * neither now, and a node skips such entries.
   */
  hist?: string | null;
  /**
   * Who reported the record: `patient` for a patient's own device reading; absent = a provider's
   * record. Public metadata like the indicator, so a node can select on it (RecordFilter).
   */
  source?: 'patient';
}

/**
 * Body of POST /shares: item metadata (sealed on the wire with the whole body, but in clear in the
 * gateway's outbox), and one envelope (parties/sealing.ts, sealed to the node) holding that node's shares of every item, 16 bytes each (mpc/codec.ts packElements), item by
 * item: x and x² (and, in a legacy batch, one-hot entries when `hist` is set). AAD: shareBatchAad.
 */
export interface ShareBatch {
  v: 1;
  /** Decimal string; larger = newer. */
  dealing: string;
  items: ShareBatchItem[];
  /** Legacy: histogramKey(edges) → edges, for the `hist` keys of a batch dealt with one-hot entries. */
  histograms?: Record<string, number[]>;
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

/** Associated data of a node's envelope: binds it to the node, the dealing and the record ids. */
export function shareBatchAad(node: number, dealing: string, recordIds: readonly string[]): string {
  const digest = createHash('sha256').update(recordIds.join('\n')).digest('hex');
  return `hgd-shares|${nodeParty(node)}|${dealing}|${digest}`;
}

/** Number of elements each item carries in the envelope: x and x² (and a legacy batch's one-hot entries). */
export function elementsPerItem(item: ShareBatchItem, histograms: Record<string, number[]> = {}): number {
  if (item.hist === null || item.hist === undefined) return 2;
  const edges = histograms[item.hist];
  if (!edges) throw new ValidationError(`histogram ${item.hist} is not described in the batch`, 'histograms');
  return 2 + bucketCount(edges);
}

// ---- queries (coordinator → node) -----------------------------------------------------------------

/** Record filter shared by every query. Times are instants; `to` is exclusive; null = unbounded. */
export interface RecordFilter {
  indicator: string;
  from: string | null;
  to: string | null;
  /** Pseudonyms to include (consent/cohort); null = everyone. */
  cohort: string[] | null;
  /**
   * Contribution bound L: only each patient's latest L records (pairs) in the window count (ties: the
   * smaller record id); null = every record. Decided from metadata every node holds, so all agree.
   */
  perPatient?: number | null;
  /** Whether patient-reported records (ShareBatchItem.source) count; absent/false = provider records only. */
  includePatientReported?: boolean;
}

/** Public centre of a centred kind (natural units); the node computes Σ(x − c) etc. in shares. */
export interface CentreSpec {
  x: number;
  y?: number;
}

export interface NoiseSpec {
  epsilon: number;
  /** In natural units of the noised measure (e.g. max |value| for a sum, 1 for a count). */
  sensitivity: number;
}

/**
 * Per-measure noise: every listed measure gets its own discrete-Laplace noise, dealt in shares by every
 * participant, at the measure's fixed-point scale (mpc/aggregates.ts measureScale).
 */
export type NoiseByMeasure<M extends string> = Partial<Record<M, NoiseSpec>>;

export interface LinearRequest extends RecordFilter {
  /** Unique per query (single use at every node). */
  queryId: string;
  measures: LinearMeasure[];
  /** Nodes taking part in the noise round (only with `noise`). */
  participants?: number[];
  /** Distributed DP noise for the listed measures (only those are noised). */
  noise?: NoiseByMeasure<LinearMeasure> | null;
  /** Return sums over x − centre.x instead of x. */
  centre?: CentreSpec | null;
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
  /** The measures to return besides the pair count (mpc/aggregates.ts: the kind's measures). */
  measures: ProductMeasure[];
  /** Distributed DP noise per measure, added in shares after the degree reduction, before opening. */
  noise?: NoiseByMeasure<ProductMeasure> | null;
  /** Return sums over x − centre.x and y − centre.y. */
  centre?: CentreSpec | null;
}

export interface ProductResponse {
  node: number;
  /** Number of matched pairs. */
  pairs: number;
  digest: string;
  scaleX: number | null;
  scaleY: number | null;
  /** Degree-t shares of the requested linear measures over the pairs (from the ingest shares). */
  sumX?: string;
  sumY?: string;
  sumXX?: string;
  sumYY?: string;
  /** Degree-t share of Σx·y after re-randomisation and degree reduction. */
  sumXY?: string;
  /** Share of pairs + noise (only with noise on 'count'). */
  pairsShare?: string;
  /** True when the listed measures include every participant's noise. */
  noised?: boolean;
  peerBytesSent: number;
}

// ---- filtered queries (coordinator → node) ------------------------------------------------------

/** A filter leaf as the nodes get it: with the public domain (catalogue range and scale) it compares in. */
export interface FilterLeafSpec extends FilterLeaf {
  domain: ValueDomain;
}

/**
 * Body of POST /aggregate/filtered: a linear kind's measures over the cohort patients whose latest
 * value of each leaf's indicator in the window satisfies the filter. `cohort` is required and its
 * order is the order of the dealt material: element (leaf l, patient k) is l·|cohort| + k.
 */
export interface FilteredRequest extends RecordFilter {
  queryId: string;
  cohort: string[];
  /** Besides the count (always computed): 'sum', 'sumSquares'. */
  measures: LinearMeasure[];
  filter: FilterTree<FilterLeafSpec>;
  /** Mask bits K of the dealt material (valueBits + σ). */
  maskBits: number;
  /**
   * The dealer's comparison material for this node (mpc/preprocessing.ts encodeMaterial), sealed to the
   * node (parties/compare-material.ts); null when the cohort is empty.
   */
  material: string | null;
  participants: number[];
  noise?: NoiseByMeasure<LinearMeasure> | null;
  centre?: CentreSpec | null;
}

export interface FilteredResponse {
  node: number;
  /** Records of the queried indicator of the cohort in the window (before the filter; metadata). */
  records: number;
  digest: string;
  scale: number | null;
  /** Share of Σ b_p·n_p, the filtered number of records: only noised, or when nothing is noised. */
  countShare?: string;
  sum?: string;
  sumSquares?: string;
  noised: boolean;
  peerBytesSent: number;
}

// ---- histograms (coordinator → node) -------------------------------------------------------------

/**
 * Body of POST /aggregate/histogram (usage-layer/node/histogram.ts): the buckets of each cohort
 * patient's latest value of `indicator` in the window, among the patients a filter selects (if any),
 * in one run: one comparison [x ≥ e_j] a patient and edge, after the filter's own, with the dealer's
 * material for (|leaves| + |edges|) · |cohort| comparisons.
 */
/** Largest number of values in one round message (a comparison opens one value per patient and filter leaf). */
export const MAX_ROUND_VALUES = 400_000;

/** At most this many edges a histogram (the query API refuses more: coordinator/edge-histogram.ts). */
export const MAX_HISTOGRAM_EDGES = 20;

export interface HistogramRequest extends RecordFilter {
  queryId: string;
  cohort: string[];
  /** 2 to MAX_HISTOGRAM_EDGES strictly increasing edges inside `domain` (a run's share of the histogram's). */
  edges: number[];
  /** Whether this run also releases the bucket below edges[0], and the one at or above the last edge. */
  below: boolean;
  above: boolean;
  domain: ValueDomain;
  filter: FilterTree<FilterLeafSpec> | null;
  maskBits: number;
  material: string | null;
  participants: number[];
  /** Every bucket's noise (the buckets are disjoint by patient: each gets the whole spec). */
  noise?: NoiseByMeasure<'histogram'> | null;
}

export interface HistogramResponse {
  node: number;
  /** Records of the queried indicator of the cohort in the window (before the filter; metadata). */
  records: number;
  digest: string;
  /** Shares of the bucket counts: below e_0 (when asked), [e_j, e_{j+1}) for each j, at or above e_B (when asked). */
  buckets: string[];
  noised: boolean;
  peerBytesSent: number;
}

// ---- clamped queries (coordinator → node) -------------------------------------------------------

/** Bounds the researcher declared for one indicator, inside its catalogue domain (which the comparisons use). */
export type ClampSpec = ClampBounds;

/**
 * Body of POST /aggregate/clamped: a kind's measures over values clamped into the declared bounds
 * (usage-layer/node/clamped.ts). The values are the selected records of `indicator` (at most
 * `perPatient` a cohort patient), or with `indicator2` the one-to-one pairs. The material was dealt
 * for the filter's comparisons (if any) and `2·(1 or 2)·|cohort|·perPatient` more; the nodes use the
 * filter's and then 2 per value, axis by axis: [x_v ≥ min] for every value v, then [x_v ≥ max] for
 * every v; then the same for y.
 */
export interface ClampedRequest extends RecordFilter {
  queryId: string;
  cohort: string[];
  perPatient: number;
  indicator2: string | null;
  windowSeconds: number;
  clamp: { x: ClampSpec; y?: ClampSpec };
  /**
   * A cohort filter on the patients' latest values (as in FilteredRequest), or null. Its comparisons
   * come first in the dealt material (|leaves| · |cohort| elements), the clamp's after them.
   */
  filter: FilterTree<FilterLeafSpec> | null;
  /** The measures to return besides the count: linear names for one indicator, product names for two. */
  measures: Measure[];
  maskBits: number;
  /** The dealer's comparison material for this node, sealed to it; null when the cohort is empty. */
  material: string | null;
  participants: number[];
  noise?: NoiseByMeasure<Measure> | null;
  /** Sums over x_c − centre.x (and y_c − centre.y); null: over x_c. */
  centre?: CentreSpec | null;
}

export interface ClampedResponse {
  node: number;
  /** Values (pairs) that entered: metadata every node knows. */
  records: number;
  digest: string;
  /** The domains' scales (every value is brought to its domain's scale). */
  scaleX: number;
  scaleY: number | null;
  /** Degree-t shares of the measures (hex), the count's only when noised or when nothing is noised. */
  shares: Partial<Record<Measure, string>>;
  noised: boolean;
  peerBytesSent: number;
}

// ---- rounds (node → node) -------------------------------------------------------------------------

/**
 * Body of POST /mpc/message: one round's sub-shares for the receiving node, sealed to its X25519 key
 * (parties/round-message.ts), inside the transport's envelope of the whole body. The query id and the
 * round are outside this inner envelope (the receiver files the message by them); its AAD binds it to
 * the sender, the recipient, the query id and the round, so it opens in no other query or round.
 */
export interface PeerMessage {
  v: 1;
  queryId: string;
  round: RoundName;
  /** hgd-seal-v1 envelope of the packed values (mpc/codec.ts packElements, 16 bytes each). */
  sealed: string;
}
