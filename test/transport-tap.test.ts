import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { createShareDistributor, type ShareableValue } from '../management-layer/sharing/distribute';
import { shareFromHex, shareToHex } from '../mpc/codec';
import { sub, sum, toSigned } from '../mpc/field';
import { interpolateAt, type SharePoint } from '../mpc/shamir';
import { SignedRequestError } from '../parties/errors';
import { openRoundMessage } from '../parties/round-message';
import { signRequest } from '../parties/request-signing';
import { PADDING_BLOCK, SEALED_CONTENT_TYPE } from '../parties/sealed-body';
import { SealError } from '../parties/sealing';
import type { LinearResponse, PeerMessage } from '../parties/wire';
import { createCoordinator } from '../usage-layer/coordinator';
import { makeValues, startTestCluster, type TestCluster } from './support/mpc';
import { clientAs, nodeIdentity, privateKeys } from './support/parties';
import { tapCluster, type Exchange, type TappedCluster } from './support/tap';

/**
 * A passive tap on EVERY link (issue 10, "Transport"): a recording proxy in front of each node sees
 * the gateway's requests (share batches, queries, health checks), the nodes' answers and every round
 * message between the nodes. Every body is sealed to its recipient (parties/sealed-body.ts), round
 * messages once more inside (parties/round-message.ts). The tests open the recordings with the
 * parties' private keys (which an observer does not have) to show what was there to hide.
 */

/** A round message: sender (the signed party), recipient and its body (the PeerMessage, once opened). */
interface TappedMessage {
  from: number;
  to: number;
  body: Record<string, unknown>;
}

const fromNode = (x: Exchange) => Number(/^node-(\d+)$/.exec(x.headers['x-hgd-party'] ?? '')?.[1]);
const isMessage = (x: Exchange) => x.path === '/mpc/message';

