/**
 * Runs declared rounds (mpc/rounds.ts) between compute nodes. Per round: deal, send each other
 * participant its part while collecting theirs from the inbox, then combine. What a party deals to
 * itself never leaves it. The transport is injected, so the same runner serves the HTTP nodes and tests.
 */
import type { Round, RoundContext, RoundName } from '../mpc/rounds';

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

async function runRound(round: Round, values: bigint[], ctx: RoundContext, transport: RoundTransport): Promise<RoundsResult> {
  const outbound = round.deal(values, ctx);
  const others = ctx.participants.filter((j) => j !== ctx.self);
  const [sizes, inbound] = await Promise.all([
    Promise.all(others.map((j) => transport.send(j, round.name, outbound.get(j) as bigint[]))),
    transport.collect(round.name, others),
  ]);
  inbound.set(ctx.self, outbound.get(ctx.self) as bigint[]);
  return { values: round.combine(values, inbound, ctx), bytes: sizes.reduce((a, b) => a + b, 0) };
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
