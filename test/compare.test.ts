/**
 * The secure comparison (mpc/compare.ts, mpc/boolean.ts, mpc/preprocessing.ts) as pure steps, all three
 * parties in one process: results against plaintext, and what one party sees.
 */
import assert from 'node:assert/strict';
import { andLocal, openWords, packWords, shareWords, unpackWords, zeroShareWords, type ReplicatedWords } from '../mpc/boolean';
import { comparisonPlan, differenceShares, notShares, offsetShares, simulateComparison, STATISTICAL_BITS, type CompareInput, type ComparisonOp, type ValueDomain } from '../mpc/compare';
import { toSigned } from '../mpc/field';
import { toFixed } from '../mpc/fixed-point';
import { dealCompareMaterial, decodeMaterial, encodeMaterial, firstElements, integersOfPlanes, MAX_DEALT_COMPARISONS, type CompareMaterial } from '../mpc/preprocessing';
import { deterministicRandom } from '../mpc/random';
import type { RoundName } from '../mpc/rounds';
import { interpolateAt, shareMany } from '../mpc/shamir';
import { CHI2_15, prng, uniformity } from './support/mpc';

const open = (out: Map<number, bigint[]>, k: number) => toSigned(interpolateAt([...out].map(([x, v]) => ({ x, y: v[k] as bigint })), 0));

interface Predicate {
  op: ComparisonOp;
  value: number;
}

/** Shares the values, runs `x op value` for each, returns the opened bits (and what every party received). */
function compare(values: number[], p: Predicate[] | Predicate, domain: ValueDomain, seed = 'compare', observe?: (to: number, from: number, round: RoundName, v: readonly bigint[]) => void) {
  const rng = deterministicRandom(seed);
  const preds = Array.isArray(p) ? p : values.map(() => p);
  const plans = preds.map((q) => comparisonPlan(q.op, q.value, domain));
  const valueBits = Math.max(...plans.map((q) => q.valueBits));
  const maskBits = valueBits + STATISTICAL_BITS;
  const shares = shareMany(values.map((v) => toFixedField(v, domain.scale)), 3, 1, undefined, rng);
  const material = dealCompareMaterial(values.length, maskBits, rng);
  const inputs = new Map<number, CompareInput>([1, 2, 3].map((node) => {
    const y = (shares[node - 1] as bigint[]).map((s, k) => offsetShares([s], (plans[k] as { offset: bigint }).offset)[0] as bigint);
    return [node, { y, material: material[node - 1] as CompareMaterial }];
  }));
  const params = { m: values.length, maskBits, valueBits, thresholds: plans.map((q) => q.threshold) };
  const out = simulateComparison(params, inputs, { n: 3, t: 1, rng, observe });
  const negated = new Map([...out].map(([x, v]) => [x, v.map((b, k) => ((plans[k] as { negate: boolean }).negate ? (notShares([b])[0] as bigint) : b))]));
  return { bits: values.map((_, k) => Number(open(negated, k))), material };
}

function toFixedField(v: number, scale: number): bigint {
  const x = toFixed(v, scale);
  return x < 0n ? (1n << 127n) - 1n + x : x;
}

const truth = (x: number, q: Predicate) => Number(q.op === '>=' ? x >= q.value : q.op === '>' ? x > q.value : q.op === '<' ? x < q.value : x <= q.value);

