/**
 * The MPC coordinator: runs an aggregate over the compute nodes and opens ONLY the aggregate. What a
 * kind computes, noises and how it finishes comes from the registry (mpc/aggregates.ts); the linear
 * run is linear.ts, the product protocol product.ts, a filtered query (comparisons) filtered.ts, values
 * clamped into declared bounds clamped.ts.
 *
 * A node that does not answer is listed in `nodesDown`. With more than t + 1 answers the extra shares
 * are checked (mpc/open.ts): a wrong share is located and corrected when the redundancy allows
 * (n ≥ t + 3 answers), reported in `inconsistentShares`; otherwise the query fails with
 * InconsistentSharesError naming the suspects (never a wrong value).
 *
 * Nodes also return the record count and a digest over (record id, dealing) as plain numbers, not
 * shares: nodes know both anyway (each holds a share of every record); on the wire every answer is
 * sealed to the gateway (parties/sealed-body.ts). Answers are grouped by (count, digest, scale) and
 * only a group of ≥ t + 1 agreeing nodes is opened; the others are listed in `nodesOutOfSync`.
 */
import bytes from 'bytes';
import type { Config } from '../../config';
import { aggregateSpec } from '../../mpc/aggregates';
import { NodeClient } from '../../parties/client';
import { gatewayIdentity, KeyDirectory, nodeParty } from '../../parties/key-directory';
import type { SigningKey } from '../../storage-layer/signing-key';
import { checkHealth, type CoordinatorContext } from './context';
import { runLinear } from './linear';
import { runEdgeHistogram } from './edge-histogram';
import { runClamped } from './clamped';
import { runFiltered } from './filtered';
import { runQuantile } from './quantile';
import { runProduct } from './product';
import type { AggregateQuery, AggregateResult, Coordinator, CoordinatorOptions } from './types';
import { validateQuery } from './validate';

/** HGD_BODY_LIMIT in bytes, read as express reads it (the `bytes` package); null when unreadable. */
function bodyLimitBytes(limit: string): number | null {
  const n = bytes.parse(limit);
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : null;
}

export function createCoordinator(config: Config, signingKey: SigningKey, opts: CoordinatorOptions = {}): Coordinator {
  const { threshold: t, count: n } = config.nodes;
  const urls = opts.urls ?? config.nodes.urls;
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const self = gatewayIdentity(config.nodes.keysDir, signingKey, config.nodes.gatewayEncryptionKeyFile);
  const directory = new KeyDirectory(config.nodes.keysDir);
  const clients = urls.map((baseUrl, i) => new NodeClient({ baseUrl, self, recipient: nodeParty(i + 1), keys: directory, timeoutMs }));
  const maxRequestBytes = bodyLimitBytes(config.http.bodyLimit);
  const ctx: CoordinatorContext = { n, t, urls, ids: Array.from({ length: n }, (_, i) => i + 1), client: (id) => clients[id - 1] as NodeClient,
    encryptionKey: (id) => directory.encryptionKey(nodeParty(id)),
    ...(opts.maxComparisonsPerRun !== undefined ? { maxComparisonsPerRun: opts.maxComparisonsPerRun } : {}),
    ...(maxRequestBytes !== null ? { maxRequestBytes } : {}),
  };

  return {
    async aggregate(q: AggregateQuery): Promise<AggregateResult> {
      validateQuery(q);
      const started = performance.now();
      if (aggregateSpec(q.aggregate).rankSearch) return runQuantile(ctx, q, started);
      if (q.aggregate === 'histogram') return runEdgeHistogram(ctx, q, started);
      if (q.clamp) return runClamped(ctx, q, started);
      if (q.filter) return runFiltered(ctx, q, started);
      return aggregateSpec(q.aggregate).protocol === 'product' ? runProduct(ctx, q, started) : runLinear(ctx, q, started);
    },
    async health() {
      const { up, down, errors } = await checkHealth(ctx);
      return { up, down, errors };
    },
  };
}
