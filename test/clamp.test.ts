/**
 * Clamping a shared value into declared bounds (mpc/clamp.ts) as pure steps, all three parties in one
 * process: two comparisons a value ([x ≥ lo], [x ≥ hi]), the two products, clamp(x) against plaintext
 * (edges, negatives, the domain's limits), and what node 1 receives in the product rounds.
 */
import assert from 'node:assert/strict';
import { clampedFromProducts, clampFactors, clampPlan, onGrid, type ClampBounds } from '../mpc/clamp';
import { simulateComparison, STATISTICAL_BITS, type CompareInput, type ValueDomain } from '../mpc/compare';
import { add, mod, mul, toSigned } from '../mpc/field';
import { toFixed } from '../mpc/fixed-point';
import { dealCompareMaterial, type CompareMaterial } from '../mpc/preprocessing';
import { deterministicRandom } from '../mpc/random';
import { numbered, reshareRound, simulateRounds, zeroRound, type RoundName } from '../mpc/rounds';
import { interpolateAt, shareMany } from '../mpc/shamir';
import { CHI2_15, homogeneity, prng, uniformity } from './support/mpc';

const DOMAIN: ValueDomain = { min: -50, max: 200, scale: 1 };
type Observe = (to: number, from: number, round: RoundName, v: readonly bigint[]) => void;

/** clamp(x) for every value, opened from two parties; `observe` sees every message of the product rounds. */
function clampShared(values: number[], b: ClampBounds, seed: string, observe?: Observe): number[] {
  const rng = deterministicRandom(seed);
  const plan = clampPlan(b);
  const maskBits = plan.valueBits + STATISTICAL_BITS;
  const x = shareMany(values.map((v) => mod(toFixed(v, b.domain.scale))), 3, 1, undefined, rng);
  const m = 2 * values.length;
  const material = dealCompareMaterial(m, maskBits, rng);
  const inputs = new Map<number, CompareInput>([1, 2, 3].map((node) => {
    const mine = x[node - 1] as bigint[];
    return [node, { y: [...mine, ...mine].map((v) => add(v, mod(plan.offset))), material: material[node - 1] as CompareMaterial }];
  }));
  const thresholds = [...values.map(() => plan.thresholds[0]), ...values.map(() => plan.thresholds[1])];
  const bits = simulateComparison({ m, maskBits, valueBits: plan.valueBits, thresholds }, inputs, { n: 3, t: 1, rng });
  const local = new Map([1, 2, 3].map((node) => {
    const factors = clampFactors(x[node - 1] as bigint[], plan);
    return [node, (bits.get(node) as bigint[]).map((bit, k) => mul(bit, factors[k] as bigint))];
  }));
  const products = simulateRounds([numbered(zeroRound(), 1), numbered(reshareRound(), 1)], local, { n: 3, t: 1, rng, observe });
  const clamped = new Map([...products].map(([node, p]) => [node, clampedFromProducts(p, plan)]));
  const f = 10 ** b.domain.scale;
  return values.map((_, k) => Number(toSigned(interpolateAt([2, 3].map((node) => ({ x: node, y: (clamped.get(node) as bigint[])[k] as bigint })), 0))) / f);
}

const plain = (v: number, b: ClampBounds) => Math.min(b.max, Math.max(b.min, v));

describe('clamping into declared bounds (pure, simulated)', () => {
  it('matches plaintext: below, on and above both bounds, negatives and the domain’s limits', () => {
    for (const b of [{ min: 80, max: 120, domain: DOMAIN }, { min: -10, max: 0.5, domain: DOMAIN }, { min: -50, max: 200, domain: DOMAIN }]) {
      const values = [-50, -10.1, -10, -9.9, 0, 0.4, 0.5, 0.6, 79.9, 80, 80.1, 100, 119.9, 120, 120.1, 200];
      const next = prng(Math.round(b.min * 10) + 1000);
      for (let k = 0; k < 40; k++) values.push(Math.round((DOMAIN.min + next() * (DOMAIN.max - DOMAIN.min)) * 10) / 10);
      assert.deepEqual(clampShared(values, b, `clamp-${b.min}`), values.map((v) => plain(v, b)), `bounds [${b.min}, ${b.max}]`);
    }
  });

  it('bounds must lie on the values’ grid (onGrid)', () => {
    assert.ok(onGrid(5.2, 1) && onGrid(-10, 0) && onGrid(0.05, 2));
    assert.ok(!onGrid(5.25, 1) && !onGrid(90.5, 0));
  });

  it("node 1's view of the product rounds is uniform and the same whether every value is below or above the bounds", () => {
    const m = 3000;
    const b = { min: 80, max: 120, domain: DOMAIN };
    const view = (v: number, seed: string) => {
      const got: bigint[] = [];
      const values = new Array<number>(m).fill(v);
      const out = clampShared(values, b, seed, (to, _from, round, msg) => { if (to === 1 && round.startsWith('reshare')) got.push(...msg); });
      assert.deepEqual(out, values.map((x) => plain(x, b)));
      return got;
    };
    const below = view(-50, 'view-below');
    const above = view(200, 'view-above');
    assert.equal(below.length, 2 * 2 * m, 'node 1 receives a reshare of both products of every value from nodes 2 and 3');
    assert.ok(uniformity(below).pass && uniformity(above).pass, 'the reshares node 1 receives are uniform');
    assert.ok(homogeneity(below, above) < CHI2_15, `and do not depend on the values: χ² = ${homogeneity(below, above).toFixed(1)}`);
  });
});