/** What the observer can parse: JSON bodies. Sealed ones are not JSON. */
function parsed(text: string | undefined): Record<string, unknown> | undefined {
  try {
    return text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The round messages as the observer reads them off the wire (nothing, when they are sealed). */
function observedMessages(xs: readonly Exchange[]): TappedMessage[] {
  return xs.filter(isMessage).flatMap((x) => {
    const body = parsed(x.body);
    return body ? [{ from: fromNode(x), to: x.node, body }] : [];
  });
}

const HEX_SHARE = /^[0-9a-f]{32}$/;

/**
 * The observer's reconstruction: every participant's noise from the sub-shares it sent (bodies
 * { round, values: hex[] }), the noised sum from the answers, and their difference. Undefined when
 * the messages or the answers carry no readable shares.
 */
function recoverExactSum(messages: readonly TappedMessage[], answers: readonly LinearResponse[], t: number): bigint | undefined {
  const noiseShares = new Map<number, SharePoint[]>();
  for (const m of messages.filter((x) => x.body.round === 'noise')) {
    const first = Array.isArray(m.body.values) ? m.body.values[0] : undefined;
    if (typeof first !== 'string' || !HEX_SHARE.test(first)) continue;
    noiseShares.set(m.from, [...(noiseShares.get(m.from) ?? []), { x: m.to, y: shareFromHex(first) }]);
  }
  if (answers.length < t + 1) return undefined;
  const noise: bigint[] = [];
  for (const j of answers.map((a) => a.node)) {
    const points = noiseShares.get(j) ?? [];
    if (points.length < t + 1) return undefined;
    noise.push(interpolateAt(points.slice(0, t + 1), 0));
  }
  const noised = interpolateAt(answers.slice(0, t + 1).map((a) => ({ x: a.node, y: shareFromHex(a.sum as string) })), 0);
  return toSigned(sub(noised, sum(noise)));
}

const linearOf = (xs: readonly Exchange[]) => xs.filter((x) => x.path === '/aggregate/linear' && x.status === 200);

/** A sealed body: the envelope's text and nothing else. */
const SEALED = /^hgd-seal-v1\.[A-Za-z0-9_-]+$/;

/** Chi-squared of the byte values of `bytes` against uniform (255 degrees of freedom: mean 255, sd 22.6). */
function byteChi2(bytes: Buffer): number {
  const counts = new Array<number>(256).fill(0);
  for (const b of bytes) counts[b]! += 1;
  const expected = bytes.length / 256;
  return counts.reduce((acc, c) => acc + (c - expected) ** 2 / expected, 0);
}

/** Every recorded body (requests and answers) and header value, as an observer of the links has them. */
function wireTexts(xs: readonly Exchange[]): string[] {
  return xs.flatMap((x) => [x.path, x.body, x.responseBody ?? '', ...Object.values(x.headers), ...Object.values(x.responseHeaders ?? {})]);
}

describe('transport: a passive tap of all node traffic (n = 3, t = 1)', function () {
  this.timeout(120_000);
  let tc: TestCluster;
  let tap: TappedCluster;
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
  });
  after(async () => {
    await tap?.close();
    await tc?.close();
  });

  it('cannot recover any node’s noise or the exact sum: the same attack on the bodies in clear does', async () => {
    const coordinator = createCoordinator(tap.config, tc.gatewayKey);
    const before = tap.exchanges().length;
    const res = await coordinator.aggregate({ indicator: 'tap-x', aggregate: 'sum', noise: { epsilon: 0.5, sensitivity: 100 } });
    assert.deepEqual(res.nodesUsed, [1, 2, 3]);
    const seen = tap.exchanges().slice(before);
    assert.equal(seen.filter(isMessage).length, 6, 'every participant sent its noise shares to the two others through the taps');
    assert.equal(linearOf(seen).length, 3);

    // What the wire carried before the sealing, both layers opened with the recipients' keys: every
    // node's noise, hence the exact sum.
    const keys = privateKeys(tc.config);
    const clear = seen.filter(isMessage).map((x) => {
      const msg = JSON.parse(tap.plainRequest(x)) as PeerMessage;
      const values = openRoundMessage(keys(`node-${x.node}`), fromNode(x), x.node, msg);
      return { from: fromNode(x), to: x.node, body: { queryId: msg.queryId, round: msg.round, values: values.map(shareToHex) } };
    });
    const clearAnswers = linearOf(seen).map((x) => JSON.parse(tap.plainAnswer(x) as string) as LinearResponse);
    assert.equal(recoverExactSum(clear, clearAnswers, 1), exact);
    // On the wire as it is: no body is readable, neither the messages nor the answers.
    for (const x of seen) {
      assert.ok(x.body === '' || SEALED.test(x.body), `${x.path}: request body sealed`);
      assert.match(x.responseBody ?? '', SEALED, `${x.path}: answer sealed`);
      assert.equal(x.responseHeaders?.['content-type']?.split(';')[0], SEALED_CONTENT_TYPE);
    }
    const observedAnswers = linearOf(seen).flatMap((x) => (parsed(x.responseBody) ? [parsed(x.responseBody) as unknown as LinearResponse] : []));
    assert.deepEqual([observedMessages(seen), observedAnswers], [[], []]);
    assert.equal(recoverExactSum(observedMessages(seen), observedAnswers, 1), undefined);
    // The coordinator opened the NOISED sum, which is not the exact one.
    const noised = toSigned(interpolateAt(clearAnswers.slice(0, 2).map((a) => ({ x: a.node, y: shareFromHex(a.sum as string) })), 0));
    assert.notEqual(noised, exact);
    assert.equal(Math.round(res.value! * 100), Number(noised));
  });

  it('every round message of the product protocol is sealed to its recipient, from its sender, for its query and round', async () => {
    const coordinator = createCoordinator(tap.config, tc.gatewayKey);
    const before = tap.exchanges().length;
    const res = await coordinator.aggregate({ indicator: 'tap-a', indicator2: 'tap-b', aggregate: 'correlation', pairWindowSeconds: 0, noise: { count: { epsilon: 1, sensitivity: 1 } } });
    assert.deepEqual(res.nodesUsed, [1, 2, 3]);
    const keys = privateKeys(tc.config);
    const messages = tap.exchanges().slice(before).filter(isMessage).map((x) => ({ from: fromNode(x), to: x.node, msg: JSON.parse(tap.plainRequest(x)) as PeerMessage }));
    assert.deepEqual([...new Set(messages.map((m) => m.msg.round))].sort(), ['noise', 'reshare', 'zero']);
    assert.equal(messages.length, 3 * 6);
    for (const { from, to, msg } of messages) {
      assert.ok(!/[0-9a-f]{32}/.test(JSON.stringify(msg)));
      assert.ok(openRoundMessage(keys(`node-${to}`), from, to, msg).length > 0);
      const third = [1, 2, 3].find((id) => id !== from && id !== to)!;
      // Not for another recipient, not as from another sender, not in another round or query.
      assert.throws(() => openRoundMessage(keys(`node-${third}`), from, third, msg), SealError);
      assert.throws(() => openRoundMessage(keys(`node-${to}`), third, to, msg), SealError);
      assert.throws(() => openRoundMessage(keys(`node-${to}`), from, to, { ...msg, round: msg.round === 'zero' ? 'noise' : 'zero' }), SealError);
      assert.throws(() => openRoundMessage(keys(`node-${to}`), from, to, { ...msg, queryId: `${msg.queryId}x` }), SealError);
    }
  });

  it('a node refuses a round message replayed on another link (400): neither the envelope on the wire nor the message inside opens', async () => {
    const before = tap.exchanges().length;
    await createCoordinator(tap.config, tc.gatewayKey).aggregate({ indicator: 'tap-x', aggregate: 'count', noise: { epsilon: 1, sensitivity: 1 } });
    const captured = tap.exchanges().slice(before).find((x) => isMessage(x) && x.headers['x-hgd-party'] === 'node-1' && x.node === 2)!;
    // Node 3 re-signs node 1's envelope on the wire as its own request to node 2: it is sealed as from node 1.
    const target = { party: 'node-3', recipient: 'node-2', method: 'POST', path: '/mpc/message' };
    const headers = { ...signRequest(nodeIdentity(tc.config, 3).signingKey, target, captured.body), 'content-type': SEALED_CONTENT_TYPE };
    const resent = await fetch(new URL('/mpc/message', tc.config.nodes.urls[1]), { method: 'POST', headers, body: captured.body });
    assert.equal(resent.status, 400);
    // Node 3 (which could open its own copy) re-sends node 1's inner message to node 2 as its own.
    const node3 = clientAs(tc.config, nodeIdentity(tc.config, 3), tc.config.nodes.urls[1]!, 'node-2');
    const body = JSON.parse(tap.plainRequest(captured)) as PeerMessage;
    await assert.rejects(node3.message({ ...body, queryId: `${body.queryId}-other` }), (e: unknown) => e instanceof SignedRequestError && e.peerStatus === 400);
    await assert.rejects(node3.message(body), (e: unknown) => e instanceof SignedRequestError && e.peerStatus === 400);
  });
});

