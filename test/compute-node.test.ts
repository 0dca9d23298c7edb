import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { ShareBatch } from '../management-layer/sharing/distribute';
import { KeyDirectory, nodeKeyFiles, readKeyDirectory } from '../parties/key-directory';
import { SealError, openSealed } from '../parties/sealing';
import { fetchSigned } from '../parties/client';
import { RequestAuthError, SignedRequestError } from '../parties/errors';
import { MAX_CLOCK_SKEW_MS, signRequest, verifyRequest, verifyResponse, type SignedHeaders } from '../parties/request-signing';
import { QUERY_ID_RETENTION_MS } from '../usage-layer/node/query-ids';
import { openAnswerBody, sealRequestBody, SEALED_CONTENT_TYPE } from '../parties/sealed-body';
import { generateSigningKey, loadOrCreateSigningKey } from '../storage-layer/signing-key';
import { loadOrCreateEncryptionKey, type PartyIdentity } from '../parties/key-directory';
import { NodeClient } from '../parties/client';
import { requireSignedRequest } from '../parties/middleware';
import { errorHandler } from '../app/errors-middleware';
import { histogramKey } from '../mpc/histogram';
import { shareMany } from '../mpc/shamir';
import { sealShareBatch } from '../parties/share-batch';
import { makeValues, startTestCluster, type TestCluster } from './support/mpc';
import { clientAs, gatewayParty, nodeIdentity, openExchange, privateKeys } from './support/parties';
import type { Exchange } from './support/tap';

async function rawRequest(url: string, method: string, p: string, headers: Record<string, string>, body?: string): Promise<{ status: number; json: { error?: string; message?: string } }> {
  const res = await fetch(new URL(p, url), { method, headers: { ...headers, ...(body ? { 'content-type': 'application/json' } : {}) }, body });
  return { status: res.status, json: (await res.json()) as { error?: string; message?: string } };
}

async function countRows(tc: TestCluster, node: number, indicator: string): Promise<number> {
  const r = await tc.dbs[node - 1]!.knex.raw('SELECT count(*) AS n FROM node_shares WHERE indicator = ?', [indicator]);
  return Number(r.rows[0].n);
}

let tc: TestCluster;
let gateway: PartyIdentity;
let node2: PartyIdentity;
/** A client sending as `self` to node `node`'s URL, addressed to `recipient` (default: that node). */
const client = (self: PartyIdentity, node: number, recipient = `node-${node}`) => clientAs(tc.config, self, tc.config.nodes.urls[node - 1]!, recipient);
before(async function () {
  this.timeout(60_000);
  tc = await startTestCluster();
  gateway = gatewayParty(tc);
  node2 = nodeIdentity(tc.config, 2);
});
after(async () => tc?.close());

