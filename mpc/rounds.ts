/**
 * Interactive MPC protocols as declared rounds (libprio's ping-pong topology is the model): a round is
 * a pair of pure step functions over a party's current vector of shares,
 *   deal(values)              → what this party sends to each participant (itself included),
 *   combine(values, inbound)  → its new vector, from what every participant dealt to it.
 * No round does I/O. `simulateRounds` runs every party in one process (tests); the networked runner
 * (parties/round-runner.ts) carries the same rounds between compute nodes.
 *
 * Rounds here (n parties at x = 1..n, degree t, the participants' set P with |P| ≥ what the round needs):
 *   zero     every party deals a degree-2t sharing of 0; combine adds the joint zero (re-randomises a
 *            degree-2t product sharing, mpc/products.ts step 2);
 *   reshare  every party reshares its value with degree t; combine takes the Lagrange combination at 0
 *            over P (degree reduction, Gennaro–Rabin–Rabin; needs |P| ≥ 2t + 1);
 *   noise    every party samples its part of the discrete-Laplace noise per element (any |P| − t of the
 *            parts make the full noise, mpc/dp-noise.ts) and deals degree-t shares; combine adds
 *            every participant's noise (needs |P| ≥ t + 1).
 */
import { noiseShare } from './dp-noise';
import { ProtocolMismatchError } from './errors';
import { add } from './field';
import { combineReshares, jointZeroShare, rerandomise, reshare, zeroSharing } from './products';
import type { RandomSource } from './random';

export const ROUND_NAMES = ['zero', 'reshare', 'noise'] as const;
export type RoundName = (typeof ROUND_NAMES)[number];

export function isRoundName(x: unknown): x is RoundName {
  return typeof x === 'string' && (ROUND_NAMES as readonly string[]).includes(x);
}

export interface RoundContext {
  /** This party's x coordinate (node id). */
  self: number;
  /** Every party taking part, sorted, including self. */
  participants: readonly number[];
  n: number;
  t: number;
  rng?: RandomSource;
}

export interface Round {
  readonly name: RoundName;
  deal(values: readonly bigint[], ctx: RoundContext): Map<number, bigint[]>;
  combine(values: readonly bigint[], inbound: ReadonlyMap<number, readonly bigint[]>, ctx: RoundContext): bigint[];
}

/** One element to noise: the DP parameters and the fixed-point scale it is encoded at. */
export interface NoiseElement {
  epsilon: number;
  /** In natural units of the measure. */
  sensitivity: number;
  scale: number;
}

/** Deals column j of `perElement` (one sharing per element) to each participant j. */
function dealColumns(perElement: readonly bigint[][], ctx: RoundContext): Map<number, bigint[]> {
  return new Map(ctx.participants.map((j) => [j, perElement.map((shares) => shares[j - 1] as bigint)]));
}

/** Checks that every participant sent exactly `length` values. */
function inboundFromAll(round: RoundName, inbound: ReadonlyMap<number, readonly bigint[]>, length: number, ctx: RoundContext): void {
  for (const j of ctx.participants) {
    const got = inbound.get(j);
    if (!got) throw new ProtocolMismatchError(`${round}: no message from node-${j}`);
    if (got.length !== length) throw new ProtocolMismatchError(`${round}: node-${j} sent ${got.length} values, this node has ${length}`);
  }
}

function sumColumns(values: readonly bigint[], inbound: ReadonlyMap<number, readonly bigint[]>, ctx: RoundContext): bigint[] {
  return values.map((v, l) => ctx.participants.reduce((acc, j) => add(acc, (inbound.get(j) as readonly bigint[])[l] as bigint), v));
}

/** Re-randomises degree-2t shares with a joint random sharing of zero per element. */
export function zeroRound(): Round {
  return {
    name: 'zero',
    deal: (values, ctx) => dealColumns(values.map(() => zeroSharing(ctx.n, 2 * ctx.t, ctx.rng)), ctx),
    combine(values, inbound, ctx) {
      inboundFromAll('zero', inbound, values.length, ctx);
      return values.map((v, l) => rerandomise(v, jointZeroShare(ctx.participants.map((j) => (inbound.get(j) as readonly bigint[])[l] as bigint))));
    },
  };
}

/** Reduces degree-2t shares to degree t: reshare, then combine with the Lagrange coefficients over P. */
export function reshareRound(): Round {
  return {
    name: 'reshare',
    deal: (values, ctx) => dealColumns(values.map((v) => reshare(v, ctx.n, ctx.t, ctx.rng)), ctx),
    combine(values, inbound, ctx) {
      inboundFromAll('reshare', inbound, values.length, ctx);
      const xs = [...ctx.participants];
      return values.map((_, l) => combineReshares(xs.map((j) => (inbound.get(j) as readonly bigint[])[l] as bigint), xs));
    },
  };
}

/** Adds every participant's own discrete-Laplace noise, in shares, to each element. */
export function noiseRound(elements: readonly NoiseElement[]): Round {
  return {
    name: 'noise',
    deal(values, ctx) {
      if (values.length !== elements.length) throw new ProtocolMismatchError(`noise: ${values.length} values for ${elements.length} noise specifications`);
      return dealColumns(elements.map((e) => noiseShare(e.epsilon, e.sensitivity, e.scale, ctx.n, ctx.t, ctx.rng, ctx.participants.length)), ctx);
    },
    combine(values, inbound, ctx) {
      inboundFromAll('noise', inbound, values.length, ctx);
      return sumColumns(values, inbound, ctx);
    },
  };
}

/**
 * Runs `rounds` for every participant in one process: `vectors.get(j)` is party j's input vector.
 * Returns every party's output vector. For tests and as the reference of the networked runner.
 */
export function simulateRounds(
  rounds: readonly Round[],
  vectors: ReadonlyMap<number, readonly bigint[]>,
  base: { n: number; t: number; rng?: RandomSource },
): Map<number, bigint[]> {
  const participants = [...vectors.keys()].sort((a, b) => a - b);
  let state = new Map([...vectors].map(([j, v]) => [j, [...v]]));
  for (const round of rounds) {
    const ctxOf = (self: number): RoundContext => ({ ...base, self, participants });
    const dealt = new Map(participants.map((i) => [i, round.deal(state.get(i) as bigint[], ctxOf(i))]));
    state = new Map(participants.map((j) => {
      const inbound = new Map(participants.map((i) => [i, (dealt.get(i) as Map<number, bigint[]>).get(j) as bigint[]]));
      return [j, round.combine(state.get(j) as bigint[], inbound, ctxOf(j))];
    }));
  }
  return state;
}
