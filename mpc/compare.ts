/**
 * Secure comparison of Shamir-shared values with public thresholds, with dealt edaBits and daBits
 * (mpc/preprocessing.ts): three nodes, t = 1. For element k the nodes hold [y_k], y_k = x_k + offset
 * in [0, 2^v) (the offset makes the catalogue range non-negative), a public threshold T_k, and dealt
 * [r_k], r_k's K = v + σ bits (replicated XOR shares) and a daBit s_k. They compute [b_k], b_k = [y_k ≥ T_k]:
 *
 *   1. cmp-open  c = y + r is opened among the nodes ONLY (never to the coordinator, which is the
 *                dealer and knows r). Since y < 2^v and r is uniform on [0, 2^(v+σ)), c reveals y
 *                with statistical distance at most 2^−σ. Every share is checked (n = 3 > t + 1).
 *   2. with u = c − T public: y ≥ T ⟺ r ≤ u. If u < 0 then b = 0, if u ≥ 2^K then b = 1 (public; both
 *                happen with probability ≤ 2^−σ unless T lies outside the range). Else gt = [r > u] by
 *                a boolean circuit on r's shared bits and u's public bits: leaves g_j = r_j ∧ ¬u_j,
 *                e_j = ¬(r_j ⊕ u_j) (local), combined pairwise from the top bit down,
 *                (G, E)_high ∘ (G, E)_low = (G_h ⊕ E_h ∧ G_l, E_h ∧ E_l)  (G_h and E_h ∧ G_l exclude
 *                each other, so OR is XOR): ⌈log2 K⌉ rounds cmp-and.1.., one replicated AND layer each,
 *                2(K − 1) − 1 ANDs per element, 32 elements per word (mpc/boolean.ts). b = ¬gt.
 *   3. cmp-b2a   e = b ⊕ s is opened among the nodes (a fair coin, s is uniform), and
 *                [b] = e + [s] − 2e[s] in the field: a degree-t Shamir sharing of b again.
 * Two shared values compare the same way: [x] − [y] + offset against the offset (`differenceShares`).
 * The circuit and the dealing follow Escudero et al. (CRYPTO 2020) §4 with the dealer in place of
 * the preprocessing protocol; semi-honest nodes, one of them corrupt at most.
 */
import { andLocal, andPublic, concatShares, nextNode, packWords, partyIndex, previousNode, sliceShares, unpackWords, wordsFor, xorPublic, xorShares, zeroShareWords, type ReplicatedWords } from './boolean';
import { InconsistentSharesError, ProtocolMismatchError, SharingParameterError } from './errors';
import { add, mod, mul, sub } from './field';
import { decimalParts } from './fixed-point';
import type { CompareMaterial } from './preprocessing';
import { numbered, simulateStep, type Links, type RoundContext, type SimulationBase, type Step } from './rounds';
import { lagrangeCoefficientsAt, lagrangeCoefficientsAtZero } from './shamir';

/** Statistical security of the mask: c hides y up to 2^−40. */
export const STATISTICAL_BITS = 40;

export const COMPARISON_OPS = ['>=', '<', '>', '<='] as const;
export type ComparisonOp = (typeof COMPARISON_OPS)[number];

/** The public domain of a compared value: the catalogue range at the fixed-point scale of its shares. */
export interface ValueDomain {
  min: number;
  max: number;
  scale: number;
}

/** How `x op value` becomes [y ≥ threshold] (negated for < and <=) on y = X + offset, X = x·10^scale. */
export interface ComparisonPlan {
  offset: bigint;
  threshold: bigint;
  negate: boolean;
  /** Bits of y (and of the threshold): y < 2^valueBits. */
  valueBits: number;
}

/** ⌊value·10^scale⌋ or ⌈…⌉ exactly, from the double's shortest decimal form. */
function scaledBound(value: number, scale: number, up: boolean): bigint {
  const { negative, digits, exp10 } = decimalParts(value);
  const k = exp10 + scale;
  if (k >= 0) return (negative ? -1n : 1n) * digits * 10n ** BigInt(k);
  const d = 10n ** BigInt(-k);
  const q = digits / d;
  const inexact = digits % d !== 0n;
  if (negative) return -q - (inexact && !up ? 1n : 0n);
  return q + (inexact && up ? 1n : 0n);
}

const bitLength = (x: bigint): number => (x <= 0n ? 0 : x.toString(2).length);

