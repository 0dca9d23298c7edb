import { strict as assert } from 'node:assert';
import { DpParameterError } from '../mpc/errors';
import { add, toSigned } from '../mpc/field';
import { decode, encode } from '../mpc/fixed-point';
import { type SharePoint, checkConsistency, reconstruct, share } from '../mpc/shamir';
import {
  bernoulliExp,
  discreteLaplaceVariance,
  laplaceScale,
  noiseShare,
  sampleDiscreteLaplace,
  toRational,
} from '../mpc/dp-noise';

const points = (ys: readonly bigint[]): SharePoint[] => ys.map((y, i) => ({ x: i + 1, y }));

function moments(xs: readonly number[]): { mean: number; variance: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const variance = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1);
  return { mean, variance };
}

describe('DP noise: calibration', () => {
  it('computes the scale b = Δ·10^scale/ε exactly', () => {
    assert.deepEqual(laplaceScale(0.5, 1, 2), { num: 200n, den: 1n });
    assert.deepEqual(laplaceScale(0.3, 1, 0), { num: 10n, den: 3n });
    assert.deepEqual(laplaceScale(2, 0.25, 1), { num: 5n, den: 4n });
    assert.deepEqual(toRational(0.1), { num: 1n, den: 10n });
    assert.deepEqual(toRational(1e21), { num: 10n ** 21n, den: 1n });
  });

  it('rejects bad parameters', () => {
    for (const eps of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => laplaceScale(eps, 1, 0), DpParameterError);
    }
    assert.throws(() => laplaceScale(1, 0, 0), DpParameterError);
    assert.throws(() => laplaceScale(1, 1, -1), DpParameterError);
    assert.throws(() => noiseShare(1, 1, 0, 2, 1), /n must be/);
    assert.throws(() => sampleDiscreteLaplace(0), DpParameterError);
  });
});

describe('DP noise: exact samplers', () => {
  it('Bernoulli(exp(−γ)) has the right frequency', () => {
    const N = 20000;
    for (const [num, den] of [
      [1n, 2n],
      [23n, 10n],
    ] as const) {
      let hits = 0;
      for (let i = 0; i < N; i++) if (bernoulliExp(num, den)) hits++;
      const p = Math.exp(-Number(num) / Number(den));
      const sd = Math.sqrt((p * (1 - p)) / N);
      assert.ok(Math.abs(hits / N - p) < 5 * sd, `γ=${num}/${den}: ${hits / N} vs ${p}`);
    }
  });

  for (const b of [0.7, 3, 250]) {
    it(`discrete Laplace (b = ${b}): integers, mean ≈ 0, variance ≈ 2e^{−1/b}/(1−e^{−1/b})²`, () => {
      const N = 20000;
      const raw = Array.from({ length: N }, () => sampleDiscreteLaplace(b));
      for (const z of raw) assert.equal(typeof z, 'bigint');
      const xs = raw.map(Number);
      const { mean, variance } = moments(xs);
      const expected = discreteLaplaceVariance(b);
      assert.ok(Math.abs(mean) < 5 * Math.sqrt(expected / N), `mean ${mean}`);
      // Laplace kurtosis is 6, so sd(sample variance) ≈ σ²·√(5/N) ≈ 1.6 % here; allow 10 %.
      assert.ok(Math.abs(variance / expected - 1) < 0.1, `variance ${variance} vs ${expected}`);
      // Symmetric, with P(0) = (1 − q)/(1 + q), q = e^{−1/b}.
      const q = Math.exp(-1 / b);
      const p0 = (1 - q) / (1 + q);
      const zeros = xs.filter((x) => x === 0).length / N;
      assert.ok(Math.abs(zeros - p0) < 5 * Math.sqrt((p0 * (1 - p0)) / N) + 1e-3, `P(0) ${zeros} vs ${p0}`);
      const pos = xs.filter((x) => x > 0).length;
      const neg = xs.filter((x) => x < 0).length;
      assert.ok(Math.abs(pos - neg) < 5 * Math.sqrt(pos + neg), `pos ${pos} neg ${neg}`);
    });
  }
});

describe('DP noise: distributed, in shares', () => {
  it('each node’s contribution is a degree-t sharing of a small signed integer', () => {
    for (const [n, t] of [
      [3, 1],
      [5, 2],
    ] as const) {
      const shares = noiseShare(1, 1, 0, n, t);
      assert.equal(shares.length, n);
      const report = checkConsistency(points(shares), t);
      assert.equal(report.consistent, true);
      const z = toSigned(report.secret!);
      assert.ok(z > -1000n && z < 1000n, `noise ${z}`);
    }
  });

  it('noised aggregate = aggregate + Σ of n full-scale contributions (variance n·Var)', () => {
    const n = 3;
    const t = 1;
    const epsilon = 0.5;
    const sensitivity = 2; // e.g. a sum of values in [0, 2]
    const scale = 1;
    const b = (sensitivity * 10 ** scale) / epsilon; // 40 fixed-point units
    const trueSum = encode(123.4, scale);
    const noise: number[] = [];
    for (let trial = 0; trial < 3000; trial++) {
      // Node i's shares of the aggregate, plus the i-th share of every node's noise contribution.
      const agg = share(trueSum, n, t);
      const contributions = Array.from({ length: n }, () => noiseShare(epsilon, sensitivity, scale, n, t));
      const noised = agg.map((s, i) => contributions.reduce((acc, c) => add(acc, c[i]!), s));
      const opened = decode(reconstruct(points(noised), t), scale);
      noise.push(Math.round((opened - 123.4) * 10 ** scale));
    }
    const { mean, variance } = moments(noise);
    const expected = n * discreteLaplaceVariance(b);
    assert.ok(Math.abs(mean) < 5 * Math.sqrt(expected / noise.length), `mean ${mean}`);
    assert.ok(Math.abs(variance / expected - 1) < 0.2, `variance ${variance} vs ${expected}`);
  });
});
