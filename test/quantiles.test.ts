/**
 * Histograms with the researcher's edges and DP quantiles on secure comparisons
 * (usage-layer/coordinator/edge-histogram.ts, quantile.ts, mpc/quantiles.ts): the search logic
 * against plaintext, its differencing bound computed exactly, and three nodes against plaintext.
 */
import { strict as assert } from 'node:assert';
import type { ShareableValue } from '../management-layer/sharing/distribute';
import { nextThreshold, plainQuantile, searchResult, searchRounds, searchStep, type SearchState } from '../mpc/quantiles';
import { checkEdgesInRange, comparisonsInRequest, histogramRuns } from '../usage-layer/coordinator/edge-histogram';
import { createCoordinator } from '../usage-layer/coordinator';
import { prng, startTestCluster, type TestCluster } from './support/mpc';
import { tapCluster } from './support/tap';

const SBP = { min: 50, max: 250, scale: 0 };
const T0 = Date.UTC(2025, 0, 1);
const DAY = 86_400_000;

/** The search over integer values in [0, span] with a count oracle (exact, or noisy). */
function search(values: readonly number[], span: number, q: number, count: (t: number) => number = (t) => values.filter((v) => v >= t).length): number {
  let s: SearchState = { lo: 0, hi: span };
  for (let k = 0; k < searchRounds(span); k++) {
    const t = nextThreshold(s);
    s = searchStep(s, t, count(t), q, values.length);
  }
  return searchResult(s);
}

describe('quantile search (pure)', () => {
  it('with exact counts finds the plaintext quantile on random data, ties, one value and the range ends', () => {
    const next = prng(13);
    for (let trial = 0; trial < 200; trial++) {
      const span = 1 + Math.floor(next() * 400);
      const n = 1 + Math.floor(next() * 60);
      const tied = trial % 3 === 0;
      const values = Array.from({ length: n }, () => (tied ? Math.floor(next() * 4) * Math.floor(span / 4) : Math.floor(next() * (span + 1))));
      for (const q of [0.01, 0.1, 0.5, 0.9, 0.99]) assert.equal(search(values, span, q), plainQuantile(values, q), `span ${span} q ${q} values ${values.join(',')}`);
    }
    assert.equal(search([0, 0, 0], 100, 0.5), 0);
    assert.equal(search([100, 100], 100, 0.5), 100);
    assert.equal(search([37], 100, 0.99), 37);
    assert.equal(search([37], 100, 0.01), 37);
  });

  it('rounds reach one unit, capped at 12', () => {
    assert.equal(searchRounds(0), 1);
    assert.equal(searchRounds(1), 1);
    assert.equal(searchRounds(200), 8);
    assert.equal(searchRounds(255), 8);
    assert.equal(searchRounds(256), 9);
    assert.equal(searchRounds(1_000_000), 12);
  });

  it('differencing attack: the output distribution with and without one patient differs by at most e^ε (exact, Laplace ε/k a round)', () => {
    // Exact output distribution: every round's decision has probability P(count + Z > (1 − q)N), Z ~ Laplace(k/ε).
    const laplaceAbove = (a: number, b: number) => (a < 0 ? 1 - 0.5 * Math.exp(a / b) : 0.5 * Math.exp(-a / b));
    const outputs = (values: number[], span: number, q: number, eps: number, total: number): Map<number, number> => {
      const k = searchRounds(span);
      const b = k / eps;
      const dist = new Map<number, number>();
      const walk = (s: SearchState, round: number, p: number) => {
        if (round === k) return void dist.set(searchResult(s), (dist.get(searchResult(s)) ?? 0) + p);
        const t = nextThreshold(s);
        if (s.lo >= s.hi) return walk(s, round + 1, p);
        const c = values.filter((v) => v >= t).length;
        const up = laplaceAbove(total - q * total - c, b);
        walk({ lo: t, hi: s.hi }, round + 1, p * up);
        walk({ lo: s.lo, hi: t - 1 }, round + 1, p * (1 - up));
      };
      walk({ lo: 0, hi: span }, 0, 1);
      return dist;
    };
    const next = prng(5);
    const base = Array.from({ length: 25 }, () => Math.floor(next() * 64));
    for (const target of [0, 31, 63]) {
      for (const eps of [0.5, 1]) {
        // N̂ is the gate's public release, the same in both worlds (its own ε is charged separately).
        const a = outputs(base, 63, 0.5, eps, 26);
        const b = outputs([...base, target], 63, 0.5, eps, 26);
        let worst = 0;
        for (const v of new Set([...a.keys(), ...b.keys()])) worst = Math.max(worst, Math.abs(Math.log((a.get(v) ?? 0) / (b.get(v) ?? 0))));
        assert.ok(worst <= eps + 1e-9, `target ${target} ε ${eps}: log ratio ${worst}`);
        // A value at 0 is below every threshold tried (t ≥ 1): it changes no count.
        if (target > 0) assert.ok(worst > eps / 20, `the bound is not vacuous: ${worst}`);
      }
    }
  });
});

