/**
 * `npm start` runs every compute node as its own process beside the gateway, as a real
 * deployment would run them on separate machines: `node --import tsx cli/hgd.ts node --id N`.
 *
 * - Each node's port must be free before its process starts. Something already answering there (a
 *   node an earlier gateway left running, or another program) is refused with a message naming the
 *   port, so the gateway never talks to whatever happens to listen on it.
 * - Each child is tied to this gateway by an IPC channel. The operating system closes the channel
 *   when the gateway dies, even by `kill -9`, and `hgd node` exits when it closes (cli/hgd.ts); a
 *   node started by hand (`hgd node --id N`) has no channel and runs on its own.
 * - A node counts as up only once it answers `GET /health` signed with the key that the key
 *   directory holds for it (the node client's answer check), and says it is node N.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config';
import { HgdError } from '../storage-layer/errors';
import { loadOrCreateSigningKey } from '../storage-layer/signing-key';
import { NodeClient } from '../parties/client';
import { gatewayIdentity, KeyDirectory, nodeParty } from '../parties/key-directory';
import type { Logger } from './logger';

const CLI = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'cli', 'hgd.ts');
const START_TIMEOUT_MS = 60_000;

/** The gateway cannot start its compute nodes (a port is taken, or a node never answered as itself). */
export class ComputeNodeStartupError extends HgdError {
  constructor(message: string) {
    super(message, 'node_startup_failed');
  }
}

interface NodeSlot {
  id: number;
  url: string;
  client: NodeClient;
}

/** Whether anything accepts TCP connections at the URL's host and port (a refused connection means free). */
function portInUse(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: hostname, port: Number(port) });
    socket.setTimeout(2_000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      reject(new ComputeNodeStartupError(`cannot tell whether ${url} is free: connecting timed out`));
    });
    socket.once('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNREFUSED' ? resolve(false) : reject(new ComputeNodeStartupError(`cannot tell whether ${url} is free: ${err.code ?? err.message}`))));
  });
}

/** Whether the process at the slot's URL answers a signed health check as the expected node. */
async function answersAsNode(slot: NodeSlot): Promise<boolean> {
  try {
    const res = await slot.client.health();
    return res.body?.node === slot.id;
  } catch {
    return false;
  }
}

/** Refuses to start when a node's port is already held, naming the port and what holds it. */
async function requireFreePorts(slots: NodeSlot[], keysDir: string): Promise<void> {
  for (const slot of slots) {
    if (!(await portInUse(slot.url))) continue;
    const port = new URL(slot.url).port;
    if (await answersAsNode(slot)) {
      throw new ComputeNodeStartupError(`port ${port} of compute node ${slot.id} is held by a running ${nodeParty(slot.id)} (left by an earlier gateway?); stop that process, or start the gateway with --no-nodes to use the nodes already running`);
    }
    throw new ComputeNodeStartupError(`port ${port} of compute node ${slot.id} (${slot.url}) is held by a process that is not ${nodeParty(slot.id)} with the key in ${path.join(keysDir, `${nodeParty(slot.id)}.pub.json`)}; free the port or choose others (HGD_NODE_BASE_PORT, HGD_NODE_URLS)`);
  }
}

/** Resolves once the child answers a signed health check as its node; fails if it exits or never does. */
async function waitForNode(slot: NodeSlot, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new ComputeNodeStartupError(`compute node ${slot.id} exited (${child.exitCode !== null ? `code ${child.exitCode}` : child.signalCode}) before it answered at ${slot.url}`);
    }
    if (await answersAsNode(slot)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new ComputeNodeStartupError(`compute node ${slot.id} did not answer a signed health check as ${nodeParty(slot.id)} at ${slot.url} within ${timeoutMs} ms`);
}

function spawnNode(slot: NodeSlot, log: Logger): ChildProcess {
  // The 'ipc' channel ties the node's life to this process (see the header).
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'node', '--id', String(slot.id)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: process.env });
  child.on('exit', (code, signal) => {
    if (code !== 0 && signal === null) log.warn(`compute node ${slot.id} exited`, { code });
  });
  return child;
}

export async function spawnComputeNodes(config: Config, log: Logger): Promise<{ stop(): Promise<void>; pids: number[] }> {
  // The gateway's node keys, published so the nodes accept its signed health checks and seal their answers to it.
  const self = gatewayIdentity(config.nodes.keysDir, loadOrCreateSigningKey(config.nodes.gatewayKeyFile), config.nodes.gatewayEncryptionKeyFile);
  const directory = new KeyDirectory(config.nodes.keysDir);
  const slots: NodeSlot[] = config.nodes.urls.map((url, i) => ({
    id: i + 1,
    url,
    client: new NodeClient({ baseUrl: url, self, recipient: nodeParty(i + 1), keys: directory }),
  }));
  await requireFreePorts(slots, config.nodes.keysDir);
  const children = slots.map((slot) => spawnNode(slot, log));
  const stop = async () => {
    await Promise.all(children.map((child) => new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    })));
  };
  try {
    await Promise.all(slots.map((slot, i) => waitForNode(slot, children[i]!, START_TIMEOUT_MS)));
  } catch (err) {
    await stop();
    throw err;
  }
  const pids = children.map((c) => c.pid ?? -1);
  log.info(`compute nodes up: ${config.nodes.urls.join(', ')} (t = ${config.nodes.threshold})`, { pids });
  return { stop, pids };
}
