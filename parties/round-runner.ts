/**
 * Runs declared rounds (mpc/rounds.ts) between compute nodes. Per round: deal, send each party of the
 * step's links (by default every other participant) its part while collecting theirs from the inbox,
 * then combine. What a party deals to itself never leaves it. The transport is injected, so the same
 * runner serves the HTTP nodes and tests.
 */
import { linksOf, type Round, type RoundContext, type RoundName, type Step } from '../mpc/rounds';

export interface RoundTransport {
  /** Sends `values` for `round` to node `to`; resolves with the bytes sent. */
  send(to: number, round: RoundName, values: bigint[]): Promise<number>;
  /** Waits for every node in `from` to deliver `round`; returns their values. */
  collect(round: RoundName, from: number[]): Promise<Map<number, bigint[]>>;
}

export interface RoundsResult {
  values: bigint[];
  /** Bytes this party sent to its peers. */
  bytes: number;
}

/** Runs one step of any state type: sends to `links.to`, collects from `links.from`, combines. */
export async function runStep<In, Out>(step: Step<In, Out>, state: In, ctx: RoundContext, transport: RoundTransport): Promise<{ state: Out; bytes: number }> {
  const outbound = step.deal(state, ctx);
  const links = linksOf(step, ctx);
  const [sizes, inbound] = await Promise.all([
    Promise.all(links.to.map((j) => transport.send(j, step.name, outbound.get(j) as bigint[]))),
    transport.collect(step.name, links.from),
  ]);
  const own = outbound.get(ctx.self);
  if (own) inbound.set(ctx.self, own);
  return { state: step.combine(state, inbound, ctx), bytes: sizes.reduce((a, b) => a + b, 0) };
}

async function runRound(round: Round, values: bigint[], ctx: RoundContext, transport: RoundTransport): Promise<RoundsResult> {
  const r = await runStep(round, values, ctx, transport);
  return { values: r.state, bytes: r.bytes };
}

/** Runs `rounds` in order on this party's vector. */
export async function runRounds(rounds: readonly Round[], values: bigint[], ctx: RoundContext, transport: RoundTransport): Promise<RoundsResult> {
  let current: RoundsResult = { values, bytes: 0 };
  for (const round of rounds) {
    const next = await runRound(round, current.values, ctx, transport);
    current = { values: next.values, bytes: current.bytes + next.bytes };
  }
  return current;
}