describe('edge histograms (pure checks)', () => {
  it('edges must be 2..20 increasing numbers inside the range; the buckets tile the line', () => {
    assert.throws(() => checkEdgesInRange([100], SBP), /options.edges/);
    assert.throws(() => checkEdgesInRange([100, 90], SBP), /increasing/);
    assert.throws(() => checkEdgesInRange([40, 90], SBP), /outside/);
    assert.throws(() => checkEdgesInRange(Array.from({ length: 21 }, (_, k) => 60 + k), SBP), /2 to 20/);
  });
});

describe('a histogram\'s runs', () => {
  it('overlap by one edge, so every bucket is in exactly one run; the first releases below, the last above', () => {
    const edges = Array.from({ length: 12 }, (_, k) => 10 * k);
    const runs = histogramRuns(edges, 5);
    assert.deepEqual(runs.map((r) => [r.edges[0], r.edges.at(-1), r.below, r.above]), [[0, 40, true, false], [40, 80, false, false], [80, 110, false, true]]);
    assert.equal(runs.reduce((n, r) => n + r.edges.length - 1, 0), edges.length - 1, 'each interior bucket once');
    assert.deepEqual(histogramRuns(edges, 12), [{ edges, below: true, above: true }]);
    assert.deepEqual(histogramRuns(edges, 1000), [{ edges, below: true, above: true }]);
    assert.deepEqual(histogramRuns([1, 2], 2), [{ edges: [1, 2], below: true, above: true }]);
    assert.throws(() => histogramRuns(edges, 1), /at least 2 comparisons/);
  });

  it('fit the nodes\' request body: the cohort and the twice-sealed material under 90 % of HGD_BODY_LIMIT', () => {
    const tenMb = 10 * 1024 * 1024;
    const fit = comparisonsInRequest(tenMb, 10_000, 52);
    assert.ok(fit > 90_000 && fit < 110_000, `${fit} comparisons beside 10,000 pseudonyms in 10 MB`);
    assert.ok(comparisonsInRequest(tenMb, 1_000, 52) > fit, 'a smaller cohort leaves room for more');
    assert.equal(comparisonsInRequest(tenMb, 200_000, 52), 0, 'the cohort alone fills the body');
    assert.equal(comparisonsInRequest(undefined, 10_000, 52), Infinity);
  });
});

