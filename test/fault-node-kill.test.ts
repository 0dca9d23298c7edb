import { strict as assert } from 'node:assert';
import { createCoordinator, MpcProtocolError } from '../usage-layer/coordinator';
import { startTestStack, type TestStack } from './support/cluster';
import { makeValues, startTestCluster, type TestCluster } from './support/mpc';
import { tapCluster, type Exchange, type TapAction, type TapHook, type TappedCluster } from './support/tap';

/**
 * A compute node killed in the middle of a query. Every node sits behind a tap (test/support/tap.ts),
 * which lets the health checks and the aggregate requests through and kills node 2 (server and open
 * connections closed, as a crashed process) at a chosen moment of the protocol, dropping the message
 * that passes then:
 *   - at its first round message: node 2 has dealt nothing to anyone, the others wait for its noise
 *     (or its zero sharing) until their peer timeout;
 *   - when its answer passes: the rounds are over, node 2's answer never arrives.
 */

type Moment = (x: Exchange, phase: 'request' | 'answer') => boolean;
/** The first round message from or to node 2. */
const firstRoundMessageOfNode2: Moment = (x, phase) => phase === 'request' && x.path === '/mpc/message' && (x.node === 2 || x.headers['x-hgd-party'] === 'node-2');
/** Node 2's first message of the product protocol (its zero round; a pilot kind runs linear pilot means first). */
const firstProductMessageOfNode2 = (tap: () => TappedCluster): Moment => (x, phase) =>
  firstRoundMessageOfNode2(x, phase) && (JSON.parse(tap().plainRequest(x)) as { round?: string }).round === 'zero';
/** Node 2's answer to an aggregate request. */
const answerOfNode2: Moment = (x, phase) => phase === 'answer' && x.node === 2 && x.path.startsWith('/aggregate/');

/**
 * A hook that, from the moment `when` on, treats node 2 as failed: `stop` runs once (kills it), and
 * every request to or from node 2 gets `after` ('drop': a crashed node; 'hold': a node that hangs).
 */
function killer(stop: () => Promise<void>, after: TapAction = 'drop') {
  let when: Moment | null = null;
  let killed: Promise<void> | null = null;
  const hook: TapHook = async (x, phase) => {
    if (killed) return x.node === 2 || x.headers['x-hgd-party'] === 'node-2' ? after : 'forward';
    if (!when?.(x, phase)) return 'forward';
    killed = stop();
    await killed;
    return after;
  };
  return {
    hook,
    arm(moment: Moment) {
      when = moment;
      killed = null;
    },
    killed: () => killed !== null,
  };
}

/** The distinct query ids of the aggregate requests that reached node `node` (bodies opened with the node's key). */
const queryIdsAt = (tap: TappedCluster, node: number) => [...new Set(tap.exchanges().filter((x) => x.node === node && x.path.startsWith('/aggregate/')).map((x) => JSON.parse(tap.plainRequest(x)).queryId as string))];

