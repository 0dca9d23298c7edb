import { strict as assert } from 'node:assert';
import {
  AggregateCapacityError,
  FieldElementError,
  InconsistentSharesError,
  SharingParameterError,
} from '../mpc/errors';
import { HALF_P, P, add, mod, mul, randomElement, sub } from '../mpc/field';
import { assertAggregateCapacity, decode, decodeProduct, encode, maxAggregateCount } from '../mpc/fixed-point';
import {
  type SharePoint,
  checkConsistency,
  interpolateAt,
  lagrangeCoefficientsAtZero,
  reconstruct,
  share,
  shareMany,
} from '../mpc/shamir';
import { prng } from './support/mpc';
import { CHI2_15, homogeneity, uniformity } from './support/mpc';

/** All k-subsets of 0..n−1. */
function subsets(n: number, k: number): number[][] {
  if (k === 0) return [[]];
  if (n < k) return [];
  return [...subsets(n - 1, k), ...subsets(n - 1, k - 1).map((s) => [...s, n - 1])];
}

const points = (ys: readonly bigint[]): SharePoint[] => ys.map((y, i) => ({ x: i + 1, y }));


describe('Shamir sharing: parameters', () => {
  it('accepts n ≥ 2t + 1, t ≥ 1, integers only', () => {
    assert.equal(share(5n, 3, 1).length, 3);
    assert.equal(share(5n, 7, 3).length, 7);
    assert.throws(() => share(5n, 2, 1), SharingParameterError);
    assert.throws(() => share(5n, 4, 2), SharingParameterError);
    assert.throws(() => share(5n, 3, 0), SharingParameterError);
    assert.throws(() => share(5n, 3.5, 1), SharingParameterError);
    assert.throws(() => share(5n, 3, 1.5), SharingParameterError);
    assert.throws(() => shareMany([1n], 2, 1), SharingParameterError);
    assert.throws(() => share(P, 3, 1), FieldElementError);
    assert.throws(() => share(-1n, 3, 1), FieldElementError);
    assert.throws(() => shareMany([1n, P], 3, 1), FieldElementError);
  });

  it('rejects malformed points', () => {
    assert.throws(() => reconstruct([]), SharingParameterError);
    assert.throws(() => reconstruct([{ x: 1, y: 1n }, { x: 1, y: 2n }]), SharingParameterError);
    assert.throws(() => reconstruct([{ x: 0, y: 1n }, { x: 1, y: 2n }]), SharingParameterError);
    assert.throws(() => reconstruct([{ x: 1, y: P }, { x: 2, y: 2n }]), FieldElementError);
    assert.throws(() => reconstruct([{ x: 1, y: 1n }], 1), SharingParameterError, 't shares are not enough');
  });
});

describe('Shamir sharing: reconstruction', () => {
  for (const [n, t] of [
    [3, 1],
    [5, 2],
    [7, 3],
  ] as const) {
    it(`(n=${n}, t=${t}) reconstructs from every subset of t + 1 shares`, () => {
      for (const secret of [0n, 1n, P - 1n, randomElement(), encode(-42.5, 2)]) {
        const pts = points(share(secret, n, t));
        for (const s of subsets(n, t + 1)) {
          const subset = s.map((i) => pts[i] as SharePoint);
          assert.equal(reconstruct(subset, t), secret);
          assert.equal(reconstruct([...subset].reverse(), t), secret, 'order does not matter');
        }
        assert.equal(reconstruct(pts, t), secret, 'all n shares, checked');
      }
    });
  }

  it('gives a different (useless) value from t shares', () => {
    const secret = 123456789n;
    const pts = points(share(secret, 5, 2));
    assert.notEqual(reconstruct(pts.slice(0, 2)), secret); // degree-1 interpolation of a degree-2 sharing
  });

  it('caches Lagrange coefficients and returns a fresh array', () => {
    const a = lagrangeCoefficientsAtZero([1, 2, 3]);
    a[0] = 0n;
    const b = lagrangeCoefficientsAtZero([1, 2, 3]);
    assert.deepEqual(b, [3n, P - 3n, 1n]); // 3, −3, 1
    const l = lagrangeCoefficientsAtZero([1, 2]);
    assert.equal(add(l[0] as bigint, l[1] as bigint), 1n);
  });

  it('shareMany lays out shares per node and matches reconstruction', () => {
    for (const [n, t] of [
      [3, 1],
      [5, 2],
    ] as const) {
      const secrets = Array.from({ length: 200 }, (_, i) => (i % 3 === 0 ? randomElement() : encode(i - 100, 1)));
      const out: bigint[][] = [[1n, 2n, 3n]];
      const res = shareMany(secrets, n, t, out);
      assert.equal(res, out, 'reuses the given arrays');
      assert.equal(res.length, n);
      for (const row of res) assert.equal(row.length, secrets.length);
      secrets.forEach((s, k) => {
        const pts = res.map((row, i) => ({ x: i + 1, y: row[k] as bigint }));
        assert.equal(reconstruct(pts, t), s);
        assert.equal(reconstruct(pts.slice(n - t - 1), t), s);
      });
    }
    assert.deepEqual(shareMany([], 3, 1), [[], [], []]);
  });
});

