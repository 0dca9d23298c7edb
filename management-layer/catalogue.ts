/**
 * The Indicator-Centric Schema catalogue (schema/ics-catalogue.json): which indicators exist, which LOINC codes
 * map to them, and their units, ranges and fixed-point scales. Loaded and validated on first use.
 */
import { CatalogueError } from './errors';
import { describeAjvErrors, readSchemaJson, validatorFor } from './schemas';

export const LOINC_SYSTEM = 'http://loinc.org';

export interface Indicator {
  name: string;
  display: string;
  loinc: string[];
  /** UCUM code every stored value is expressed in. */
  canonicalUnit: string;
  /** UCUM codes allowed after alias resolution; anything else is rejected even if it is valid UCUM. */
  acceptedUnits: string[];
  /** Unit strings as providers send them -> UCUM code (must be one of acceptedUnits). */
  aliases: Record<string, string>;
  /** g/mol, for mass <-> molar conversion. */
  molarMass?: number;
  /** Valence, for equivalent <-> molar conversion (mEq/L). */
  charge?: number;
  /** 'ucum' (default) or a named special rule. */
  conversion?: 'ucum' | 'hba1c-ifcc-ngsp';
  valueType: 'decimal' | 'integer';
  /** Plausible range in the canonical unit; values outside are rejected. */
  range: { min: number; max: number };
  /** Decimal digits kept: values are stored as value * 10^scale integers for secret sharing. */
  scale: number;
  /** Fixed histogram bucket edges in the canonical unit, from range.min to range.max. */
  histogramEdges: number[];
}

export interface Panel {
  loinc: string;
  display: string;
  /** Component LOINC code -> indicator name. */
  components: Record<string, string>;
}

export interface CatalogueData {
  version: number;
  codeSystem: string;
  indicators: Indicator[];
  panels: Panel[];
}

export class Catalogue {
  readonly version: number;
  readonly indicators: readonly Indicator[];
  readonly panels: readonly Panel[];
  private readonly byNameMap = new Map<string, Indicator>();
  private readonly byCodeMap = new Map<string, Indicator>();
  private readonly panelMap = new Map<string, Panel>();

  constructor(data: CatalogueData) {
    this.version = data.version;
    this.indicators = data.indicators;
    this.panels = data.panels;
    for (const ind of data.indicators) {
      this.byNameMap.set(ind.name, ind);
      for (const code of ind.loinc) this.byCodeMap.set(code, ind);
    }
    for (const p of data.panels) this.panelMap.set(p.loinc, p);
  }

  names(): string[] {
    return this.indicators.map((i) => i.name);
  }

  byName(name: string): Indicator | undefined {
    return this.byNameMap.get(name);
  }

  /** The indicator for a coding, or undefined. Only LOINC codes map to indicators. */
  byCode(system: string | undefined, code: string | undefined): Indicator | undefined {
    if (system !== LOINC_SYSTEM || code === undefined) return undefined;
    return this.byCodeMap.get(code);
  }

  panelByCode(system: string | undefined, code: string | undefined): Panel | undefined {
    if (system !== LOINC_SYSTEM || code === undefined) return undefined;
    return this.panelMap.get(code);
  }
}