describe('fault: a compute node killed mid-protocol (n = 3, t = 1)', function () {
  this.timeout(120_000);
  let tc: TestCluster;
  let tap: TappedCluster;
  let kill: ReturnType<typeof killer>;

  beforeEach(async () => {
    tc = await startTestCluster({ n: 3, t: 1, peerTimeoutMs: 2_000 });
    const xs = makeValues('kill-x', [1, 2, 3, 4, 5]);
    const ys = makeValues('kill-y', [2, 4, 6, 9, 11]).map((v, i) => ({ ...v, pseudonym: xs[i]!.pseudonym, effectiveStart: xs[i]!.effectiveStart }));
    await tc.distributor.distribute([...xs, ...ys]);
    kill = killer(() => tc.cluster.stop(2));
    tap = await tapCluster(tc, kill.hook);
  });
  afterEach(async () => {
    await tap?.close();
    await tc?.close();
  });

  const coordinator = () => createCoordinator(tap.config, tc.gatewayKey, { timeoutMs: 20_000 });

  it('a noised sum survives node 2 dying at its first round message: retried on t + 1 nodes with a fresh query id and fresh noise', async () => {
    kill.arm(firstRoundMessageOfNode2);
    const res = await coordinator().aggregate({ indicator: 'kill-x', aggregate: 'sum', noise: { epsilon: 10, sensitivity: 1 } });
    assert.ok(kill.killed(), 'node 2 was killed during the noise round');
    // Correct within noise: each participant adds Lap(0.1); |noise| > 3 has probability below e^-30.
    assert.ok(Math.abs(res.value! - 15) < 3, `sum ${res.value}`);
    assert.deepEqual([res.nodesUsed, res.nodesDown], [[1, 3], [2]]);
    assert.equal(res.failedAttempts?.length, 1);
    assert.deepEqual(res.failedAttempts![0]!.participants, [1, 2, 3]);
    // Node 1 could not send node 2 its noise (or waited for node 2's in vain).
    assert.match(res.failedAttempts![0]!.nodeErrors[1]!, /node-2 did not take the noise message|no noise message from node\(s\) 2/);
    // Two attempts, each its own query id; the failed one released nothing: no node answered it.
    const ids = queryIdsAt(tap, 1);
    assert.equal(ids.length, 2);
    const answered = tap.exchanges().filter((x) => x.path === '/aggregate/linear' && x.status === 200 && JSON.parse(tap.plainRequest(x)).queryId === ids[0]);
    assert.equal(answered.length, 0);
    const retry = tap.exchanges().find((x) => x.node === 1 && x.path === '/aggregate/linear' && JSON.parse(tap.plainRequest(x)).queryId === ids[1])!;
    assert.deepEqual(JSON.parse(tap.plainRequest(retry)).participants, [1, 3]);
  });

  it('a noised sum survives node 2 hanging at its first round message (it answers nothing, not even health checks)', async () => {
    await tap.close();
    const hang = killer(async () => {}, 'hold');
    tap = await tapCluster(tc, hang.hook);
    hang.arm(firstRoundMessageOfNode2);
    const started = Date.now();
    const res = await coordinator().aggregate({ indicator: 'kill-x', aggregate: 'sum', noise: { epsilon: 10, sensitivity: 1 } });
    assert.ok(hang.killed());
    assert.ok(Math.abs(res.value! - 15) < 3, `sum ${res.value}`);
    assert.deepEqual([res.nodesUsed, res.nodesDown, res.failedAttempts?.length], [[1, 3], [2], 1]);
    // The survivors' peer timeout (2 s) and a health check (2 s), not the coordinator's request timeout (20 s).
    assert.ok(Date.now() - started < 15_000, `${Date.now() - started} ms`);
  });

  it('a noised mean survives node 2 dying after the noise round: the others’ answers carry its noise and are opened', async () => {
    kill.arm(answerOfNode2);
    const res = await coordinator().aggregate({ indicator: 'kill-x', aggregate: 'mean', noise: { sum: { epsilon: 10, sensitivity: 1 }, count: { epsilon: 10, sensitivity: 1 } } });
    assert.ok(kill.killed());
    assert.ok(Math.abs(res.value! - 3) < 1, `mean ${res.value}`);
    assert.deepEqual([res.nodesUsed, res.nodesDown, res.failedAttempts], [[1, 3], [2], undefined]);
  });

  it('an exact linear aggregate completes on the t + 1 surviving nodes when node 2 dies while answering', async () => {
    kill.arm(answerOfNode2);
    const res = await coordinator().aggregate({ indicator: 'kill-x', aggregate: 'sum' });
    assert.ok(kill.killed());
    assert.equal(res.value, 15);
    assert.deepEqual([res.nodesUsed, res.nodesDown], [[1, 3], [2]]);
  });

  it('a correlation fails cleanly (MpcProtocolError naming node 2) when node 2 dies mid-protocol, and works again once it is back', async () => {
    kill.arm(firstRoundMessageOfNode2);
    const started = Date.now();
    await assert.rejects(
      coordinator().aggregate({ indicator: 'kill-x', indicator2: 'kill-y', aggregate: 'correlation', pairWindowSeconds: 0 }),
      (e: unknown) => {
        assert.ok(kill.killed(), 'node 2 was killed during the product protocol');
        assert.ok(e instanceof MpcProtocolError, String(e));
        assert.equal(e.code, 'mpc_failed');
        assert.equal(e.node, 2);
        assert.match(e.message, /^node 2 failed during the product protocol \(unreachable/);
        return true;
      },
    );
    assert.ok(Date.now() - started < 10_000, 'the coordinator does not wait for the survivors to time out');
    await tap.close();
    await tc.cluster.restart(2);
    const corr = await tc.coordinator.aggregate({ indicator: 'kill-x', indicator2: 'kill-y', aggregate: 'correlation', pairWindowSeconds: 0 });
    assert.ok(corr.value !== null && corr.value > 0.9);
  });
});

describe('fault: a node killed mid-protocol, through the query service (ε charged once, refunded on failure)', function () {
  this.timeout(120_000);
  const MRN = 'http://hospital.example/mrn';
  let s: TestStack;
  let kill: ReturnType<typeof killer>;
  let alice: string;
  let stopNode2: () => Promise<void> = async () => {};

  const study = async () => (await s.request('GET', '/studies/kill', { token: alice })).body as { epsilonSpent: number };
  const query = async (body: Record<string, unknown>) => {
    const r = await s.request('POST', '/queries', { token: alice, body: JSON.stringify({ study: 'kill', from: '2024-01-01T00:00:00Z', to: '2025-01-01T00:00:00Z', ...body }), contentType: 'application/json' });
    assert.equal(r.status, 202, r.text);
    return s.waitForQuery(r.body.id, alice);
  };

  before(async function () {
    this.timeout(90_000);
    kill = killer(() => stopNode2());
    // ε 20 (contributors ε 4): four patients clear the DP threshold (minCohort 2 + margin 1), so the nodes run.
    s = await startTestStack({ peerTimeoutMs: 2_000, tap: kill.hook, env: { HGD_MAX_EPSILON: '20', HGD_PATIENT_EPSILON_BUDGET: '1000' } });
    stopNode2 = () => s.cluster.stop(2);
    alice = await s.token({ role: 'researcher', sub: 'r-alice' });
    const admin = (path: string, body: unknown) => s.request('POST', path, { token: s.admin, body: JSON.stringify(body), contentType: 'application/json' });
    assert.equal((await admin('/admin/studies', { id: 'kill', title: 'Kill', purpose: 'HRESCH', minCohort: 2, epsilonBudget: 100 })).status, 201);
    assert.equal((await admin('/admin/studies/kill/researchers', { researcher: 'r-alice' })).status, 201);
    const patients = ['K1', 'K2', 'K3', 'K4'];
    for (const p of patients) {
      const token = await s.patientToken(MRN, p);
      const r = await s.request('POST', '/patients/me/grants', { token, body: JSON.stringify({ study: 'kill', indicators: ['heart_rate', 'bp_systolic'], purpose: 'HRESCH', period: {} }), contentType: 'application/json' });
      assert.equal(r.status, 201, r.text);
    }
    await s.ingestCsv(patients.flatMap((p, i): Array<[string, string, number, string, string]> => [
      [`${MRN}|${p}`, '8867-4', 60 + 5 * i, '/min', `2024-03-0${i + 1}T10:00:00Z`],
      [`${MRN}|${p}`, '8480-6', 110 + 7 * i, 'mm[Hg]', `2024-03-0${i + 1}T10:00:00Z`],
    ]));
  });
  after(async () => s?.close());

  it('a linear query whose node dies in the noise round is retried and charged its ε once', async () => {
    const spent = (await study()).epsilonSpent;
    kill.arm(firstRoundMessageOfNode2);
    const done = await query({ indicators: ['heart_rate'], aggregate: 'mean', options: { epsilon: 20 } });
    assert.ok(kill.killed());
    assert.equal(done.status, 'done', done.message);
    assert.deepEqual([done.result.nodesUsed, done.result.nodesDown], [[1, 3], [2]]);
    assert.equal(done.privacy.epsilonSpent, 20);
    assert.equal((await study()).epsilonSpent, spent + 20);
  });

  it('a correlation whose node dies mid-protocol fails with a clear message and gives its ε back', async () => {
    await s.cluster.restart(2);
    s.cluster.nodes[1]!.setPeerUrls(s.tap!.config.nodes.urls);
    const spent = (await study()).epsilonSpent;
    kill.arm(firstProductMessageOfNode2(() => s.tap!));
    const failed = await query({ indicators: ['heart_rate', 'bp_systolic'], aggregate: 'correlation', options: { epsilon: 20, bounds: 'catalogue' } });
    assert.ok(kill.killed());
    assert.equal(failed.status, 'failed');
    assert.match(failed.message, /^failed: node 2 failed during the product protocol \(unreachable/);
    assert.match(failed.message, /nothing was released and the query's epsilon was returned/);
    assert.equal(failed.privacy.epsilonSpent, 0);
    assert.equal((await study()).epsilonSpent, spent);
  });
});
