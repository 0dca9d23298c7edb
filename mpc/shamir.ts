/**
 * Shamir secret sharing over GF(2^127 − 1).
 *
 * A secret s is shared with a random polynomial f of degree t, f(0) = s, and node i (1-based) receives
 * f(i). Any t shares are uniformly random and independent of s; any t + 1 shares determine s by Lagrange
 * interpolation at 0. Shares are linear: adding the shares of a and b gives shares of a + b, so nodes
 * can aggregate locally. Parameters: t ≥ 1 and n ≥ 2t + 1, so that the degree-2t product of two sharings
 * can still be interpolated (and reduced, see mpc/products.ts) by the n nodes.
 */
import { InconsistentSharesError, SharingParameterError } from './errors';
import { P, add, assertElement, inv, mod, mul, randomElement, sub } from './field';
import type { RandomSource } from './random';

export interface SharePoint {
  /** Evaluation point: node index, 1..n. */
  x: number;
  /** Share value f(x), a field element. */
  y: bigint;
}

export interface ConsistencyReport {
  /** True when all points lie on one polynomial of the given degree (trivially true without redundancy). */
  consistent: boolean;
  /** x coordinates that may carry a wrong share (empty when consistent). */
  suspects: number[];
  /** True when the wrong share(s) were identified uniquely (then `suspects` are exactly the bad ones). */
  located: boolean;
  /** The secret f(0), when consistent or after a unique correction; undefined otherwise. */
  secret?: bigint;
}

function checkInt(value: number, field: string): void {
  if (!Number.isSafeInteger(value)) throw new SharingParameterError(`${field} must be an integer, got ${value}`, field);
}

/** Validate protocol parameters: integers, t ≥ 1, n ≥ 2t + 1. */
export function validateParameters(n: number, t: number): void {
  checkInt(n, 'n');
  checkInt(t, 't');
  if (t < 1) throw new SharingParameterError(`t must be ≥ 1, got ${t}`, 't');
  if (n < 2 * t + 1) throw new SharingParameterError(`n must be ≥ 2t + 1 = ${2 * t + 1}, got ${n}`, 'n');
}

/** Validate a raw polynomial degree for n points: 0 ≤ degree ≤ n − 1. */
function validateDegree(n: number, degree: number): void {
  checkInt(n, 'n');
  checkInt(degree, 'degree');
  if (n < 1) throw new SharingParameterError(`n must be ≥ 1, got ${n}`, 'n');
  if (degree < 0 || degree > n - 1) {
    throw new SharingParameterError(`degree must be in [0, n − 1] = [0, ${n - 1}], got ${degree}`, 'degree');
  }
}

// ---- sharing -----------------------------------------------------------------------------------

/**
 * Shares of `secret` with a random polynomial of exactly the given degree bound, evaluated at 1..n.
 * No (n, t) protocol check: used for degree-2t sharings of zero and for resharing.
 */
export function shareWithDegree(secret: bigint, n: number, degree: number, rng?: RandomSource): bigint[] {
  validateDegree(n, degree);
  assertElement(secret, 'secret');
  const coeffs = new Array<bigint>(degree);
  for (let k = 0; k < degree; k++) coeffs[k] = randomElement(rng);
  const out = new Array<bigint>(n);
  for (let i = 1; i <= n; i++) {
    const x = BigInt(i);
    let acc = 0n;
    for (let k = degree - 1; k >= 0; k--) acc = add(mul(acc, x), coeffs[k] as bigint);
    out[i - 1] = add(mul(acc, x), secret);
  }
  return out;
}

/** Shares f(1..n) of `secret` with a random polynomial of degree t. Validates n ≥ 2t + 1, t ≥ 1. */
export function share(secret: bigint, n: number, t: number, rng?: RandomSource): bigint[] {
  validateParameters(n, t);
  return shareWithDegree(secret, n, t, rng);
}

/**
 * Share a batch of secrets. Result is laid out per node: `result[i][k]` is node (i+1)'s share of
 * `secrets[k]`, which is what the gateway sends to node i+1. Pass `out` (n arrays) to reuse memory.
 * The t = 1 path needs no multiplication: f(x+1) = f(x) + a.
 */
