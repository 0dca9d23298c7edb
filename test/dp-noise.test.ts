import { strict as assert } from 'node:assert';
import { DpParameterError } from '../mpc/errors';
import { add, toSigned } from '../mpc/field';
import { decode, encode } from '../mpc/fixed-point';
import { type SharePoint, checkConsistency, reconstruct, share } from '../mpc/shamir';
import {
  bernoulliExp,
  discreteLaplaceVariance,
  honestParts,
  laplaceScale,
  MAX_SPLIT_SCALE,
  noiseShare,
  sampleDiscreteLaplace,
  sampleGeometric,
  sampleNoisePart,
  samplePolyaHalfPair,
  toRational,
} from '../mpc/dp-noise';
import { deterministicRandom } from '../mpc/random';

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

  it('noised aggregate = aggregate + Σ of n noise parts (variance n/2·Var with t = 1: any two parts are one Laplace)', () => {
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
    const expected = (n / 2) * discreteLaplaceVariance(b);
    assert.ok(Math.abs(mean) < 5 * Math.sqrt(expected / noise.length), `mean ${mean}`);
    assert.ok(Math.abs(variance / expected - 1) < 0.2, `variance ${variance} vs ${expected}`);
  });
});

/** Pearson's χ² of observed integer samples against a pmf over `cells` (the last cell takes the rest). */
function chiSquare(samples: readonly number[], pmf: (k: number) => number, cells: readonly number[]): number {
  const N = samples.length;
  const probs = cells.map(pmf);
  probs.push(1 - probs.reduce((a, b) => a + b, 0));
  const counts = new Array<number>(probs.length).fill(0);
  for (const x of samples) {
    const i = cells.indexOf(x);
    counts[i === -1 ? probs.length - 1 : i]! += 1;
  }
  return counts.reduce((acc, o, i) => acc + (o - N * probs[i]!) ** 2 / (N * probs[i]!), 0);
}

/** χ² critical values at p = 0.001 (df = cells − 1 + 1 for the rest cell − 1). */
const CHI2_999: Record<number, number> = { 8: 26.12, 12: 32.91, 16: 39.25 };

describe('DP noise: parts over the honest nodes (exact NB(½) split)', () => {
  const b = 2.5;
  const q = Math.exp(-1 / b);
  const laplacePmf = (z: number) => ((1 - q) / (1 + q)) * q ** Math.abs(z);
  const central = (m: number) => { let u = 1; for (let i = 1; i <= m; i++) u *= (2 * i - 1) / (2 * i); return u; }; // C(2m, m)/4^m
  const polyaHalfPmf = (a: number) => Math.sqrt(1 - q) * q ** a * central(a);

  it('Geometric(1 − q) has P(G = g) = (1 − q)q^g', () => {
    const rng = deterministicRandom('geometric');
    const xs = Array.from({ length: 20000 }, () => Number(sampleGeometric(b, rng)));
    const cells = Array.from({ length: 8 }, (_, k) => k);
    assert.ok(chiSquare(xs, (g) => (1 - q) * q ** g, cells) < CHI2_999[8]!);
  });

  it('the arcsine split of a geometric gives two independent NB(½, q) variables', () => {
    const rng = deterministicRandom('polya-half');
    const pairs = Array.from({ length: 20000 }, () => samplePolyaHalfPair(b, rng).map(Number) as [number, number]);
    const cells = Array.from({ length: 8 }, (_, k) => k);
    for (const side of [0, 1] as const) assert.ok(chiSquare(pairs.map((p) => p[side]), polyaHalfPmf, cells) < CHI2_999[8]!, `side ${side}`);
    // Independence: P(A = a, B = c) = P(a)·P(c) on the small cells.
    const joint = pairs.map(([a, c]) => (a < 3 && c < 3 ? a * 3 + c : -1));
    const grid = Array.from({ length: 9 }, (_, k) => k);
    assert.ok(chiSquare(joint, (k) => polyaHalfPmf(Math.floor(k / 3)) * polyaHalfPmf(k % 3), grid) < CHI2_999[8]! + 2, 'independent halves');
  });

  it('any two nodes’ noise parts together are exactly the full-scale discrete Laplace', () => {
    const rng = deterministicRandom('two-parts');
    const sums = Array.from({ length: 20000 }, () => Number(sampleNoisePart(b, 2, rng) + sampleNoisePart(b, 2, rng)));
    const cells = Array.from({ length: 15 }, (_, k) => k - 7);
    assert.ok(chiSquare(sums, laplacePmf, cells) < CHI2_999[16]!, 'two parts = Lap_Z(b)');
    // One part alone is NOT enough (its variance is half the Laplace's): the guarantee needs two honest nodes.
    const one = moments(Array.from({ length: 20000 }, () => Number(sampleNoisePart(b, 2, rng))));
    assert.ok(Math.abs(one.variance / discreteLaplaceVariance(b) - 0.5) < 0.05, `one part: ${one.variance}`);
  });

  it('large scales: two parts keep the Laplace variance, and three parts have 3/2 of it', () => {
    const big = 8_000;
    const rng = deterministicRandom('big-parts');
    const three = Array.from({ length: 2000 }, () => Number(sampleNoisePart(big, 2, rng) + sampleNoisePart(big, 2, rng) + sampleNoisePart(big, 2, rng)));
    const { mean, variance } = moments(three);
    const lap = discreteLaplaceVariance(big);
    assert.ok(Math.abs(mean) < 5 * Math.sqrt((1.5 * lap) / three.length), `mean ${mean}`);
    assert.ok(Math.abs(variance / (1.5 * lap) - 1) < 0.15, `variance ratio ${variance / lap}`);
  });

  it('splits into two parts only when two honest nodes remain and the walk is affordable', () => {
    assert.equal(honestParts(3, 1), 2);
    assert.equal(honestParts(5, 1), 2);
    assert.equal(honestParts(2, 1), 1, 'two participants, one may be corrupt: each adds full-scale noise');
    assert.equal(honestParts(3, 1, { num: BigInt(MAX_SPLIT_SCALE) * 2n, den: 1n }), 1);
    assert.throws(() => honestParts(1, 1), DpParameterError);
  });
});
