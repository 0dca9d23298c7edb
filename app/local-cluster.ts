/**
 * All compute nodes of a config in this process, on ephemeral ports (tests, benchmarks, demos).
 * Returns a config whose nodes.urls point at the running nodes, for the distributor and coordinator.
 * Production runs one process per node instead (`hgd node --id N`).
 */
import type { Config } from '../config';
import type { Database } from '../storage-layer/db';
import { startComputeNode, type ComputeNode, type ComputeNodeOptions } from './compute-node';

export interface LocalCluster {
  config: Config;
  nodes: ComputeNode[];
  /** Stops node `id` (its database stays open when it was passed in). */
  stop(id: number): Promise<void>;
  /** Starts node `id` again on the same port with the same database. */
  restart(id: number): Promise<ComputeNode>;
  close(): Promise<void>;
}

export interface LocalClusterOptions {
  /** One database per node (index 0 = node 1); default: each node opens its configured database. */
  dbs?: Database[];
  log?: (id: number, line: string) => void;
  peerTimeoutMs?: number;
}

export async function startLocalCluster(base: Config, opts: LocalClusterOptions = {}): Promise<LocalCluster> {
  const n = base.nodes.count;
  const nodeOpts = (id: number, port: number): ComputeNodeOptions => ({
    port,
    ...(opts.dbs ? { db: opts.dbs[id - 1] as Database } : {}),
    ...(opts.log ? { log: (line: string) => opts.log?.(id, line) } : {}),
    ...(opts.peerTimeoutMs ? { peerTimeoutMs: opts.peerTimeoutMs } : {}),
  });
  const nodes: ComputeNode[] = [];
  try {
    for (let id = 1; id <= n; id++) nodes.push(await startComputeNode(base, id, nodeOpts(id, 0)));
  } catch (err) {
    await Promise.all(nodes.map((x) => x.close()));
    throw err;
  }
  const urls = nodes.map((x) => x.url);
  for (const x of nodes) x.setPeerUrls(urls);
  const config: Config = Object.freeze({ ...base, nodes: Object.freeze({ ...base.nodes, urls }) });
  const running = new Map<number, ComputeNode>(nodes.map((x) => [x.id, x]));
  return {
    config,
    nodes,
    async stop(id) {
      await running.get(id)?.close();
      running.delete(id);
    },
    async restart(id) {
      await running.get(id)?.close();
      const port = Number(new URL(urls[id - 1] as string).port);
      const node = await startComputeNode(config, id, nodeOpts(id, port));
      node.setPeerUrls(urls);
      running.set(id, node);
      nodes[id - 1] = node;
      return node;
    },
    async close() {
      await Promise.all([...running.values()].map((x) => x.close()));
      running.clear();
    },
  };
}
