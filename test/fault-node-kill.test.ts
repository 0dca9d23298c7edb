import { strict as assert } from 'node:assert';
import net from 'node:net';
import { createCoordinator, InsufficientNodesError } from '../usage-layer/coordinator';
import type { Config } from '../config';
import { makeValues, startTestCluster, type TestCluster } from './support/mpc';

/**
 * A TCP proxy in front of one node: it forwards the gateway's request and, when the node starts to
 * answer, kills the node (server and open connections closed, as a crashed process) and cuts the
 * connection before the answer reaches the gateway. The node dies *during* the query, after the
 * request was sent and processed.
 */
async function killingProxy(target: string, kill: () => Promise<void>): Promise<{ url: string; killed: () => boolean; close(): Promise<void> }> {
  const { hostname, port } = new URL(target);
  let killed = false;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    const upstream = net.connect(Number(port), hostname);
    sockets.add(upstream);
    client.on('error', () => {});
    upstream.on('error', () => client.destroy());
    upstream.on('close', () => client.destroy());
    // The node got the whole request and is answering: kill it before the answer leaves.
    upstream.once('data', () => {
      killed = true;
      void kill().finally(() => {
        client.destroy();
        upstream.destroy();
      });
    });
    client.on('data', (chunk) => upstream.write(chunk));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port: own } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${own}`,
    killed: () => killed,
    close: () => new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

describe('fault: a compute node killed during a query (n = 3, t = 1)', function () {
  this.timeout(120_000);
  let tc: TestCluster;

  beforeEach(async () => {
    tc = await startTestCluster({ n: 3, t: 1, peerTimeoutMs: 3_000 });
    const xs = makeValues('kill-x', [1, 2, 3, 4, 5]);
    const ys = makeValues('kill-y', [2, 4, 6, 9, 11]).map((v, i) => ({ ...v, pseudonym: xs[i]!.pseudonym, effectiveStart: xs[i]!.effectiveStart }));
    await tc.distributor.distribute([...xs, ...ys]);
  });
  afterEach(async () => tc?.close());

  /** A coordinator whose requests to node 2 go through the killing proxy. */
  async function coordinatorKillingNode2() {
    const proxy = await killingProxy(tc.config.nodes.urls[1]!, () => tc.cluster.stop(2));
    const urls = [...tc.config.nodes.urls];
    urls[1] = proxy.url;
    const config: Config = { ...tc.config, nodes: { ...tc.config.nodes, urls } };
    return { proxy, coordinator: createCoordinator(config, tc.gatewayKey, { timeoutMs: 10_000 }) };
  }

  it('a linear aggregate completes on the t + 1 surviving nodes and names the killed node', async () => {
    const { proxy, coordinator } = await coordinatorKillingNode2();
    try {
      const started = Date.now();
      const res = await coordinator.aggregate({ indicator: 'kill-x', aggregate: 'sum' });
      assert.ok(proxy.killed(), 'the request reached node 2 before it was killed');
      assert.equal(res.value, 15);
      assert.deepEqual([res.nodesUsed, res.nodesDown], [[1, 3], [2]]);
      assert.ok(Date.now() - started < 10_000, 'no waiting for a timeout');
    } finally {
      await proxy.close();
    }
  });

  it('a correlation (needs all 2t + 1 nodes) fails with a clear error, and works again once the node is back', async () => {
    const { proxy, coordinator } = await coordinatorKillingNode2();
    try {
      await assert.rejects(
        coordinator.aggregate({ indicator: 'kill-x', indicator2: 'kill-y', aggregate: 'correlation', pairWindowSeconds: 0 }),
        (e: unknown) => {
          assert.ok(proxy.killed(), 'the request reached node 2 before it was killed');
          assert.ok(e instanceof InsufficientNodesError, String(e));
          assert.equal(e.code, 'insufficient_nodes');
          assert.match(e.message, /needs 3 \(2t \+ 1\).*down: 2/);
          return true;
        },
      );
    } finally {
      await proxy.close();
    }
    await tc.cluster.restart(2);
    const corr = await tc.coordinator.aggregate({ indicator: 'kill-x', indicator2: 'kill-y', aggregate: 'correlation', pairWindowSeconds: 0 });
    assert.ok(corr.value !== null && corr.value > 0.9);
  });
});
