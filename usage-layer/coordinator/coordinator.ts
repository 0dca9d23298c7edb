/**
 * The MPC coordinator: runs an aggregate over the compute nodes and opens ONLY the aggregate.
 *
 * Linear aggregates (count, sum, mean, variance, stddev, histogram): every node sums its shares in SQL
 * and returns degree-t shares of Σx, Σx² (shared at ingest) or the one-hot bucket vectors; any t + 1
 * nodes suffice. A node that does not answer is listed in `nodesDown`. With more than t + 1 answers the
 * extra shares are checked (checkConsistency): a wrong share is located and corrected when the
 * redundancy allows (n ≥ t + 3 answers), reported in `inconsistentShares`; otherwise the query fails
 * with InconsistentSharesError naming the suspects (never a wrong value).
 *
 * Covariance and correlation need Σxy across two indicators: the nodes run the product protocol
 * (usage-layer/mpc/products.ts) among 2t + 1 or more participants; fewer → InsufficientNodesError.
 * The linear parts (Σx, Σy, Σx², Σy²) are consistency-checked; a node located as faulty there also fed
 * wrong inputs into Σxy, so the protocol is rerun without it (when 2t + 1 others remain). A node that
 * deviates only inside the product protocol is not detected (semi-honest model for products).
 *
 * Nodes also return the record count and a digest over (record id, dealing) in the clear: nodes know
 * both anyway (each holds a share of every record). Answers are grouped by (count, digest, scale) and
 * only a group of ≥ t + 1 agreeing nodes is opened; the others are listed in `nodesOutOfSync`.
 *
 * Variance is the sample variance (n − 1); covariance likewise; correlation is Pearson's r over pairs.
 */
import { randomUUID } from 'node:crypto';
import type { Config } from '../../config';
import { InconsistentSharesError } from '../../management-layer/sharing/errors';
import { shareFromHex } from '../../management-layer/sharing/encoding';
import { toSigned } from '../../management-layer/sharing/field';
import { decode } from '../../management-layer/sharing/fixed-point';
import { KeyDirectory, nodeParty, publishPartyKeys } from '../../management-layer/sharing/key-directory';
import { SignedRequestError } from '../../management-layer/sharing/request-signing';
import { checkConsistency, interpolateAt, type SharePoint } from '../../management-layer/sharing/shamir';
import { ValidationError } from '../../storage-layer/errors';
import type { SigningKey } from '../../storage-layer/signing-key';
import { NodeClient } from '../node/node-client';
import { isSingleNoise, type LinearMeasure, type LinearRequest, type LinearResponse, type NoiseByMeasure, type NoiseSpec, type ProductMeasure, type ProductRequest, type ProductResponse } from '../node/wire';
import { InsufficientNodesError, MpcProtocolError, NodesOutOfSyncError } from './errors';

export type AggregateKind = 'count' | 'sum' | 'mean' | 'variance' | 'stddev' | 'histogram' | 'correlation' | 'covariance';

export interface AggregateQuery {
  indicator: string;
  aggregate: AggregateKind;
  /** Inclusive lower bound on effective start (instant), null/undefined = unbounded. */
  from?: string | null;
  /** Exclusive upper bound on effective start. */
  to?: string | null;
  /** Pseudonyms to include (consented cohort); null/undefined = all. */
  cohort?: string[] | null;
  /** Second indicator (covariance, correlation). */
  indicator2?: string;
  /** Pairing window for covariance/correlation (default 3600 s). */
  pairWindowSeconds?: number;
  /**
   * Distributed DP noise added in shares by every node. Either one spec (count, sum, histogram only:
   * the aggregate's single measure), or one spec per measure: count, sum, sumSquares (variance, stddev;
   * count and sum too for mean), histogram, and for covariance/correlation count (pairs), sumX, sumY,
   * sumXX, sumYY, sumXY. A measure left out is opened exactly; an exact count is not reported when
   * anything else is noised.
   */
  noise?: NoiseSpec | AggregateNoise;
  /**
   * Linear queries: 'all' (default) asks every node and checks the redundant shares; 'minimal' asks
   * only t + 1 nodes (the next ones if one fails): less work, but a wrong share goes unnoticed.
   */
  nodes?: 'all' | 'minimal';
}

