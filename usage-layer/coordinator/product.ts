/**
 * Covariance and correlation need Σxy across two indicators: the nodes run the product protocol
 * (mpc/products.ts, as the rounds of mpc/rounds.ts) among 2t + 1 or more participants; fewer →
 * InsufficientNodesError. The linear parts (Σx, Σy, Σx², Σy²) are consistency-checked; a node located
 * as faulty there also fed wrong inputs into Σxy, so the protocol is rerun without it (when 2t + 1
 * others remain). A node that deviates only inside the product protocol is not detected (semi-honest
 * model for products). Only the kind's measures are computed and opened (covariance never opens Σx²).
 * A participant that fails during the protocol (it died, or a peer could not reach it) fails the run
 * with MpcProtocolError naming the node that is down; nothing is opened, and the query service gives
 * the query's ε back. (A product query is not retried: it needs 2t + 1 nodes, all of them with n = 3.)
 */
import { randomUUID } from 'node:crypto';
import { aggregateSpec, queriedMeasures, type OpenedMeasures, type ProductMeasure } from '../../mpc/aggregates';
import { shareFromHex } from '../../mpc/codec';
import { InconsistentSharesError } from '../../mpc/errors';
import { newFaults, openSigned, type OpenFaults } from '../../mpc/open';
import type { NoiseByMeasure, ProductRequest, ProductResponse } from '../../parties/wire';
import { askAll } from './ask-all';
import { checkCapacity } from './capacity';
import { checkHealth, emptyBytes, sortedIds, type CoordinatorContext, type Health } from './context';
import { InsufficientNodesError } from './errors';
import type { AggregateQuery, AggregateResult, ByteCounts } from './types';

/** The nodes up now minus the excluded ones, if there are enough for the protocol. */
function participantsOf(q: AggregateQuery, h: Health, exclude: number[], needed: number, n: number): number[] {
  const available = h.up.filter((id) => !exclude.includes(id));
  if (available.length >= needed) return available;
  if (exclude.length > 0) {
    throw new InconsistentSharesError(`node(s) ${exclude.join(', ')} returned wrong shares; without them fewer than 2t + 1 = ${needed} nodes remain for the product protocol`, exclude, true);
  }
  throw new InsufficientNodesError(
    `${q.aggregate} runs the product protocol and needs ${needed} (2t + 1) of ${n} compute nodes; only [${h.up.join(', ')}] are up (down: ${h.down.join(', ')})`,
    needed, h.up, h.down,
  );
}

function productRequest(q: AggregateQuery, participants: number[]): ProductRequest {
  return {
    queryId: randomUUID(),
    indicator: q.indicator,
    indicator2: q.indicator2 as string,
    from: q.from ?? null,
    to: q.to ?? null,
    cohort: q.cohort ?? null,
    perPatient: q.perPatient ?? null,
    ...(q.includePatientReported ? { includePatientReported: true } : {}),
    centre: q.centre ? { x: q.centre.x, y: q.centre.y ?? 0 } : null,
    windowSeconds: q.pairWindowSeconds ?? 3600,
    participants,
    measures: queriedMeasures(q.aggregate, q.noise ? Object.keys(q.noise) : null) as ProductMeasure[],
    ...(q.noise ? { noise: q.noise as NoiseByMeasure<ProductMeasure> } : {}),
  };
}

/** Every participant must answer: the protocol needs all of them; the first failure fails the run. */
function askProduct(ctx: CoordinatorContext, req: ProductRequest, bytes: ByteCounts): Promise<ProductResponse[]> {
  return askAll(ctx, req.participants.map(() => req), bytes, {
    what: 'the product protocol',
    call: (client, r) => client.product(r),
    agreement: (a) => `${a.pairs}|${a.digest}|${a.scaleX}|${a.scaleY}`,
  });
}

function openMeasures(q: AggregateQuery, t: number, answers: ProductResponse[], faults: OpenFaults): OpenedMeasures {
  const first = answers[0] as ProductResponse;
  const [sx, sy] = [first.scaleX ?? 0, first.scaleY ?? 0];
  const scaleOf: Record<Exclude<ProductMeasure, 'count'>, number> = { sumX: sx, sumY: sy, sumXX: 2 * sx, sumYY: 2 * sy, sumXY: sx + sy };
  const open = (name: string, pick: (a: ProductResponse) => string | undefined) => openSigned(name, answers.map((a) => ({ x: a.node, y: shareFromHex(pick(a) as string) })), t, faults);
  const opened: OpenedMeasures = {
    count: q.noise && (q.noise as NoiseByMeasure<ProductMeasure>).count ? open('pairs', (a) => a.pairsShare) : BigInt(first.pairs),
    ...(q.centre ? { centre: q.centre } : {}),
  };
  for (const m of queriedMeasures(q.aggregate, q.noise ? Object.keys(q.noise) : null) as Array<Exclude<ProductMeasure, 'count'>>) {
    opened[m] = { value: open(m, (a) => a[m]), scale: scaleOf[m] };
  }
  return opened;
}

export async function runProduct(ctx: CoordinatorContext, q: AggregateQuery, started: number, exclude: number[] = [], carried?: ByteCounts): Promise<AggregateResult> {
  const bytes = carried ?? emptyBytes();
  const h = await checkHealth(ctx);
  bytes.nodesToCoordinator += h.bytes;
  const participants = participantsOf(q, h, exclude, aggregateSpec(q.aggregate).nodesNeeded(ctx.t), ctx.n);
  const answers = await askProduct(ctx, productRequest(q, participants), bytes);
  const first = answers[0] as ProductResponse;
  checkCapacity(q, first.pairs, first.scaleX ?? 0, first.scaleY ?? 0);
  const faults = newFaults();
  const opened = openMeasures(q, ctx.t, answers, faults);
  if (faults.suspects.size > 0) {
    // A node that returned a wrong linear share also fed its inputs into Σxy, which the degree
    // reduction spreads over every output share: rerun the protocol without it.
    const suspects = sortedIds(faults.suspects);
    const rerun = await runProduct(ctx, q, started, [...exclude, ...suspects], bytes);
    return { ...rerun, inconsistentShares: { suspects: sortedIds(new Set([...suspects, ...(rerun.inconsistentShares?.suspects ?? [])])), located: true, measures: faults.measures } };
  }
  const value = aggregateSpec(q.aggregate).finish(opened);
  bytes.total = bytes.coordinatorToNodes + bytes.nodesToCoordinator + bytes.nodeToNode;
  return {
    aggregate: q.aggregate,
    indicator: q.indicator,
    indicator2: q.indicator2,
    value: value !== null && Number.isFinite(value) ? value : null,
    count: q.noise ? ((q.noise as NoiseByMeasure<ProductMeasure>).count ? Number(opened.count) : null) : first.pairs,
    nodesUsed: participants,
    nodesDown: h.down,
    ...(exclude.length ? { nodesExcluded: exclude } : {}),
    nodesOutOfSync: [],
    nodeErrors: h.errors,
    consistencyChecked: participants.length > ctx.t + 1,
    noised: Boolean(q.noise),
    opened,
    ...(q.noise ? { noisedBy: { participants: participants.length, t: ctx.t } } : {}),
    bytes,
    ms: performance.now() - started,
  };
}