/** The plan of one predicate on values of `domain`. The threshold is clamped to [0, span + 1] (same answers). */
export function comparisonPlan(op: ComparisonOp, value: number, domain: ValueDomain): ComparisonPlan {
  const lo = scaledBound(domain.min, domain.scale, true);
  const span = scaledBound(domain.max, domain.scale, false) - lo;
  if (span < 0n) throw new SharingParameterError('the value range is empty', 'range');
  // x ≥ v ⟺ X ≥ ⌈v·10^s⌉;  x > v ⟺ X ≥ ⌊v·10^s⌋ + 1;  < and <= are their negations.
  const strict = op === '>' || op === '<=';
  const raw = (strict ? scaledBound(value, domain.scale, false) + 1n : scaledBound(value, domain.scale, true)) - lo;
  const threshold = raw < 0n ? 0n : raw > span + 1n ? span + 1n : raw;
  return { offset: -lo, threshold, negate: op === '<' || op === '<=', valueBits: Math.max(1, bitLength(span + 1n)) };
}

/** Shares of x + offset (a public constant added to every share adds it to the secret). */
export function offsetShares(shares: readonly bigint[], offset: bigint): bigint[] {
  const c = mod(offset);
  return shares.map((s) => add(s, c));
}

/** Shares of x − y + offset, to compare two shared values: [x ≥ y] = [x − y + offset ≥ offset]. */
export function differenceShares(x: readonly bigint[], y: readonly bigint[], offset: bigint): bigint[] {
  if (x.length !== y.length) throw new SharingParameterError(`share vectors differ in length (${x.length} vs ${y.length})`, 'shares');
  const c = mod(offset);
  return x.map((s, k) => add(sub(s, y[k] as bigint), c));
}

/** Shares of 1 − b for shared bits (NOT in the field). */
export function notShares(bits: readonly bigint[]): bigint[] {
  return bits.map((b) => sub(1n, b));
}

/** Public parameters of one batch of comparisons (the same at every node). */
export interface CompareParams {
  m: number;
  /** K = valueBits + σ, the material's mask bits. */
  maskBits: number;
  /** Largest bit length of the inputs y. */
  valueBits: number;
  /** T_k per element. */
  thresholds: readonly bigint[];
}

export interface CompareInput {
  /** Shamir shares of y_k, y_k in [0, 2^valueBits). */
  y: readonly bigint[];
  material: CompareMaterial;
}

/** Between the AND layers: segments of bit positions (top first), each (G, E), W words a segment. */
export interface CircuitState {
  material: CompareMaterial;
  segments: number;
  g: ReplicatedWords;
  /** Null after the last layer (only G is needed there). */
  e: ReplicatedWords | null;
  /** Elements whose u < 0 (b = 0) and u ≥ 2^K (b = 1), public. */
  low: Uint32Array;
  high: Uint32Array;
}

/** The replicated steps talk to the neighbours: send to the previous party, hear from the next. */
function ringLinks(ctx: RoundContext): Links {
  const p = partyIndex(ctx.self);
  return { to: [previousNode(p)], from: [nextNode(p)] };
}

function checkThree(ctx: RoundContext): void {
  if (ctx.participants.length !== 3 || ctx.participants.some((x, i) => x !== i + 1)) {
    throw new ProtocolMismatchError(`a comparison runs between exactly nodes 1, 2, 3 (got ${ctx.participants.join(', ')})`);
  }
}

/** Opens c_k from every participant's share, checking the shares beyond t + 1. */
function openMasked(inbound: ReadonlyMap<number, readonly bigint[]>, m: number, ctx: RoundContext): bigint[] {
  const xs = ctx.participants;
  const vectors = xs.map((x) => {
    const v = inbound.get(x);
    if (!v || v.length !== m) throw new ProtocolMismatchError(`cmp-open: node-${x} sent ${v?.length ?? 0} shares for ${m} elements`);
    return v;
  });
  const base = xs.slice(0, ctx.t + 1);
  const lambda = lagrangeCoefficientsAtZero(base);
  const checks = xs.slice(ctx.t + 1).map((x) => ({ at: xs.indexOf(x), mu: lagrangeCoefficientsAt(base, x) }));
  const out = new Array<bigint>(m);
  for (let k = 0; k < m; k++) {
    let c = 0n;
    for (let i = 0; i < base.length; i++) c += mul(lambda[i] as bigint, (vectors[i] as readonly bigint[])[k] as bigint);
    for (const chk of checks) {
      let predicted = 0n;
      for (let i = 0; i < base.length; i++) predicted += mul(chk.mu[i] as bigint, (vectors[i] as readonly bigint[])[k] as bigint);
      if (mod(predicted) !== (vectors[chk.at] as readonly bigint[])[k]) {
        throw new InconsistentSharesError(`cmp-open: the masked shares of element ${k} are not on one polynomial of degree ${ctx.t}`, [...xs], false);
      }
    }
    out[k] = mod(c);
  }
  return out;
}

