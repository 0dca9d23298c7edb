/**
 * A histogram at one compute node (POST /aggregate/histogram), in one run:
 *   1. the comparisons as one batch with the dealer's material: a cohort filter's leaves first (if
 *      any), then [x_p ≥ e_j] for every cohort patient p and edge e_j, x_p the patient's latest value of
 *      the indicator in the window, read once (filtered.ts latestInputs: a patient without one gets the bit 0);
 *   2. with a filter, its tree over its leaf bits (filtered.ts combineLeaves): one bit f_p a patient;
 *   3. S_j = Σ_p f_p·b_pj (one zero and reshare round for all edges; without a filter Σ_p b_pj, no
 *      round) and N = Σ_p f_p over the patients with a value (without a filter their public number);
 *   4. the buckets by differences, linear in the shares: below = N − S_0, [e_j, e_{j+1}) =
 *      S_j − S_{j+1}, at or above e_B = S_B (below and above when the request asks: a histogram too
 *      large for one run is split into runs over consecutive edges, coordinator/edge-histogram.ts).
 * One comparison a patient and edge and no product per bucket, where B + 2 filtered counts took two
 * comparisons and a product a patient and bucket. Only masked values are opened among the nodes; what
 * leaves the node is degree-t shares of the buckets, noised by the caller (service.ts).
 */
import { comparisonPlan, STATISTICAL_BITS, type ComparisonPlan } from '../../mpc/compare';
import { ProtocolMismatchError } from '../../mpc/errors';
import { add, mod, sub } from '../../mpc/field';
import { localSumOfProducts } from '../../mpc/products';
import { reshareRound, zeroRound } from '../../mpc/rounds';
import { openCompareMaterial } from '../../parties/compare-material';
import { runRounds } from '../../parties/round-runner';
import type { HistogramRequest } from '../../parties/wire';
import { combineLeaves, latestInputs, leafBatch, orientedLeafBits, type LeafBatch } from './filtered';
import { compareBatch, type SecureRun } from './secure-ops';
import { patientSums } from './store';

export interface HistogramLocal {
  records: number;
  digest: string;
  /** Degree-t shares of the run's bucket counts (bucketsOfRun). */
  buckets: bigint[];
  bytes: number;
}

/**
 * The comparisons [x_p ≥ e_j], edge by edge, as a filter's leaves would be laid out (filtered.ts
 * LeafBatch): the latest values read once, the same inputs against each edge's threshold (the offset
 * depends on the domain only).
 */
async function edgeBatch(run: SecureRun, req: HistogramRequest): Promise<LeafBatch> {
  const plans = req.edges.map((e) => comparisonPlan('>=', e, req.domain));
  const one = await latestInputs(run, req, req, plans[0] as ComparisonPlan);
  return {
    y: plans.flatMap(() => one.y),
    thresholds: plans.flatMap((p) => req.cohort.map(() => p.threshold)),
    valueBits: (plans[0] as ComparisonPlan).valueBits,
    plans,
    has: plans.flatMap(() => one.has),
  };
}

/** Step 1: every comparison of the run, the filter's first. */
async function compareAll(run: SecureRun, req: HistogramRequest, filter: LeafBatch | null, edges: LeafBatch): Promise<{ bits: bigint[]; bytes: number }> {
  const valueBits = Math.max(edges.valueBits, filter?.valueBits ?? 0);
  if (req.maskBits !== valueBits + STATISTICAL_BITS) throw new ProtocolMismatchError(`the material's ${req.maskBits}-bit masks do not fit values of ${valueBits} bits`);
  const y = [...(filter?.y ?? []), ...edges.y];
  const thresholds = [...(filter?.thresholds ?? []), ...edges.thresholds];
  const material = openCompareMaterial(run.encryptionKey, run.ctx.self, req.queryId, req.material as string);
  if (material.m !== y.length) throw new ProtocolMismatchError(`${y.length} comparisons are needed but ${material.m} were dealt`);
  return compareBatch(run, { m: y.length, maskBits: req.maskBits, valueBits, thresholds }, y, material);
}

const sumOf = (xs: readonly bigint[]) => xs.reduce((acc, v) => add(acc, v), 0n);

/** Step 4: below (when asked), the interior buckets and above (when asked), from S_0 … S_B and N. */
function bucketsOf(req: Pick<HistogramRequest, 'below' | 'above'>, s: readonly bigint[], n: bigint): bigint[] {
  const last = s.length - 1;
  const interior = s.slice(0, last).map((sj, j) => sub(sj, s[j + 1] as bigint));
  return [...(req.below ? [sub(n, s[0] as bigint)] : []), ...interior, ...(req.above ? [s[last] as bigint] : [])];
}

/** How many buckets a run releases: the interior ones and below and above when asked. */
export const bucketsOfRun = (req: Pick<HistogramRequest, 'edges' | 'below' | 'above'>): number => req.edges.length - 1 + (req.below ? 1 : 0) + (req.above ? 1 : 0);

/** Runs steps 1–4 and returns the node's degree-t shares of the buckets (not noised yet). */
export async function histogramBuckets(run: SecureRun, req: HistogramRequest): Promise<HistogramLocal> {
  const local = await patientSums(run.db, { ...req, perPatient: 1 }, { sum: false, squares: false });
  const m = req.cohort.length;
  if (m === 0) return { records: local.records, digest: local.digest, buckets: new Array<bigint>(bucketsOfRun(req)).fill(0n), bytes: 0 };
  const filterLeavesBatch = req.filter ? await leafBatch(run, req, req.filter) : null;
  const edges = await edgeBatch(run, req);
  const compared = await compareAll(run, req, filterLeavesBatch, edges);
  const bits = compared.bits;
  const filterElements = filterLeavesBatch?.y.length ?? 0;
  const b = orientedLeafBits(bits.slice(filterElements), edges, m);
  const has = edges.has.slice(0, m);
  let bytes = compared.bytes;
  let s: bigint[];
  let n: bigint;
  if (req.filter && filterLeavesBatch) {
    const f = await combineLeaves(run, req.filter, orientedLeafBits(bits.slice(0, filterElements), filterLeavesBatch, m));
    bytes += f.bytes;
    // Σ_p f_p·b_pj is of degree 2t: reduced for every edge at once.
    const reduced = await runRounds([zeroRound(), reshareRound()], b.map((bj) => localSumOfProducts(f.bits, bj)), run.ctx, run.transport);
    bytes += reduced.bytes;
    s = reduced.values;
    n = sumOf(f.bits.filter((_, k) => has[k]));
  } else {
    s = b.map(sumOf);
    n = mod(BigInt(has.filter(Boolean).length)); // public to the nodes: a valid (degree-0) sharing
  }
  return { records: local.records, digest: local.digest, buckets: bucketsOf(req, s, n), bytes };
}
