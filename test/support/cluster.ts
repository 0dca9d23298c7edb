/**
 * A gateway with three compute nodes in this process, wired as in production: the gateway's default
 * share sink (the distributor) delivers ingested values to the nodes and its default coordinator
 * runs research queries over them. Each party has its own test database (PGlite in memory, or a
 * throwaway schema on real PostgreSQL).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { testConfig } from './config';
import { openTestDatabase } from './db';
import { startTestGateway, type TestGateway } from './gateway';
import type { Database } from '../../storage-layer/db';
import { startLocalCluster, type LocalCluster } from '../../app/local-cluster';
import { createCoordinator, type Coordinator } from '../../usage-layer/coordinator';
import { loadOrCreateSigningKey } from '../../storage-layer/signing-key';
import { tapCluster, type TapHook, type TappedCluster } from './tap';

export interface TestStack extends TestGateway {
  cluster: LocalCluster;
  /** The taps in front of the nodes, when the stack was started with `tap`. */
  tap?: TappedCluster;
  /** A provider token for org "clinic". */
  provider: string;
  admin: string;
  /** Uploads CSV rows (patient "system|value", LOINC code, value, unit, ISO time) through POST /ingest. */
  ingestCsv(rows: Array<[patient: string, loinc: string, value: number, unit: string, time: string]>): Promise<void>;
  /** Polls GET /queries/:id until the query leaves queued/running. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read whatever JSON came back
  waitForQuery(id: string, token: string): Promise<any>;
}

export interface TestStackOptions {
  /** Wraps the gateway's coordinator (the real one, over the three nodes), e.g. to pause a query. */
  wrapCoordinator?: (real: Coordinator) => Coordinator;
  /** Overrides of the gateway's configuration (privacy parameters, for example). */
  env?: Record<string, string>;
  /** How long a node's protocol round waits for its peers (default 10 s). */
  peerTimeoutMs?: number;
  /** Put a tap (test/support/tap.ts) with this hook in front of every node, for the gateway and the peers. */
  tap?: TapHook;
}

export async function startTestStack(opts: TestStackOptions = {}): Promise<TestStack> {
  const keysDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hgd-stack-keys-'));
  const base = testConfig({ HGD_LOG: 'silent', HGD_KEYS_DIR: keysDir, HGD_NODES: '3', HGD_THRESHOLD: '1' });
  const dbs: Database[] = [];
  for (let i = 0; i < 3; i++) dbs.push(await openTestDatabase());
  const cluster = await startLocalCluster(base, { dbs, log: () => {}, peerTimeoutMs: opts.peerTimeoutMs ?? 10_000 });
  const tap = opts.tap ? await tapCluster({ cluster, config: cluster.config }, opts.tap) : undefined;
  const nodesConfig = tap ? tap.config : cluster.config;
  // The coordinator signs with the gateway's node key (keysDir/gateway-nodes-ed25519.pem), as the gateway's own would.
  const coordinator = opts.wrapCoordinator?.(createCoordinator(nodesConfig, loadOrCreateSigningKey(cluster.config.nodes.gatewayKeyFile)));
  const t = await startTestGateway(
    { HGD_KEYS_DIR: keysDir, HGD_NODE_URLS: nodesConfig.nodes.urls.join(','), HGD_RATE_LIMIT_PER_MINUTE: '100000', ...opts.env },
    coordinator ? { coordinator } : {}, // the default share sink: values go to the nodes
  );
  const provider = await t.token({ role: 'provider', sub: 'clinic-uploader', org: 'clinic' });
  const admin = await t.token({ role: 'admin', sub: 'admin-1' });
  return {
    ...t,
    cluster,
    ...(tap ? { tap } : {}),
    provider,
    admin,
    async ingestCsv(rows) {
      // An explicit source_id: without one a row is identified by its row number, so a second upload's
      // row 1 would be taken for a resend of the first upload's row 1.
      const csv = [
        'patient_id,code_system,code,value,unit,effective_start,effective_end,source_id',
        ...rows.map(([p, code, v, unit, time]) => `"${p}",http://loinc.org,${code},${v},${unit},${time},,"${p}/${code}/${time}"`),
      ].join('\n');
      const r = await t.request('POST', '/ingest', { token: provider, body: csv, contentType: 'text/csv' });
      if (r.status !== 200 || r.body.accepted !== rows.length) throw new Error(`ingest failed: ${r.status} ${r.text}`);
      const unshared = await t.gateway.db.knex('records').whereNull('shared_at').count<{ n: number | string }[]>('* as n');
      if (Number(unshared[0]!.n) !== 0) throw new Error('some records did not reach every compute node');
    },
    async waitForQuery(id, token) {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const r = await t.request('GET', `/queries/${id}`, { token });
        if (r.status !== 200) throw new Error(`GET /queries/${id}: ${r.status} ${r.text}`);
        if (r.body.status !== 'queued' && r.body.status !== 'running') return r.body;
        if (Date.now() > deadline) throw new Error(`query ${id} still ${r.body.status}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    async close() {
      await t.close();
      await tap?.close();
      await cluster.close();
      for (const db of dbs) await db.close();
      fs.rmSync(keysDir, { recursive: true, force: true });
    },
  };
}
