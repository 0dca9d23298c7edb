import { strict as assert } from 'node:assert';
import { UcumLhcUtils } from '@lhncbc/ucum-lhc';
import { UnitError, ValidationError, ValueError } from '../management-layer/errors';
import {
  cleanUnit,
  convertToCanonical,
  ifccToNgsp,
  resolveUnit,
  roundToScale,
  toCanonical,
} from '../management-layer/units';

const unitError = (indicator: string, unit: string) => (e: unknown) =>
  e instanceof UnitError && e instanceof ValidationError && e.code === 'invalid_input' &&
  e.message.includes(`"${unit}"`) && e.message.includes(indicator) && e.indicator === indicator;

describe('units: toCanonical', () => {
  it('glucose 100 mg/dL -> 5.55 mmol/L (5.5507 before rounding)', () => {
    assert.equal(convertToCanonical('glucose', 100, 'mg/dL').toFixed(4), '5.5507');
    assert.deepEqual(toCanonical('glucose', 100, 'mg/dL'), { value: 5.55, unit: 'mmol/L' });
    assert.deepEqual(toCanonical('glucose', 100, 'mg/dl'), { value: 5.55, unit: 'mmol/L' });
  });

  it('185 [lb_av] -> 83.91 kg, and lbs is an alias', () => {
    assert.deepEqual(toCanonical('body_weight', 185, '[lb_av]'), { value: 83.91, unit: 'kg' });
    assert.deepEqual(toCanonical('body_weight', 185, 'lbs'), { value: 83.91, unit: 'kg' });
    assert.deepEqual(toCanonical('body_weight', 3400, 'g'), { value: 3.4, unit: 'kg' });
  });

  it('HbA1c: 6.5 % stays 6.5; 48 mmol/mol -> 6.54 % by the IFCC-NGSP equation, never through UCUM', () => {
    assert.deepEqual(toCanonical('hba1c', 6.5, '%'), { value: 6.5, unit: '%' });
    assert.deepEqual(toCanonical('hba1c', 48, 'mmol/mol'), { value: 6.54, unit: '%' });
    assert.equal(ifccToNgsp(48), 0.09148 * 48 + 2.152);
    // What UCUM alone would have done: 48 mmol/mol = 4.8 %, and 6.5 % = 65 mmol/mol. Both are wrong for HbA1c.
    const utils = UcumLhcUtils.getInstance();
    assert.equal(utils.convertUnitTo('mmol/mol', 48, '%').toVal, 4.8);
    assert.notEqual(toCanonical('hba1c', 48, 'mmol/mol').value, 4.8);
    assert.throws(() => toCanonical('hba1c', 42, 'mmol/L'), unitError('hba1c', 'mmol/L'));
    assert.throws(() => toCanonical('hba1c', 0.065, '1'), unitError('hba1c', '1'));
  });

  it('rejects C (coulomb) for body temperature even though it is valid UCUM', () => {
    assert.equal(UcumLhcUtils.getInstance().validateUnitString('C').status, 'valid');
    assert.throws(() => toCanonical('body_temp', 37, 'C'), unitError('body_temp', 'C'));
    assert.throws(() => toCanonical('body_temp', 310, 'K'), unitError('body_temp', 'K'));
  });

  it('98.6 [degF] -> 37 Cel; degC is an alias', () => {
    assert.deepEqual(toCanonical('body_temp', 98.6, '[degF]'), { value: 37, unit: 'Cel' });
    assert.deepEqual(toCanonical('body_temp', 36.6, 'degC'), { value: 36.6, unit: 'Cel' });
  });

  it('WBC in K/ul is taken as 10*3/uL, numerically equal in 10*9/L', () => {
    assert.equal(resolveUnit('wbc', 'K/ul'), '10*3/uL');
    assert.deepEqual(toCanonical('wbc', 31.9, 'K/ul'), { value: 31.9, unit: '10*9/L' });
    assert.deepEqual(toCanonical('wbc', 7.25, '10(9)/L'), { value: 7.25, unit: '10*9/L' });
    assert.deepEqual(toCanonical('platelets', 84, 'K/uL'), { value: 84, unit: '10*9/L' });
    // Without the alias K/uL would be kelvin per microlitre, valid UCUM with the wrong meaning.
    assert.equal(UcumLhcUtils.getInstance().validateUnitString('K/uL').status, 'valid');
  });

  it('other aliases and conversions', () => {
    assert.deepEqual(toCanonical('bp_systolic', 120, 'mmHg'), { value: 120, unit: 'mm[Hg]' });
    assert.deepEqual(toCanonical('bp_systolic', 16, 'kPa'), { value: 120, unit: 'mm[Hg]' });
    assert.deepEqual(toCanonical('heart_rate', 72, 'bpm'), { value: 72, unit: '/min' });
    assert.deepEqual(toCanonical('body_height', 66.89999999999999, '[in_i]'), { value: 169.9, unit: 'cm' });
    assert.deepEqual(toCanonical('bmi', 22.46, 'kg/m^2'), { value: 22.5, unit: 'kg/m2' });
    assert.deepEqual(toCanonical('sodium', 139, 'mEq/L'), { value: 139, unit: 'mmol/L' });
    assert.deepEqual(toCanonical('creatinine', 1, 'mg/dL'), { value: 88.4, unit: 'umol/L' });
    assert.deepEqual(toCanonical('creatinine', 0.09, 'mmol/L'), { value: 90, unit: 'umol/L' });
    assert.deepEqual(toCanonical('chol_total', 200, 'mg/dL'), { value: 5.17, unit: 'mmol/L' });
    assert.deepEqual(toCanonical('hemoglobin', 176, 'g/L'), { value: 17.6, unit: 'g/dL' });
    assert.deepEqual(toCanonical('sleep_duration', 450, 'min'), { value: 7.5, unit: 'h' });
    assert.deepEqual(toCanonical('steps', 8432, 'steps'), { value: 8432, unit: '{steps}/d' });
  });

  it('cleans unit strings: whitespace and zero-width characters', () => {
    assert.equal(cleanUnit(' \u200Bmg/\u200DdL\uFEFF '), 'mg/dL');
    assert.deepEqual(toCanonical('glucose', 100, '\u200Bmg/dL '), { value: 5.55, unit: 'mmol/L' });
    assert.throws(() => toCanonical('glucose', 5, '  '), UnitError);
  });

  it('rejects units not accepted for the indicator, naming unit and indicator', () => {
    assert.throws(() => toCanonical('glucose', 5, 'mmol'), unitError('glucose', 'mmol'));
    assert.throws(() => toCanonical('heart_rate', 60, 'Hz'), unitError('heart_rate', 'Hz'));
    assert.throws(() => toCanonical('body_weight', 70, 'KG'), unitError('body_weight', 'KG'));
    assert.throws(() => toCanonical('glucose', 5, '__proto__'), unitError('glucose', '__proto__'));
    assert.throws(() => toCanonical('glucose', 5, 'constructor'), unitError('glucose', 'constructor'));
  });

  it('rejects values outside the plausible range (after conversion)', () => {
    assert.throws(() => toCanonical('glucose', 100, 'mmol/L'), (e: unknown) =>
      e instanceof ValueError && /outside the plausible range for glucose/.test(e.message));
    assert.throws(() => toCanonical('body_temp', 50, 'Cel'), ValueError);
    assert.throws(() => toCanonical('body_temp', 50, '[degF]'), ValueError); // 10 Cel
    assert.throws(() => toCanonical('spo2', 101, '%'), ValueError);
    assert.deepEqual(toCanonical('spo2', 100, '%'), { value: 100, unit: '%' });
  });

  it('integer indicators must be integers; non-finite values are rejected', () => {
    assert.throws(() => toCanonical('steps', 1000.5, 'steps'), (e: unknown) => e instanceof ValueError && /integer/.test(e.message));
    assert.throws(() => toCanonical('glucose', Number.NaN, 'mmol/L'), ValueError);
    assert.throws(() => toCanonical('glucose', Number.POSITIVE_INFINITY, 'mmol/L'), ValueError);
  });

  it('unknown indicator is a ValidationError', () => {
    assert.throws(() => toCanonical('shoe_size', 42, 'cm'), ValidationError);
  });
});

describe('units: roundToScale', () => {
  it('rounds half away from zero without float noise', () => {
    assert.equal(roundToScale(1.005, 2), 1.01);
    assert.equal(roundToScale(5.550744909966919, 2), 5.55);
    assert.equal(roundToScale(83.91458845000001, 2), 83.91);
    assert.equal(roundToScale(2.5, 0), 3);
    assert.equal(roundToScale(-2.5, 0), -3);
    assert.ok(Object.is(roundToScale(-0.0001, 2), 0));
  });
});