/** The public bit planes of u = c − T (K planes of W words), and the out-of-range elements. */
function publicPlanes(c: readonly bigint[], params: CompareParams): { planes: Uint32Array; low: Uint32Array; high: Uint32Array } {
  const { m, maskBits: K } = params;
  const W = wordsFor(m);
  const planes = new Uint32Array(K * W);
  const low = new Uint32Array(W);
  const high = new Uint32Array(W);
  const limit = 1n << BigInt(K);
  const inputLimit = limit + (1n << BigInt(params.valueBits));
  for (let k = 0; k < m; k++) {
    const ck = c[k] as bigint;
    if (ck >= inputLimit) throw new ProtocolMismatchError(`cmp-open: element ${k} is outside the range its comparison was dealt for`);
    const u = ck - (params.thresholds[k] as bigint);
    const w = k >>> 5;
    const bit = 1 << (k & 31);
    if (u < 0n) low[w] = (low[w] as number) | bit;
    else if (u >= limit) high[w] = (high[w] as number) | bit;
    else {
      for (let l = 0; 32 * l < K; l++) {
        const limb = Number(BigInt.asUintN(32, u >> BigInt(32 * l)));
        for (let j = 32 * l; j < Math.min(K, 32 * l + 32); j++) if ((limb >>> (j - 32 * l)) & 1) planes[j * W + w] = (planes[j * W + w] as number) | bit;
      }
    }
  }
  return { planes, low, high };
}

/** Leaves, top bit first: g_j = r_j ∧ ¬u_j, e_j = r_j ⊕ ¬u_j. */
function leaves(planes: Uint32Array, material: CompareMaterial, p: number): { g: ReplicatedWords; e: ReplicatedWords } {
  const K = material.maskBits;
  const W = wordsFor(material.m);
  const gs: ReplicatedWords[] = [];
  const es: ReplicatedWords[] = [];
  for (let s = 0; s < K; s++) {
    const j = K - 1 - s;
    const notU = planes.slice(j * W, (j + 1) * W).map((x) => ~x >>> 0);
    const r = sliceShares(material.rBits, j * W, W);
    gs.push(andPublic(r, notU));
    es.push(xorPublic(r, notU, p));
  }
  return { g: concatShares(gs), e: concatShares(es) };
}

/** Step 1: open c = y + r among the nodes and set up the circuit's leaves. */
export function openStep(params: CompareParams): Step<CompareInput, CircuitState> {
  return {
    name: 'cmp-open',
    deal(input, ctx) {
      checkThree(ctx);
      checkInput(input, params);
      const c = input.y.map((y, k) => add(y, input.material.r[k] as bigint));
      return new Map(ctx.participants.map((j) => [j, c]));
    },
    combine(input, inbound, ctx) {
      const c = openMasked(inbound, params.m, ctx);
      const { planes, low, high } = publicPlanes(c, params);
      const { g, e } = leaves(planes, input.material, partyIndex(ctx.self));
      return { material: input.material, segments: params.maskBits, g, e, low, high };
    },
  };
}

function checkInput(input: CompareInput, params: CompareParams): void {
  const mat = input.material;
  if (input.y.length !== params.m || mat.m !== params.m || params.thresholds.length !== params.m) {
    throw new ProtocolMismatchError(`comparison of ${params.m} elements got ${input.y.length} inputs, material for ${mat.m}, ${params.thresholds.length} thresholds`);
  }
  if (mat.maskBits !== params.maskBits) throw new ProtocolMismatchError(`material has ${mat.maskBits}-bit masks, the comparison needs ${params.maskBits}`);
}

/** The AND inputs of one layer: E_high with G_low (and with E_low unless it is the last layer). */
function gateInputs(st: CircuitState, W: number): { x: ReplicatedWords; y: ReplicatedWords; pairs: number; last: boolean } {
  const pairs = Math.floor(st.segments / 2);
  const last = st.segments === 2;
  const e = st.e as ReplicatedWords;
  const seg = (v: ReplicatedWords, s: number) => sliceShares(v, s * W, W);
  const eHigh = Array.from({ length: pairs }, (_, q) => seg(e, 2 * q));
  const gLow = Array.from({ length: pairs }, (_, q) => seg(st.g, 2 * q + 1));
  const eLow = last ? [] : Array.from({ length: pairs }, (_, q) => seg(e, 2 * q + 1));
  return { x: concatShares(last ? eHigh : [...eHigh, ...eHigh]), y: concatShares([...gLow, ...eLow]), pairs, last };
}

