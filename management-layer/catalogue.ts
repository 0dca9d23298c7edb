/**
 * The Indicator-Centric Schema catalogue (schema/ics-catalogue.json): which indicators exist, which LOINC codes
 * map to them, and their units, ranges and fixed-point scales. Loaded and validated on first use.
 *
 * Two kinds: measurements (Observations with a LOINC code and a unit) and demographics (birth_year, sex: an
 * element of a FHIR Patient or a CSV column, no LOINC code, no unit; normalise-patient.ts). Past the catalogue
 * a demographic is an indicator like any other (shares, grants, queries, reads), stored with the unit '1'.
 */
import { CatalogueError } from './errors';
import { describeAjvErrors, readSchemaJson, validatorFor } from './schemas';

export const LOINC_SYSTEM = 'http://loinc.org';

/** Where a demographic is read from: the FHIR Patient element and the CSV column. */
export interface DemographicSource {
  fhir: 'birthDate' | 'gender';
  csv: string;
}

/** The unit every demographic record carries: UCUM's unity (a year number or a code has no unit). */
export const DEMOGRAPHIC_UNIT = '1';

export interface Indicator {
  name: string;
  display: string;
  /** 'measurement' (absent in the catalogue file) or 'demographic'. */
  kind: 'measurement' | 'demographic';
  /** Demographics: where the value is read from. */
  source?: DemographicSource;
  /** Coded demographics (sex): the code as sent -> the integer stored. */
  codes?: Record<string, number>;
  /** LOINC codes (none for a demographic). */
  loinc: string[];
  /** UCUM code every stored value is expressed in (DEMOGRAPHIC_UNIT for a demographic). */
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

/** A measurement as the catalogue file lists it (`kind` may be omitted). */
export type MeasurementEntry = Omit<Indicator, 'kind' | 'source' | 'codes'> & { kind?: 'measurement' };

/** A demographic as the catalogue file lists it: no LOINC code, no unit. */
export interface DemographicEntry extends Pick<Indicator, 'name' | 'display' | 'range' | 'histogramEdges'> {
  kind: 'demographic';
  source: DemographicSource;
  codes?: Record<string, number>;
  valueType: 'integer';
  scale: 0;
}

export type CatalogueEntry = MeasurementEntry | DemographicEntry;

export const isDemographicEntry = (e: CatalogueEntry): e is DemographicEntry => e.kind === 'demographic';

export interface CatalogueData {
  version: number;
  codeSystem: string;
  indicators: CatalogueEntry[];
  panels: Panel[];
}

/** A catalogue entry as the rest of HGD sees it: a demographic has no codes and the unit '1'. */
function indicatorOf(e: CatalogueEntry): Indicator {
  if (!isDemographicEntry(e)) return { ...e, kind: 'measurement' };
  return { ...e, loinc: [], canonicalUnit: DEMOGRAPHIC_UNIT, acceptedUnits: [DEMOGRAPHIC_UNIT], aliases: {} };
}

export const isDemographic = (ind: Indicator): boolean => ind.kind === 'demographic';

export class Catalogue {
  readonly version: number;
  readonly indicators: readonly Indicator[];
  readonly panels: readonly Panel[];
  private readonly byNameMap = new Map<string, Indicator>();
  private readonly byCodeMap = new Map<string, Indicator>();
  private readonly panelMap = new Map<string, Panel>();

  constructor(data: CatalogueData) {
    this.version = data.version;
    this.indicators = data.indicators.map(indicatorOf);
    this.panels = data.panels;
    for (const ind of this.indicators) {
      this.byNameMap.set(ind.name, ind);
      for (const code of ind.loinc) this.byCodeMap.set(code, ind);
    }
    for (const p of data.panels) this.panelMap.set(p.loinc, p);
  }

  names(): string[] {
    return this.indicators.map((i) => i.name);
  }

