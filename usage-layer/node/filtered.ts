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
import { evaluateFilter, filterLeaves } from '../../mpc/filters';
import { toFixed } from '../../mpc/fixed-point';
import { localSumOfProducts } from '../../mpc/products';
import { rescale } from '../../mpc/rescale';
import { reshareRound, zeroRound } from '../../mpc/rounds';
import { openCompareMaterial } from '../../parties/compare-material';
import { runRounds } from '../../parties/round-runner';
import type { FilteredRequest, FilterLeafSpec } from '../../parties/wire';
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

/** Leaf inputs y (offset shares) and which patients have a record, laid out leaf by leaf. */
async function leafInputs(run: FilterRun, req: FilteredRequest, leaves: FilterLeafSpec[], plans: ComparisonPlan[]): Promise<{ y: bigint[]; has: boolean[] }> {
  const y: bigint[] = [];
  const has: boolean[] = [];
  for (const [l, leaf] of leaves.entries()) {
    const latest = await latestShares(run.db, { indicator: leaf.indicator, from: req.from, to: req.to, cohort: req.cohort, includePatientReported: req.includePatientReported });
    const offset = mod((plans[l] as ComparisonPlan).offset);
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
  }
  return { y, has };
}

/** Steps 1–2: one shared bit per (leaf, cohort patient). */
async function leafBits(run: FilterRun, req: FilteredRequest): Promise<{ bits: bigint[][]; bytes: number }> {
  const leaves = filterLeaves(req.filter);
  const plans = leaves.map((leaf) => comparisonPlan(leaf.op, leaf.value, leaf.domain));
  const valueBits = Math.max(...plans.map((p) => p.valueBits));
  if (req.maskBits !== valueBits + STATISTICAL_BITS) throw new ProtocolMismatchError(`the material's ${req.maskBits}-bit masks do not fit values of ${valueBits} bits`);
  const m = req.cohort.length;
  const material = openCompareMaterial(run.encryptionKey, run.ctx.self, req.queryId, req.material as string);
  const { y, has } = await leafInputs(run, req, leaves, plans);
  const thresholds = leaves.flatMap((_, l) => req.cohort.map(() => (plans[l] as ComparisonPlan).threshold));
  const b = await compareBatch(run, { m: leaves.length * m, maskBits: req.maskBits, valueBits, thresholds }, y, material);
  const bits = leaves.map((_, l) => {
    const slice = b.bits.slice(l * m, (l + 1) * m);
    const oriented = (plans[l] as ComparisonPlan).negate ? notShares(slice) : slice;
    return oriented.map((v, k) => (has[l * m + k] ? v : 0n));
  });
  return { bits, bytes: b.bytes };
}

/** Step 3: the filter tree over the leaf bits; every product is a zero and a reshare round. */
async function combineLeaves(run: FilterRun, req: FilteredRequest, bits: bigint[][]): Promise<{ bits: bigint[]; bytes: number }> {
  let products = 0;
  let bytes = 0;
  const multiply = async (a: bigint[], b: bigint[]): Promise<bigint[]> => {
    const r = await multiplyElementwise(run, a, b, ++products);
    bytes += r.bytes;
    return r.values;
  };
  const combined = await evaluateFilter(req.filter, bits, {
    and: multiply,
    or: async (a, b) => {
      const ab = await multiply(a, b);
      return a.map((x, k) => sub(add(x, b[k] as bigint), ab[k] as bigint));
    },
  });
  return { bits: combined, bytes };
}

/** Runs steps 1–4 and returns the node's degree-t shares of the filtered measures (not noised yet). */
export async function filteredMeasures(run: FilterRun, req: FilteredRequest): Promise<FilteredLocal> {
  const local = await patientSums(run.db, req, { sum: req.measures.length > 0, squares: req.measures.includes('sumSquares') });
  if (req.cohort.length === 0) return { local, count: 0n, sum: 0n, sumSquares: 0n, bytes: 0 };
  const leaves = await leafBits(run, req);
  const b = await combineLeaves(run, req, leaves.bits);
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