function nextLevel(st: CircuitState, out: ReplicatedWords, W: number, pairs: number, last: boolean): CircuitState {
  const gs: ReplicatedWords[] = [];
  const es: ReplicatedWords[] = [];
  for (let q = 0; q < pairs; q++) {
    gs.push(xorShares(sliceShares(st.g, 2 * q * W, W), sliceShares(out, q * W, W)));
    if (!last) es.push(sliceShares(out, (pairs + q) * W, W));
  }
  if (st.segments % 2 === 1) {
    gs.push(sliceShares(st.g, (st.segments - 1) * W, W));
    es.push(sliceShares(st.e as ReplicatedWords, (st.segments - 1) * W, W));
  }
  return { ...st, segments: gs.length, g: concatShares(gs), e: last ? null : concatShares(es) };
}

/** Step 2 (layer `level`, 1-based): one replicated AND layer of the (G, E) combination. */
export function andLayerStep(level: number): Step<CircuitState, CircuitState> {
  const local = (st: CircuitState) => {
    const W = wordsFor(st.material.m);
    const gates = gateInputs(st, W);
    const z = andLocal(gates.x, gates.y, zeroShareWords(st.material.keys, level, gates.x.a.length));
    return { W, gates, z };
  };
  return numbered({
    name: 'cmp-and',
    links: ringLinks,
    deal(st, ctx) {
      return new Map([[ringLinks(ctx).to[0] as number, packWords(local(st).z)]]);
    },
    combine(st, inbound, ctx) {
      const { W, gates, z } = local(st);
      const from = ringLinks(ctx).from[0] as number;
      const zNext = unpackWords(inbound.get(from) ?? [], z.length, `cmp-and.${level} from node-${from}`);
      return nextLevel(st, { a: z, b: zNext }, W, gates.pairs, gates.last);
    },
  }, level);
}

/** Layers of the circuit for K-bit masks: ⌈log2 K⌉. */
export function layerCount(maskBits: number): number {
  let s = maskBits;
  let layers = 0;
  while (s > 1) {
    s = Math.ceil(s / 2);
    layers++;
  }
  return layers;
}

/** This party's share of b ⊕ s (b = ¬gt, the public out-of-range elements set). */
function maskedResult(st: CircuitState, p: number): ReplicatedWords {
  if (st.segments !== 1) throw new ProtocolMismatchError(`cmp-b2a: the circuit still has ${st.segments} segments`);
  const W = st.g.a.length;
  const ones = new Uint32Array(W).fill(0xffffffff);
  const keep = st.low.map((l, w) => ~(l | (st.high[w] as number)) >>> 0);
  const b = xorPublic(andPublic(xorPublic(st.g, ones, p), keep), st.high, p);
  return xorShares(b, st.material.sBits);
}

/** Step 3: open e = b ⊕ s among the nodes; [b] = e + [s] − 2e[s]. Returns Shamir shares of b_k. */
export function b2aStep(): Step<CircuitState, bigint[]> {
  return {
    name: 'cmp-b2a',
    links: ringLinks,
    deal(st, ctx) {
      const e = maskedResult(st, partyIndex(ctx.self));
      return new Map([[ringLinks(ctx).to[0] as number, packWords(e.b)]]);
    },
    combine(st, inbound, ctx) {
      const e = maskedResult(st, partyIndex(ctx.self));
      const from = ringLinks(ctx).from[0] as number;
      const third = unpackWords(inbound.get(from) ?? [], e.a.length, `cmp-b2a from node-${from}`);
      const s = st.material.s;
      return s.map((sk, k) => ((((e.a[k >>> 5] as number) ^ (e.b[k >>> 5] as number) ^ (third[k >>> 5] as number)) >>> (k & 31)) & 1 ? sub(1n, sk) : sk));
    },
  };
}

/** The comparison's steps in order. */
export function comparisonSteps(params: CompareParams): { open: Step<CompareInput, CircuitState>; layers: Array<Step<CircuitState, CircuitState>>; b2a: Step<CircuitState, bigint[]> } {
  return { open: openStep(params), layers: Array.from({ length: layerCount(params.maskBits) }, (_, i) => andLayerStep(i + 1)), b2a: b2aStep() };
}

/** Runs a whole comparison for the three parties in one process (tests, the bench's no-network row). */
export function simulateComparison(params: CompareParams, inputs: ReadonlyMap<number, CompareInput>, base: SimulationBase): Map<number, bigint[]> {
  const steps = comparisonSteps(params);
  let state = simulateStep(steps.open, inputs, base);
  for (const layer of steps.layers) state = simulateStep(layer, state, base);
  return simulateStep(steps.b2a, state, base);
}
