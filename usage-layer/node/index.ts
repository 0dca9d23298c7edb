/**
 * Compute node entry points. `hgd node --id N` calls runNodeCli(config, N); `npm start` spawns one
 * process per node (`node --import tsx cli/hgd.ts node --id N`).
 */
import type { Config } from '../../config';
import { startComputeNode, type ComputeNode } from './server';

export { startComputeNode, type ComputeNode, type ComputeNodeOptions } from './server';
export { NodeClient } from './node-client';
export { nodeMigrations, NODE_TABLES } from './migrations';

/** Starts node `id` on its configured port and database and stops it cleanly on SIGINT/SIGTERM. */
export async function runNodeCli(config: Config, id: number): Promise<ComputeNode> {
  const node = await startComputeNode(config, id);
  const stop = async () => {
    await node.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
  return node;
}
export { startLocalCluster, type LocalCluster, type LocalClusterOptions } from './local-cluster';
