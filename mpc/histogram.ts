/**
 * The histogram encoding. Nodes cannot compare shares, so the dealer (which sees the plaintext at
 * ingest anyway) turns a value into a one-hot vector over the buckets and a histogram becomes a linear
 * sum. With edges e_0 < … < e_B the vector has B + 2 entries:
 * [below e_0, [e_0,e_1), …, [e_{B−1},e_B], above e_B] (the last interior bucket is closed).
 */
import { createHash } from 'node:crypto';
import { HistogramEdgesError } from './errors';
import { mod } from './field';
import { decode, toFixed } from './fixed-point';

/** Number of one-hot entries for `edges` (B + 2 for B buckets: underflow and overflow included). */
export function bucketCount(edges: readonly number[]): number {
  return edges.length + 1;
}

/** A short, stable key for a set of edges. */
export function histogramKey(edges: readonly number[]): string {
  return createHash('sha256').update(JSON.stringify(edges)).digest('hex').slice(0, 16);
}

/** Throws HistogramEdgesError unless there are ≥ 2 finite, strictly increasing edges. */
export function checkEdges(edges: readonly number[]): void {
  if (!Array.isArray(edges) || edges.length < 2) throw new HistogramEdgesError('histogramEdges needs at least two edges', 'histogramEdges');
  for (let k = 0; k < edges.length; k++) {
    const e = edges[k];
    if (typeof e !== 'number' || !Number.isFinite(e) || (k > 0 && !(e > (edges[k - 1] as number)))) {
      throw new HistogramEdgesError('histogramEdges must be finite and strictly increasing', 'histogramEdges');
    }
  }
}

/**
 * Index of the one-hot entry for `value` rounded to `scale`: 0 below e_0, k for [e_{k−1}, e_k)
 * (the last interior bucket [e_{B−1}, e_B] is closed), B + 1 above e_B.
 */
function bucketIndex(value: number, scale: number, edges: readonly number[]): number {
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

/** The one-hot vector of `value` as field elements (1 in its bucket, 0 elsewhere). */
export function oneHot(value: number, scale: number, edges: readonly number[]): bigint[] {
  const idx = bucketIndex(value, scale, edges);
  return Array.from({ length: bucketCount(edges) }, (_, b) => (b === idx ? 1n : 0n));
}

/** What a researcher sees of opened one-hot sums: interior counts plus under- and overflow. */
export interface HistogramCounts {
  edges: number[];
  /** counts[k] for [edges[k], edges[k+1]) (the last bucket is closed). */
  counts: number[];
  below: number;
  above: number;
}

/** Splits opened one-hot sums (signed integers) into under-, interior and overflow counts. */
export function histogramCounts(edges: number[], sums: readonly number[]): HistogramCounts {
  return { edges, counts: sums.slice(1, -1), below: sums[0] ?? 0, above: sums[sums.length - 1] ?? 0 };
}