describe('compute nodes: keys and authentication', function () {
  this.timeout(60_000);

  it('creates an Ed25519 and an X25519 key per node (mode 0600) and publishes the public keys per party', async () => {
    const keysDir = tc.config.nodes.keysDir;
    for (let id = 1; id <= 3; id++) {
      const files = nodeKeyFiles(keysDir, id);
      for (const f of [files.signing, files.encryption]) assert.equal(fs.statSync(f).mode & 0o777, 0o600, f);
      assert.ok(fs.existsSync(path.join(keysDir, `node-${id}.pub.json`)));
    }
    // The distributor/coordinator published the gateway key.
    const dir = readKeyDirectory(keysDir);
    assert.deepEqual(Object.keys(dir.parties).sort(), ['gateway', 'node-1', 'node-2', 'node-3']);
    assert.equal(dir.parties.gateway!.sign, tc.gatewayKey.publicKeyBase64);
    // The gateway has an X25519 key too (the nodes seal their answers to it), in its own file.
    assert.equal(dir.parties.gateway!.encrypt, gateway.encryptionKey.publicKeyBase64);
    assert.equal(fs.statSync(tc.config.nodes.gatewayEncryptionKeyFile).mode & 0o777, 0o600);
    assert.equal(dir.parties['node-2']!.sign, loadOrCreateSigningKey(nodeKeyFiles(keysDir, 2).signing).publicKeyBase64);
    assert.equal(dir.parties['node-2']!.encrypt, loadOrCreateEncryptionKey(nodeKeyFiles(keysDir, 2).encryption).publicKeyBase64);
    // Restarting a node keeps its keys.
    const before = fs.readFileSync(path.join(keysDir, 'node-1.pub.json'), 'utf8');
    await tc.cluster.restart(1);
    assert.equal(fs.readFileSync(path.join(keysDir, 'node-1.pub.json'), 'utf8'), before);
  });

  it('signs its answers: the caller accepts node 1\'s answer only as node 1, and refuses an unsigned impostor', async () => {
    const directory = new KeyDirectory(tc.config.nodes.keysDir);
    const asNode1 = client(gateway, 1);
    assert.deepEqual((await asNode1.health()).body, { node: 1, status: 'ok' });
    const asNode2 = client(gateway, 1, 'node-2');
    await assert.rejects(asNode2.health(), (err: unknown) => err instanceof SignedRequestError && /not signed by node-2/.test(err.message));
    // An impostor on another port answering like a node, without node 1's key.
    const express = (await import('express')).default;
    const fake = express();
    fake.get('/health', (_req, res) => { res.set('x-hgd-party', 'node-1').json({ node: 1, status: 'ok' }); });
    const server = await new Promise<import('node:http').Server>((resolve) => { const srv = fake.listen(0, '127.0.0.1', () => resolve(srv)); });
    try {
      const port = (server.address() as import('node:net').AddressInfo).port;
      const toImpostor = new NodeClient({ baseUrl: `http://127.0.0.1:${port}`, self: gateway, recipient: 'node-1', keys: directory });
      await assert.rejects(toImpostor.health(), /not signed by node-1/);
    } finally {
      server.close();
    }
  });

  it('answers a request signed by the gateway or a peer with 200', async () => {
    assert.deepEqual((await client(gateway, 1).health()).body, { node: 1, status: 'ok' });
    assert.equal((await client(node2, 1).health()).status, 200);
  });

  it('rejects unsigned, wrongly signed, stale and unknown-party requests with 401 and a JSON message', async () => {
    const url = tc.config.nodes.urls[0]!;
    const body = JSON.stringify({ queryId: 'q-00000001', indicator: 'x', measures: ['sum'] });
    const target = (party: string, path = '/aggregate/linear', recipient = 'node-1') => ({ party, recipient, method: 'POST', path });
    const cases: Array<[string, Record<string, string>]> = [
      ['unsigned', {}],
      ['signed by an unpublished key', { ...signRequest(generateSigningKey(), target('gateway'), body) }],
      ['signature over another body', { ...signRequest(tc.gatewayKey, target('gateway'), `${body} `) }],
      ['signature over another path', { ...signRequest(tc.gatewayKey, target('gateway', '/shares'), body) }],
      ['addressed to node 2', { ...signRequest(tc.gatewayKey, target('gateway', '/aggregate/linear', 'node-2'), body) }],
      ['recipient header rewritten', { ...signRequest(tc.gatewayKey, target('gateway', '/aggregate/linear', 'node-2'), body), 'x-hgd-recipient': 'node-1' }],
      ['no recipient header', (({ 'x-hgd-recipient': _r, ...rest }) => rest)(signRequest(tc.gatewayKey, target('gateway'), body))],
      ['stale (61 s old)', { ...signRequest(tc.gatewayKey, target('gateway'), body, Date.now() - 61_000) }],
      ['from the future', { ...signRequest(tc.gatewayKey, target('gateway'), body, Date.now() + 61_000) }],
      ['unknown party', { ...signRequest(tc.gatewayKey, target('node-9'), body) }],
      ['malformed party', { ...signRequest(tc.gatewayKey, target('../gateway'), body) }],
    ];
    for (const [name, headers] of cases) {
      const r = await rawRequest(url, 'POST', '/aggregate/linear', headers, body);
      assert.equal(r.status, 401, name);
      assert.equal(r.json.error, 'unauthenticated', name);
      assert.equal(typeof r.json.message, 'string', name);
    }
    const health = await rawRequest(url, 'GET', '/health', {});
    assert.equal(health.status, 401);
  });

  it('enforces which party may call which route (403)', async () => {
    const asPeer = client(node2, 1);
    await assert.rejects(asPeer.linear({ queryId: 'q-peer-0001', indicator: 'x', from: null, to: null, cohort: null, measures: ['sum'] }), (e: unknown) => e instanceof SignedRequestError && e.peerStatus === 403);
    const asGateway = client(gateway, 1);
    await assert.rejects(asGateway.message({ v: 1, queryId: 'q-gw-000001', round: 'zero', sealed: 'hgd-seal-v1.AAAA' }), (e: unknown) => e instanceof SignedRequestError && e.peerStatus === 403);
    // No route hands out rows.
    await assert.rejects(asGateway.request('GET', '/shares'), (e: unknown) => e instanceof SignedRequestError && e.peerStatus === 404);
  });

  it('verifyRequest checks the exact bytes (unit)', () => {
    const key = generateSigningKey();
    const headers = signRequest(key, { party: 'gateway', recipient: 'node-1', method: 'post', path: '/x?a=1' }, 'body');
    const lookup = () => key.publicKey;
    const self = { self: 'node-1' };
    assert.equal(verifyRequest({ method: 'POST', path: '/x?a=1', headers: { ...headers }, body: Buffer.from('body') }, lookup, self), 'gateway');
    assert.throws(() => verifyRequest({ method: 'POST', path: '/x?a=2', headers: { ...headers }, body: 'body' }, lookup, self), RequestAuthError);
    assert.throws(() => verifyRequest({ method: 'GET', path: '/x?a=1', headers: { ...headers }, body: 'body' }, lookup, self), RequestAuthError);
    assert.throws(() => verifyRequest({ method: 'POST', path: '/x?a=1', headers: { ...headers }, body: 'body' }, lookup, { self: 'node-2' }), /addressed to node-1, not to node-2/);
  });

  it('a node neither answers nor serves a party with no published X25519 key (v1 gateway): 401 in clear, the caller counts it as down', async () => {
    const express = (await import('express')).default;
    const node1 = nodeIdentity(tc.config, 1);
    const directory = new KeyDirectory(tc.config.nodes.keysDir);
    // What node 1 knows: the gateway's signing key, but no encryption key for it.
    const withoutGatewayKey = { signingKey: (p: string) => directory.signingKey(p), encryptionKey: (p: string) => (p === 'gateway' ? undefined : directory.encryptionKey(p)) };
    let reached = false;
    const app = express().use(express.raw({ type: () => true }), requireSignedRequest(withoutGatewayKey, node1), (_req, res) => { reached = true; res.json({ ok: true }); });
    app.use(errorHandler(() => {}));
    const server = await new Promise<import('node:http').Server>((resolve) => { const srv = app.listen(0, '127.0.0.1', () => resolve(srv)); });
    try {
      const url = `http://127.0.0.1:${(server.address() as import('node:net').AddressInfo).port}`;
      const headers = signRequest(tc.gatewayKey, { party: 'gateway', recipient: 'node-1', method: 'GET', path: '/health' });
      const raw = await rawRequest(url, 'GET', '/health', { ...headers });
      assert.deepEqual([raw.status, raw.json.error], [401, 'unauthenticated']);
      assert.match(raw.json.message!, /gateway has published no encryption key/);
      await assert.rejects(new NodeClient({ baseUrl: url, self: gateway, recipient: 'node-1', keys: directory }).health(), (e: unknown) => e instanceof SignedRequestError && e.peerStatus === 0 && /status 401/.test(e.message));
      assert.equal(reached, false);
    } finally {
      server.close();
    }
  });

  it('a request to a node that is not running fails with peerStatus 0', async () => {
    await assert.rejects(fetchSigned('http://127.0.0.1:9', '/health', { self: gateway, recipient: 'node-1', keys: new KeyDirectory(tc.config.nodes.keysDir), timeoutMs: 2000 }), (e: unknown) => e instanceof SignedRequestError && e.peerStatus === 0);
  });
});

