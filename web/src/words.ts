/** Dates, numbers and names as a person reads them. */
export interface IndicatorInfo {
  name: string;
  display: string;
  /** Null for demographics (birth year, sex). */
  canonicalUnit?: string | null;
  kind?: 'measurement' | 'demographic';
  /** A coded demographic's codes: label → stored number (sex). */
  valueCodes?: Record<string, number>;
  range: { min: number; max: number };
  histogramEdges?: number[];
}

export function formatDate(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleDateString('en-GB', { day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' });
}

export function formatDateTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${formatDate(iso)} ${d.toISOString().slice(11, 16)} UTC`;
}

/** A number with at most `digits` decimals, without trailing zeroes. */
export function formatNumber(n: number | null | undefined, digits = 3): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  return String(Number(n.toFixed(digits)));
}

/** "glucose, heart rate" from indicator names, with the catalogue's display names. */
export function indicatorWords(names: string[], catalogue: Map<string, IndicatorInfo>): string {
  const words = names.map((n) => (catalogue.get(n)?.display ?? n).toLowerCase());
  if (words.length <= 1) return words.join('');
  return `${words.slice(0, -1).join(', ')} and ${words.at(-1)}`;
}

/** A coded value's label (sex: 1 → female), or the number. */
export function codedWords(value: number, info: IndicatorInfo | undefined): string {
  const label = Object.entries(info?.valueCodes ?? {}).find(([, v]) => v === value)?.[0];
  return label ?? formatNumber(value);
}

/** UCUM codes a person recognises. */
export function unitWords(unit: string | undefined | null): string {
  if (!unit) return '';
  const known: Record<string, string> = { '/min': 'per minute', 'mm[Hg]': 'mmHg', '%': '%', 'Cel': '°C', 'kg/m2': 'kg/m²' };
  return known[unit] ?? unit;
}
