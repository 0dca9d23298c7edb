/**
 * Linear aggregates (count, sum, mean, variance, stddev): every node sums its shares in SQL
 * and returns degree-t shares of the kind's measures (mpc/aggregates.ts); any t + 1 nodes suffice.
 * Steps: choose the nodes (all of them, or with noise the ones up now, since every participant deals
 * noise to every other) → ask → keep the largest group of nodes that hold the same records → check
 * the field's capacity → open the measures (redundant shares are checked) → the kind's formula.
 *
 * Availability with noise: a participant that dies during the noise round stops the round at the
 * others (they wait for its message until their peer timeout). Any t + 1 answers carry every
 * participant's noise, so they are opened as they are. An attempt that brings fewer than t + 1 answers
 * opened nothing, and reveals nothing to anyone who saw its answers (fewer than t + 1 shares of a
 * degree-t sharing are uniformly random): it is retried on the nodes up now, with a fresh query id and
 * fresh noise, up to MAX_NOISE_ATTEMPTS attempts in all. Only the attempt that is opened releases
 * anything, so the query is charged once (usage-layer/queries).
 */
import { randomUUID } from 'node:crypto';
import { aggregateSpec, queriedMeasures, type AggregateSpec, type LinearMeasure, type OpenedMeasures } from '../../mpc/aggregates';
import { shareFromHex } from '../../mpc/codec';
import { newFaults, openSigned, type OpenFaults } from '../../mpc/open';
import type { SharePoint } from '../../mpc/shamir';
import { SignedRequestError } from '../../parties/errors';
import type { LinearRequest, LinearResponse } from '../../parties/wire';
import { checkCapacity } from './capacity';
import { checkHealth, emptyBytes, sortedIds, type CoordinatorContext } from './context';
import { InsufficientNodesError, MpcProtocolError, NodesOutOfSyncError } from './errors';
import type { AggregateNoise, AggregateQuery, AggregateResult, ByteCounts, FailedAttempt } from './types';
import { noiseMap } from './validate';

/** Attempts of a noised linear query in all (the first and up to two retries). */
export const MAX_NOISE_ATTEMPTS = 3;

interface Run {
  ctx: CoordinatorContext;
  q: AggregateQuery;
  spec: AggregateSpec;
  noise: AggregateNoise | null;
  bytes: ByteCounts;
  /** Errors of the health check and the nodes asked in the current attempt. */
  nodeErrors: Record<number, string>;
  /** Whether the current attempt's failures could be a node that died (unreachable, timed out, 5xx). */
  retriable: boolean;
  failedAttempts: FailedAttempt[];
  /** The participants of the attempt that answered (they all added noise). */
  participants: number[];
}

/** With noise, the participants are fixed up front: the nodes up now. */
async function chooseTargets(run: Run): Promise<number[]> {
  if (!run.noise) return run.ctx.ids;
  const h = await checkHealth(run.ctx);
  Object.assign(run.nodeErrors, h.errors);
  run.bytes.nodesToCoordinator += h.bytes;
  const need = run.spec.nodesNeeded(run.ctx.t);
  if (h.up.length < need) throw new InsufficientNodesError(`a noised ${run.q.aggregate} needs ${need} nodes; up: [${h.up.join(', ')}]`, need, h.up, h.down);
  return h.up;
}

function linearRequest(run: Run, participants: number[]): LinearRequest {
  const { q, spec, noise } = run;
  const measures = queriedMeasures(spec.kind, noise ? Object.keys(noise) : null) as LinearMeasure[];
  return {
    queryId: randomUUID(),
    indicator: q.indicator,
    from: q.from ?? null,
    to: q.to ?? null,
    cohort: q.cohort ?? null,
    perPatient: q.perPatient ?? null,
    ...(q.includePatientReported ? { includePatientReported: true } : {}),
    centre: q.centre ? { x: q.centre.x } : null,
    measures: noise?.count || measures.length === 0 ? ['count', ...measures] : [...measures],
    ...(noise ? { noise, participants } : {}),
  };
}

