/**
 * One request to every participant of a run that needs all of them (products, filtered and clamped
 * queries, histograms), each node's sealed comparison material, and the health check and result of the three-party runs: the answers
 * in participant order, the bytes counted, and the run failed as a whole (protocolFailure names the
 * first node that failed) when any participant fails. Answers that disagree on the records they used
 * are never opened (NodesOutOfSyncError).
 */
import { filteredNodesNeeded, type OpenedMeasures } from '../../mpc/aggregates';
import type { dealCompareMaterial } from '../../mpc/preprocessing';
import type { NodeClient, SignedFetchResult } from '../../parties/client';
import { sealCompareMaterial } from '../../parties/compare-material';
import { PeerKeyError, SignedRequestError } from '../../parties/errors';
import { nodeParty } from '../../parties/key-directory';
import { checkHealth, emptyBytes, type CoordinatorContext, type Health } from './context';
import { InsufficientNodesError, MpcProtocolError, NodesOutOfSyncError } from './errors';
import type { AggregateQuery, AggregateResult, ByteCounts } from './types';

/** What the dealer deals for a run: one part a node (mpc/preprocessing.ts). */
type DealtMaterial = ReturnType<typeof dealCompareMaterial>;

/** A participant's failed request. */
export interface NodeFailure {
  id: number;
  status: number;
  message: string;
}

/**
 * The error for a failed protocol run. The first failure is often a survivor reporting that a peer
 * did not take its round message; a health check then names the node that is down.
 */
export async function protocolFailure(ctx: CoordinatorContext, participants: number[], first: NodeFailure, bytes: ByteCounts, protocol: string): Promise<MpcProtocolError> {
  const h = await checkHealth(ctx);
  bytes.nodesToCoordinator += h.bytes;
  const down = participants.filter((id) => h.down.includes(id));
  const reason = `${first.status || 'unreachable'}): ${first.message}`;
  if (down.length === 0 || down.includes(first.id)) return new MpcProtocolError(`node ${first.id} failed during ${protocol} (${reason}`, first.id);
  return new MpcProtocolError(`node ${down.join(', ')} failed during ${protocol} (unreachable now; node ${first.id} reported ${reason}`, down[0] as number);
}

export interface AllAsk<Req, Res> {
  /** What the run is, for messages ("the filtered query"). */
  what: string;
  call: (client: NodeClient, req: Req) => Promise<SignedFetchResult<Res>>;
  /** What the answers must agree on (records, digest, scales). */
  agreement: (res: Res) => string;
}

export async function askAll<Req extends { participants: number[] }, Res extends { peerBytesSent: number }>(
  ctx: CoordinatorContext, reqs: Req[], bytes: ByteCounts, ask: AllAsk<Req, Res>,
): Promise<Res[]> {
  let first: NodeFailure | undefined;
  const participants = reqs[0]!.participants;
  const answers = await Promise.all(reqs.map(async (req, i) => {
    const id = participants[i] as number;
    try {
      const r = await ask.call(ctx.client(id), req);
      bytes.coordinatorToNodes += r.bytesSent;
      bytes.nodesToCoordinator += r.bytesReceived;
      bytes.nodeToNode += r.body.peerBytesSent;
      return r.body;
    } catch (err) {
      first ??= { id, status: err instanceof SignedRequestError ? err.peerStatus : 0, message: (err as Error).message };
      throw err;
    }
  })).catch(async () => {
    throw await protocolFailure(ctx, participants, first as NodeFailure, bytes, ask.what);
  });
  if (new Set(answers.map(ask.agreement)).size > 1) {
    throw new NodesOutOfSyncError(`the participating nodes hold different records (pending share deliveries?); ${ask.what}'s result is not opened`, [participants]);
  }
  return answers;
}

/**
 * Node `id`'s part of the dealt comparison material, sealed to its published X25519 key (null when
 * nothing was dealt: an empty cohort). Throws PeerKeyError for a node that has published no key.
 */
export function sealedMaterialFor(ctx: CoordinatorContext, id: number, queryId: string, material: DealtMaterial | null): string | null {
  const key = ctx.encryptionKey(id);
  if (!key) throw new PeerKeyError(`${nodeParty(id)} has published no encryption key: its comparison material cannot be sealed`);
  return material ? sealCompareMaterial(key, id, queryId, material[id - 1]!) : null;
}

/** The health check of a three-party run (comparisons): all three nodes must be up, else InsufficientNodesError. */
export async function threeNodesUp(ctx: CoordinatorContext, what: string): Promise<{ h: Health; bytes: ByteCounts }> {
  const bytes = emptyBytes();
  const h = await checkHealth(ctx);
  bytes.nodesToCoordinator += h.bytes;
  const need = filteredNodesNeeded(ctx.t);
  if (ctx.n !== 3 || h.up.length < 3) throw new InsufficientNodesError(`${what} runs three-party comparisons and needs nodes 1, 2 and 3 (${need} = 2t + 1 of n = 3); up: [${h.up.join(', ')}]`, 3, h.up, h.down);
  return { h, bytes };
}

/** The result of a three-party run: every answer checked (three shares of degree 1), the count only when opened. */
export function threePartyResult(q: AggregateQuery, run: { h: Health; bytes: ByteCounts; started: number }, opened: OpenedMeasures, value: number | null, withCount: boolean): AggregateResult {
  const { h, bytes } = run;
  bytes.total = bytes.coordinatorToNodes + bytes.nodesToCoordinator + bytes.nodeToNode;
  return {
    aggregate: q.aggregate,
    indicator: q.indicator,
    ...(q.indicator2 ? { indicator2: q.indicator2 } : {}),
    value: value !== null && Number.isFinite(value) ? value : null,
    count: withCount ? Number(opened.count) : null,
    nodesUsed: h.up,
    nodesDown: h.down,
    nodesOutOfSync: [],
    nodeErrors: h.errors,
    consistencyChecked: true,
    noised: Boolean(q.noise),
    opened,
    bytes,
    ms: performance.now() - run.started,
  };
}
