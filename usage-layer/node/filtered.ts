/**
 * A filtered aggregate at one compute node (POST /aggregate/filtered), in steps:
 *   1. leaf inputs: per filter leaf, every cohort patient's latest share of the leaf's indicator in the
 *      window (store.ts latestShares), brought to the leaf's scale and offset into [0, 2^v); a patient
 *      without such a record gets the public 0 and, after the comparison, the bit 0;
 *   2. the comparisons of all leaves as one batch with the dealer's material (mpc/compare.ts: cmp-open,
 *      cmp-and.1.., cmp-b2a), then < and <= negated: one Shamir-shared bit per (leaf, patient);
 *   3. the filter tree in the field (mpc/filters.ts): and = product, or = a + b − ab, each product one
 *      zero and one reshare round (numbered zero.k, reshare.k);
 *   4. the measures: count = Σ_p b_p·n_p (n_p public here), Σ_p b_p·S_p and Σ_p b_p·Q_p for the
 *      patient's (centred) sum S_p and sum of squares Q_p, as degree-2t sums reduced by zero + reshare.
 * Only masked values (c = y + r, e = b ⊕ s) are opened, and only among the nodes. What leaves the node
 * is the degree-t shares of the measures, noised by the caller (service.ts) before answering.
 */
import { centreSum, centreSumOfSquares } from '../../mpc/centre';
import { comparisonPlan, notShares, STATISTICAL_BITS, type ComparisonPlan } from '../../mpc/compare';
import { ProtocolMismatchError } from '../../mpc/errors';
import { add, mod, mul, sub } from '../../mpc/field';
import { evaluateFilter, filterLeaves, type FilterTree } from '../../mpc/filters';
import { toFixed } from '../../mpc/fixed-point';
import { localSumOfProducts } from '../../mpc/products';
import { rescale } from '../../mpc/rescale';
import { reshareRound, zeroRound } from '../../mpc/rounds';
import { openCompareMaterial } from '../../parties/compare-material';
import { runRounds } from '../../parties/round-runner';
import type { FilteredRequest, FilterLeafSpec, RecordFilter } from '../../parties/wire';
import { compareBatch, multiplyElementwise, type SecureRun } from './secure-ops';
import { latestShares, patientSums, type PatientSumsLocal } from './store';

export type FilterRun = SecureRun;

export interface FilteredLocal {
  local: PatientSumsLocal;
  /** Degree-t shares of the filtered count and of the requested sums (sum, sumSquares). */
  count: bigint;
  sum: bigint;
  sumSquares: bigint;
  bytes: number;
}

/** What the leaves' inputs are read for: the cohort and the window. */
export type LeafScope = Pick<RecordFilter, 'from' | 'to' | 'includePatientReported'> & { cohort: string[] };

/**
 * Every cohort patient's latest share of `leaf.indicator` in the window, at the leaf's scale and offset
 * into [0, 2^v) (the public 0 for a patient without a record, `has` false), in cohort order.
 */
export async function latestInputs(run: FilterRun, req: LeafScope, leaf: Pick<FilterLeafSpec, 'indicator' | 'domain'>, plan: ComparisonPlan): Promise<{ y: bigint[]; has: boolean[] }> {
  const latest = await latestShares(run.db, { indicator: leaf.indicator, from: req.from, to: req.to, cohort: req.cohort, includePatientReported: req.includePatientReported });
  const offset = mod(plan.offset);
  const y: bigint[] = [];
  const has: boolean[] = [];
  for (const p of req.cohort) {
    const rec = latest.get(p);
    has.push(rec !== undefined);
    if (!rec) {
      y.push(0n);
      continue;
    }
    if (rec.scale > leaf.domain.scale) throw new ProtocolMismatchError(`records of ${leaf.indicator} are stored at scale ${rec.scale}, finer than the filter's ${leaf.domain.scale}`);
    y.push(add(rescale(rec.share, leaf.domain.scale - rec.scale), offset));
  }
  return { y, has };
}

/** Leaf inputs y (offset shares) and which patients have a record, laid out leaf by leaf. */
async function leafInputs(run: FilterRun, req: LeafScope, leaves: FilterLeafSpec[], plans: ComparisonPlan[]): Promise<{ y: bigint[]; has: boolean[] }> {
  const y: bigint[] = [];
  const has: boolean[] = [];
  for (const [l, leaf] of leaves.entries()) {
    const one = await latestInputs(run, req, leaf, plans[l] as ComparisonPlan);
    y.push(...one.y);
    has.push(...one.has);
  }
  return { y, has };
}

/** A filter's comparisons, ready to join a batch: inputs, thresholds and the value bits they need. */
export interface LeafBatch {
  y: bigint[];
  thresholds: bigint[];
  valueBits: number;
  plans: ComparisonPlan[];
  has: boolean[];
}

