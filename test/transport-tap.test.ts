import { strict as assert } from 'node:assert';
import { shareFromHex, shareToHex } from '../mpc/codec';
import { sub, sum, toSigned } from '../mpc/field';
import { interpolateAt, type SharePoint } from '../mpc/shamir';
import { NodeClient } from '../parties/client';
import { SignedRequestError } from '../parties/errors';
import { loadOrCreateEncryptionKey, nodeKeyFiles, type EncryptionKey } from '../parties/key-directory';
import { openRoundMessage } from '../parties/round-message';
import { SealError } from '../parties/sealing';
import type { LinearResponse, PeerMessage } from '../parties/wire';
import { loadOrCreateSigningKey } from '../storage-layer/signing-key';
import { createCoordinator } from '../usage-layer/coordinator';
import { makeValues, startTestCluster, type TestCluster } from './support/mpc';
import { tapCluster, type Exchange, type TappedCluster } from './support/tap';

/**
 * The attack of issue 10 ("anyone who can watch node-to-node traffic can remove the noise"), played
 * with a passive tap on EVERY link: a recording proxy in front of each node sees the coordinator's
 * requests, the nodes' answers and every round message between the nodes. In the noise round each
 * node sends each other participant a share of its own noise: n − 1 ≥ t + 1 shares, enough to
 * interpolate it. With every node's noise and t + 1 answer shares the tap has the exact sum.
 */

/** A round message as the tap saw it: sender (the signed party), recipient and the parsed body. */
interface TappedMessage {
  from: number;
  to: number;
  body: Record<string, unknown>;
}

function roundMessages(xs: readonly Exchange[]): TappedMessage[] {
  return xs
    .filter((x) => x.path === '/mpc/message')
    .map((x) => ({ from: Number(/^node-(\d+)$/.exec(x.headers['x-hgd-party'] ?? '')?.[1]), to: x.node, body: JSON.parse(x.body) as Record<string, unknown> }));
}

function linearAnswers(xs: readonly Exchange[]): LinearResponse[] {
  return xs.filter((x) => x.path === '/aggregate/linear' && x.status === 200).map((x) => JSON.parse(x.responseBody as string) as LinearResponse);
}

const HEX_SHARE = /^[0-9a-f]{32}$/;

/**
 * The observer's reconstruction: every participant's noise from the sub-shares it sent, the noised
 * sum from the answers, and their difference. Undefined when the messages carry no readable shares.
 */
function recoverExactSum(messages: readonly TappedMessage[], answers: readonly LinearResponse[], t: number): bigint | undefined {
  const noiseShares = new Map<number, SharePoint[]>();
  for (const m of messages.filter((x) => x.body.round === 'noise')) {
    const first = Array.isArray(m.body.values) ? m.body.values[0] : undefined;
    if (typeof first !== 'string' || !HEX_SHARE.test(first)) continue;
    noiseShares.set(m.from, [...(noiseShares.get(m.from) ?? []), { x: m.to, y: shareFromHex(first) }]);
  }
  const participants = answers.map((a) => a.node);
  const noise: bigint[] = [];
  for (const j of participants) {
    const points = noiseShares.get(j) ?? [];
    if (points.length < t + 1) return undefined;
    noise.push(interpolateAt(points.slice(0, t + 1), 0));
  }
  const noised = interpolateAt(answers.slice(0, t + 1).map((a) => ({ x: a.node, y: shareFromHex(a.sum as string) })), 0);
  return toSigned(sub(noised, sum(noise)));
}

/**
 * What the old wire carried in clear, for the same messages: the body opened with the RECIPIENT's
 * private key (which the observer does not have) and written back as { values: hex[] }.
 */
function asClearMessages(messages: readonly TappedMessage[], keys: ReadonlyMap<number, EncryptionKey>): TappedMessage[] {
  return messages.map((m) => {
    const values = openRoundMessage(keys.get(m.to) as EncryptionKey, m.from, m.to, m.body as unknown as PeerMessage);
    return { ...m, body: { queryId: m.body.queryId, round: m.body.round, values: values.map(shareToHex) } };
  });
}