/** Noise per measure (see AggregateQuery.noise). */
export type AggregateNoise = NoiseByMeasure<LinearMeasure> & NoiseByMeasure<ProductMeasure>;

/** Which measures an aggregate may noise with the per-measure form. */
export const NOISABLE: Record<AggregateKind, readonly string[]> = {
  count: ['count'],
  sum: ['count', 'sum'],
  mean: ['count', 'sum'],
  variance: ['count', 'sum', 'sumSquares'],
  stddev: ['count', 'sum', 'sumSquares'],
  histogram: ['histogram'],
  covariance: ['count', 'sumX', 'sumY', 'sumXX', 'sumYY', 'sumXY'],
  correlation: ['count', 'sumX', 'sumY', 'sumXX', 'sumYY', 'sumXY'],
};

/** The noise of a query as a per-measure map (the single form names the aggregate's one measure). */
function noiseMap(q: AggregateQuery): AggregateNoise | null {
  if (!q.noise) return null;
  if (isSingleNoise(q.noise)) return { [q.aggregate === 'histogram' ? 'histogram' : q.aggregate]: q.noise } as AggregateNoise;
  return q.noise;
}

export interface HistogramResult {
  edges: number[];
  /** counts[k] for [edges[k], edges[k+1]) (the last bucket is closed). */
  counts: number[];
  /** Values below edges[0] and above the last edge. */
  below: number;
  above: number;
  /** Records with this histogram layout. */
  records: number;
}

export interface ByteCounts {
  coordinatorToNodes: number;
  nodesToCoordinator: number;
  nodeToNode: number;
  total: number;
}

export interface AggregateResult {
  aggregate: AggregateKind;
  indicator: string;
  indicator2?: string;
  /** The statistic; null when undefined (no records, n < 2, zero variance) and for histograms. */
  value: number | null;
  histogram?: HistogramResult;
  /** Further histogram layouts among the records (after a catalogue change of the edges). */
  otherHistograms?: HistogramResult[];
  /** Records (pairs for covariance/correlation); noisy for a noised count; null for a noised sum/histogram. */
  count: number | null;
  nodesUsed: number[];
  nodesDown: number[];
  /** Nodes that answered but hold other records/dealings than the majority (pending deliveries). */
  nodesOutOfSync: number[];
  nodeErrors: Record<number, string>;
  /** Nodes left out of a product protocol rerun because they returned wrong shares. */
  nodesExcluded?: number[];
  /** True when more than t + 1 shares were opened, so a wrong share would have been detected. */
  consistencyChecked: boolean;
  /** A wrong share was found and corrected (only reported when it could be located). */
  inconsistentShares?: { suspects: number[]; located: true; measures: string[] };
  noised: boolean;
  bytes: ByteCounts;
  ms: number;
}

export interface Coordinator {
  aggregate(query: AggregateQuery): Promise<AggregateResult>;
  /** Which nodes answer a signed health check now. */
  health(): Promise<{ up: number[]; down: number[]; errors: Record<number, string> }>;
}

export interface CoordinatorOptions {
  /** Per-request timeout for aggregate requests (default 120 s). */
  timeoutMs?: number;
  /** Node base URLs (default config.nodes.urls). */
  urls?: string[];
}

const KINDS: readonly AggregateKind[] = ['count', 'sum', 'mean', 'variance', 'stddev', 'histogram', 'correlation', 'covariance'];

function measuresFor(kind: AggregateKind): LinearMeasure[] {
  switch (kind) {
    case 'count':
      return ['count'];
    case 'sum':
    case 'mean':
      return ['sum'];
    case 'variance':
    case 'stddev':
      return ['sum', 'sumSquares'];
    case 'histogram':
      return ['histogram'];
    default:
      throw new ValidationError(`${kind} is not a linear aggregate`, 'aggregate');
  }
}