/** Step 1: the leaves' inputs for every cohort patient, leaf by leaf. */
export async function leafBatch(run: FilterRun, scope: LeafScope, filter: FilterTree<FilterLeafSpec>): Promise<LeafBatch> {
  const leaves = filterLeaves(filter);
  const plans = leaves.map((leaf) => comparisonPlan(leaf.op, leaf.value, leaf.domain));
  const { y, has } = await leafInputs(run, scope, leaves, plans);
  const thresholds = leaves.flatMap((_, l) => scope.cohort.map(() => (plans[l] as ComparisonPlan).threshold));
  return { y, thresholds, valueBits: Math.max(...plans.map((p) => p.valueBits)), plans, has };
}

/** Step 2's result per leaf: < and <= negated, and 0 for a patient without a record. */
export function orientedLeafBits(bits: readonly bigint[], batch: LeafBatch, m: number): bigint[][] {
  return batch.plans.map((plan, l) => {
    const slice = bits.slice(l * m, (l + 1) * m);
    const oriented = plan.negate ? notShares(slice) : slice;
    return oriented.map((v, k) => (batch.has[l * m + k] ? v : 0n));
  });
}

/** Steps 1–2: one shared bit per (leaf, cohort patient). */
async function leafBits(run: FilterRun, req: FilteredRequest): Promise<{ bits: bigint[][]; bytes: number }> {
  const batch = await leafBatch(run, req, req.filter);
  if (req.maskBits !== batch.valueBits + STATISTICAL_BITS) throw new ProtocolMismatchError(`the material's ${req.maskBits}-bit masks do not fit values of ${batch.valueBits} bits`);
  const material = openCompareMaterial(run.encryptionKey, run.ctx.self, req.queryId, req.material as string);
  const b = await compareBatch(run, { m: batch.y.length, maskBits: req.maskBits, valueBits: batch.valueBits, thresholds: batch.thresholds }, batch.y, material);
  return { bits: orientedLeafBits(b.bits, batch, req.cohort.length), bytes: b.bytes };
}

/**
 * Step 3: the filter tree over the leaf bits; every product is a zero and a reshare round, numbered
 * from `first` (the caller's later products continue after the returned `next`).
 */
export async function combineLeaves(run: FilterRun, filter: FilterTree<FilterLeafSpec>, bits: bigint[][], first = 1): Promise<{ bits: bigint[]; bytes: number; next: number }> {
  let products = first - 1;
  let bytes = 0;
  const multiply = async (a: bigint[], b: bigint[]): Promise<bigint[]> => {
    const r = await multiplyElementwise(run, a, b, ++products);
    bytes += r.bytes;
    return r.values;
  };
  const combined = await evaluateFilter(filter, bits, {
    and: multiply,
    or: async (a, b) => {
      const ab = await multiply(a, b);
      return a.map((x, k) => sub(add(x, b[k] as bigint), ab[k] as bigint));
    },
  });
  return { bits: combined, bytes, next: products + 1 };
}

/** Runs steps 1–4 and returns the node's degree-t shares of the filtered measures (not noised yet). */
export async function filteredMeasures(run: FilterRun, req: FilteredRequest): Promise<FilteredLocal> {
  const local = await patientSums(run.db, req, { sum: req.measures.length > 0, squares: req.measures.includes('sumSquares') });
  if (req.cohort.length === 0) return { local, count: 0n, sum: 0n, sumSquares: 0n, bytes: 0 };
  const leaves = await leafBits(run, req);
  const b = await combineLeaves(run, req.filter, leaves.bits);
  const scale = local.scale ?? 0;
  const c = req.centre ? toFixed(req.centre.x, scale) : null;
  const perPatient = req.cohort.map((p) => local.byPatient.get(p) ?? { n: 0, sum: 0n, sumSquares: 0n });
  let count = 0n;
  perPatient.forEach((s, k) => { count = add(count, mul(mod(BigInt(s.n)), b.bits[k] as bigint)); });
  const sums = perPatient.map((s) => (c === null ? s.sum : centreSum(s.sum, s.n, c)));
  const squares = perPatient.map((s) => (c === null ? s.sumSquares : centreSumOfSquares(s.sumSquares, s.sum, s.n, c)));
  const wanted = req.measures.filter((x) => x === 'sum' || x === 'sumSquares');
  const local2t = wanted.map((x) => localSumOfProducts(b.bits, x === 'sum' ? sums : squares));
  const reduced = local2t.length ? await runRounds([zeroRound(), reshareRound()], local2t, run.ctx, run.transport) : { values: [], bytes: 0 };
  const pick = (x: 'sum' | 'sumSquares') => (wanted.includes(x) ? (reduced.values[wanted.indexOf(x)] as bigint) : 0n);
  return { local, count, sum: pick('sum'), sumSquares: pick('sumSquares'), bytes: leaves.bytes + b.bytes + reduced.bytes };
}