export function shareMany(secrets: readonly bigint[], n: number, t: number, out?: bigint[][], rng?: RandomSource): bigint[][] {
  validateParameters(n, t);
  const m = secrets.length;
  const res: bigint[][] = out ?? [];
  for (let i = 0; i < n; i++) {
    const row = res[i];
    if (row === undefined) res[i] = new Array<bigint>(m);
    else row.length = m;
  }
  res.length = n;
  for (let k = 0; k < m; k++) assertElement(secrets[k], `secrets[${k}]`);

  if (t === 1) {
    for (let k = 0; k < m; k++) {
      const a = randomElement(rng);
      let y = secrets[k] as bigint;
      for (let i = 0; i < n; i++) {
        y += a;
        if (y >= P) y -= P;
        (res[i] as bigint[])[k] = y;
      }
    }
    return res;
  }

  const xs = Array.from({ length: n }, (_, i) => BigInt(i + 1));
  const coeffs = new Array<bigint>(t);
  for (let k = 0; k < m; k++) {
    for (let c = 0; c < t; c++) coeffs[c] = randomElement(rng);
    const s = secrets[k] as bigint;
    for (let i = 0; i < n; i++) {
      const x = xs[i] as bigint;
      let acc = coeffs[t - 1] as bigint;
      for (let c = t - 2; c >= 0; c--) acc = add(mul(acc, x), coeffs[c] as bigint);
      (res[i] as bigint[])[k] = add(mul(acc, x), s);
    }
  }
  return res;
}

// ---- interpolation -----------------------------------------------------------------------------

const CACHE_LIMIT = 4096;
const coefficientCache = new Map<string, readonly bigint[]>();

function validateXs(xs: readonly number[]): void {
  if (xs.length === 0) throw new SharingParameterError('at least one point is needed', 'points');
  const seen = new Set<number>();
  for (const x of xs) {
    if (!Number.isSafeInteger(x) || x < 1) {
      throw new SharingParameterError(`evaluation points must be positive integers, got ${x}`, 'x');
    }
    if (seen.has(x)) throw new SharingParameterError(`duplicate evaluation point ${x}`, 'x');
    seen.add(x);
  }
}

function coefficientsAt(xs: readonly number[], at: number): readonly bigint[] {
  const key = `${at}|${xs.join(',')}`;
  const hit = coefficientCache.get(key);
  if (hit) return hit;
  validateXs(xs);
  const big = xs.map((x) => BigInt(x));
  const a = BigInt(at);
  const coeffs = big.map((xi, i) => {
    let num = 1n;
    let den = 1n;
    big.forEach((xj, j) => {
      if (j === i) return;
      num = mul(num, sub(mod(a), xj));
      den = mul(den, sub(xi, xj));
    });
    return mul(num, inv(den));
  });
  if (coefficientCache.size >= CACHE_LIMIT) coefficientCache.clear();
  const frozen = Object.freeze(coeffs);
  coefficientCache.set(key, frozen);
  return frozen;
}

/**
 * Lagrange coefficients λ_i with f(0) = Σ λ_i f(x_i) for any polynomial of degree < xs.length.
 * Cached per xs (a query reuses them for every aggregate); a fresh array is returned.
 */
export function lagrangeCoefficientsAtZero(xs: number[]): bigint[] {
  return coefficientsAt(xs, 0).slice();
}

/** Coefficients μ_i with f(at) = Σ μ_i f(x_i) for any polynomial of degree < xs.length (cached; a fresh array). */
export function lagrangeCoefficientsAt(xs: number[], at: number): bigint[] {
  return coefficientsAt(xs, at).slice();
}

/** Value at `at` of the polynomial of degree < points.length through `points`. */
export function interpolateAt(points: readonly SharePoint[], at: number): bigint {
  const lambdas = coefficientsAt(
    points.map((p) => p.x),
    at,
  );
  let acc = 0n;
  for (let i = 0; i < points.length; i++) acc += mul(lambdas[i] as bigint, (points[i] as SharePoint).y);
  return acc % P;
}

function validatePoints(points: readonly SharePoint[]): void {
  validateXs(points.map((p) => p.x));
  points.forEach((p, i) => assertElement(p.y, `points[${i}].y`));
}

/**
 * The secret f(0) from shares. With `degree` given, the first degree + 1 points are interpolated and
 * any further points are checked to lie on the same polynomial (InconsistentSharesError otherwise).
 * Without `degree`, all points are interpolated (degree = points.length − 1, no check possible).
 */