/** Exact ratio of two bigints as a number (the numerator may carry a decimal scale). */
function ratio(num: bigint, den: bigint, scale = 0): number {
  return Number(`${num}e-${scale}`) / Number(den);
}

export function createCoordinator(config: Config, signingKey: SigningKey, opts: CoordinatorOptions = {}): Coordinator {
  const { threshold: t, count: n } = config.nodes;
  const urls = opts.urls ?? config.nodes.urls;
  const timeoutMs = opts.timeoutMs ?? 120_000;
  publishPartyKeys(config.nodes.keysDir, 'gateway', { sign: signingKey.publicKeyBase64 });
  const directory = new KeyDirectory(config.nodes.keysDir);
  const clients = urls.map((baseUrl, i) => new NodeClient({
    baseUrl, key: signingKey, party: 'gateway', timeoutMs,
    expectSigner: { party: nodeParty(i + 1), publicKey: (p) => directory.signingKey(p) },
  }));
  const ids = Array.from({ length: n }, (_, i) => i + 1);

  function validate(q: AggregateQuery): void {
    if (!q || typeof q.indicator !== 'string' || q.indicator.length === 0) throw new ValidationError('indicator is required', 'indicator');
    if (!KINDS.includes(q.aggregate)) throw new ValidationError(`aggregate must be one of ${KINDS.join(', ')}`, 'aggregate');
    for (const f of ['from', 'to'] as const) {
      const v = q[f];
      if (v !== undefined && v !== null && (typeof v !== 'string' || Number.isNaN(Date.parse(v)))) throw new ValidationError(`${f} must be an instant`, f);
    }
    if (q.cohort !== undefined && q.cohort !== null && (!Array.isArray(q.cohort) || q.cohort.some((p) => typeof p !== 'string'))) {
      throw new ValidationError('cohort must be a list of pseudonyms', 'cohort');
    }
    if (q.aggregate === 'correlation' || q.aggregate === 'covariance') {
      if (typeof q.indicator2 !== 'string' || q.indicator2.length === 0) throw new ValidationError(`${q.aggregate} needs indicator2`, 'indicator2');
    }
    if (q.nodes !== undefined && q.nodes !== 'all' && q.nodes !== 'minimal') throw new ValidationError("nodes must be 'all' or 'minimal'", 'nodes');
    if (q.noise && isSingleNoise(q.noise)) {
      if (!['count', 'sum', 'histogram'].includes(q.aggregate)) throw new ValidationError('noise is supported for count, sum and histogram (per-measure noise for the others)', 'noise');
      if (!(q.noise.epsilon > 0) || !(q.noise.sensitivity > 0)) throw new ValidationError('noise needs epsilon > 0 and sensitivity > 0', 'noise');
    } else if (q.noise) {
      const entries = Object.entries(q.noise);
      if (entries.length === 0) throw new ValidationError('noise names no measure', 'noise');
      for (const [m, spec] of entries) {
        if (!NOISABLE[q.aggregate].includes(m)) throw new ValidationError(`noise.${m}: ${q.aggregate} can noise ${NOISABLE[q.aggregate].join(', ')}`, 'noise');
        if (!spec || !(spec.epsilon > 0) || !(spec.sensitivity > 0)) throw new ValidationError(`noise.${m} needs epsilon > 0 and sensitivity > 0`, 'noise');
      }
    }
  }

  async function health(): Promise<{ up: number[]; down: number[]; errors: Record<number, string>; bytes: number }> {
    const errors: Record<number, string> = {};
    let bytes = 0;
    const up: number[] = [];
    await Promise.all(
      ids.map(async (id) => {
        try {
          const r = await (clients[id - 1] as NodeClient).health();
          bytes += r.bytesReceived;
          up.push(id);
        } catch (err) {
          errors[id] = (err as Error).message;
        }
      }),
    );
    up.sort((a, b) => a - b);
    return { up, down: ids.filter((id) => !up.includes(id)), errors, bytes };
  }

  /** Opens one element from a group's shares, checking redundancy; records located faults. */
  function opener(faults: { suspects: Set<number>; measures: string[] }) {
    return (name: string, points: SharePoint[]): bigint => {
      if (points.length <= t + 1) return interpolateAt(points, 0);
      const report = checkConsistency(points, t);
      if (report.consistent) return report.secret as bigint;
      if (report.located) {
        report.suspects.forEach((s) => faults.suspects.add(s));
        faults.measures.push(name);
        return report.secret as bigint;
      }
      throw new InconsistentSharesError(
        `the nodes' shares of ${name} do not lie on one polynomial of degree ${t}: a node returned a wrong share; suspect node(s) ${report.suspects.join(', ')}`,
        report.suspects,
        false,
      );
    };
  }

  function histogramResult(h: { edges: number[]; records: number; buckets: bigint[] }): HistogramResult {
    const counts = h.buckets.map((b) => Number(toSigned(b)));
    return { edges: h.edges, counts: counts.slice(1, -1), below: counts[0] ?? 0, above: counts[counts.length - 1] ?? 0, records: h.records };
  }

  async function linear(q: AggregateQuery, started: number): Promise<AggregateResult> {
    const bytes: ByteCounts = { coordinatorToNodes: 0, nodesToCoordinator: 0, nodeToNode: 0, total: 0 };
    const nodeErrors: Record<number, string> = {};
    let targets = ids;
    let participants: number[] | undefined;
    const noise = noiseMap(q);
    if (q.noise) {
      // Every participant deals noise to every other one, so the participants must be fixed up front.
      const h = await health();
      Object.assign(nodeErrors, h.errors);
      bytes.nodesToCoordinator += h.bytes;
      if (h.up.length < t + 1) throw new InsufficientNodesError(`a noised ${q.aggregate} needs ${t + 1} nodes; up: [${h.up.join(', ')}]`, t + 1, h.up, h.down);
      targets = h.up;
      participants = h.up;
    }
    const req: LinearRequest = {
      queryId: randomUUID(),
      indicator: q.indicator,
      from: q.from ?? null,
      to: q.to ?? null,
      cohort: q.cohort ?? null,
      measures: noise?.count && !measuresFor(q.aggregate).includes('count') ? ['count', ...measuresFor(q.aggregate)] : measuresFor(q.aggregate),
      ...(q.noise ? { noise: q.noise, participants } : {}),
    };
    const answers: LinearResponse[] = [];
    const ask = async (id: number) => {
      try {
        const r = await (clients[id - 1] as NodeClient).linear(req);
        bytes.coordinatorToNodes += r.bytesSent;
        bytes.nodesToCoordinator += r.bytesReceived;
        bytes.nodeToNode += r.body.peerBytesSent;
        if (r.body.node !== id) throw new Error(`node at ${urls[id - 1]} says it is node ${r.body.node}`);
        answers.push(r.body);
      } catch (err) {
        nodeErrors[id] = (err as Error).message;
      }
    };
    // 'all': every node (redundant answers are checked); 'minimal': t + 1 nodes, the next ones only
    // when one of those fails.
    const want = q.nodes === 'minimal' && !q.noise ? t + 1 : targets.length;
    const queue = [...targets];
    for (let batch = queue.splice(0, want); batch.length > 0; batch = queue.splice(0, Math.max(0, want - answers.length))) {
      await Promise.all(batch.map(ask));
    }
    if (q.noise && answers.length < targets.length) {
      const failed = targets.find((id) => !answers.some((a) => a.node === id)) as number;
      throw new MpcProtocolError(`node ${failed} failed during the noise protocol: ${nodeErrors[failed]}`, failed);
    }
    if (answers.length < t + 1) {
      const answered = answers.map((a) => a.node).sort((a, b) => a - b);
      const down = ids.filter((id) => nodeErrors[id] !== undefined);
      throw new InsufficientNodesError(`${q.aggregate} needs ${t + 1} of ${n} nodes; only [${answered.join(', ')}] answered (down: ${down.join(', ')})`, t + 1, answered, down);
    }

    // Group by what the node holds; open only a group of ≥ t + 1 agreeing nodes.
    const rank = (): LinearResponse[][] => {
      const groups = new Map<string, LinearResponse[]>();
      for (const a of answers) {
        const key = `${a.count}|${a.digest}|${a.scale}`;
        groups.set(key, [...(groups.get(key) ?? []), a]);
      }
      return [...groups.values()].sort((a, b) => b.length - a.length || (b[0] as LinearResponse).count - (a[0] as LinearResponse).count);
    };
    let ranked = rank();
    if ((ranked[0] as LinearResponse[]).length < t + 1 && queue.length > 0) {
      // 'minimal' asked too few agreeing nodes: ask the rest.
      await Promise.all(queue.splice(0).map(ask));
      ranked = rank();
    }
    const answered = answers.map((a) => a.node).sort((a, b) => a - b);
    const down = ids.filter((id) => nodeErrors[id] !== undefined);
    const group = (ranked[0] as LinearResponse[]).sort((a, b) => a.node - b.node);
    if (group.length < t + 1) {
      throw new NodesOutOfSyncError(
        `no ${t + 1} nodes hold the same records for this query (pending share deliveries?): groups ${ranked.map((g) => `[${g.map((a) => a.node).join(', ')}]`).join(' ')}`,
        ranked.map((g) => g.map((a) => a.node)),
      );
    }
    const used = group.map((a) => a.node);
    const outOfSync = answered.filter((id) => !used.includes(id));
    const faults = { suspects: new Set<number>(), measures: [] as string[] };
    const open = opener(faults);
    const pts = (pick: (a: LinearResponse) => string | undefined): SharePoint[] => group.map((a) => ({ x: a.node, y: shareFromHex(pick(a) as string) }));

    const first = group[0] as LinearResponse;
    const count = first.count;
    const scale = first.scale ?? 0;
    let value: number | null = null;
    let reportedCount: number | null = count;
    let histogram: HistogramResult | undefined;
    let otherHistograms: HistogramResult[] | undefined;

    // With noise on the count, n is the noisy count (and it is what is reported); an exact count is not
    // reported next to other noised measures.
    const n1 = noise?.count ? Number(toSigned(open('count', pts((a) => a.countShare)))) : count;
    if (noise) reportedCount = noise.count ? n1 : null;
    switch (q.aggregate) {
      case 'count':
        value = n1;
        break;
      case 'sum':
        value = decode(open('sum', pts((a) => a.sum)), scale);
        break;
      case 'mean':
        value = n1 > 0 ? decode(open('sum', pts((a) => a.sum)), scale) / n1 : null;
        break;
      case 'variance':
      case 'stddev': {
        if (noise) {
          const s1 = decode(open('sum', pts((a) => a.sum)), scale);
          const s2 = decode(open('sumSquares', pts((a) => a.sumSquares)), 2 * scale);
          if (n1 >= 2) {
            const variance = Math.max(0, (s2 - (s1 * s1) / n1) / (n1 - 1));
            value = q.aggregate === 'variance' ? variance : Math.sqrt(variance);
          }
          break;
        }
        const s1 = toSigned(open('sum', pts((a) => a.sum)));
        const s2 = toSigned(open('sumSquares', pts((a) => a.sumSquares)));
        if (count >= 2) {
          const c = BigInt(count);
          const variance = Math.max(0, ratio(c * s2 - s1 * s1, c * (c - 1n), 2 * scale));
          value = q.aggregate === 'variance' ? variance : Math.sqrt(variance);
        }
        break;
      }
      case 'histogram': {
        const layouts = (first.histograms ?? []).map((h, idx) => ({
          edges: h.edges,
          records: h.count,
          buckets: h.buckets.map((_, b) =>
            open(
              `histogram bucket ${b}`,
              group.map((a) => {
                const mine = (a.histograms ?? [])[idx];
                if (!mine || mine.key !== h.key) throw new NodesOutOfSyncError('nodes disagree on histogram layouts', [used]);
                return { x: a.node, y: shareFromHex(mine.buckets[b] as string) };
              }),
            ),
          ),
        }));
        const results = layouts.map(histogramResult).sort((a, b) => b.records - a.records);
        histogram = results[0] ?? { edges: [], counts: [], below: 0, above: 0, records: 0 };
        if (results.length > 1) otherHistograms = results.slice(1);
        break;
      }
      default:
        throw new ValidationError(`${q.aggregate} is not linear`, 'aggregate');
    }
    bytes.total = bytes.coordinatorToNodes + bytes.nodesToCoordinator + bytes.nodeToNode;
    return {
      aggregate: q.aggregate,
      indicator: q.indicator,
      value: value !== null && Number.isFinite(value) ? value : null,
      ...(histogram ? { histogram } : {}),
      ...(otherHistograms ? { otherHistograms } : {}),
      count: reportedCount,
      nodesUsed: used,
      nodesDown: down,
      nodesOutOfSync: outOfSync,
      nodeErrors,
      consistencyChecked: group.length > t + 1,
      ...(faults.suspects.size ? { inconsistentShares: { suspects: [...faults.suspects].sort((a, b) => a - b), located: true as const, measures: faults.measures } } : {}),
      noised: Boolean(q.noise),
      bytes,
      ms: performance.now() - started,
    };
  }

  async function product(q: AggregateQuery, started: number, exclude: number[] = [], carried?: ByteCounts): Promise<AggregateResult> {
    const bytes: ByteCounts = carried ?? { coordinatorToNodes: 0, nodesToCoordinator: 0, nodeToNode: 0, total: 0 };
    const h = await health();
    bytes.nodesToCoordinator += h.bytes;
    const needed = 2 * t + 1;
    const available = h.up.filter((id) => !exclude.includes(id));
    if (available.length < needed) {
      if (exclude.length > 0) {
        throw new InconsistentSharesError(
          `node(s) ${exclude.join(', ')} returned wrong shares; without them fewer than 2t + 1 = ${needed} nodes remain for the product protocol`,
          exclude,
          true,
        );
      }
      throw new InsufficientNodesError(
        `${q.aggregate} runs the product protocol and needs ${needed} (2t + 1) of ${n} compute nodes; only [${h.up.join(', ')}] are up (down: ${h.down.join(', ')})`,
        needed,
        h.up,
        h.down,
      );
    }
    const participants = available;
    const req: ProductRequest = {
      queryId: randomUUID(),
      indicator: q.indicator,
      indicator2: q.indicator2 as string,
      from: q.from ?? null,
      to: q.to ?? null,
      cohort: q.cohort ?? null,
      windowSeconds: q.pairWindowSeconds ?? 3600,
      participants,
      ...(q.noise ? { noise: q.noise as NoiseByMeasure<ProductMeasure> } : {}),
    };
    const answers = await Promise.all(
      participants.map(async (id) => {
        try {
          const r = await (clients[id - 1] as NodeClient).product(req);
          bytes.coordinatorToNodes += r.bytesSent;
          bytes.nodesToCoordinator += r.bytesReceived;
          bytes.nodeToNode += r.body.peerBytesSent;
          return r.body;
        } catch (err) {
          const status = err instanceof SignedRequestError ? err.peerStatus : 0;
          throw new MpcProtocolError(`node ${id} failed during the product protocol (${status || 'unreachable'}): ${(err as Error).message}`, id);
        }
      }),
    );
    const keys = new Set(answers.map((a) => `${a.pairs}|${a.digest}|${a.scaleX}|${a.scaleY}`));
    if (keys.size > 1) {
      throw new NodesOutOfSyncError('the participating nodes hold different records (pending share deliveries?); the product result is not opened', [participants]);
    }
    const faults = { suspects: new Set<number>(), measures: [] as string[] };
    const open = opener(faults);
    const pts = (pick: (a: ProductResponse) => string): SharePoint[] => answers.map((a) => ({ x: a.node, y: shareFromHex(pick(a)) }));
    const first = answers[0] as ProductResponse;
    const pairs = first.pairs;
    const sx = toSigned(open('Σx', pts((a) => a.sumX)));
    const sy = toSigned(open('Σy', pts((a) => a.sumY)));
    const sxx = toSigned(open('Σx²', pts((a) => a.sumXX)));
    const syy = toSigned(open('Σy²', pts((a) => a.sumYY)));
    const sxy = toSigned(open('Σxy', pts((a) => a.sumXY)));
    if (faults.suspects.size > 0) {
      // A node that returned a wrong linear share also fed its inputs into Σxy, which the degree
      // reduction spreads over every output share: rerun the protocol without it.
      const suspects = [...faults.suspects].sort((a, b) => a - b);
      const rerun = await product(q, started, [...exclude, ...suspects], bytes);
      return { ...rerun, inconsistentShares: { suspects: [...new Set([...suspects, ...(rerun.inconsistentShares?.suspects ?? [])])].sort((a, b) => a - b), located: true, measures: faults.measures } };
    }
    let value: number | null = null;
    let reportedPairs: number | null = pairs;
    const noise = q.noise as NoiseByMeasure<ProductMeasure> | undefined;
    if (noise) {
      // Noised: the opened sums are noisy, so compute in floating point and clamp (post-processing).
      const m = noise.count ? Number(toSigned(open('pairs', pts((a) => a.pairsShare as string)))) : pairs;
      reportedPairs = noise.count ? m : null;
      const scX = first.scaleX ?? 0;
      const scY = first.scaleY ?? 0;
      const [fx, fy, fxx, fyy, fxy] = [Number(`${sx}e-${scX}`), Number(`${sy}e-${scY}`), Number(`${sxx}e-${2 * scX}`), Number(`${syy}e-${2 * scY}`), Number(`${sxy}e-${scX + scY}`)];
      if (m >= 2) {
        const cov = m * fxy - fx * fy;
        if (q.aggregate === 'covariance') value = cov / (m * (m - 1));
        else {
          const vx = m * fxx - fx * fx;
          const vy = m * fyy - fy * fy;
          value = vx > 0 && vy > 0 ? Math.max(-1, Math.min(1, cov / Math.sqrt(vx * vy))) : null;
        }
      }
    } else if (pairs >= 2) {
      const c = BigInt(pairs);
      const cov = c * sxy - sx * sy; // scale scaleX + scaleY, times n
      if (q.aggregate === 'covariance') {
        value = ratio(cov, c * (c - 1n), (first.scaleX ?? 0) + (first.scaleY ?? 0));
      } else {
        const vx = c * sxx - sx * sx;
        const vy = c * syy - sy * sy;
        value = vx > 0n && vy > 0n ? Math.max(-1, Math.min(1, Number(cov) / Math.sqrt(Number(vx) * Number(vy)))) : null;
      }
    }
    bytes.total = bytes.coordinatorToNodes + bytes.nodesToCoordinator + bytes.nodeToNode;
    return {
      aggregate: q.aggregate,
      indicator: q.indicator,
      indicator2: q.indicator2,
      value: value !== null && Number.isFinite(value) ? value : null,
      count: reportedPairs,
      nodesUsed: participants,
      nodesDown: h.down,
      ...(exclude.length ? { nodesExcluded: exclude } : {}),
      nodesOutOfSync: [],
      nodeErrors: h.errors,
      consistencyChecked: participants.length > t + 1,
      ...(faults.suspects.size ? { inconsistentShares: { suspects: [...faults.suspects].sort((a, b) => a - b), located: true as const, measures: faults.measures } } : {}),
      noised: Boolean(noise),
      bytes,
      ms: performance.now() - started,
    };
  }

  return {
    async aggregate(q: AggregateQuery): Promise<AggregateResult> {
      validate(q);
      const started = performance.now();
      return q.aggregate === 'correlation' || q.aggregate === 'covariance' ? product(q, started) : linear(q, started);
    },
    async health() {
      const { up, down, errors } = await health();
      return { up, down, errors };
    },
  };
}