describe('transport: what a passive tap of every link sees of an ingest and of queries (n = 3, t = 1)', function () {
  this.timeout(120_000);
  let tc: TestCluster;
  let tap: TappedCluster;
  const run = randomUUID().slice(0, 8);
  const indicators = { hr: `tap-hr-${run}`, bmi: `tap-bmi-${run}`, sbp: `tap-sbp-${run}` };
  const patients = [0, 1, 2, 3].map((k) => `tap-patient-${k}-${randomUUID()}`);
  const cohort = patients.slice(0, 3);
  const edges = [0, 60, 80, 100, 200];
  const hr = [61.37, 72.91, 88.13, 95.47, 67.29, 79.83, 103.57, 58.61, 84.39];
  const bmi = [21.37, 24.83, 31.29, 27.61, 19.73];
  const sbp = [118.3, 127.9, 141.7, 133.1, 112.9];
  const records = (indicator: string, xs: number[], prefix: string): ShareableValue[] =>
    makeValues(indicator, xs, { prefix }).map((v, i) => ({ ...v, pseudonym: patients[i % patients.length]! }));
  const hrRecords = records(indicators.hr, hr, `tap-rec-hr-${run}`);
  const inCohort = hrRecords.filter((r) => cohort.includes(r.pseudonym)).length;

  before(async function () {
    this.timeout(60_000);
    tc = await startTestCluster({ n: 3, t: 1 });
    tap = await tapCluster(tc);
    const ingest = createShareDistributor(tap.config, tc.gatewayKey, { timeoutMs: 5_000 });
    const xs = records(indicators.bmi, bmi, `tap-rec-bmi-${run}`);
    const ys = records(indicators.sbp, sbp, `tap-rec-sbp-${run}`).map((v, i) => ({ ...v, effectiveStart: xs[i]!.effectiveStart }));
    const r = await ingest.distribute([...hrRecords, ...xs, ...ys]);
    assert.deepEqual(r.delivered, [1, 2, 3]);
  });
  after(async () => {
    await tap?.close();
    await tc?.close();
  });

  it('sees sealed bodies only — no pseudonym, indicator, value, exact count or share — while count, mean, histogram and correlation are right', async () => {
    const coordinator = createCoordinator(tap.config, tc.gatewayKey);
    const count = await coordinator.aggregate({ indicator: indicators.hr, aggregate: 'count', cohort });
    assert.equal(count.count, inCohort);
    const mean = await coordinator.aggregate({ indicator: indicators.hr, aggregate: 'mean' });
    assert.ok(Math.abs(mean.value! - hr.reduce((a, b) => a + b, 0) / hr.length) < 1e-9);
    // Each patient's latest heart rate: 84.39, 79.83, 103.57, 58.61 (comparisons, all three nodes).
    const histogram = await coordinator.aggregate({ indicator: indicators.hr, aggregate: 'histogram', cohort: patients, perPatient: 1, edges, domain: { min: 0, max: 300, scale: 2 } });
    assert.deepEqual(histogram.histogram!.counts, [1, 1, 1, 1]);
    const correlation = await coordinator.aggregate({ indicator: indicators.bmi, indicator2: indicators.sbp, aggregate: 'correlation', pairWindowSeconds: 0 });
    assert.ok(Math.abs(correlation.value! - pearson(bmi, sbp)) < 1e-6, `${correlation.value} vs ${pearson(bmi, sbp)}`);
    const noised = await coordinator.aggregate({ indicator: indicators.hr, aggregate: 'count', cohort, noise: { epsilon: 1, sensitivity: 1 } });
    assert.equal(noised.noised, true);

    const all = tap.exchanges();
    const paths = new Set(all.map((x) => x.path));
    for (const p of ['/shares', '/aggregate/linear', '/aggregate/product', '/mpc/message']) assert.ok(paths.has(p), `the tap saw ${p}`);
    assertSealedOnly(all);
    const needles = secretsOf();
    assert.deepEqual(leaks(wireTexts(all), needles), [], 'nothing secret on the wire');
    // Not vacuous: the same bodies opened with the parties' keys hold every one of them but the values
    // (which are only ever shared).
    const opened = all.flatMap((x) => [tap.plainRequest(x), tap.plainAnswer(x) ?? '']);
    const notInClear = needles.filter((n) => !leaks(opened, [n]).length).map((n) => n.name);
    assert.deepEqual(notInClear.filter((n) => !n.startsWith('value ')), []);
  });

  /** Every body on the wire is an envelope (or empty), and all envelopes together look uniformly random. */
  function assertSealedOnly(xs: readonly Exchange[]): void {
    const envelopes: Buffer[] = [];
    for (const x of xs) {
      for (const body of [x.body, x.responseBody ?? '']) {
        if (body === '') continue;
        assert.match(body, SEALED, `${x.method} ${x.path} (${x.status}): ${body.slice(0, 60)}`);
        const raw = Buffer.from(body.slice('hgd-seal-v1.'.length), 'base64url');
        assert.equal((raw.length - 60) % PADDING_BLOCK, 0, `${x.path}: the plaintext is padded to whole blocks`);
        envelopes.push(raw);
      }
    }
    const bytes = Buffer.concat(envelopes);
    assert.ok(bytes.length > 20_000, `${bytes.length} bytes recorded`);
    assert.ok(byteChi2(bytes) < 400, `byte chi-squared ${byteChi2(bytes)}: ciphertext is uniform`);
    assert.ok(byteChi2(Buffer.from(JSON.stringify(xs.map((x) => tap.plainRequest(x))))) > 10_000, 'the plaintext is not');
  }

  /** What the observer must not find: pseudonyms, record ids, indicator names, values, the exact counts, shares. */
  function secretsOf(): Array<{ name: string; test: (s: string) => boolean }> {
    const literal = (name: string, needle: string) => ({ name, test: (s: string) => s.includes(needle) });
    return [
      ...patients.map((p) => literal(`pseudonym ${p}`, p)),
      ...hrRecords.map((r) => literal(`record ${r.recordId}`, r.recordId)),
      ...Object.values(indicators).map((i) => literal(`indicator ${i}`, i)),
      ...[...hr, ...bmi, ...sbp].map((v) => literal(`value ${v}`, String(v))),
      literal(`the exact count ${inCohort} of the cohort`, `"count":${inCohort}`),
      literal(`the exact count ${hr.length}`, `"count":${hr.length}`),
      literal(`the exact number of pairs ${bmi.length}`, `"pairs":${bmi.length}`),
      { name: 'a share', test: (s: string) => /"[0-9a-f]{32}"/.test(s) },
    ];
  }
});

/** The names of the needles found in any of `texts`. */
function leaks(texts: readonly string[], needles: ReadonlyArray<{ name: string; test: (s: string) => boolean }>): string[] {
  return needles.filter((n) => texts.some((t) => n.test(t))).map((n) => n.name);
}

function pearson(xs: number[], ys: number[]): number {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i]! - mx) * (ys[i]! - my);
    sxx += (xs[i]! - mx) ** 2;
    syy += (ys[i]! - my) ** 2;
  }
  return sxy / Math.sqrt(sxx * syy);
}
