/**
 * Histograms as released (coordinator/edge-histogram.ts computes them on secure comparisons), and the
 * two helpers a node still needs to read a legacy share batch: until histograms ran on comparisons the
 * dealer appended a one-hot vector of B + 2 entries to each record's x and x² (parties/wire.ts
 * ShareBatchItem.hist), which a node now counts in order to skip it.
 */
import { createHash } from 'node:crypto';

/** Number of one-hot entries of a legacy batch's `edges` (B + 2 for B buckets: underflow and overflow). */
export function bucketCount(edges: readonly number[]): number {
  return edges.length + 1;
}

/** The key a legacy batch gives a set of edges. */
export function histogramKey(edges: readonly number[]): string {
  return createHash('sha256').update(JSON.stringify(edges)).digest('hex').slice(0, 16);
}

/** A released histogram: interior counts plus under- and overflow. */
export interface HistogramCounts {
  edges: number[];
  /** counts[k] for [edges[k], edges[k+1]). */
  counts: number[];
  below: number;
  above: number;
}
