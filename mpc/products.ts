/**
 * The arithmetic of the product protocol on Shamir shares (pure functions; the node-to-node transport
 * calls them). Notation: n nodes at x = 1..n, threshold t, n ≥ 2t + 1.
 *
 * Multiplying two degree-t sharings locally gives a degree-2t sharing of the product. Its raw shares
 * must never be opened: the degree-2t polynomial f·g has coefficients that mix the individual inputs and
 * the other sharings' randomness, so opening it leaks more than the product. The protocol therefore
 *
 *  1. sums locally first: z_i = Σ_k a_ik · b_ik, a degree-2t sharing of Σ a·b (only the aggregate over
 *     records is ever processed further; individual products are never reshared or opened);
 *  2. re-randomises: every node j deals a random degree-2t sharing of 0 (`zeroSharing`), node i adds
 *     the i-th shares it received (`jointZeroShare`, `rerandomise`). The sum of the zero sharings is
 *     unknown to any coalition that misses one honest dealer, so z' = z + ρ is a uniformly random
 *     degree-2t sharing of Σ a·b;
 *  3. reduces the degree (Gennaro–Rabin–Rabin 1998): node i reshares z'_i with a fresh degree-t
 *     polynomial (`reshare`) and sends sub-share h_i(j) to node j; node j combines
 *     w_j = Σ_i λ_i · h_i(j) with the Lagrange coefficients at 0 of x = 1..n (`combineReshares`).
 *     Since Σ λ_i z'_i = (Σ a·b), w is a degree-t sharing of Σ a·b; any t nodes' view (t sub-shares of
 *     each h_i) is uniformly random.
 *
 * The output is a fresh degree-t sharing: it can be opened from any t + 1 nodes, and with n > t + 1 the
 * coordinator can check the extra shares for consistency (a raw degree-2t sharing with n = 2t + 1 could
 * not be checked at all). Security model: semi-honest nodes, at most t of them colluding.
 */
import { SharingParameterError } from './errors';
import { add, assertElement, mul } from './field';
import {
  lagrangeCoefficientsAtZero,
  share,
  shareWithDegree,
  validateParameters,
} from './shamir';
import type { RandomSource } from './random';

/** Node-local product of two shares: a share of a·b on a polynomial of degree 2t. Never open it alone. */
export function localProduct(aShare: bigint, bShare: bigint): bigint {
  return mul(aShare, bShare);
}

/** Node-local Σ_k a_k·b_k over its shares of a record set: a degree-2t share of Σ a·b. */
export function localSumOfProducts(aShares: readonly bigint[], bShares: readonly bigint[]): bigint {
  if (aShares.length !== bShares.length) {
    throw new SharingParameterError(`share vectors differ in length (${aShares.length} vs ${bShares.length})`, 'shares');
  }
  let acc = 0n;
  for (let k = 0; k < aShares.length; k++) acc = add(acc, mul(aShares[k] as bigint, bShares[k] as bigint));
  return acc;
}

/** A random sharing of 0 with a polynomial of the given degree, evaluated at 1..n (dealt by one node). */
export function zeroSharing(n: number, degree: number, rng?: RandomSource): bigint[] {
  return shareWithDegree(0n, n, degree, rng);
}

/** Node i's share of the joint zero: the sum of the i-th shares it received from every dealer. */
export function jointZeroShare(received: readonly bigint[]): bigint {
  let acc = 0n;
  for (const r of received) acc = add(acc, r);
  return acc;
}

/** Add a share of zero to a (product) share: same secret, re-randomised polynomial. */
export function rerandomise(productShare: bigint, zeroShare: bigint): bigint {
  return add(productShare, zeroShare);
}

/** Degree-t resharing of a node's (degree-2t) share: sub-shares for nodes 1..n. Same as `share`. */
export function reshare(value: bigint, n: number, t: number, rng?: RandomSource): bigint[] {
  return share(value, n, t, rng);
}

/**
 * Degree reduction at node j. `subShares[i]` is the sub-share node xs[i] sent to j (h_{xs[i]}(j));
 * `xs` defaults to 1..subShares.length. There must be at least 2t + 1 senders (the degree of the
 * product polynomial plus one). Returns j's share of the degree-t sharing of the product.
 */
export function combineReshares(subShares: readonly bigint[], xs?: number[]): bigint {
  const senders = xs ?? subShares.map((_, i) => i + 1);
  if (senders.length !== subShares.length) {
    throw new SharingParameterError(`${subShares.length} sub-shares but ${senders.length} sender indices`, 'xs');
  }
  const lambdas = lagrangeCoefficientsAtZero(senders);
  let acc = 0n;
  for (let i = 0; i < subShares.length; i++) {
    const s = subShares[i] as bigint;
    assertElement(s, `subShares[${i}]`);
    acc = add(acc, mul(lambdas[i] as bigint, s));
  }
  return acc;
}

/**
 * Whole-protocol simulation (for tests and as the reference for the networked version).
 * `sharesA[i][k]` / `sharesB[i][k]` are node (i+1)'s shares of a_k / b_k (the layout of `shareMany`).
 * Returns `w` with w[j] = node (j+1)'s share of a degree-t sharing of Σ_k a_k·b_k. At no point is a
 * degree-2t sharing interpolated: each node's z'_i only leaves the node inside a degree-t resharing.
 */
export function secureSumOfProducts(sharesA: bigint[][], sharesB: bigint[][], n: number, t: number): bigint[] {
  validateParameters(n, t);
  if (sharesA.length !== n || sharesB.length !== n) {
    throw new SharingParameterError(`expected shares from ${n} nodes`, 'shares');
  }
  const m = (sharesA[0] as bigint[]).length;
  for (let i = 0; i < n; i++) {
    if ((sharesA[i] as bigint[]).length !== m || (sharesB[i] as bigint[]).length !== m) {
      throw new SharingParameterError('every node must hold one share per record', 'shares');
    }
  }

  // 1. Local sums of products (degree 2t).
  const z = sharesA.map((a, i) => localSumOfProducts(a, sharesB[i] as bigint[]));

  // 2. Joint re-randomisation: dealer j's zero sharing, share i goes to node i.
  const zeroDeals = Array.from({ length: n }, () => zeroSharing(n, 2 * t));
  const zPrime = z.map((zi, i) => rerandomise(zi, jointZeroShare(zeroDeals.map((deal) => deal[i] as bigint))));

  // 3. Degree reduction: node i reshares z'_i; node j combines what it received.
  const reshares = zPrime.map((zi) => reshare(zi, n, t)); // reshares[i][j]: from node i+1 to node j+1
  const xs = Array.from({ length: n }, (_, i) => i + 1);
  return xs.map((_, j) => combineReshares(reshares.map((r) => r[j] as bigint), xs));
}
