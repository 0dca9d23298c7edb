import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import {
  LOINC_SYSTEM,
  catalogue,
  catalogueProblems,
  getIndicator,
  indicatorByCode,
  loadCatalogue,
  panelByCode,
  type CatalogueData,
  type DemographicEntry,
  type MeasurementEntry,
} from '../management-layer/catalogue';
import { CatalogueError } from '../management-layer/errors';
import { catalogueUnitProblems, isValidUcum } from '../management-layer/units';

const raw = (): CatalogueData => JSON.parse(readFileSync(new URL('../schema/ics-catalogue.json', import.meta.url), 'utf8'));
/** A measurement of the raw catalogue, by name. */
const measurement = (data: CatalogueData, name: string) => data.indicators.find((i) => i.name === name && i.kind !== 'demographic') as MeasurementEntry | undefined;

const STARTER = [
  'heart_rate', 'bp_systolic', 'bp_diastolic', 'resp_rate', 'spo2', 'body_temp', 'body_weight', 'body_height', 'bmi',
  'glucose', 'hba1c', 'chol_total', 'hdl', 'ldl', 'triglycerides', 'creatinine', 'sodium', 'potassium', 'hemoglobin',
  'wbc', 'platelets', 'steps', 'sleep_duration', 'hrv_sdnn',
];

