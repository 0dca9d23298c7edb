/**
 * The protocol rounds (mpc/rounds.ts) as pure steps, run for every party in one process: no servers.
 */
import assert from 'node:assert/strict';
import { mod, toSigned } from '../mpc/field';
import { localSumOfProducts } from '../mpc/products';
import { deterministicRandom } from '../mpc/random';
import { noiseRound, reshareRound, simulateRounds, zeroRound } from '../mpc/rounds';
import { interpolateAt, reconstruct, shareMany } from '../mpc/shamir';

const open = (out: Map<number, bigint[]>, l = 0) => interpolateAt([...out].map(([x, v]) => ({ x, y: v[l] as bigint })), 0);

describe('protocol rounds (pure, simulated)', () => {
  const n = 5;
  const t = 2;
  const rng = deterministicRandom('rounds-test');

  it('zero + reshare turn local products into a degree-t sharing of Σ a·b', () => {
    const a = [3n, 5n, 7n, mod(-2n)];
    const b = [11n, 13n, 17n, 19n];
    const sa = shareMany(a, n, t, undefined, rng);
    const sb = shareMany(b, n, t, undefined, rng);
    const local = new Map(Array.from({ length: n }, (_, i) => [i + 1, [localSumOfProducts(sa[i] as bigint[], sb[i] as bigint[])]]));
    const out = simulateRounds([zeroRound(), reshareRound()], local, { n, t, rng });
    const expected = 3n * 11n + 5n * 13n + 7n * 17n - 2n * 19n;
    assert.equal(toSigned(open(out)), expected);
    // degree t now: any t + 1 parties agree, and all n are consistent at degree t
    const pts = [...out].map(([x, v]) => ({ x, y: v[0] as bigint }));
    assert.equal(toSigned(reconstruct(pts, t)), expected);
    assert.equal(toSigned(interpolateAt(pts.slice(2, 2 + t + 1), 0)), expected);
  });

  it('without the reshare round the result is still degree 2t (t + 1 parties do not open it)', () => {
    const sa = shareMany([4n], n, t, undefined, rng);
    const sb = shareMany([9n], n, t, undefined, rng);
    const local = new Map(Array.from({ length: n }, (_, i) => [i + 1, [localSumOfProducts(sa[i] as bigint[], sb[i] as bigint[])]]));
    const out = simulateRounds([zeroRound()], local, { n, t, rng });
    const pts = [...out].map(([x, v]) => ({ x, y: v[0] as bigint }));
    assert.notEqual(interpolateAt(pts.slice(0, t + 1), 0), 36n);
    assert.equal(interpolateAt(pts, 0), 36n);
  });

  it('the noise round adds one discrete-Laplace sample per participant, and replays with the same seed', () => {
    const secrets = [100n, 0n];
    const shares = shareMany(secrets, n, t, undefined, rng);
    const inputs = new Map(Array.from({ length: n }, (_, i) => [i + 1, shares[i] as bigint[]]));
    const spec = [{ epsilon: 1, sensitivity: 1, scale: 0 }, { epsilon: 0.5, sensitivity: 2, scale: 0 }];
    const a = simulateRounds([noiseRound(spec)], inputs, { n, t, rng: deterministicRandom('noise') });
    const b = simulateRounds([noiseRound(spec)], inputs, { n, t, rng: deterministicRandom('noise') });
    assert.deepEqual([...a], [...b], 'same seed, same transcript');
    const noisy = [toSigned(open(a, 0)), toSigned(open(a, 1))];
    assert.ok(noisy.some((v, l) => v !== secrets[l]), 'noise was added');
    assert.ok(Math.abs(Number(noisy[0]) - 100) < 60, `noise of 5 Lap(1) samples is small: ${noisy[0]}`);
  });

  it('a party that sends the wrong number of values is refused with a protocol error', () => {
    const round = noiseRound([{ epsilon: 1, sensitivity: 1, scale: 0 }]);
    const ctx = { self: 1, participants: [1, 2, 3], n: 3, t: 1 };
    assert.throws(() => round.combine([1n], new Map([[1, [1n]], [2, [1n, 2n]], [3, [1n]]]), ctx), (e: unknown) => (e as { code?: string }).code === 'protocol_mismatch');
    assert.throws(() => round.combine([1n], new Map([[1, [1n]], [3, [1n]]]), ctx), /no message from node-2/);
  });
});
