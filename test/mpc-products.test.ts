import { strict as assert } from 'node:assert';
import { SharingParameterError } from '../mpc/errors';
import { P, add, mul, randomElement } from '../mpc/field';
import { decode, decodeProduct, encode } from '../mpc/fixed-point';
import { type SharePoint, checkConsistency, reconstruct, share, shareMany } from '../mpc/shamir';
import {
  combineReshares,
  jointZeroShare,
  localProduct,
  localSumOfProducts,
  rerandomise,
  reshare,
  secureSumOfProducts,
  zeroSharing,
} from '../mpc/products';
import { prng } from './support/mpc';

const points = (ys: readonly bigint[]): SharePoint[] => ys.map((y, i) => ({ x: i + 1, y }));

function subsets(n: number, k: number): number[][] {
  if (k === 0) return [[]];
  if (n < k) return [];
  return [...subsets(n - 1, k), ...subsets(n - 1, k - 1).map((s) => [...s, n - 1])];
}


/** Do all (t+1)-subsets of the points interpolate to the same value at 0? (i.e. degree ≤ t) */
function allSubsetsAgree(ys: readonly bigint[], t: number): boolean {
  const pts = points(ys);
  const values = new Set(subsets(ys.length, t + 1).map((s) => reconstruct(s.map((i) => pts[i]!), t)));
  return values.size === 1;
}

describe('MPC products: building blocks', () => {
  it('local products are a degree-2t sharing of the product', () => {
    const a = encode(3.5, 2);
    const b = encode(-2, 2);
    const sa = share(a, 5, 2);
    const sb = share(b, 5, 2);
    const prod = sa.map((x, i) => localProduct(x, sb[i]!));
    assert.equal(reconstruct(points(prod), 4), mul(a, b));
    assert.equal(decodeProduct(reconstruct(points(prod), 4), 2), -7);
    assert.equal(allSubsetsAgree(prod, 2), false, 'not a degree-t sharing');
  });

  it('zero sharings open to 0 at their degree and not below', () => {
    const z = zeroSharing(5, 4);
    assert.equal(reconstruct(points(z), 4), 0n);
    assert.notEqual(reconstruct(points(z).slice(0, 3), 2), 0n);
    const z1 = zeroSharing(3, 1);
    assert.equal(reconstruct(points(z1), 1), 0n);
  });

  it('re-randomisation keeps the secret and changes the polynomial', () => {
    const sa = share(6n, 3, 1);
    const sb = share(7n, 3, 1);
    const prod = sa.map((x, i) => localProduct(x, sb[i]!));
    const deals = [zeroSharing(3, 2), zeroSharing(3, 2), zeroSharing(3, 2)];
    const fresh = prod.map((p, i) => rerandomise(p, jointZeroShare(deals.map((d) => d[i]!))));
    assert.equal(reconstruct(points(fresh), 2), 42n);
    assert.notDeepEqual(fresh, prod);
  });

  it('Gennaro–Rabin–Rabin resharing reduces a product to degree t', () => {
    for (const [n, t] of [
      [3, 1],
      [5, 2],
      [7, 3],
    ] as const) {
      const a = randomElement();
      const b = randomElement();
      const sa = share(a, n, t);
      const sb = share(b, n, t);
      const prod = sa.map((x, i) => localProduct(x, sb[i]!));
      const sub = prod.map((p) => reshare(p, n, t)); // sub[i][j]: node i+1 → node j+1
      const reduced = Array.from({ length: n }, (_, j) => combineReshares(sub.map((r) => r[j]!)));
      assert.ok(allSubsetsAgree(reduced, t), `(n=${n}, t=${t}) degree t`);
      assert.equal(reconstruct(points(reduced), t), mul(a, b));
      // Only 2t + 1 senders are needed.
      const senders = Array.from({ length: 2 * t + 1 }, (_, i) => i + 1);
      const fromFew = Array.from({ length: n }, (_, j) => combineReshares(senders.map((x) => sub[x - 1]![j]!), senders));
      assert.equal(reconstruct(points(fromFew), t), mul(a, b));
    }
  });

  it('validates inputs', () => {
    assert.throws(() => localSumOfProducts([1n], [1n, 2n]), SharingParameterError);
    assert.throws(() => combineReshares([1n, 2n], [1]), SharingParameterError);
    assert.throws(() => secureSumOfProducts([[1n]], [[1n]], 3, 1), SharingParameterError);
    assert.throws(() => secureSumOfProducts([[1n], [1n]], [[1n], [1n]], 2, 1), SharingParameterError);
    assert.throws(() => zeroSharing(3, 3), SharingParameterError);
  });
});

