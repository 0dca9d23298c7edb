import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../config';
import { startComputeNode } from '../app/compute-node';
import { exited, freePort } from './support/process';
import { createScratchDatabases, openTestDatabase } from './support/db';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * A deployment's environment: its own data folder, a free gateway port and free node ports, and four
 * databases (fresh ones on the test PostgreSQL server in CI, the embedded PGlite otherwise).
 */
async function deployment(): Promise<{ env: NodeJS.ProcessEnv; dataDir: string; nodeUrls: string[]; drop(): Promise<void> }> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hgd-kill-'));
  const nodeUrls = [`http://127.0.0.1:${await freePort()}`, `http://127.0.0.1:${await freePort()}`, `http://127.0.0.1:${await freePort()}`];
  const env: NodeJS.ProcessEnv = { ...process.env, HGD_DATA_DIR: dataDir, PORT: String(await freePort()), HGD_NODE_URLS: nodeUrls.join(',') };
  delete env.DATABASE_URL;
  delete env.HGD_NODE_DATABASE_URLS;
  delete env.HGD_LOG;
  const dbs = await createScratchDatabases(4);
  if (dbs) {
    env.DATABASE_URL = dbs.urls[0];
    env.HGD_NODE_DATABASE_URLS = dbs.urls.slice(1).join(',');
  }
  return { env, dataDir, nodeUrls, drop: async () => dbs?.drop() };
}

/** Runs `hgd ...` as its own process (the way npm start runs the gateway); collects stderr lines. */
function hgd(env: NodeJS.ProcessEnv, args: string[]): { child: ChildProcess; lines: string[]; waitFor(re: RegExp, ms?: number): Promise<string> } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'cli/hgd.ts', ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  const lines: string[] = [];
  let buffer = '';
  const waiters: Array<() => void> = [];
  child.stderr!.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('utf8');
    const parts = buffer.split('\n');
    buffer = parts.pop()!;
    lines.push(...parts);
    for (const w of waiters) w();
  });
  const waitFor = (re: RegExp, ms = 90_000) => new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no line matching ${re} within ${ms} ms; stderr:\n${lines.join('\n')}`)), ms);
    const check = () => {
      const line = lines.find((l) => re.test(l));
      if (line) {
        clearTimeout(timer);
        resolve(line);
      } else if (child.exitCode !== null) {
        clearTimeout(timer);
        reject(new Error(`hgd ${args.join(' ')} exited with ${child.exitCode}; stderr:\n${lines.join('\n')}${buffer}`));
      }
    };
    waiters.push(check);
    child.once('exit', check);
    check();
  });
  return { child, lines, waitFor };
}

/** Something else holding a port: answers every request, signs nothing. */
async function squatter(url: string): Promise<http.Server> {
  const server = http.createServer((_req, res) => res.end('{"node":1,"status":"ok"}'));
  await new Promise<void>((resolve) => server.listen(Number(new URL(url).port), '127.0.0.1', resolve));
  return server;
}

describe('fault: the gateway process killed with kill -9 (separate processes)', function () {
  this.timeout(180_000);
  const leftovers: number[] = [];
  const deployments: Array<Awaited<ReturnType<typeof deployment>>> = [];
  const deploy = async () => {
    const d = await deployment();
    deployments.push(d);
    return d;
  };
  afterEach(async () => {
    for (const pid of leftovers.splice(0)) if (alive(pid)) process.kill(pid, 'SIGKILL');
    for (const d of deployments.splice(0)) {
      await d.drop();
      fs.rmSync(d.dataDir, { recursive: true, force: true });
    }
  });

  it('leaves no orphan compute node: every node process exits within seconds and frees its port', async () => {
    const d = await deploy();
    const gateway = hgd(d.env, ['start']);
    leftovers.push(gateway.child.pid!);
    const up = JSON.parse(await gateway.waitFor(/compute nodes up/)) as { pids: number[] };
    await gateway.waitFor(/gateway listening/);
    leftovers.push(...up.pids);
    assert.equal(up.pids.length, 3);
    assert.ok(up.pids.every(alive), 'the nodes run while the gateway does');

    gateway.child.kill('SIGKILL');
    await exited(gateway.child);
    const deadline = Date.now() + 10_000;
    while (up.pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(up.pids.filter(alive), [], 'no node outlives its gateway');
    for (const url of d.nodeUrls) {
      await assert.rejects(fetch(`${url}/health`), 'the node ports are free again');
    }
  });

  it('refuses to start when a node port is held by another program', async () => {
    const d = await deploy();
    const server = await squatter(d.nodeUrls[1]!);
    try {
      const gateway = hgd(d.env, ['start']);
      leftovers.push(gateway.child.pid!);
      const code = await exited(gateway.child);
      assert.equal(code, 2);
      const port = new URL(d.nodeUrls[1]!).port;
      assert.match(gateway.lines.join('\n'), new RegExp(`port ${port} of compute node 2 .* is held by a process that is not node-2 with the key in .*node-2\\.pub\\.json`));
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('refuses to start when a node port is held by a node with another key', async () => {
    const d = await deploy();
    // A genuine compute node 1, but of another deployment (its own key directory).
    const otherDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hgd-other-'));
    const other = loadConfig({ HGD_DATA_DIR: otherDir, HGD_NODE_URLS: d.nodeUrls.join(','), HGD_LOG: 'silent' });
    const db = await openTestDatabase();
    const node = await startComputeNode(other, 1, { log: () => {}, db });
    try {
      const gateway = hgd(d.env, ['start']);
      leftovers.push(gateway.child.pid!);
      assert.equal(await exited(gateway.child), 2);
      assert.match(gateway.lines.join('\n'), /port \d+ of compute node 1 .* is held by a process that is not node-1 with the key in/);
    } finally {
      await node.close();
      await db.close();
      fs.rmSync(otherDir, { recursive: true, force: true });
    }
  });

  it('a node started alone keeps running; a gateway then refuses its port rather than adopt it', async () => {
    const d = await deploy();
    const standalone = hgd(d.env, ['node', '--id', '1']);
    leftovers.push(standalone.child.pid!);
    await standalone.waitFor(/compute node listening/);
    const gateway = hgd(d.env, ['start']);
    leftovers.push(gateway.child.pid!);
    assert.equal(await exited(gateway.child), 2);
    assert.match(gateway.lines.join('\n'), /port \d+ of compute node 1 is held by a running node-1 \(left by an earlier gateway\?\)/);
    assert.equal(standalone.child.exitCode, null, 'the standalone node (no gateway parent) still runs');
    standalone.child.kill('SIGTERM');
    assert.equal(await exited(standalone.child), 0);
  });
});