describe('compute nodes: requests bound to their recipient, query ids single use across restarts', function () {
  this.timeout(60_000);
  let indicator: string;
  before(async () => {
    indicator = 'recipient-x';
    await tc.distributor.distribute(makeValues(indicator, [1.5, 2.5, 4]));
  });

  const linearBody = (queryId: string) => JSON.stringify({ queryId, indicator, from: null, to: null, cohort: null, measures: ['count', 'sum'] });
  /** A raw sealed, signed POST /aggregate/linear for `recipient` (the exact bytes can then be replayed elsewhere). */
  const signedLinear = (queryId: string, recipient: string) => {
    const target = { party: 'gateway', recipient, method: 'POST', path: '/aggregate/linear' };
    const body = sealRequestBody(new KeyDirectory(tc.config.nodes.keysDir).encryptionKey(recipient)!, target, linearBody(queryId));
    return { queryId, body, headers: signRequest(tc.gatewayKey, target, body) };
  };
  /** Sends the exact bytes to node `node`; a sealed answer (to an authenticated request) is opened with the gateway's key. */
  async function post(node: number, req: { body: string; headers: SignedHeaders }) {
    const send = () => fetch(new URL('/aggregate/linear', tc.config.nodes.urls[node - 1]), { method: 'POST', headers: { ...req.headers, 'content-type': SEALED_CONTENT_TYPE }, body: req.body });
    // A pooled connection to a restarted node is closed: the request did not reach it, send it again.
    const res = await send().catch(send);
    const text = await res.text();
    const sealed = res.headers.get('content-type')?.startsWith(SEALED_CONTENT_TYPE) === true;
    const context = { signer: `node-${node}`, recipient: 'gateway', status: res.status, requestSignature: req.headers['x-hgd-signature'] };
    const plain = sealed ? openAnswerBody(gateway.encryptionKey, context, text) : text;
    return { status: res.status, text, sealed, json: JSON.parse(plain) as { error?: string; message?: string; node?: number }, headers: res.headers };
  }

  it('a request node 1 answered is refused by nodes 2 and 3, and node 1 answers it only once', async () => {
    const req = signedLinear(`replay-${randomUUID()}`, 'node-1');
    const first = await post(1, req);
    assert.equal(first.status, 200, first.text);
    assert.equal(first.json.node, 1);
    // The answer is node 1's, bound to this request's signature and to no other request.
    const node1Key = new KeyDirectory(tc.config.nodes.keysDir).signingKey('node-1')!;
    const answerSig = first.headers.get('x-hgd-response-signature')!;
    assert.ok(verifyResponse(node1Key, 200, req.headers['x-hgd-signature'], first.text, answerSig));
    const other = signedLinear(`replay-${randomUUID()}`, 'node-1');
    assert.ok(!verifyResponse(node1Key, 200, other.headers['x-hgd-signature'], first.text, answerSig));

    for (const node of [2, 3]) {
      const replayed = await post(node, req);
      assert.equal(replayed.status, 401, `node ${node}: ${replayed.text}`);
      assert.equal(replayed.json.error, 'unauthenticated');
      assert.match(replayed.json.message!, new RegExp(`addressed to node-1, not to node-${node}`));
    }
    // Refused before anything ran: node 2 has not used the query id and runs it when it is asked.
    const queryId = req.queryId;
    const forNode2 = await post(2, signedLinear(queryId, 'node-2'));
    assert.equal(forNode2.status, 200, forNode2.text);
    assert.ok(forNode2.sealed && first.sealed, 'the answers are sealed to the gateway');
    const again = await post(1, req);
    assert.equal(again.status, 409, again.text);
    assert.equal(again.json.error, 'duplicate_message');
    assert.match(again.json.message!, new RegExp(`query ${queryId} was already run`));
  });

  it('refuses a signed body that is in clear or sealed for another recipient or path (400, sealed answer), before it runs', async () => {
    const keys = new KeyDirectory(tc.config.nodes.keysDir);
    const target = (recipient: string, path = '/aggregate/linear') => ({ party: 'gateway', recipient, method: 'POST', path });
    const signedBody = (body: string) => ({ body, headers: signRequest(tc.gatewayKey, target('node-1'), body) });
    const ids = [1, 2, 3].map(() => `clear-${randomUUID()}`);
    const cases: Array<[string, { body: string; headers: SignedHeaders }]> = [
      ['in clear', signedBody(linearBody(ids[0]!))],
      ['sealed to node 2', signedBody(sealRequestBody(keys.encryptionKey('node-2')!, target('node-2'), linearBody(ids[1]!)))],
      ['sealed for another path', signedBody(sealRequestBody(keys.encryptionKey('node-1')!, target('node-1', '/aggregate/product'), linearBody(ids[2]!)))],
    ];
    for (const [name, req] of cases) {
      const r = await post(1, req);
      assert.equal(r.status, 400, `${name}: ${r.text}`);
      assert.ok(r.sealed, `${name}: the error answer is sealed to the gateway`);
      assert.deepEqual([r.json.error, (r.json as { field?: string }).field], ['invalid_input', 'sealed'], name);
    }
    assert.deepEqual(await tc.dbs[0]!.knex('node_query_ids').whereIn('query_id', ids).select('query_id'), [], 'no query id was used');
  });

  it('a used query id is refused after the node restarts (it is kept in the node database)', async () => {
    const queryId = `restart-${randomUUID()}`;
    assert.equal((await post(1, signedLinear(queryId, 'node-1'))).status, 200);
    await tc.cluster.restart(1);
    const after = await post(1, signedLinear(queryId, 'node-1')); // freshly signed: only the id is reused
    assert.equal(after.status, 409, after.text);
    assert.equal(after.json.error, 'duplicate_message');
    const rows = await tc.dbs[0]!.knex('node_query_ids').where({ query_id: queryId }).select('kind');
    assert.deepEqual(rows, [{ kind: 'linear' }]);
    // A fresh id still works after the restart.
    assert.equal((await post(1, signedLinear(`restart-${randomUUID()}`, 'node-1'))).status, 200);
  });

  it('keeps used query ids only while a replay could pass the timestamp check: older rows go when an id is claimed', async () => {
    const db = tc.dbs[0]!;
    const aged = async (queryId: string, ageMs: number) => db.knex.raw("INSERT INTO node_query_ids (query_id, kind, started_at) VALUES (?, 'linear', now() - (? * interval '1 millisecond'))", [queryId, ageMs]);
    const [old, older, recent] = [`old-${randomUUID()}`, `older-${randomUUID()}`, `recent-${randomUUID()}`];
    await aged(old, QUERY_ID_RETENTION_MS + 5_000);
    await aged(older, 30 * 86_400_000);
    await aged(recent, QUERY_ID_RETENTION_MS - 20_000); // still inside the window
    await tc.cluster.restart(1);
    const fresh = `fresh-${randomUUID()}`;
    assert.equal((await post(1, signedLinear(fresh, 'node-1'))).status, 200);
    const left = (await db.knex('node_query_ids').whereIn('query_id', [old, older, recent, fresh]).pluck('query_id')).sort();
    assert.deepEqual(left, [fresh, recent].sort());
    // The id still inside the window is refused after the restart; every row left is younger than the window.
    const replay = await post(1, signedLinear(recent, 'node-1'));
    assert.equal(replay.status, 409, replay.text);
    const oldest = await db.knex.raw("SELECT count(*)::int AS n FROM node_query_ids WHERE started_at < now() - (? * interval '1 millisecond')", [QUERY_ID_RETENTION_MS]);
    assert.equal(oldest.rows[0].n, 0);
    // What a pruned id protected against: its request replayed after the window. Claimed RETENTION ago,
    // its timestamp is at least RETENTION − skew old (it was at most skew ahead then): it is stale.
    const req = signedLinear(`stale-${randomUUID()}`, 'node-1');
    const latest = Date.now() - (QUERY_ID_RETENTION_MS - MAX_CLOCK_SKEW_MS) - 1_000;
    const stale = { ...req, headers: signRequest(tc.gatewayKey, { party: 'gateway', recipient: 'node-1', method: 'POST', path: '/aggregate/linear' }, req.body, latest) };
    assert.equal((await post(1, stale)).status, 401);
  });
});