describe('transport: a passive tap of all node traffic (n = 3, t = 1)', function () {
  this.timeout(120_000);
  let tc: TestCluster;
  let tap: TappedCluster;
  let keys: Map<number, EncryptionKey>;
  // 12.5 + 30.25 + 7 + 50.75 = 100.5: at scale 2 the exact sum is 10050.
  const values = [12.5, 30.25, 7, 50.75];
  const exact = 10050n;

  before(async function () {
    this.timeout(60_000);
    tc = await startTestCluster({ n: 3, t: 1 });
    await tc.distributor.distribute(makeValues('tap-x', values));
    const xs = makeValues('tap-a', [1, 2, 3, 4, 5]);
    const ys = makeValues('tap-b', [2, 4, 6, 9, 11]).map((v, i) => ({ ...v, pseudonym: xs[i]!.pseudonym, effectiveStart: xs[i]!.effectiveStart }));
    await tc.distributor.distribute([...xs, ...ys]);
    tap = await tapCluster(tc);
    keys = new Map([1, 2, 3].map((id) => [id, loadOrCreateEncryptionKey(nodeKeyFiles(tc.config.nodes.keysDir, id).encryption)]));
  });
  after(async () => {
    await tap?.close();
    await tc?.close();
  });

  it('cannot recover any node’s noise or the exact sum: the same attack on the messages in clear does', async () => {
    const coordinator = createCoordinator(tap.config, tc.gatewayKey);
    const before = tap.exchanges().length;
    const res = await coordinator.aggregate({ indicator: 'tap-x', aggregate: 'sum', noise: { epsilon: 0.5, sensitivity: 100 } });
    assert.deepEqual(res.nodesUsed, [1, 2, 3]);
    const seen = tap.exchanges().slice(before);
    const messages = roundMessages(seen);
    const answers = linearAnswers(seen);
    assert.equal(messages.length, 6, 'every participant sent its noise shares to the two others through the taps');
    assert.equal(answers.length, 3);

    // The attack works on what the wire used to carry: every node's noise, hence the exact sum.
    assert.equal(recoverExactSum(asClearMessages(messages, keys), answers, 1), exact);
    // On the wire as it is, the round messages hold no share in any form the observer can read.
    for (const m of messages) {
      assert.deepEqual(Object.keys(m.body).sort(), ['queryId', 'round', 'sealed', 'v']);
      assert.match(m.body.sealed as string, /^hgd-seal-v1\.[A-Za-z0-9_-]+$/);
    }
    for (const x of seen.filter((e) => e.path === '/mpc/message')) assert.ok(!/[0-9a-f]{32}/.test(x.body), 'no share hex in a round message');
    assert.equal(recoverExactSum(messages, answers, 1), undefined);
    // What the tap can open is the answers: the NOISED sum, which is not the exact one.
    const noised = toSigned(interpolateAt(answers.slice(0, 2).map((a) => ({ x: a.node, y: shareFromHex(a.sum as string) })), 0));
    assert.notEqual(noised, exact);
    assert.equal(Math.round(res.value! * 100), Number(noised));
  });

  it('every round message of the product protocol is sealed to its recipient, from its sender, for its query and round', async () => {
    const coordinator = createCoordinator(tap.config, tc.gatewayKey);
    const before = tap.exchanges().length;
    const res = await coordinator.aggregate({ indicator: 'tap-a', indicator2: 'tap-b', aggregate: 'correlation', pairWindowSeconds: 0, noise: { count: { epsilon: 1, sensitivity: 1 } } });
    assert.deepEqual(res.nodesUsed, [1, 2, 3]);
    const messages = roundMessages(tap.exchanges().slice(before));
    assert.deepEqual([...new Set(messages.map((m) => m.body.round))].sort(), ['noise', 'reshare', 'zero']);
    assert.equal(messages.length, 3 * 6);
    for (const m of messages) {
      assert.ok(!/[0-9a-f]{32}/.test(JSON.stringify(m.body)));
      const msg = m.body as unknown as PeerMessage;
      assert.ok(openRoundMessage(keys.get(m.to)!, m.from, m.to, msg).length > 0);
      const third = [1, 2, 3].find((id) => id !== m.from && id !== m.to)!;
      // Not for another recipient, not as from another sender, not in another round or query.
      assert.throws(() => openRoundMessage(keys.get(third)!, m.from, third, msg), SealError);
      assert.throws(() => openRoundMessage(keys.get(m.to)!, third, m.to, msg), SealError);
      assert.throws(() => openRoundMessage(keys.get(m.to)!, m.from, m.to, { ...msg, round: msg.round === 'zero' ? 'noise' : 'zero' }), SealError);
      assert.throws(() => openRoundMessage(keys.get(m.to)!, m.from, m.to, { ...msg, queryId: `${msg.queryId}x` }), SealError);
    }
  });

  it('a node refuses a round message replayed on another link (400), so it cannot feed a captured share into another query', async () => {
    const before = tap.exchanges().length;
    await createCoordinator(tap.config, tc.gatewayKey).aggregate({ indicator: 'tap-x', aggregate: 'count', noise: { epsilon: 1, sensitivity: 1 } });
    const captured = tap.exchanges().slice(before).find((x) => x.path === '/mpc/message' && x.headers['x-hgd-party'] === 'node-1' && x.node === 2)!;
    // Node 3 re-sends node 1's envelope for node 2 as its own message to node 2 (a fresh, valid signature).
    const node3 = new NodeClient({ baseUrl: tc.config.nodes.urls[1]!, key: loadOrCreateSigningKey(nodeKeyFiles(tc.config.nodes.keysDir, 3).signing), party: 'node-3', recipient: 'node-2' });
    const body = JSON.parse(captured.body) as PeerMessage;
    await assert.rejects(node3.message({ ...body, queryId: `${body.queryId}-other` }), (e: unknown) => e instanceof SignedRequestError && e.peerStatus === 400);
    await assert.rejects(node3.message(body), (e: unknown) => e instanceof SignedRequestError && e.peerStatus === 400);
  });
});