describe('Shamir sharing: linearity and aggregates', () => {
  it('sums of shares reconstruct sums of values, including negatives', () => {
    const rnd = prng(7);
    for (let trial = 0; trial < 200; trial++) {
      const values = Array.from({ length: 1 + Math.floor(rnd() * 30) }, () => Math.round((rnd() - 0.5) * 2e6) / 100);
      const perNode = shareMany(
        values.map((v) => encode(v, 2)),
        3,
        1,
      );
      const nodeSums = perNode.map((row) => row.reduce((a, b) => a + b, 0n) % P); // as SQL sum(numeric) then mod
      const expected = values.reduce((a, v) => a + BigInt(Math.round(v * 100)), 0n);
      const got = reconstruct(points(nodeSums), 1);
      assert.equal(got, mod(expected));
      assert.equal(decode(got, 2), Number(expected) / 100);
    }
  });

  it('wraps around beyond (P−1)/2, and the capacity guard refuses such aggregates', () => {
    // Documented limit: an aggregate must stay in [−(P−1)/2, (P−1)/2]. Squares of the largest safe
    // scaled value: 10^6 of them fit, 1.1·10^6 wrap and decode as a wrong (negative) number.
    const v = encode(Number.MAX_SAFE_INTEGER, 0);
    const square = mul(v, v);
    const fits = mul(square, 1_000_000n);
    const wraps = mul(square, 1_100_000n);
    assert.equal(BigInt(decodeProduct(fits, 0)) > 0n, true);
    assert.ok(decodeProduct(wraps, 0) < 0, 'a sum above (P−1)/2 decodes wrong');
    assertAggregateCapacity({ count: 1_000_000, maxAbs: Number.MAX_SAFE_INTEGER, scale: 0, degree: 2 });
    assert.throws(
      () => assertAggregateCapacity({ count: 1_100_000, maxAbs: Number.MAX_SAFE_INTEGER, scale: 0, degree: 2 }),
      AggregateCapacityError,
    );
    // The same through shares: two values just above P/4 each sum past P/2.
    const quarter = HALF_P / 2n + 1n;
    const sharesA = share(quarter, 3, 1);
    const sharesB = share(quarter, 3, 1);
    const total = reconstruct(points(sharesA.map((a, i) => add(a, sharesB[i] as bigint))), 1);
    assert.ok(decode(total, 0) < 0, 'wrapped');
    // Realistic indicators have vast headroom: 10^6 squares of values up to 10^6 at scale 4.
    assertAggregateCapacity({ count: 1_000_000, maxAbs: 1e6, scale: 4, degree: 2 });
    assert.ok(maxAggregateCount(1e6, 4, 1) > 10n ** 27n);
  });
});

