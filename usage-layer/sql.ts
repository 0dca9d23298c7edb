/** Small helpers shared by the usage layer's services. */
import { toUtcInstant } from '../management-layer/fhir-time';
import { ValidationError } from '../storage-layer/errors';

/** A PostgreSQL text[] literal (bound as one string, cast with ?::text[]; works with node-pg and PGlite). */
export function textArray(values: readonly string[]): string {
  return `{${values.map((v) => `"${v.replace(/["\\]/g, (c) => `\\${c}`)}"`).join(',')}}`;
}

/** numeric columns come back as strings from node-pg and PGlite. */
export function num(value: unknown): number {
  return typeof value === 'number' ? value : Number(value);
}

export function iso(value: Date | string | null | undefined): string | null {
  return value === null || value === undefined ? null : new Date(value).toISOString();
}

/**
 * A FHIR dateTime or ISO 8601 instant as a UTC instant. A partial date as the start of a period is its
 * first instant; as the (exclusive) end of a period it is the first instant AFTER it, so
 * "end": "2016-01-01" still covers all of 1 January.
 */
export function parseInstant(raw: unknown, field: string, as: 'start' | 'end' = 'start'): string {
  const r = toUtcInstant(raw);
  if (!r.ok) throw new ValidationError(`"${field}" ${r.reason}`, field);
  if (!r.partial || as === 'start') return r.instant;
  const text = String(raw).trim();
  const d = new Date(r.instant);
  if (text.length === 4) d.setUTCFullYear(d.getUTCFullYear() + 1);
  else if (text.length === 7) d.setUTCMonth(d.getUTCMonth() + 1);
  else d.setUTCDate(d.getUTCDate() + 1);
  return d.toISOString();
}

/** A positive decimal with at most 6 places (privacy parameters), or throws naming the field. */
export function parseEpsilon(raw: unknown, field: string, bounds: { min: number; max: number }): number {
  if (typeof raw !== 'number' || !Number.isFinite(raw)) throw new ValidationError(`"${field}" must be a number`, field);
  if (raw < bounds.min || raw > bounds.max) throw new ValidationError(`"${field}" must be between ${bounds.min} and ${bounds.max}, got ${raw}`, field);
  const micro = raw * 1e6;
  if (Math.abs(micro - Math.round(micro)) > 1e-6) throw new ValidationError(`"${field}" may have at most 6 decimal places`, field);
  return Math.round(micro) / 1e6;
}
