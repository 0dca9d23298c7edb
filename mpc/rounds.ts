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
 * The secure comparison (mpc/compare.ts) adds cmp-open, cmp-and and cmp-b2a; `agree` checks that the
 * parties selected the same records before rounds whose length is the selection's. A round is a `Step` from
 * one party state to the next: the product and noise rounds map a vector of field elements to a vector
 * (`Round`), the comparison's rounds carry bitsliced words. A step may talk to fewer parties than all
 * (`links`: the replicated AND only sends to the previous party). A protocol that runs a round more than
 * once in a query numbers it (`numbered`: zero.1, zero.2, …), so that every message has its own name.
 */
import { noiseShare } from './dp-noise';
import { ProtocolMismatchError } from './errors';
import { add } from './field';
import { combineReshares, jointZeroShare, rerandomise, reshare, zeroSharing } from './products';
import type { RandomSource } from './random';

export const ROUND_NAMES = ['zero', 'reshare', 'noise', 'cmp-open', 'cmp-and', 'cmp-b2a', 'agree'] as const;
type BaseRoundName = (typeof ROUND_NAMES)[number];
/** A round's name: its kind, numbered when a query runs the kind more than once. */
export type RoundName = BaseRoundName | `${BaseRoundName}.${number}`;

const ROUND_NAME = new RegExp(`^(${ROUND_NAMES.join('|')})(\\.[1-9][0-9]{0,3})?$`);

export function isRoundName(x: unknown): x is RoundName {
  return typeof x === 'string' && ROUND_NAME.test(x);
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

/** Whom a party sends to and hears from in a step (besides itself). */
export interface Links {
  to: number[];
  from: number[];
}

/**
 * One round from a party's state `In` to its state `Out`. `deal` says what the party sends to each
 * participant in `links(ctx).to` (an entry for itself is kept local, not sent); `combine` gets what every
 * party in `links(ctx).from` dealt to it (and its own entry, when it dealt one).
 */
export interface Step<In, Out> {
  readonly name: RoundName;
  /** Default: every other participant, both ways. */
  links?(ctx: RoundContext): Links;
  deal(state: In, ctx: RoundContext): Map<number, bigint[]>;
  combine(state: In, inbound: ReadonlyMap<number, readonly bigint[]>, ctx: RoundContext): Out;
}

/** A round over a vector of field elements (one per element of the computation). */
export type Round = Step<readonly bigint[], bigint[]>;

/** The parties a step links this party with. */
export function linksOf<In, Out>(step: Step<In, Out>, ctx: RoundContext): Links {
  if (step.links) return step.links(ctx);
  const others = ctx.participants.filter((j) => j !== ctx.self);
  return { to: others, from: others };
}

/** The same step under the name `<name>.<k>` (a kind run k-th time in one query). */
export function numbered<In, Out>(step: Step<In, Out>, k: number): Step<In, Out> {
  const base = step.name.split('.')[0] as BaseRoundName;
  return { ...step, name: `${base}.${k}` };
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

/**
 * A check before the heavy rounds of a protocol whose vectors are as long as what each party selected
 * (clamping: one element a value): every party sends its public summary of the selection (a count and
 * a digest, which the coordinator sees too) to every other, and each stops at once when one differs,
 * instead of waiting for round messages of another length, or for none from a party that selected
 * nothing and had nothing to compute.
 */
export function agreementRound(): Step<readonly bigint[], readonly bigint[]> {
  return {
    name: 'agree',
    deal: (state, ctx) => new Map(ctx.participants.filter((j) => j !== ctx.self).map((j) => [j, [...state]])),
    combine: (state, inbound, ctx) => {
      for (const [j, theirs] of inbound) {
        if (j === ctx.self) continue;
        if (theirs.length !== state.length || theirs.some((x, k) => x !== state[k])) {
          throw new ProtocolMismatchError(`node ${j} selected other records than node ${ctx.self} (count and digest ${theirs.join(', ')} against ${state.join(', ')}): pending share deliveries?`);
        }
      }
      return state;
    },
  };
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
  base: SimulationBase,
): Map<number, bigint[]> {
  let state = new Map([...vectors].map(([j, v]) => [j, [...v]]));
  for (const round of rounds) state = simulateStep(round, state, base);
  return state;
}

export interface SimulationBase {
  n: number;
  t: number;
  rng?: RandomSource;
  /** Called with every message a party receives (tests of a party's view). */
  observe?: (to: number, from: number, round: RoundName, values: readonly bigint[]) => void;
}

/** Runs one step for every party in `states` (the participants) in one process. */
export function simulateStep<In, Out>(step: Step<In, Out>, states: ReadonlyMap<number, In>, base: SimulationBase): Map<number, Out> {
  const participants = [...states.keys()].sort((a, b) => a - b);
  const ctxOf = (self: number): RoundContext => ({ n: base.n, t: base.t, rng: base.rng, self, participants });
  const dealt = new Map(participants.map((i) => [i, step.deal(states.get(i) as In, ctxOf(i))]));
  return new Map(participants.map((j) => {
    const ctx = ctxOf(j);
    const inbound = new Map<number, bigint[]>();
    for (const i of linksOf(step, ctx).from) {
      const msg = (dealt.get(i) as Map<number, bigint[]>).get(j);
      if (!msg) throw new ProtocolMismatchError(`${step.name}: node-${i} dealt nothing to node-${j}`);
      base.observe?.(j, i, step.name, msg);
      inbound.set(i, msg);
    }
    const own = (dealt.get(j) as Map<number, bigint[]>).get(j);
    if (own) inbound.set(j, own);
    return [j, step.combine(states.get(j) as In, inbound, ctx)];
  }));
}