/** Semantic checks JSON Schema cannot express. Returns human-readable problems (empty when fine). */
export function catalogueProblems(data: CatalogueData): string[] {
  const problems: string[] = [];
  const names = new Set<string>();
  const codeOwner = new Map<string, string>();
  for (const [i, ind] of data.indicators.entries()) {
    const at = `indicators[${i}] (${ind.name})`;
    if (names.has(ind.name)) problems.push(`${at}: duplicate indicator name`);
    names.add(ind.name);
    for (const code of ind.loinc) {
      const owner = codeOwner.get(code);
      if (owner !== undefined) problems.push(`${at}: LOINC ${code} is already mapped to ${owner}`);
      else codeOwner.set(code, ind.name);
    }
    if (!ind.acceptedUnits.includes(ind.canonicalUnit)) problems.push(`${at}: canonicalUnit ${ind.canonicalUnit} is not in acceptedUnits`);
    for (const [alias, target] of Object.entries(ind.aliases)) {
      if (!ind.acceptedUnits.includes(target)) problems.push(`${at}: alias "${alias}" -> "${target}" is not an accepted unit`);
    }
    if (!(ind.range.min < ind.range.max)) problems.push(`${at}: range.min must be below range.max`);
    const edges = ind.histogramEdges;
    for (let k = 1; k < edges.length; k++) {
      if (!((edges[k] as number) > (edges[k - 1] as number))) problems.push(`${at}: histogramEdges must be strictly increasing`);
    }
    if (edges[0] !== ind.range.min || edges[edges.length - 1] !== ind.range.max) {
      problems.push(`${at}: histogramEdges must start at range.min and end at range.max`);
    }
    if (ind.valueType === 'integer' && ind.scale !== 0) problems.push(`${at}: integer indicators must have scale 0`);
    const bound = Math.max(Math.abs(ind.range.min), Math.abs(ind.range.max)) * 10 ** ind.scale;
    if (!Number.isSafeInteger(Math.ceil(bound))) problems.push(`${at}: range x 10^scale exceeds safe integers`);
    if (ind.conversion === 'hba1c-ifcc-ngsp') {
      if (ind.canonicalUnit !== '%') problems.push(`${at}: hba1c-ifcc-ngsp needs canonicalUnit %`);
      for (const u of ind.acceptedUnits) {
        if (u !== '%' && u !== 'mmol/mol') problems.push(`${at}: hba1c-ifcc-ngsp accepts only % and mmol/mol, not ${u}`);
      }
    }
  }
  const panelCodes = new Set<string>();
  for (const [i, panel] of data.panels.entries()) {
    const at = `panels[${i}] (${panel.loinc})`;
    if (panelCodes.has(panel.loinc)) problems.push(`${at}: duplicate panel`);
    panelCodes.add(panel.loinc);
    if (codeOwner.has(panel.loinc)) problems.push(`${at}: panel code is also an indicator code of ${codeOwner.get(panel.loinc)}`);
    for (const [code, name] of Object.entries(panel.components)) {
      const ind = data.indicators.find((x) => x.name === name);
      if (!ind) problems.push(`${at}: component ${code} maps to unknown indicator ${name}`);
      else if (!ind.loinc.includes(code)) {
        const owner = codeOwner.get(code);
        problems.push(`${at}: component ${code} maps to ${name}, but ${name} does not list that code${owner ? ` (it belongs to ${owner})` : ''}`);
      }
    }
  }
  return problems;
}

/** Validates raw catalogue JSON (schema, then semantics) and indexes it. Throws CatalogueError. */
export function loadCatalogue(raw: unknown): Catalogue {
  const validate = validatorFor('ics-catalogue.schema.json');
  if (!validate(raw)) {
    const issues = describeAjvErrors(validate.errors).map((e) => `${e.pointer || '/'} ${e.reason}`);
    throw new CatalogueError(`ICS catalogue is invalid: ${issues.slice(0, 5).join('; ')}`, issues);
  }
  const data = raw as CatalogueData;
  const problems = catalogueProblems(data);
  if (problems.length > 0) {
    throw new CatalogueError(`ICS catalogue is invalid: ${problems.slice(0, 5).join('; ')}`, problems);
  }
  return new Catalogue(data);
}

let cached: Catalogue | undefined;

/** The repository's catalogue (schema/ics-catalogue.json), validated on first use. */
export function catalogue(): Catalogue {
  if (!cached) cached = loadCatalogue(readSchemaJson('ics-catalogue.json'));
  return cached;
}

export function getIndicator(name: string): Indicator | undefined {
  return catalogue().byName(name);
}

export function indicatorByCode(system: string | undefined, code: string | undefined): Indicator | undefined {
  return catalogue().byCode(system, code);
}

export function panelByCode(system: string | undefined, code: string | undefined): Panel | undefined {
  return catalogue().panelByCode(system, code);
}

/** The catalogue as GET /catalogue publishes it: what a provider can send and what HGD makes of it. */
export function publicCatalogue(cat: Catalogue = catalogue()) {
  return {
    version: cat.version,
    indicators: cat.indicators.map((i) => ({
      name: i.name,
      display: i.display,
      codes: i.loinc.map((code) => ({ system: LOINC_SYSTEM, code })),
      canonicalUnit: i.canonicalUnit,
      acceptedUnits: i.acceptedUnits,
      aliases: i.aliases,
      ...(i.molarMass !== undefined ? { molarMass: i.molarMass } : {}),
      ...(i.charge !== undefined ? { charge: i.charge } : {}),
      conversion: i.conversion ?? 'ucum',
      valueType: i.valueType,
      range: i.range,
      scale: i.scale,
      histogramEdges: i.histogramEdges,
    })),
    panels: cat.panels.map((p) => ({
      code: { system: LOINC_SYSTEM, code: p.loinc },
      display: p.display,
      components: Object.entries(p.components).map(([code, indicator]) => ({ code: { system: LOINC_SYSTEM, code }, indicator })),
    })),
  };
}