describe('Shamir sharing: wrong shares', () => {
  it('detects a single wrong share with n = 3, t = 1 but cannot locate it', () => {
    const secret = encode(72.5, 1);
    for (let bad = 0; bad < 3; bad++) {
      const pts = points(share(secret, 3, 1));
      (pts[bad] as SharePoint).y = add((pts[bad] as SharePoint).y, 1n);
      const report = checkConsistency(pts, 1);
      assert.equal(report.consistent, false);
      assert.equal(report.located, false);
      assert.ok(report.suspects.includes(bad + 1));
      assert.deepEqual(report.suspects, [1, 2, 3]);
      assert.throws(() => reconstruct(pts, 1), (e: unknown) => e instanceof InconsistentSharesError && e.code === 'inconsistent_shares');
    }
    const ok = checkConsistency(points(share(secret, 3, 1)), 1);
    assert.deepEqual(ok, { consistent: true, suspects: [], located: false, secret });
  });

  it('locates a wrong share with n = 5, t = 1 and recovers the secret', () => {
    const secret = encode(-12.25, 2);
    for (let bad = 0; bad < 5; bad++) {
      const pts = points(share(secret, 5, 1));
      (pts[bad] as SharePoint).y = randomElement();
      const report = checkConsistency(pts, 1);
      assert.equal(report.consistent, false);
      assert.equal(report.located, true);
      assert.deepEqual(report.suspects, [bad + 1]);
      assert.equal(report.secret, secret);
    }
  });

  it('locates up to two wrong shares with n = 7, t = 2; flags but does not locate beyond', () => {
    const secret = randomElement();
    const pts = points(share(secret, 7, 2));
    pts[1]!.y = sub(pts[1]!.y, 5n);
    pts[4]!.y = randomElement();
    const report = checkConsistency(pts, 2);
    assert.equal(report.located, true);
    assert.deepEqual(report.suspects, [2, 5]);
    assert.equal(report.secret, secret);

    const five = points(share(secret, 5, 1));
    five[0]!.y = add(five[0]!.y, 1n);
    five[3]!.y = add(five[3]!.y, 1n);
    const two = checkConsistency(five, 1);
    assert.equal(two.consistent, false);
    assert.equal(two.located, false);
    assert.ok(two.suspects.includes(1) && two.suspects.includes(4));
  });

  it('interpolates a share at another point (used for checking)', () => {
    const pts = points(share(99n, 5, 2));
    assert.equal(interpolateAt(pts.slice(0, 3), 4), pts[3]!.y);
    assert.equal(interpolateAt(pts.slice(2, 5), 0), 99n);
  });
});

// ---- privacy ------------------------------------------------------------------------------------

/** Deliberately broken sharings (what the privacy test must catch). */
const broken = {
  smallCoefficients: (s: bigint): bigint[] => {
    const a = BigInt(Math.floor(Math.random() * 2 ** 40));
    return [1n, 2n, 3n].map((x) => mod(s + a * x));
  },
  fixedCoefficient: (s: bigint): bigint[] => [1n, 2n, 3n].map((x) => mod(s + 0x5deece66dn * x)),
};

describe('Shamir sharing: privacy (statistical)', () => {
  const N = 4096;
  const zeros = new Array<bigint>(N).fill(encode(0, 4));
  const millions = new Array<bigint>(N).fill(encode(1e6, 4));

  it('one node’s shares (t = 1) look uniform and the same for all-zeros and all-10^6 data', () => {
    for (let node = 0; node < 3; node++) {
      const a = shareMany(zeros, 3, 1)[node]!;
      const b = shareMany(millions, 3, 1)[node]!;
      const ua = uniformity(a);
      const ub = uniformity(b);
      assert.ok(ua.pass, `zeros, node ${node + 1}: ${JSON.stringify(ua)}`);
      assert.ok(ub.pass, `10^6, node ${node + 1}: ${JSON.stringify(ub)}`);
      assert.ok(homogeneity(a, b) < CHI2_15, 'indistinguishable');
    }
  });

  it('any t = 2 nodes’ shares (n = 5) are jointly uniform', () => {
    const res = shareMany(millions, 5, 2);
    for (const [i, j] of subsets(5, 2)) {
      // 16 joint buckets: top 2 bits of node i’s share, top 2 bits of node j’s share.
      const joint = res[i!]!.map((s, k) => (((s >> 125n) << 2n) | (res[j!]![k]! >> 125n)) << 123n);
      assert.ok(uniformity(joint).pass, `nodes ${i! + 1},${j! + 1}`);
    }
  });

  it('the same test catches broken sharings', () => {
    for (const [name, deal] of Object.entries(broken)) {
      for (const data of [zeros, millions]) {
        const node1 = data.map((s) => deal(s)[0]!);
        assert.equal(uniformity(node1).pass, false, `${name} should fail`);
      }
    }
  });
});
