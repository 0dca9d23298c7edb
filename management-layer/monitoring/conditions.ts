/**
 * Alert conditions: parsing and evaluation (pure; the engine keeps the state durably).
 *
 * Grammar (whitespace-separated): `<indicator> <op> <number> [<unit>] [for <n> <duration-unit>]`
 * or `… (once | twice | thrice | <n> times) in <n> <duration-unit>`; op is <, <=, >, >=; the unit
 * is any unit the catalogue accepts for the indicator (the threshold is converted to the canonical
 * unit, like a reading); duration units s, min, h. Examples: `spo2 < 90`,
 * `heart_rate > 130 for 5 min`, `glucose > 13.9 mmol/L twice in 1 h`.
 *
 * Semantics, on readings of one patient in effective-time order:
 * - plain: fires when a reading meets the threshold after one that did not (or the first reading),
 *   so a run of low readings is one alert; a reading that does not meet it re-arms the rule;
 * - `for D`: fires once when readings have met the threshold continuously for D (first to latest
 *   meeting reading); any reading that does not meet it resets the run;
 * - `N times in W`: fires when N meeting readings fall within W; the counted readings are then
 *   used up, so the next alert needs N new ones.
 * A reading older than the latest one seen by a windowed rule is ignored by that rule.
 */
import { getIndicator } from '../catalogue';
import { ValidationError } from '../errors';
import { toCanonical } from '../units';

export type Comparator = '<' | '<=' | '>' | '>=';

export interface Condition {
  indicator: string;
  op: Comparator;
  /** Threshold in the indicator's canonical unit. */
  threshold: number;
  window: { kind: 'edge' } | { kind: 'for'; ms: number } | { kind: 'count'; times: number; ms: number };
}

export type ConditionState =
  | { kind: 'edge'; active: boolean }
  | { kind: 'for'; since: number | null; fired: boolean; last: number | null }
  | { kind: 'count'; hits: number[]; last: number | null };

const DURATION_MS: Readonly<Record<string, number>> = Object.freeze({
  s: 1000, sec: 1000, second: 1000, seconds: 1000, min: 60_000, minute: 60_000, minutes: 60_000, h: 3_600_000, hour: 3_600_000, hours: 3_600_000,
});
const TIMES: Readonly<Record<string, number>> = Object.freeze({ once: 1, twice: 2, thrice: 3 });
const MAX_WINDOW_MS = 7 * 24 * 3_600_000;

function fail(reason: string): never {
  throw new ValidationError(`"condition" ${reason}`, 'condition');
}

function duration(n: string | undefined, unit: string | undefined): number {
  const value = Number(n);
  const per = unit === undefined ? undefined : DURATION_MS[unit];
  if (!Number.isFinite(value) || value <= 0 || per === undefined) fail(`needs a duration like "5 min", "30 s" or "1 h" (got "${n ?? ''} ${unit ?? ''}")`);
  const ms = value * per;
  if (ms > MAX_WINDOW_MS) fail('windows are at most 7 days');
  return ms;
}

/** The window part after the threshold: tokens from `for`/`twice`/`<n> times`. */
function parseWindow(rest: string[]): Condition['window'] {
  if (rest.length === 0) return { kind: 'edge' };
  if (rest[0] === 'for' && rest.length === 3) return { kind: 'for', ms: duration(rest[1], rest[2]) };
  const named = TIMES[rest[0]!];
  const [times, tail] = named !== undefined ? [named, rest.slice(1)] : rest[1] === 'times' ? [Number(rest[0]), rest.slice(2)] : [NaN, rest];
  if (!Number.isInteger(times) || times < 1 || times > 100 || tail[0] !== 'in' || tail.length !== 3) fail(`has an unreadable window "${rest.join(' ')}" (use "for 5 min" or "twice in 1 h")`);
  return { kind: 'count', times, ms: duration(tail[1], tail[2]) };
}

const isWindowStart = (token: string | undefined, next: string | undefined) => token === 'for' || (token !== undefined && token in TIMES) || next === 'times';

/** Parses a condition for the rule's indicator; throws ValidationError (field "condition"). */
export function parseCondition(text: string, indicator: string): Condition {
  const tokens = text.trim().split(/\s+/);
  const [name, op, number] = tokens;
  if (name !== indicator) fail(`must start with the rule's indicator "${indicator}" (got "${name ?? ''}")`);
  const ind = getIndicator(indicator);
  if (!ind) fail(`names an unknown indicator "${indicator}"`);
  if (op !== '<' && op !== '<=' && op !== '>' && op !== '>=') fail(`needs a comparison <, <=, > or >= after the indicator (got "${op ?? ''}")`);
  const value = Number(number);
  if (number === undefined || !/^-?\d+(\.\d+)?$/.test(number) || !Number.isFinite(value)) fail(`needs a number after "${op}" (got "${number ?? ''}")`);
  let rest = tokens.slice(3);
  let threshold = value;
  if (rest.length > 0 && !isWindowStart(rest[0], rest[1])) {
    try {
      threshold = toCanonical(ind, value, rest[0]!).value;
    } catch (err) {
      fail(`has a unit "${rest[0]}" that ${ind.name} does not take: ${(err as Error).message}`);
    }
    rest = rest.slice(1);
  }
  return { indicator, op, threshold, window: parseWindow(rest) };
}

export function initialState(c: Condition): ConditionState {
  if (c.window.kind === 'edge') return { kind: 'edge', active: false };
  if (c.window.kind === 'for') return { kind: 'for', since: null, fired: false, last: null };
  return { kind: 'count', hits: [], last: null };
}

export function meets(c: Condition, value: number): boolean {
  switch (c.op) {
    case '<': return value < c.threshold;
    case '<=': return value <= c.threshold;
    case '>': return value > c.threshold;
    default: return value >= c.threshold;
  }
}

/** One reading (value in the canonical unit, time in ms): the next state and whether the rule fires. */
export function step(c: Condition, state: ConditionState, reading: { value: number; at: number }): { state: ConditionState; fire: boolean } {
  const met = meets(c, reading.value);
  if (state.kind === 'edge') return { state: { kind: 'edge', active: met }, fire: met && !state.active };
  if (state.last !== null && reading.at < state.last) return { state, fire: false };
  if (state.kind === 'for') {
    const ms = c.window.kind === 'for' ? c.window.ms : 0;
    if (!met) return { state: { kind: 'for', since: null, fired: false, last: reading.at }, fire: false };
    const since = state.since ?? reading.at;
    const fire = !state.fired && reading.at - since >= ms;
    return { state: { kind: 'for', since, fired: state.fired || fire, last: reading.at }, fire };
  }
  const w = c.window.kind === 'count' ? c.window : { times: 1, ms: 0 };
  if (!met) return { state: { ...state, last: reading.at }, fire: false };
  const hits = [...state.hits.filter((h) => reading.at - h < w.ms), reading.at];
  const fire = hits.length >= w.times;
  return { state: { kind: 'count', hits: fire ? [] : hits, last: reading.at }, fire };
}