describe('ICS catalogue', () => {
  it('validates and has at least 25 indicators, including the 24 starters', () => {
    const cat = catalogue();
    assert.ok(cat.indicators.length >= 25, `only ${cat.indicators.length} indicators`);
    for (const name of STARTER) assert.ok(getIndicator(name), `missing ${name}`);
    assert.ok(getIndicator('waist_circumference'));
    assert.deepEqual(catalogueProblems(raw()), []);
  });

  it('every alias resolves to an accepted unit that UCUM accepts', () => {
    let aliases = 0;
    for (const ind of catalogue().indicators) {
      for (const [alias, target] of Object.entries(ind.aliases)) {
        aliases++;
        assert.ok(ind.acceptedUnits.includes(target), `${ind.name}: ${alias} -> ${target} not accepted`);
        assert.ok(isValidUcum(target), `${ind.name}: ${target} is not valid UCUM`);
      }
    }
    assert.ok(aliases > 30);
  });

  it('every accepted unit is valid UCUM and converts to the canonical unit', () => {
    assert.deepEqual(catalogueUnitProblems(), []);
  });

  it('the aliases for the known traps are there', () => {
    const alias = (ind: string, unit: string) => getIndicator(ind)?.aliases[unit];
    assert.equal(alias('bp_systolic', 'mmHg'), 'mm[Hg]');
    assert.equal(alias('heart_rate', 'bpm'), '/min');
    assert.equal(alias('body_weight', 'lbs'), '[lb_av]');
    assert.equal(alias('wbc', 'K/uL'), '10*3/uL');
    assert.equal(alias('wbc', 'K/ul'), '10*3/uL');
    assert.equal(alias('wbc', '10(9)/L'), '10*9/L');
    assert.equal(alias('body_temp', 'degC'), 'Cel');
    assert.equal(alias('body_height', 'in'), '[in_i]');
    assert.equal(alias('bmi', 'kg/m^2'), 'kg/m2');
    assert.ok(!getIndicator('body_temp')?.acceptedUnits.includes('C'));
  });

  it('looks up indicators by LOINC code, and only for the LOINC system', () => {
    assert.equal(indicatorByCode(LOINC_SYSTEM, '8462-4')?.name, 'bp_diastolic');
    assert.equal(indicatorByCode(LOINC_SYSTEM, '8480-6')?.name, 'bp_systolic');
    assert.equal(indicatorByCode(LOINC_SYSTEM, '8867-4')?.name, 'heart_rate');
    assert.equal(indicatorByCode(LOINC_SYSTEM, '13457-7')?.name, 'ldl');
    assert.equal(indicatorByCode(LOINC_SYSTEM, '35200-5')?.name, 'chol_total');
    assert.equal(indicatorByCode('http://snomed.info/sct', '8867-4'), undefined);
    assert.equal(indicatorByCode(LOINC_SYSTEM, '11555-0'), undefined);
    assert.equal(indicatorByCode(LOINC_SYSTEM, '85354-9'), undefined);
  });

  it('has the blood-pressure panel with the right components', () => {
    const bp = panelByCode(LOINC_SYSTEM, '85354-9');
    assert.deepEqual(bp?.components, { '8480-6': 'bp_systolic', '8462-4': 'bp_diastolic' });
  });

  it('has consistent scales, ranges and histogram edges', () => {
    for (const ind of catalogue().indicators) {
      assert.equal(ind.histogramEdges[0], ind.range.min, ind.name);
      assert.equal(ind.histogramEdges.at(-1), ind.range.max, ind.name);
      if (ind.valueType === 'integer') assert.equal(ind.scale, 0, ind.name);
    }
    assert.equal(getIndicator('glucose')?.scale, 2);
    assert.equal(getIndicator('steps')?.scale, 0);
    assert.equal(getIndicator('steps')?.valueType, 'integer');
  });

  it('has the demographics birth_year and sex: no LOINC code, unit 1, codes for sex, decades for birth_year', () => {
    const sex = getIndicator('sex');
    const year = getIndicator('birth_year');
    assert.deepEqual([sex?.kind, sex?.loinc, sex?.canonicalUnit, sex?.source], ['demographic', [], '1', { fhir: 'gender', csv: 'sex' }]);
    assert.deepEqual(sex?.codes, { unknown: 0, female: 1, male: 2, other: 3 });
    assert.deepEqual(sex?.histogramEdges, [0, 1, 2, 3, 4]);
    assert.deepEqual([year?.kind, year?.valueType, year?.scale, year?.source?.fhir], ['demographic', 'integer', 0, 'birthDate']);
    assert.ok(year?.histogramEdges.every((e, k, all) => k === 0 || e - all[k - 1]! === 10), 'one bucket a decade');
    assert.equal(getIndicator('heart_rate')?.kind, 'measurement');
    assert.deepEqual(catalogue().demographics().map((d) => d.name), ['birth_year', 'sex']);
  });

  describe('rejects a broken catalogue with a clear error', () => {
    it('schema violation', () => {
      const data = raw();
      delete (data.indicators[0] as Partial<MeasurementEntry>).canonicalUnit;
      assert.throws(() => loadCatalogue(data), (e: unknown) =>
        e instanceof CatalogueError && /ICS catalogue is invalid/.test(e.message) && /canonicalUnit/.test(e.message));
    });

    it('a demographic with a LOINC code or a unit is a schema violation', () => {
      const data = raw();
      (data.indicators.find((i) => i.name === 'sex') as DemographicEntry & { loinc?: string[] }).loinc = ['76689-9'];
      assert.throws(() => loadCatalogue(data), (e: unknown) => e instanceof CatalogueError && /\/loinc is not allowed/.test(e.message));
    });

    it('demographics sharing a source, codes outside the range or repeated, gender without codes, a panel component on a demographic', () => {
      const data = raw();
      const demo = (name: string) => data.indicators.find((i) => i.name === name) as DemographicEntry;
      demo('birth_year').source = { fhir: 'gender', csv: 'sex' };
      demo('sex').codes = { unknown: 0, female: 1, male: 1, other: 4 };
      data.panels[0]!.components['8480-6'] = 'sex';
      const problems = catalogueProblems(data);
      for (const p of ['a demographic read from gender needs codes', 'source fhir:gender is already read', 'source csv:sex is already read', 'two codes are stored as the same integer', 'code value 4 is outside', 'maps to sex, but sex does not list that code']) {
        assert.ok(problems.some((x) => x.includes(p)), `${p}\n${problems.join('\n')}`);
      }
    });

    it('diastolic mapped to 8867-4 (heart rate)', () => {
      const data = raw();
      const panel = data.panels[0];
      assert.ok(panel);
      panel.components = { '8480-6': 'bp_systolic', '8867-4': 'bp_diastolic' };
      assert.throws(() => loadCatalogue(data), (e: unknown) =>
        e instanceof CatalogueError && /8867-4 maps to bp_diastolic/.test(e.message) && /heart_rate/.test(e.message));
    });

    it('alias to a unit that is not accepted, duplicate code, edges not increasing', () => {
      const data = raw();
      const temp = measurement(data, 'body_temp');
      const hr = measurement(data, 'heart_rate');
      assert.ok(temp && hr);
      temp.aliases.C = 'K';
      hr.loinc.push('8310-5');
      hr.histogramEdges = [20, 100, 90, 300];
      const problems = catalogueProblems(data);
      assert.ok(problems.some((p) => p.includes('"C" -> "K"')), problems.join('\n'));
      assert.ok(problems.some((p) => p.includes('8310-5 is already mapped')), problems.join('\n'));
      assert.ok(problems.some((p) => p.includes('strictly increasing')), problems.join('\n'));
      assert.throws(() => loadCatalogue(data), CatalogueError);
    });
  });
});
