/**
 * Unit resolution and conversion into an indicator's canonical UCUM unit.
 *
 * Order: clean the string -> explicit alias -> must be an accepted unit of the indicator -> convert
 * (UCUM, or the IFCC-NGSP equation for HbA1c) -> round to the indicator's scale -> plausible range and integer checks.
 */
// Named import: the package is CommonJS with __esModule set, so its default export is undefined under tsx/Node ESM.
import { UcumLhcUtils } from '@lhncbc/ucum-lhc';
import { catalogue, type Catalogue, type Indicator } from './catalogue';
import { UnitError, ValidationError, ValueError } from './errors';

export interface CanonicalValue {
  value: number;
  unit: string;
}

let utils: UcumLhcUtils | undefined;
function ucumUtils(): UcumLhcUtils {
  if (!utils) utils = UcumLhcUtils.getInstance();
  return utils;
}

const INVISIBLE = /[\u200B-\u200D\u2060\uFEFF\u00AD]/g;

/** Strips zero-width characters and surrounding whitespace. */
export function cleanUnit(raw: string): string {
  return raw.replace(INVISIBLE, '').trim();
}

function indicatorOf(indicator: Indicator | string): Indicator {
  if (typeof indicator !== 'string') return indicator;
  const found = catalogue().byName(indicator);
  if (!found) throw new ValidationError(`unknown indicator "${indicator}"`, 'indicator');
  return found;
}

/** The accepted UCUM unit a received unit string stands for; throws UnitError if the indicator does not accept it. */
export function resolveUnit(indicator: Indicator | string, unitAsReceived: string): string {
  const ind = indicatorOf(indicator);
  const cleaned = cleanUnit(unitAsReceived);
  if (cleaned === '') throw new UnitError(`no unit given for ${ind.name}`, ind.name, unitAsReceived);
  const resolved = Object.hasOwn(ind.aliases, cleaned) ? (ind.aliases[cleaned] as string) : cleaned;
  if (!ind.acceptedUnits.includes(resolved)) {
    throw new UnitError(
      `unit "${cleaned}" is not accepted for ${ind.name} (accepted: ${[...ind.acceptedUnits, ...Object.keys(ind.aliases)].join(', ')})`,
      ind.name,
      unitAsReceived,
    );
  }
  return resolved;
}

/** HbA1c: IFCC (mmol/mol) to NGSP/DCCT (%) by the IFCC-NGSP master equation. */
export function ifccToNgsp(mmolPerMol: number): number {
  return 0.09148 * mmolPerMol + 2.152;
}

/** Converts a value in an accepted (already resolved) unit to the canonical unit, without rounding or range checks. */
export function convertToCanonical(indicator: Indicator | string, value: number, resolvedUnit: string): number {
  const ind = indicatorOf(indicator);
  if (!ind.acceptedUnits.includes(resolvedUnit)) {
    throw new UnitError(`unit "${resolvedUnit}" is not accepted for ${ind.name}`, ind.name, resolvedUnit);
  }
  if (!Number.isFinite(value)) throw new ValueError(`value for ${ind.name} is not a finite number`, ind.name, value);
  if (resolvedUnit === ind.canonicalUnit) return value;
  if (ind.conversion === 'hba1c-ifcc-ngsp') {
    // Never through UCUM: UCUM would turn 6.5 % into 65 mmol/mol, which is wrong for HbA1c.
    if (resolvedUnit === 'mmol/mol') return ifccToNgsp(value);
    throw new UnitError(`unit "${resolvedUnit}" is not accepted for ${ind.name}`, ind.name, resolvedUnit);
  }
  const result = ucumUtils().convertUnitTo(resolvedUnit, value, ind.canonicalUnit, {
    molecularWeight: ind.molarMass ?? null,
    charge: ind.charge ?? null,
  });
  if (result.status !== 'succeeded' || result.toVal === null || !Number.isFinite(result.toVal)) {
    throw new UnitError(
      `cannot convert ${resolvedUnit} to ${ind.canonicalUnit} for ${ind.name}: ${result.msg.join(' ') || result.status}`,
      ind.name,
      resolvedUnit,
    );
  }
  return result.toVal;
}

/** Rounds half away from zero to `scale` decimal digits, after removing binary floating-point noise. */
export function roundToScale(value: number, scale: number): number {
  const factor = 10 ** scale;
  const scaled = Number((value * factor).toPrecision(15));
  const rounded = Math.sign(scaled) * Math.round(Math.abs(scaled));
  return rounded / factor + 0; // + 0 turns -0 into 0
}

/** Throws ValueError unless the canonical value is plausible (and integral for integer indicators). */
export function checkCanonicalValue(indicator: Indicator | string, value: number): void {
  const ind = indicatorOf(indicator);
  if (!Number.isFinite(value)) throw new ValueError(`value for ${ind.name} is not a finite number`, ind.name, value);
  if (value < ind.range.min || value > ind.range.max) {
    throw new ValueError(
      `${value} ${ind.canonicalUnit} is outside the plausible range for ${ind.name} (${ind.range.min} to ${ind.range.max} ${ind.canonicalUnit})`,
      ind.name,
      value,
    );
  }
  if (ind.valueType === 'integer' && !Number.isInteger(value)) {
    throw new ValueError(`${ind.name} must be an integer, got ${value}`, ind.name, value);
  }
}

/**
 * A received value and unit as the indicator's canonical value and unit, rounded to the indicator's scale.
 * Throws UnitError (unit not accepted / not convertible) or ValueError (not finite, out of range, not an integer).
 */
export function toCanonical(indicator: Indicator | string, value: number, unitAsReceived: string): CanonicalValue {
  const ind = indicatorOf(indicator);
  const resolved = resolveUnit(ind, unitAsReceived);
  const converted = convertToCanonical(ind, value, resolved);
  if (ind.valueType === 'integer' && !Number.isInteger(Number(converted.toPrecision(12)))) {
    throw new ValueError(`${ind.name} must be an integer, got ${value} ${resolved}`, ind.name, value);
  }
  const rounded = roundToScale(converted, ind.scale);
  checkCanonicalValue(ind, rounded);
  return { value: rounded, unit: ind.canonicalUnit };
}

/** True when UCUM knows the unit code exactly as written. */
export function isValidUcum(unit: string): boolean {
  const r = ucumUtils().validateUnitString(unit);
  return r.status === 'valid' && r.ucumCode === unit;
}

/**
 * Checks the catalogue's units against UCUM: canonical and accepted units are valid UCUM, and every accepted unit
 * converts to the canonical one (with the indicator's molar mass / charge). Returns problems; empty when fine.
 */
export function catalogueUnitProblems(cat: Catalogue = catalogue()): string[] {
  const problems: string[] = [];
  for (const ind of cat.indicators) {
    for (const unit of ind.acceptedUnits) {
      if (!isValidUcum(unit)) {
        problems.push(`${ind.name}: "${unit}" is not valid UCUM`);
        continue;
      }
      if (unit === ind.canonicalUnit) continue;
      try {
        convertToCanonical(ind, 1, unit);
      } catch (err) {
        problems.push(`${ind.name}: ${(err as Error).message}`);
      }
    }
  }
  return problems;
}
