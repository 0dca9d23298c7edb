/**
 * `options.bounds` of POST /queries: public bounds the researcher declares per indicator,
 * `{ "<indicator>": { "min": …, "max": … } }`, inside the catalogue's plausible range. Every value is
 * clamped into them at the compute nodes (usage-layer/coordinator/clamped.ts), and the noise follows
 * from the declared bounds (queries/disclosure.ts), so narrower bounds give a more accurate release;
 * values outside them are counted as the bound, which biases the statistic when they are common.
 * The schema checks the shape; here: the kind takes bounds (mpc/aggregates.ts `clamped`), every
 * queried indicator is bounded and nothing else is, min < max inside the range and on the values' grid.
 * A cohort filter and group-by combine with them (the same run decides the filter bits and clamps).
 * "auto" asks the gateway to derive them (auto-bounds.ts), the default of AUTO_BY_DEFAULT's kinds;
 * "catalogue" asks for none (the plausible range).
 */
import { getIndicator, type Indicator } from '../../management-layer/catalogue';
import { aggregateSpec, AGGREGATE_KINDS, type AggregateKind, type ValueBounds, type ValueRange } from '../../mpc/aggregates';
import { onGrid } from '../../mpc/clamp';
import type { ClampSpec } from '../../parties/wire';
import { ValidationError } from '../../storage-layer/errors';
import { domainOf } from './quantile-plan';

/** Declared bounds by indicator name. */
export type DeclaredBounds = Record<string, ValueRange>;

/** `options.bounds` as parsed: declared bounds, or "auto" (derived by the gateway under DP, auto-bounds.ts). */
export type BoundsOption = DeclaredBounds | 'auto';
/** `options.bounds` as asked: also "catalogue", the plausible range (no clamping beyond ingest's). */
export type AskedBounds = BoundsOption | 'catalogue';

const FIELD = 'options.bounds';
const CLAMPABLE = AGGREGATE_KINDS.filter((k) => aggregateSpec(k).clamped !== null);
/** Automatic bounds need a centre to take the pilot's spread around: the centred clamped kinds. */
const AUTO_BOUNDABLE = CLAMPABLE.filter((k) => aggregateSpec(k).centred);
/**
 * Kinds whose default is "auto": the pair kinds (covariance, correlation). With the catalogue's ranges
 * their noise swamps a correlation at ε 1 (docs/privacy.md), and their product protocol needs all
 * 2t + 1 nodes anyway, so the clamped run (comparisons: all nodes too) costs them no availability.
 * Mean, variance and stddev stay on the catalogue range by default: over the stored shares and squares
 * they are linear, and survive a node dying mid-protocol (retried on t + 1 nodes); "auto" is theirs to ask.
 */
export const AUTO_BY_DEFAULT = AUTO_BOUNDABLE.filter((k) => aggregateSpec(k).protocol === 'product');

function checkRange(name: string, r: ValueRange, ind: Indicator): void {
  const at = `${FIELD}.${name}`;
  if (!(r.min < r.max)) throw new ValidationError(`${at}: min must be below max`, FIELD);
  if (r.min < ind.range.min || r.max > ind.range.max) {
    throw new ValidationError(`${at}: [${r.min}, ${r.max}] must lie inside ${name}'s plausible range [${ind.range.min}, ${ind.range.max}] ${ind.canonicalUnit}`, FIELD);
  }
  for (const k of ['min', 'max'] as const) {
    if (!onGrid(r[k], ind.scale)) throw new ValidationError(`${at}.${k}: ${r[k]} has more than the ${ind.scale} decimal(s) ${name} is stored with`, FIELD);
  }
}

/**
 * Checks the declared bounds of a query: null for the catalogue range ("catalogue", or nothing asked of
 * a kind outside AUTO_BY_DEFAULT), "auto" when asked or by default, else the declared bounds.
 */
export function parseDeclaredBounds(raw: AskedBounds | undefined, q: { aggregate: AggregateKind; indicators: string[] }): BoundsOption | null {
  if (raw === undefined) return AUTO_BY_DEFAULT.includes(q.aggregate) ? 'auto' : null;
  if (raw === 'catalogue') {
    if (!aggregateSpec(q.aggregate).clamped) throw new ValidationError(`"${FIELD}" applies to ${CLAMPABLE.join(', ')}, not ${q.aggregate}`, FIELD);
    return null;
  }
  if (raw === 'auto') {
    if (!AUTO_BOUNDABLE.includes(q.aggregate)) throw new ValidationError(`"${FIELD}": "auto" applies to ${AUTO_BOUNDABLE.join(', ')}, not ${q.aggregate}`, FIELD);
    return 'auto';
  }
  if (!aggregateSpec(q.aggregate).clamped) throw new ValidationError(`"${FIELD}" applies to ${CLAMPABLE.join(', ')}, not ${q.aggregate}`, FIELD);
  for (const name of Object.keys(raw)) {
    if (!q.indicators.includes(name)) throw new ValidationError(`${FIELD}.${name}: not one of the query's indicators (${q.indicators.join(', ')})`, FIELD);
  }
  for (const name of q.indicators) {
    const r = raw[name];
    if (!r) throw new ValidationError(`${FIELD}: bounds for ${name} are missing (declare them for every indicator of the query)`, FIELD);
    checkRange(name, r, getIndicator(name) as Indicator);
  }
  return Object.fromEntries(q.indicators.map((name) => [name, { min: (raw[name] as ValueRange).min, max: (raw[name] as ValueRange).max }]));
}

/** The declared bounds as the privacy plan's value bounds (x, and y for a pair kind). */
export function declaredValueBounds(d: DeclaredBounds, indicators: readonly string[]): ValueBounds {
  const [x, y] = indicators.map((name) => d[name] as ValueRange);
  return { x: x as ValueRange, ...(y ? { y } : {}) };
}

/** The coordinator's clamp: each declared range with the catalogue domain its comparisons run in. */
export function clampOf(d: DeclaredBounds, ind: Indicator, ind2?: Indicator): { x: ClampSpec; y?: ClampSpec } {
  const spec = (i: Indicator): ClampSpec => ({ ...(d[i.name] as ValueRange), domain: domainOf(i) });
  return { x: spec(ind), ...(ind2 ? { y: spec(ind2) } : {}) };
}
