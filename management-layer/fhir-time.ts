/**
 * FHIR dateTime -> UTC instant ('YYYY-MM-DDTHH:mm:ss.sssZ').
 *
 * A date-time must carry a time zone (FHIR requires one when a time is given); it is converted to UTC.
 * Partial dates ('2012', '2012-09', '2012-09-17') are taken as the start of that year/month/day in UTC:
 * the source gives no zone, so the instant can be off by up to 14 hours; the day is what such data means.
 */

const DATE_TIME =
  /^(?<y>[0-9]{4})(?:-(?<m>0[1-9]|1[0-2])(?:-(?<d>0[1-9]|[12][0-9]|3[01])(?:T(?<time>(?<h>[01][0-9]|2[0-3]):(?<min>[0-5][0-9]):(?<s>[0-5][0-9]|60)(?:\.[0-9]+)?)(?<tz>Z|[+-](?:(?:0[0-9]|1[0-3]):[0-5][0-9]|14:00))?)?)?)?$/;

export type UtcResult = { ok: true; instant: string; partial: boolean } | { ok: false; reason: string };

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

export function toUtcInstant(value: unknown): UtcResult {
  if (typeof value !== 'string') return { ok: false, reason: 'must be a FHIR dateTime string' };
  const m = DATE_TIME.exec(value.trim());
  const g = m?.groups;
  if (!g || g.y === undefined) return { ok: false, reason: `"${value}" is not a FHIR dateTime (YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss with a time zone)` };
  const year = Number(g.y);
  if (year < 1) return { ok: false, reason: `year ${g.y} is out of range` };
  const month = g.m ? Number(g.m) : 1;
  const day = g.d ? Number(g.d) : 1;
  if (day > daysInMonth(year, month)) return { ok: false, reason: `"${value}" is not a calendar date` };
  if (!g.time) {
    const iso = `${g.y}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}T00:00:00.000Z`;
    return { ok: true, instant: iso, partial: true };
  }
  if (!g.tz) return { ok: false, reason: `"${value}" has a time but no time zone` };
  if (g.s === '60') return { ok: false, reason: `"${value}" is a leap second, which HGD does not store` };
  const ms = Date.parse(value.trim());
  if (Number.isNaN(ms)) return { ok: false, reason: `"${value}" is not a valid date-time` };
  return { ok: true, instant: new Date(ms).toISOString(), partial: false };
}