/** Groups answers by what the nodes hold (count, digest, scale), largest group first. */
function rank(answers: LinearResponse[]): LinearResponse[][] {
  const groups = new Map<string, LinearResponse[]>();
  for (const a of answers) {
    const key = `${a.count}|${a.digest}|${a.scale}`;
    groups.set(key, [...(groups.get(key) ?? []), a]);
  }
  return [...groups.values()].sort((a, b) => b.length - a.length || (b[0] as LinearResponse).count - (a[0] as LinearResponse).count);
}

/**
 * Waits for every request of `batch`; with noise, only until the attempt can no longer bring t + 1
 * answers (the others failed, so a node that hangs instead of dying does not hold the query up until
 * the request timeout; whatever it answers later is fewer than t + 1 shares and is dropped).
 */
function settle(run: Run, batch: number[], askOne: (id: number) => Promise<void>, answers: LinearResponse[]): Promise<void> {
  if (!run.noise) return Promise.all(batch.map(askOne)).then(() => undefined);
  return new Promise((resolve) => {
    let pending = batch.length;
    for (const id of batch) {
      void askOne(id).finally(() => {
        pending--;
        if (pending === 0 || answers.length + pending < run.ctx.t + 1) resolve();
      });
    }
  });
}

/** Asks the targets ('minimal': t + 1 at a time, the next ones only when one fails or disagrees). */
async function ask(run: Run, req: LinearRequest, targets: number[]): Promise<LinearResponse[]> {
  const { ctx, q, bytes, nodeErrors } = run;
  const answers: LinearResponse[] = [];
  const askOne = async (id: number) => {
    try {
      const r = await ctx.client(id).linear(req);
      bytes.coordinatorToNodes += r.bytesSent;
      bytes.nodesToCoordinator += r.bytesReceived;
      bytes.nodeToNode += r.body.peerBytesSent;
      if (r.body.node !== id) throw new Error(`node at ${ctx.urls[id - 1]} says it is node ${r.body.node}`);
      answers.push(r.body);
    } catch (err) {
      nodeErrors[id] = (err as Error).message;
      if (err instanceof SignedRequestError && (err.peerStatus === 0 || err.peerStatus >= 500)) run.retriable = true;
    }
  };
  const want = q.nodes === 'minimal' && !run.noise ? ctx.t + 1 : targets.length;
  const queue = [...targets];
  for (let batch = queue.splice(0, want); batch.length > 0; batch = queue.splice(0, Math.max(0, want - answers.length))) {
    await settle(run, batch, askOne, answers);
  }
  if ((rank(answers)[0]?.length ?? 0) < ctx.t + 1 && queue.length > 0) await Promise.all(queue.splice(0).map(askOne));
  return answers;
}

/**
 * A noised query: attempts with a fresh query id (and so fresh noise) on the nodes up now, until one
 * brings t + 1 answers; see the header for why a failed attempt costs nothing.
 */
async function askNoised(run: Run): Promise<LinearResponse[]> {
  const t = run.ctx.t;
  for (let attempt = 1; ; attempt++) {
    run.nodeErrors = {};
    run.retriable = false;
    const targets = await chooseTargets(run);
    const answers = await ask(run, linearRequest(run, targets), targets);
    run.participants = targets;
    if (answers.length >= t + 1) return answers;
    run.failedAttempts.push({ participants: targets, nodeErrors: run.nodeErrors });
    if (!run.retriable || attempt >= MAX_NOISE_ATTEMPTS) {
      const failed = targets.find((id) => run.nodeErrors[id] !== undefined) as number;
      const tries = attempt === 1 ? '' : ` (${attempt} attempts, each with fresh noise)`;
      throw new MpcProtocolError(`node ${failed} failed during the noise protocol${tries}: ${run.nodeErrors[failed]}`, failed);
    }
  }
}