describe('edge histograms and quantiles (three nodes)', function () {
  this.timeout(300_000);
  let tc: TestCluster;
  const next = prng(21);
  const patients = Array.from({ length: 24 }, (_, p) => `qp${p}`);
  // Two readings a patient; the latest counts. Ties and the range ends included.
  const latest = new Map<string, number>();
  const recs: ShareableValue[] = [];
  patients.forEach((patient, p) => {
    const value = p === 0 ? 50 : p === 1 ? 250 : p < 5 ? 120 : Math.round(90 + next() * 90);
    latest.set(patient, value);
    const earlier = Math.round(60 + next() * 180);
    for (const [d, v] of [[1, earlier], [3, value]] as const) {
      recs.push({ recordId: `q-${p}-${d}`, pseudonym: patient, indicator: 'q-sbp', effectiveStart: new Date(T0 + d * DAY).toISOString(), effectiveEnd: null, value: v, scale: 0 });
    }
  });
  const values = [...latest.values()];
  before(async function () {
    this.timeout(60_000);
    tc = await startTestCluster();
    await tc.distributor.distribute(recs);
  });
  after(async () => tc?.close());

  it('a histogram with edges matches the plaintext buckets of the latest values (no noise), and at high ε', async () => {
    const edges = [50, 100, 120, 121, 160, 250];
    const r = await tc.coordinator.aggregate({ indicator: 'q-sbp', aggregate: 'histogram', cohort: patients, edges, domain: SBP });
    const plainBuckets = edges.slice(1).map((hi, j) => values.filter((v) => v >= (edges[j] as number) && v < hi).length);
    assert.deepEqual(r.histogram?.counts, plainBuckets);
    assert.equal(r.histogram?.below, 0);
    assert.equal(r.histogram?.above, 1, 'x ≥ 250: the range maximum');
    assert.ok(r.bytes.nodeToNode > 0);
    const noisy = await tc.coordinator.aggregate({ indicator: 'q-sbp', aggregate: 'histogram', cohort: patients, edges, domain: SBP, noise: { histogram: { epsilon: 50, sensitivity: 1 } } });
    assert.ok(noisy.noised);
    noisy.histogram!.counts.forEach((c, j) => assert.ok(Math.abs(c - (plainBuckets[j] as number)) <= 1, `bucket ${j}: ${c} vs ${plainBuckets[j]}`));
  });

  it('a histogram too large for one run is split into runs over consecutive edges, each bucket in exactly one; with a filter too', async () => {
    const edges = [50, 80, 100, 120, 121, 140, 160, 200, 250];
    const plain = (vs: number[]) => ({ below: vs.filter((v) => v < 50).length, counts: edges.slice(1).map((hi, j) => vs.filter((v) => v >= (edges[j] as number) && v < hi).length), above: vs.filter((v) => v >= 250).length });
    // 24 patients and 96 comparisons a run: four edges a run, three runs (below and the first three buckets, three more, the last two and above).
    const small = createCoordinator(tc.config, tc.gatewayKey, { maxComparisonsPerRun: 4 * patients.length });
    const r = await small.aggregate({ indicator: 'q-sbp', aggregate: 'histogram', cohort: patients, edges, domain: SBP });
    assert.deepEqual({ below: r.histogram!.below, counts: r.histogram!.counts, above: r.histogram!.above }, plain(values));
    // A filter's leaf takes a comparison a patient of every run: three edges a run then.
    const filter = { indicator: 'q-sbp', op: '>=' as const, value: 100, domain: SBP };
    const f = await small.aggregate({ indicator: 'q-sbp', aggregate: 'histogram', cohort: patients, edges, domain: SBP, filter });
    assert.deepEqual({ below: f.histogram!.below, counts: f.histogram!.counts, above: f.histogram!.above }, plain(values.filter((v) => v >= 100)));
    await assert.rejects(createCoordinator(tc.config, tc.gatewayKey, { maxComparisonsPerRun: patients.length }).aggregate({ indicator: 'q-sbp', aggregate: 'histogram', cohort: patients, edges, domain: SBP }), /at least 2 comparisons a patient/);
  });

  it('median, p10 and p90 match the plaintext quantiles of the latest values (no noise); one patient works', async () => {
    for (const q of [0.5, 0.1, 0.9]) {
      const r = await tc.coordinator.aggregate({ indicator: 'q-sbp', aggregate: q === 0.5 ? 'median' : 'quantile', cohort: patients, domain: SBP, quantile: { q, total: patients.length } });
      assert.equal(r.value, plainQuantile(values, q), `q ${q}`);
      assert.equal(r.search?.rounds.length, 8);
      assert.equal(r.search?.resolution, 0);
    }
    const one = await tc.coordinator.aggregate({ indicator: 'q-sbp', aggregate: 'median', cohort: ['qp1'], domain: SBP, quantile: { q: 0.5, total: 1 } });
    assert.equal(one.value, 250);
  });

  it('a noised median at high ε is the plaintext median within a few ranks', async () => {
    const r = await tc.coordinator.aggregate({ indicator: 'q-sbp', aggregate: 'median', cohort: patients, domain: SBP, quantile: { q: 0.5, total: patients.length }, noise: { count: { epsilon: 80, sensitivity: 1 } } });
    assert.ok(r.noised);
    const below = values.filter((v) => v < (r.value as number)).length;
    const atMost = values.filter((v) => v <= (r.value as number)).length;
    assert.ok(below <= 12 + 2 && atMost >= 12 - 2, `median ${r.value}: ${below} below, ${atMost} at most`);
  });

  it('a tap on every link: the nodes get public thresholds and sealed material, answer shares of counts only, and exchange sealed round messages', async () => {
    const tap = await tapCluster(tc);
    try {
      const coordinator = createCoordinator(tap.config, tc.gatewayKey);
      const edges = [100, 150];
      const r = await coordinator.aggregate({ indicator: 'q-sbp', aggregate: 'histogram', cohort: patients, edges, domain: SBP });
      assert.equal(r.histogram?.counts[0], values.filter((v) => v >= 100 && v < 150).length);
      const seen = tap.exchanges();
      const requests = seen.filter((x) => x.path === '/aggregate/histogram');
      assert.equal(requests.length, 3, 'one run of the three nodes for every bucket');
      for (const x of requests) {
        const req = JSON.parse(tap.plainRequest(x)) as Record<string, unknown>;
        assert.match(req.material as string, /^hgd-seal-v1\./, 'the comparison material is sealed to its node');
        assert.deepEqual([req.edges, req.filter], [edges, null], 'the request holds the public edges only');
        const answer = JSON.parse(tap.plainAnswer(x) as string) as { buckets: string[] };
        assert.deepEqual(Object.keys(answer).sort(), ['buckets', 'digest', 'node', 'noised', 'peerBytesSent', 'records'], 'answers carry bucket shares only: no c, no e, no comparison bit');
        assert.equal(answer.buckets.length, edges.length + 1, 'below, one a bucket, above');
        for (const b of answer.buckets) assert.match(b, /^[0-9a-f]{32}$/, 'a share (16 bytes)');
      }
      assert.equal(seen.filter((x) => x.path === '/aggregate/filtered').length, 0);
      for (const x of seen.filter((e) => e.path === '/mpc/message')) {
        const body = JSON.parse(tap.plainRequest(x)) as Record<string, unknown>;
        assert.match(body.sealed as string, /^hgd-seal-v1\.[A-Za-z0-9_-]+$/, 'round messages are sealed to the recipient');
      }
    } finally {
      await tap.close();
    }
  });
});
