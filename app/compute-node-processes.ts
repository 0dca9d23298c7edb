/**
 * `npm start` runs every compute node as its own process beside the gateway, as a real
 * deployment would run them on separate machines: `node --import tsx cli/hgd.ts node --id N`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config';
import type { Logger } from './logger';

const CLI = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'cli', 'hgd.ts');

/** Resolves once something answers HTTP at `url` (any status: the node wants signed calls). */
async function waitForHttp(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`compute node process exited with code ${child.exitCode}`);
    try {
      await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) });
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw new Error(`compute node at ${url} did not start within ${timeoutMs} ms`);
}

export async function spawnComputeNodes(config: Config, log: Logger): Promise<{ stop(): Promise<void> }> {
  const children = config.nodes.urls.map((url, i) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'node', '--id', String(i + 1)], { stdio: ['ignore', 'inherit', 'inherit'], env: process.env });
    child.on('exit', (code, signal) => {
      if (code !== 0 && signal === null) log.warn(`compute node ${i + 1} exited`, { code });
    });
    return { child, url };
  });
  const stop = async () => {
    await Promise.all(children.map(({ child }) => new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    })));
  };
  try {
    await Promise.all(children.map(({ child, url }) => waitForHttp(url, child, 60_000)));
  } catch (err) {
    await stop();
    throw err;
  }
  log.info(`compute nodes up: ${config.nodes.urls.join(', ')} (t = ${config.nodes.threshold})`);
  return { stop };
}
