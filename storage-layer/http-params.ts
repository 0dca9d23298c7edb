/** Parsing of request parameters into typed values, failing with a ValidationError naming the field. */
import { ValidationError } from './errors';

export function parseIntParam(raw: unknown, field: string, { min = 0, required = true }: { min?: number; required?: boolean } = {}): number | undefined {
  if (raw === undefined || raw === '') {
    if (required) throw new ValidationError(`"${field}" is required`, field);
    return undefined;
  }
  if (typeof raw !== 'string' || !/^\d{1,15}$/.test(raw)) throw new ValidationError(`"${field}" must be a whole number, got ${JSON.stringify(raw)}`, field);
  const value = Number(raw);
  if (value < min) throw new ValidationError(`"${field}" must be at least ${min}`, field);
  return value;
}