export function reconstruct(points: SharePoint[], degree?: number): bigint {
  validatePoints(points);
  const d = degree ?? points.length - 1;
  checkInt(d, 'degree');
  if (d < 0) throw new SharingParameterError(`degree must be ≥ 0, got ${d}`, 'degree');
  if (points.length < d + 1) {
    throw new SharingParameterError(`${d + 1} shares are needed for degree ${d}, got ${points.length}`, 'points');
  }
  if (points.length > d + 1) {
    const report = checkConsistency(points, d);
    if (!report.consistent) {
      throw new InconsistentSharesError(
        `shares are not on one polynomial of degree ${d}; suspect node(s) ${report.suspects.join(', ')}`,
        report.suspects,
        report.located,
      );
    }
    return report.secret as bigint;
  }
  return interpolateAt(points, 0);
}

function* combinations(size: number, k: number): Generator<number[]> {
  const idx = Array.from({ length: k }, (_, i) => i);
  for (;;) {
    yield idx.slice();
    let i = k - 1;
    while (i >= 0 && idx[i] === size - k + i) i--;
    if (i < 0) return;
    idx[i] = (idx[i] as number) + 1;
    for (let j = i + 1; j < k; j++) idx[j] = (idx[j - 1] as number) + 1;
  }
}

function binomial(n: number, k: number): number {
  let r = 1;
  for (let i = 1; i <= k; i++) r = (r * (n - k + i)) / i;
  return Math.round(r);
}

/** Enumerating more subsets than this is refused (suspects = all points, located = false). */
const MAX_SUBSETS = 200_000;

/**
 * Check that all points lie on one polynomial of degree `degree`. When they do not, find the
 * polynomial through degree + 1 of them that agrees with the most points. If it disagrees with at most
 * ⌊(m − degree − 1)/2⌋ of the m points, it is unique (Reed–Solomon unique decoding) and the wrong shares
 * are located; otherwise every point that some best-agreeing polynomial rejects is a suspect.
 * With n = 3, t = 1 one wrong share is detected but not located (suspects = all three); with
 * n = 5, t = 1 (or n = 4, t = 1) one wrong share is located.
 */
export function checkConsistency(points: SharePoint[], degree: number): ConsistencyReport {
  validatePoints(points);
  checkInt(degree, 'degree');
  if (degree < 0) throw new SharingParameterError(`degree must be ≥ 0, got ${degree}`, 'degree');
  const m = points.length;
  const k = degree + 1;
  if (m < k) throw new SharingParameterError(`${k} shares are needed for degree ${degree}, got ${m}`, 'points');

  const base = points.slice(0, k);
  const agreesWith = (subset: readonly SharePoint[]): boolean[] =>
    points.map((p, i) => (subset.includes(points[i] as SharePoint) ? true : interpolateAt(subset, p.x) === p.y));

  const first = agreesWith(base);
  if (first.every(Boolean)) return { consistent: true, suspects: [], located: false, secret: interpolateAt(base, 0) };

  const allXs = points.map((p) => p.x);
  if (binomial(m, k) > MAX_SUBSETS) return { consistent: false, suspects: allXs, located: false };

  let best = -1;
  let bestSets: boolean[][] = [];
  let bestSubset: SharePoint[] = base;
  for (const idx of combinations(m, k)) {
    // Skip subsets that lie inside an agreement set already found: same polynomial.
    if (bestSets.some((set) => idx.every((i) => set[i]))) continue;
    const subset = idx.map((i) => points[i] as SharePoint);
    const agree = agreesWith(subset);
    const count = agree.filter(Boolean).length;
    if (count > best) {
      best = count;
      bestSets = [agree];
      bestSubset = subset;
    } else if (count === best) {
      bestSets.push(agree);
    }
  }

  const correctable = Math.floor((m - k) / 2);
  if (m - best <= correctable && bestSets.length === 1) {
    const agree = bestSets[0] as boolean[];
    return {
      consistent: false,
      suspects: allXs.filter((_, i) => !agree[i]),
      located: true,
      secret: interpolateAt(bestSubset, 0),
    };
  }
  const suspects = allXs.filter((_, i) => bestSets.some((set) => !set[i]));
  return { consistent: false, suspects, located: false };
}