describe('compute nodes: storing shares', function () {
  this.timeout(60_000);

  it('stores a batch once: the same batch twice, or a retried request, stores nothing twice', async () => {
    const values = makeValues('glucose', [5.55, 6.1, -3.25, 7]);
    const first = await tc.distributor.distribute(values);
    assert.deepEqual(first.delivered, [1, 2, 3]);
    assert.deepEqual(first.failed, []);
    for (const r of first.receipts) assert.deepEqual({ inserted: r.inserted, replaced: r.replaced, unchanged: r.unchanged }, { inserted: 4, replaced: 0, unchanged: 0 });
    for (let id = 1; id <= 3; id++) assert.equal(await countRows(tc, id, 'glucose'), 4);

    // A retried request (the gateway crashed before it saw the answer) stores nothing twice.
    const sent: Exchange[] = [];
    const realFetch = globalThis.fetch;
    globalThis.fetch = (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => {
      if (String(input).endsWith('/shares') && typeof init?.body === 'string') {
        sent.push({ node: 0, method: 'POST', path: '/shares', headers: init.headers as Record<string, string>, body: init.body });
      }
      return realFetch(input, init);
    };
    let second;
    try {
      second = await tc.distributor.distribute(makeValues('glucose', [1.5, 2.5], { prefix: 'retry' }));
    } finally {
      globalThis.fetch = realFetch;
    }
    assert.deepEqual(second.delivered, [1, 2, 3]);
    assert.equal(sent.length, 3);
    // What the gateway sent, opened with each recipient's key: the share batches in clear (their shares still sealed).
    const bodies = sent.map((x) => openExchange(x, privateKeys(tc.config)).request);
    for (const body of bodies) assert.deepEqual(Object.keys(JSON.parse(body)).sort(), ['dealing', 'items', 'sealed', 'v']);
    for (let id = 1; id <= 3; id++) {
      let accepted = 0;
      for (const body of bodies) {
        try {
          const r = await client(gateway, id).storeShares(body); // only the envelope sealed to this node opens
          assert.deepEqual([r.body.inserted, r.body.replaced, r.body.unchanged], [0, 0, 2]);
          accepted++;
        } catch (e) {
          assert.ok(e instanceof SignedRequestError && e.peerStatus === 400);
        }
      }
      assert.equal(accepted, 1);
      assert.equal(await countRows(tc, id, 'glucose'), 6);
    }

    // distribute() again for the same records: a fresh dealing supersedes the old one on every node.
    const stored = await tc.dbs[0]!.knex.raw("SELECT record_id, share::text AS share FROM node_shares WHERE indicator = 'glucose' ORDER BY record_id");
    const again = await tc.distributor.distribute(values);
    for (const r of again.receipts) assert.deepEqual([r.inserted, r.replaced, r.unchanged], [0, 4, 0]);
    const after = await tc.dbs[0]!.knex.raw("SELECT record_id, share::text AS share FROM node_shares WHERE indicator = 'glucose' ORDER BY record_id");
    assert.notDeepEqual(after.rows, stored.rows, 'newer dealing replaced the shares');
    for (let id = 1; id <= 3; id++) assert.equal(await countRows(tc, id, 'glucose'), 6);

    const sum = await tc.coordinator.aggregate({ indicator: 'glucose', aggregate: 'sum' });
    assert.equal(sum.value, 19.4);
    assert.equal(sum.count, 6);
    assert.deepEqual(sum.nodesUsed, [1, 2, 3]);
  });

  it('a pending (sealed) delivery re-sent later is stored once, and an older dealing never overwrites a newer one', async () => {
    await tc.cluster.stop(3);
    const values = makeValues('hdl', [1.23, 2.5, 0.75]);
    const r1 = await tc.distributor.distribute(values);
    assert.deepEqual(r1.delivered, [1, 2]);
    assert.deepEqual(r1.failed.map((f) => f.node), [3]);
    assert.equal(r1.pending.length, 1);
    assert.equal(r1.pending[0]!.node, 3);
    // The gateway's outbox holds only the sealed envelope: no share in clear.
    const pendingBody = JSON.parse(r1.pending[0]!.body) as ShareBatch;
    assert.deepEqual(Object.keys(pendingBody).sort(), ['dealing', 'items', 'sealed', 'v']);
    assert.ok(!/[0-9]{20,}/.test(r1.pending[0]!.body), 'no share-like numbers in the pending body');

    // Meanwhile a query uses nodes 1 and 2 and names node 3.
    const during = await tc.coordinator.aggregate({ indicator: 'hdl', aggregate: 'mean' });
    assert.deepEqual(during.nodesUsed, [1, 2]);
    assert.deepEqual(during.nodesDown, [3]);
    assert.ok(Math.abs((during.value as number) - 4.48 / 3) < 1e-12);

    await tc.cluster.restart(3);
    const re = await tc.distributor.redeliver(r1.pending);
    assert.deepEqual(re.pending, []);
    assert.equal(re.delivered[0]!.inserted, 3);
    const twice = await tc.distributor.redeliver(r1.pending);
    assert.deepEqual([twice.delivered[0]!.inserted, twice.delivered[0]!.unchanged], [0, 3]);
    assert.equal(await countRows(tc, 3, 'hdl'), 3);
    const all = await tc.coordinator.aggregate({ indicator: 'hdl', aggregate: 'sum' });
    assert.deepEqual(all.nodesUsed, [1, 2, 3]);
    assert.equal(all.value, 4.48);

    // A newer dealing reaches every node; the old envelope arriving late afterwards is ignored.
    const r2 = await tc.distributor.distribute(values);
    assert.deepEqual(r2.delivered, [1, 2, 3]);
    const late = await tc.distributor.redeliver(r1.pending);
    assert.deepEqual([late.delivered[0]!.replaced, late.delivered[0]!.unchanged], [0, 3]);
    const still = await tc.coordinator.aggregate({ indicator: 'hdl', aggregate: 'variance' });
    assert.deepEqual(still.nodesUsed, [1, 2, 3]);
    assert.deepEqual(still.nodesOutOfSync, []);
  });

  it('a node that missed a delivery is out of sync and excluded, not mixed in', async () => {
    await tc.distributor.distribute(makeValues('ldl', [1, 2, 3]));
    await tc.cluster.stop(2);
    const r = await tc.distributor.distribute(makeValues('ldl', [10, 20]));
    assert.deepEqual(r.failed.map((f) => f.node), [2]);
    await tc.cluster.restart(2);
    const res = await tc.coordinator.aggregate({ indicator: 'ldl', aggregate: 'sum' });
    assert.equal(res.value, 36);
    assert.deepEqual(res.nodesUsed, [1, 3]);
    assert.deepEqual(res.nodesOutOfSync, [2]);
    assert.deepEqual(res.nodesDown, []);
    await tc.distributor.redeliver(r.pending);
    const synced = await tc.coordinator.aggregate({ indicator: 'ldl', aggregate: 'sum' });
    assert.deepEqual(synced.nodesUsed, [1, 2, 3]);
    assert.equal(synced.value, 36);
  });

  it('refuses envelopes that are not for this node or were tampered with', async () => {
    await tc.cluster.stop(1);
    const r = await tc.distributor.distribute(makeValues('sodium', [140.1, 138.7]));
    await tc.cluster.restart(1);
    const body = JSON.parse(r.pending[0]!.body) as ShareBatch;
    // Node 1's envelope sent to node 2: node 2 cannot open it.
    await assert.rejects(client(gateway, 2).storeShares(body), (e: unknown) => e instanceof SignedRequestError && e.peerStatus === 400);
    const node1 = client(gateway, 1);
    // Metadata changed (another record id): the envelope's associated data no longer matches.
    const renamed = { ...body, items: body.items.map((it, k) => (k === 0 ? { ...it, recordId: 'other' } : it)) };
    await assert.rejects(node1.storeShares(renamed), (e: unknown) => e instanceof SignedRequestError && e.peerStatus === 400);
    // A flipped ciphertext byte.
    const sealed = body.sealed;
    const flipped = sealed.slice(0, -2) + (sealed.at(-2) === 'A' ? 'B' : 'A') + sealed.slice(-1);
    await assert.rejects(node1.storeShares({ ...body, sealed: flipped }), (e: unknown) => e instanceof SignedRequestError && e.peerStatus === 400);
    // Unit: unseal with another node's key fails with SealError.
    const key2 = loadOrCreateEncryptionKey(nodeKeyFiles(tc.config.nodes.keysDir, 2).encryption);
    assert.throws(() => openSealed(key2, body.sealed, 'x'), SealError);
    // The untouched envelope is accepted by node 1.
    assert.equal((await node1.storeShares(body)).body.inserted, 2);
  });

  it('reports a node without a published key as needing a fresh distribution', async () => {
    fs.rmSync(path.join(tc.config.nodes.keysDir, 'node-3.pub.json'));
    const lonely = await import('../management-layer/sharing/distribute');
    const dist = lonely.createShareDistributor(tc.config, tc.gatewayKey);
    const r = await dist.distribute(makeValues('alt', [10, 20]));
    assert.deepEqual(r.delivered, [1, 2]);
    assert.deepEqual(r.needsRedistribute, [3]);
    assert.equal(r.pending.length, 0);
    assert.ok(new KeyDirectory(tc.config.nodes.keysDir).encryptionKey('node-3') === undefined);
    await tc.cluster.restart(3); // republishes its keys
    assert.ok(new KeyDirectory(tc.config.nodes.keysDir).encryptionKey('node-3'));
    const fresh = await lonely.createShareDistributor(tc.config, tc.gatewayKey).distribute(makeValues('alt', [10, 20], { prefix: r.dealing }));
    assert.deepEqual(fresh.delivered, [1, 2, 3], JSON.stringify(fresh.failed));
  });

  it('a legacy batch (dealt with one-hot histogram entries after x and x², as an old outbox may hold) is stored without them', async () => {
    const edges = [20, 60, 100];
    const key = histogramKey(edges);
    const values = [72, 58];
    const items = values.map((_, i) => ({ recordId: `legacy-${i}`, pseudonym: `lp${i}`, indicator: 'legacy-hr', effectiveStart: new Date(Date.UTC(2024, 0, 1, i)).toISOString(), effectiveEnd: null, scale: 0, hist: key }));
    // x, x², then the one-hot vector [below 20, [20, 60), [60, 100], above 100].
    const secrets = values.flatMap((x) => [BigInt(x), BigInt(x * x), 0n, x < 60 ? 1n : 0n, x >= 60 ? 1n : 0n, 0n]);
    const perNode = shareMany(secrets, 3, 1);
    const keys = new KeyDirectory(tc.config.nodes.keysDir);
    for (let id = 1; id <= 3; id++) {
      const batch = sealShareBatch(id, { dealing: '42', items }, perNode[id - 1]!, keys.encryptionKey(`node-${id}`)!);
      const r = await client(gateway, id).storeShares(JSON.stringify({ ...batch, histograms: { [key]: edges } }));
      assert.deepEqual([r.body.inserted, r.body.replaced, r.body.unchanged], [2, 0, 0]);
    }
    const sum = await tc.coordinator.aggregate({ indicator: 'legacy-hr', aggregate: 'sum' });
    assert.equal(sum.value, 130, 'x read as x: the one-hot entries were skipped, not taken for the next record');
    const variance = await tc.coordinator.aggregate({ indicator: 'legacy-hr', aggregate: 'variance' });
    assert.equal(variance.value, 98, 'x² too: (72 − 65)² + (58 − 65)² over n − 1');
  });

  it('stores large batches in chunks (several requests and multi-row statements)', async () => {
    const xs = Array.from({ length: 4500 }, (_, i) => (i * 37) % 20000);
    const values = makeValues('steps', xs, { scale: 0 });
    const r = await tc.distributor.distribute(values);
    assert.equal(r.receipts.length, 9, '3 requests per node');
    for (let id = 1; id <= 3; id++) assert.equal(await countRows(tc, id, 'steps'), 4500);
    const res = await tc.coordinator.aggregate({ indicator: 'steps', aggregate: 'sum' });
    assert.equal(res.value, xs.reduce((a, b) => a + b, 0));
  });
});