describe('secure comparison (pure, simulated)', () => {
  const domain: ValueDomain = { min: -50, max: 200, scale: 1 };

  it('matches plaintext on random data for every operator, with equal values, negatives and the range ends', () => {
    const next = prng(13);
    const values = Array.from({ length: 300 }, () => Math.round((next() * 250 - 50) * 10) / 10);
    values.push(-50, 200, 6.5, 6.5, 0, -0.1, 6.4, 6.6);
    for (const op of ['>=', '<', '>', '<='] as const) {
      for (const value of [6.5, -50, 200, 0, -0.1, 6.45]) {
        const { bits } = compare(values, { op, value }, domain, `${op}${value}`);
        const wrong = values.filter((x, k) => bits[k] !== truth(x, { op, value }));
        assert.deepEqual(wrong, [], `${op} ${value}: wrong for ${wrong.slice(0, 5).join(', ')}`);
      }
    }
  });

  it('thresholds outside the range and per-element thresholds in one batch', () => {
    const values = [-50, 0, 12.3, 200, 150, -49.9];
    const preds: Predicate[] = [{ op: '>=', value: -1000 }, { op: '<', value: 1e6 }, { op: '>', value: 12.3 }, { op: '<=', value: 200 }, { op: '>=', value: 1e9 }, { op: '<', value: -50 }];
    const { bits } = compare(values, preds, domain, 'outside');
    assert.deepEqual(bits, values.map((x, k) => truth(x, preds[k] as Predicate)));
    assert.deepEqual(bits, [1, 1, 0, 1, 0, 0]);
  });

  it('one element, and more elements than a word', () => {
    assert.deepEqual(compare([7], { op: '>=', value: 7 }, domain, 'one').bits, [1]);
    const values = Array.from({ length: 97 }, (_, k) => k - 40);
    assert.deepEqual(compare(values, { op: '<', value: 3 }, domain, 'words').bits, values.map((x) => Number(x < 3)));
  });

  it('two shared values: [x ≥ y] through [x − y + offset ≥ offset]', () => {
    const rng = deterministicRandom('pairs');
    const xs = [5n, 10n, 10n, 0n, 199n, 3n];
    const ys = [6n, 10n, 9n, 199n, 0n, 3n];
    const off = 200n; // x, y in [0, 199]: x − y + 200 in [1, 399]
    const sx = shareMany(xs, 3, 1, undefined, rng);
    const sy = shareMany(ys, 3, 1, undefined, rng);
    const material = dealCompareMaterial(xs.length, 9 + STATISTICAL_BITS, rng);
    const inputs = new Map([1, 2, 3].map((node) => [node, { y: differenceShares(sx[node - 1] as bigint[], sy[node - 1] as bigint[], off), material: material[node - 1] as CompareMaterial }]));
    const out = simulateComparison({ m: xs.length, maskBits: 9 + STATISTICAL_BITS, valueBits: 9, thresholds: xs.map(() => off) }, inputs, { n: 3, t: 1, rng });
    assert.deepEqual(xs.map((_, k) => Number(open(out, k))), xs.map((x, k) => Number(x >= (ys[k] as bigint))));
  });

  it('material dealt for more elements than used: the first k of it (firstElements) compares the first k values right', () => {
    const rng = deterministicRandom('first-k');
    const domain: ValueDomain = { min: 0, max: 300, scale: 0 };
    const plan = comparisonPlan('>=', 120, domain);
    const maskBits = plan.valueBits + STATISTICAL_BITS;
    // 37 values (a word and 5 bits) out of 70 dealt (three words): the cut crosses a word.
    const xs = Array.from({ length: 37 }, (_, k) => (k * 53) % 301);
    const shares = shareMany(xs.map((v) => toFixedField(v, 0)), 3, 1, undefined, rng);
    const dealt = dealCompareMaterial(70, maskBits, rng);
    const inputs = new Map<number, CompareInput>([1, 2, 3].map((node) => [node, {
      y: offsetShares(shares[node - 1] as bigint[], plan.offset), material: firstElements(dealt[node - 1] as CompareMaterial, xs.length),
    }]));
    const out = simulateComparison({ m: xs.length, maskBits, valueBits: plan.valueBits, thresholds: xs.map(() => plan.threshold) }, inputs, { n: 3, t: 1, rng });
    assert.deepEqual(xs.map((_, k) => Number(open(out, k))), xs.map((x) => Number(x >= 120)));
    assert.throws(() => firstElements(dealt[0] as CompareMaterial, 71), /cannot keep 71 of 70/);
    // The dealer refuses a run past its limit before allocating anything.
    assert.throws(() => dealCompareMaterial(MAX_DEALT_COMPARISONS + 1, maskBits), /comparisons are more than one run deals for/);
  });

  it('the dealer: [r] opens to the integer of r’s bits, [s] to s’s bit; the material survives its byte form', () => {
    const mats = dealCompareMaterial(70, 45, deterministicRandom('deal'));
    const rBits = openWords(mats.map((m) => m.rBits));
    const r = integersOfPlanes(rBits, 70, 45);
    const s = integersOfPlanes(openWords(mats.map((m) => m.sBits)), 70, 1);
    for (let k = 0; k < 70; k++) {
      assert.equal(interpolateAt(mats.map((m, i) => ({ x: i + 1, y: m.r[k] as bigint })).slice(0, 2), 0), r[k]);
      assert.equal(interpolateAt(mats.map((m, i) => ({ x: i + 1, y: m.s[k] as bigint })).slice(1, 3), 0), s[k]);
      assert.ok((r[k] as bigint) < 1n << 45n);
    }
    const back = decodeMaterial(encodeMaterial(mats[1] as CompareMaterial));
    assert.deepEqual(back, mats[1]);
    // From a Node Buffer (what openSealed returns) that the caller zeroes afterwards: still intact.
    const pooled = Buffer.from(encodeMaterial(mats[1] as CompareMaterial));
    const fromBuffer = decodeMaterial(pooled);
    pooled.fill(0);
    assert.deepEqual(fromBuffer, mats[1]);
    assert.throws(() => decodeMaterial(encodeMaterial(mats[1] as CompareMaterial).slice(0, -1)), /expected/);
  });

  it('replicated AND: the three local halves XOR to a ∧ b, and the words pack into field elements and back', () => {
    const rng = deterministicRandom('and');
    const a = new Uint32Array([0xdeadbeef, 0x12345678, 0xffffffff, 0]);
    const b = new Uint32Array([0x0f0f0f0f, 0xffffffff, 0x80000001, 0xffffffff]);
    const sa = shareWords(a, rng);
    const sb = shareWords(b, rng);
    const keys = [new Uint8Array(16).fill(1), new Uint8Array(16).fill(2), new Uint8Array(16).fill(3)];
    const z = [0, 1, 2].map((p) => andLocal(sa[p] as ReplicatedWords, sb[p] as ReplicatedWords, zeroShareWords([keys[p] as Uint8Array, keys[(p + 1) % 3] as Uint8Array], 7, 4)));
    const xor = z.reduce((acc, zp) => acc.map((w, i) => (w ^ (zp[i] as number)) >>> 0), new Uint32Array(4));
    assert.deepEqual([...xor], [...a].map((w, i) => (w & (b[i] as number)) >>> 0));
    assert.deepEqual(unpackWords(packWords(a), 4, 'test'), a);
    assert.throws(() => unpackWords(packWords(a), 7, 'test'), /protocol|elements/);
  });

  it('a tampered masked share is caught (the third share is checked)', () => {
    const rng = deterministicRandom('tamper');
    const material = dealCompareMaterial(2, 50, rng);
    const shares = shareMany([5n, 6n], 3, 1, undefined, rng);
    const inputs = new Map([1, 2, 3].map((node) => [node, { y: shares[node - 1] as bigint[], material: material[node - 1] as CompareMaterial }]));
    const tampered = (inputs.get(3) as { y: bigint[] }).y;
    tampered[1] = (tampered[1] as bigint) + 1n;
    assert.throws(() => simulateComparison({ m: 2, maskBits: 50, valueBits: 10, thresholds: [5n, 5n] }, inputs, { n: 3, t: 1, rng }), (e: unknown) => (e as { code?: string }).code === 'inconsistent_shares');
  });

  describe("a node's view", () => {
    // Node 1's view: its dealt material (checked in the dealer test: Shamir shares of degree 1 and two
    // of three XOR components) and every message it receives. c = y + r must not depend on y, e = b ⊕ s
    // must be a fair coin whatever b is, and the AND halves from node 2 must look uniform.
    function view(values: number[], seed: string) {
      const got: Record<string, bigint[][]> = {};
      compare(values, { op: '>=', value: 100 }, domain, seed, (to, from, round, v) => {
        if (to === 1) (got[`${round}|${from}`] ??= []).push([...v]);
      });
      return got;
    }
    const m = 4000;

    it("node 1's dealt material is uniform: its [r] and [s] shares, and each XOR component a fair coin", () => {
      const [mine] = dealCompareMaterial(m, 52);
      assert.ok(uniformity((mine as CompareMaterial).r).pass, 'shares of r');
      assert.ok(uniformity((mine as CompareMaterial).s).pass, 'shares of s (of a bit!)');
      for (const words of [mine!.rBits.a, mine!.rBits.b, mine!.sBits.a, mine!.sBits.b]) {
        let ones = 0;
        for (const w of words) for (let i = 0; i < 32; i++) ones += (w >>> i) & 1;
        const total = words.length * 32;
        assert.ok(Math.abs(ones / total - 0.5) / Math.sqrt(0.25 / total) < 5, `${ones}/${total}`);
      }
    });

    it('the opened c is the same distribution for the smallest and the largest values', () => {
      const lo = view(new Array<number>(m).fill(-50), 'view-lo');
      const hi = view(new Array<number>(m).fill(200), 'view-hi');
      // c = y + r with r uniform on [0, 2^(v + σ)): node 1 opens c from node 2's and 3's shares.
      const bits = 12 + STATISTICAL_BITS;
      const openC = (g: Record<string, bigint[][]>) => {
        const s2 = (g['cmp-open|2'] as bigint[][])[0] as bigint[];
        const s3 = (g['cmp-open|3'] as bigint[][])[0] as bigint[];
        return s2.map((y, k) => interpolateAt([{ x: 2, y }, { x: 3, y: s3[k] as bigint }], 0));
      };
      const bucket = (cs: bigint[]) => {
        const counts = new Array<number>(16).fill(0);
        for (const c of cs) counts[Number(c >> BigInt(bits - 4))]! += 1;
        return counts;
      };
      const a = bucket(openC(lo));
      const b = bucket(openC(hi));
      let chi2 = 0;
      for (let i = 0; i < 16; i++) {
        const total = (a[i] as number) + (b[i] as number);
        if (total > 0) chi2 += ((a[i] as number) - total / 2) ** 2 / (total / 2) + ((b[i] as number) - total / 2) ** 2 / (total / 2);
      }
      assert.ok(chi2 < CHI2_15, `c does not depend on y: χ² = ${chi2.toFixed(1)}`);
      for (const counts of [a, b]) {
        const chiU = counts.reduce((acc, c) => acc + (c - m / 16) ** 2 / (m / 16), 0);
        assert.ok(chiU < CHI2_15, `c's top bits are uniform: χ² = ${chiU.toFixed(1)}`);
      }
    });

    it('e = b ⊕ s is a fair coin whether every b is 0 or every b is 1; the AND halves are uniform', () => {
      for (const [values, seed] of [[new Array<number>(m).fill(-50), 'e0'], [new Array<number>(m).fill(200), 'e1']] as const) {
        const got = view([...values], seed);
        const e = unpackWords((got['cmp-b2a|2'] as bigint[][])[0] as bigint[], Math.ceil(m / 32), 'e');
        let ones = 0;
        for (let k = 0; k < m; k++) ones += ((e[k >>> 5] as number) >>> (k & 31)) & 1;
        // node 1 receives one component of e; with its own two it would open e: check the component
        // and the opened e (equal in distribution) are fair coins.
        const z = Math.abs(ones / m - 0.5) / Math.sqrt(0.25 / m);
        assert.ok(z < 5, `e's component from node 2 is a fair coin: ${ones}/${m}`);
        const halves = Object.keys(got).filter((k) => k.startsWith('cmp-and'));
        assert.ok(halves.length >= 5, `AND layers seen: ${halves.join(', ')}`);
        for (const key of halves) {
          const words = (got[key] as bigint[][])[0] as bigint[];
          let set = 0;
          let total = 0;
          for (const w of words) {
            for (let i = 0; i < 96; i++) set += Number((w >> BigInt(i)) & 1n);
            total += 96;
          }
          const zz = Math.abs(set / total - 0.5) / Math.sqrt(0.25 / total);
          assert.ok(zz < 5, `${key}: ${set}/${total} bits set`);
        }
      }
    });
  });
});