  /** The demographics (birth_year, sex), in catalogue order. */
  demographics(): Indicator[] {
    return this.indicators.filter(isDemographic);
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

/** Checks every indicator shares: range, histogram edges, scale. */
function entryProblems(at: string, ind: CatalogueEntry): string[] {
  const problems: string[] = [];
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
  return problems;
}

/** A measurement's LOINC codes (each owned by one indicator) and units. */
function measurementProblems(at: string, ind: MeasurementEntry, codeOwner: Map<string, string>): string[] {
  const problems: string[] = [];
  for (const code of ind.loinc) {
    const owner = codeOwner.get(code);
    if (owner !== undefined) problems.push(`${at}: LOINC ${code} is already mapped to ${owner}`);
    else codeOwner.set(code, ind.name);
  }
  if (!ind.acceptedUnits.includes(ind.canonicalUnit)) problems.push(`${at}: canonicalUnit ${ind.canonicalUnit} is not in acceptedUnits`);
  for (const [alias, target] of Object.entries(ind.aliases)) {
    if (!ind.acceptedUnits.includes(target)) problems.push(`${at}: alias "${alias}" -> "${target}" is not an accepted unit`);
  }
  if (ind.conversion === 'hba1c-ifcc-ngsp') {
    if (ind.canonicalUnit !== '%') problems.push(`${at}: hba1c-ifcc-ngsp needs canonicalUnit %`);
    for (const u of ind.acceptedUnits) {
      if (u !== '%' && u !== 'mmol/mol') problems.push(`${at}: hba1c-ifcc-ngsp accepts only % and mmol/mol, not ${u}`);
    }
  }
  return problems;
}

/** A demographic's source (one indicator an element, one a CSV column) and codes (distinct, in the range). */
function demographicProblems(at: string, ind: DemographicEntry, sources: Set<string>): string[] {
  const problems: string[] = [];
  for (const key of [`fhir:${ind.source.fhir}`, `csv:${ind.source.csv}`]) {
    if (sources.has(key)) problems.push(`${at}: source ${key} is already read into another demographic`);
    sources.add(key);
  }
  if (ind.source.fhir === 'gender' && !ind.codes) problems.push(`${at}: a demographic read from gender needs codes`);
  const values = Object.values(ind.codes ?? {});
  if (new Set(values).size !== values.length) problems.push(`${at}: two codes are stored as the same integer`);
  for (const v of values) if (v < ind.range.min || v >= ind.range.max) problems.push(`${at}: code value ${v} is outside [range.min, range.max)`);
  return problems;
}

/** Semantic checks JSON Schema cannot express. Returns human-readable problems (empty when fine). */
export function catalogueProblems(data: CatalogueData): string[] {
  const problems: string[] = [];
  const names = new Set<string>();
  const codeOwner = new Map<string, string>();
  const sources = new Set<string>();
  for (const [i, ind] of data.indicators.entries()) {
    const at = `indicators[${i}] (${ind.name})`;
    if (names.has(ind.name)) problems.push(`${at}: duplicate indicator name`);
    names.add(ind.name);
    problems.push(...entryProblems(at, ind));
    problems.push(...(isDemographicEntry(ind) ? demographicProblems(at, ind, sources) : measurementProblems(at, ind, codeOwner)));
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
      else if (isDemographicEntry(ind) || !ind.loinc.includes(code)) {
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

/** Codes an indicator by its HGD name: for demographics (birth_year, sex), which have no LOINC code. */
export const INDICATOR_SYSTEM = 'urn:hgd:indicator';

/** The coding of an indicator (FHIR Consent, exports): its first LOINC code, else its name in urn:hgd:indicator. */
export function indicatorCoding(name: string): { system: string; code: string; display: string } {
  const ind = getIndicator(name);
  const loinc = ind?.loinc[0];
  return loinc ? { system: LOINC_SYSTEM, code: loinc, display: ind!.display } : { system: INDICATOR_SYSTEM, code: name, display: ind?.display ?? name };
}

export function indicatorByCode(system: string | undefined, code: string | undefined): Indicator | undefined {
  return catalogue().byCode(system, code);
}

export function panelByCode(system: string | undefined, code: string | undefined): Panel | undefined {
  return catalogue().panelByCode(system, code);
}

/** One indicator as GET /catalogue shows it: a demographic with no codes, no unit, and where it is read from. */
function publicIndicator(i: Indicator) {
  const common = { name: i.name, display: i.display, kind: i.kind };
  const tail = { valueType: i.valueType, range: i.range, scale: i.scale, histogramEdges: i.histogramEdges };
  if (i.kind === 'demographic') {
    return {
      ...common, codes: [], canonicalUnit: null, acceptedUnits: [], aliases: {},
      source: { fhir: `Patient.${i.source!.fhir}`, csv: i.source!.csv }, ...(i.codes ? { valueCodes: i.codes } : {}), ...tail,
    };
  }
  return {
    ...common,
    codes: i.loinc.map((code) => ({ system: LOINC_SYSTEM, code })),
    canonicalUnit: i.canonicalUnit,
    acceptedUnits: i.acceptedUnits,
    aliases: i.aliases,
    ...(i.molarMass !== undefined ? { molarMass: i.molarMass } : {}),
    ...(i.charge !== undefined ? { charge: i.charge } : {}),
    conversion: i.conversion ?? 'ucum',
    ...tail,
  };
}

/** The catalogue as GET /catalogue publishes it: what a provider can send and what HGD makes of it. */
export function publicCatalogue(cat: Catalogue = catalogue()) {
  return {
    version: cat.version,
    indicators: cat.indicators.map(publicIndicator),
    panels: cat.panels.map((p) => ({
      code: { system: LOINC_SYSTEM, code: p.loinc },
      display: p.display,
      components: Object.entries(p.components).map(([code, indicator]) => ({ code: { system: LOINC_SYSTEM, code }, indicator })),
    })),
  };
}