describe('MPC products: the protocol opens only a degree-t sharing of Σab', () => {
  it('secureSumOfProducts returns a degree-t sharing (every t + 1 subset agrees); the raw sum would not', () => {
    for (const [n, t] of [
      [3, 1],
      [5, 2],
    ] as const) {
      const as = [1.5, -2, 3.25, 10].map((v) => encode(v, 2));
      const bs = [4, 0.5, -1, 2].map((v) => encode(v, 2));
      const sa = shareMany(as, n, t);
      const sb = shareMany(bs, n, t);
      const out = secureSumOfProducts(sa, sb, n, t);
      assert.equal(out.length, n);
      assert.ok(allSubsetsAgree(out, t));
      assert.equal(checkConsistency(points(out), t).consistent, true);
      assert.equal(decodeProduct(reconstruct(points(out), t), 2), 6 - 1 - 3.25 + 20);

      const raw = sa.map((row, i) => localSumOfProducts(row, sb[i]!)); // what must NOT be opened
      assert.equal(allSubsetsAgree(raw, t), false);
      assert.equal(checkConsistency(points(raw), t).consistent, false);
      assert.notDeepEqual(out, raw);
    }
  });

  it('reconstructed sum, mean, variance and covariance equal plaintext on thousands of random data sets', () => {
    const rnd = prng(20240611);
    let checked = 0;
    for (let trial = 0; trial < 2000; trial++) {
      const [n, t] = trial % 4 === 3 ? [5, 2] : [3, 1];
      const scale = trial % 2 === 0 ? 2 : 4;
      const unit = 10 ** scale;
      const count = 2 + Math.floor(rnd() * 24);
      const range = [1, 100, 1e4, 1e6][trial % 4]!;
      // Values with at most `scale` decimals, so their fixed-point form is exact.
      const xs = Array.from({ length: count }, () => Math.round((rnd() - 0.5) * 2 * range * unit) / unit);
      const ys = Array.from({ length: count }, () => Math.round((rnd() - 0.3) * range * unit) / unit);
      const ex = xs.map((v) => encode(v, scale));
      const ey = ys.map((v) => encode(v, scale));
      const sx = shareMany(ex, n, t);
      const sy = shareMany(ey, n, t);

      // Linear aggregate: each node sums locally.
      const sumShares = sx.map((row) => row.reduce((acc, v) => add(acc, v), 0n));
      const sumX = reconstruct(points(sumShares), t);
      const sumXX = reconstruct(points(secureSumOfProducts(sx, sx, n, t)), t);
      const sumXY = reconstruct(points(secureSumOfProducts(sx, sy, n, t)), t);
      const sumY = reconstruct(
        points(sy.map((row) => row.reduce((acc, v) => add(acc, v), 0n))),
        t,
      );

      // Exact integer plaintext in fixed-point units.
      const ix = xs.map((v) => BigInt(Math.round(v * unit)));
      const iy = ys.map((v) => BigInt(Math.round(v * unit)));
      const plainX = ix.reduce((a, b) => a + b, 0n);
      const plainY = iy.reduce((a, b) => a + b, 0n);
      const plainXX = ix.reduce((a, b) => a + b * b, 0n);
      const plainXY = ix.reduce((a, b, k) => a + b * iy[k]!, 0n);
      const signed = (v: bigint): bigint => (v > P / 2n ? v - P : v);
      assert.equal(signed(sumX), plainX);
      assert.equal(signed(sumXX), plainXX);
      assert.equal(signed(sumXY), plainXY);
      assert.equal(signed(sumY), plainY);

      // Statistics, computed as a coordinator would from the opened aggregates.
      const N = BigInt(count);
      const mean = decode(sumX, scale) / count;
      const varNum = N * signed(sumXX) - signed(sumX) * signed(sumX); // exact, scale 2·scale
      const covNum = N * signed(sumXY) - signed(sumX) * signed(sumY);
      const variance = Number(varNum) / unit ** 2 / (count * (count - 1));
      const covariance = Number(covNum) / unit ** 2 / (count * (count - 1));

      const pMean = xs.reduce((a, b) => a + b, 0) / count;
      const pMeanY = ys.reduce((a, b) => a + b, 0) / count;
      const pVar = xs.reduce((a, b) => a + (b - pMean) ** 2, 0) / (count - 1);
      const pCov = xs.reduce((a, b, k) => a + (b - pMean) * (ys[k]! - pMeanY), 0) / (count - 1);
      const close = (a: number, b: number, scaleOf: number): boolean =>
        Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(scaleOf));
      assert.ok(close(mean, pMean, range), `mean ${mean} vs ${pMean}`);
      assert.ok(close(variance, pVar, range * range), `variance ${variance} vs ${pVar}`);
      assert.ok(close(covariance, pCov, range * range), `covariance ${covariance} vs ${pCov}`);
      checked++;
    }
    assert.equal(checked, 2000);
  });
});