/** The largest group of ≥ t + 1 nodes holding the same records; throws when there is none. */
function agreeingGroup(run: Run, answers: LinearResponse[]): LinearResponse[] {
  const { ctx, q, nodeErrors } = run;
  if (answers.length < ctx.t + 1) {
    const answered = sortedIds(answers.map((a) => a.node));
    const down = ctx.ids.filter((id) => nodeErrors[id] !== undefined);
    throw new InsufficientNodesError(`${q.aggregate} needs ${ctx.t + 1} of ${ctx.n} nodes; only [${answered.join(', ')}] answered (down: ${down.join(', ')})`, ctx.t + 1, answered, down);
  }
  const ranked = rank(answers);
  const group = (ranked[0] as LinearResponse[]).sort((a, b) => a.node - b.node);
  if (group.length < ctx.t + 1) {
    throw new NodesOutOfSyncError(
      `no ${ctx.t + 1} nodes hold the same records for this query (pending share deliveries?): groups ${ranked.map((g) => `[${g.map((a) => a.node).join(', ')}]`).join(' ')}`,
      ranked.map((g) => g.map((a) => a.node)),
    );
  }
  return group;
}

const points = (group: LinearResponse[], pick: (a: LinearResponse) => string | undefined): SharePoint[] =>
  group.map((a) => ({ x: a.node, y: shareFromHex(pick(a) as string) }));

/** Opens the kind's measures; the count is the noisy one when it was noised, else the exact one. */
function openMeasures(run: Run, group: LinearResponse[], faults: OpenFaults): OpenedMeasures {
  const t = run.ctx.t;
  const first = group[0] as LinearResponse;
  const scale = first.scale ?? 0;
  const opened: OpenedMeasures = {
    count: run.noise?.count ? openSigned('count', points(group, (a) => a.countShare), t, faults) : BigInt(first.count),
    ...(run.q.centre ? { centre: run.q.centre } : {}),
  };
  const queried = queriedMeasures(run.spec.kind, run.noise ? Object.keys(run.noise) : null);
  if (queried.includes('sum')) opened.sum = { value: openSigned('sum', points(group, (a) => a.sum), t, faults), scale };
  if (queried.includes('sumSquares')) opened.sumSquares = { value: openSigned('sumSquares', points(group, (a) => a.sumSquares), t, faults), scale: 2 * scale };
  return opened;
}

export async function runLinear(ctx: CoordinatorContext, q: AggregateQuery, started: number): Promise<AggregateResult> {
  const run: Run = { ctx, q, spec: aggregateSpec(q.aggregate), noise: noiseMap(q), bytes: emptyBytes(), nodeErrors: {}, retriable: false, failedAttempts: [], participants: [] };
  const answers = run.noise ? await askNoised(run) : await ask(run, linearRequest(run, ctx.ids), ctx.ids);
  const group = agreeingGroup(run, answers);
  const first = group[0] as LinearResponse;
  checkCapacity(q, first.count, first.scale ?? 0);
  const faults = newFaults();
  const opened = openMeasures(run, group, faults);
  const value = run.spec.finish(opened);
  const used = group.map((a) => a.node);
  run.bytes.total = run.bytes.coordinatorToNodes + run.bytes.nodesToCoordinator + run.bytes.nodeToNode;
  return {
    aggregate: q.aggregate,
    indicator: q.indicator,
    value: value !== null && Number.isFinite(value) ? value : null,
    // An exact count is never reported next to noised measures; a noised count is reported noisy.
    count: run.noise ? (run.noise.count ? Number(opened.count) : null) : first.count,
    nodesUsed: used,
    nodesDown: ctx.ids.filter((id) => run.nodeErrors[id] !== undefined),
    nodesOutOfSync: sortedIds(answers.map((a) => a.node)).filter((id) => !used.includes(id)),
    nodeErrors: run.nodeErrors,
    consistencyChecked: group.length > ctx.t + 1,
    ...(faults.suspects.size ? { inconsistentShares: { suspects: sortedIds(faults.suspects), located: true as const, measures: faults.measures } } : {}),
    ...(run.failedAttempts.length ? { failedAttempts: run.failedAttempts } : {}),
    noised: Boolean(q.noise),
    opened,
    ...(run.noise ? { noisedBy: { participants: run.participants.length, t: ctx.t } } : {}),
    bytes: run.bytes,
    ms: performance.now() - started,
  };
}
