import { strict as assert } from 'node:assert';
import { initialState, parseCondition, step, type Condition } from '../management-layer/monitoring/conditions';

const run = (c: Condition, readings: Array<[number, number]>) => {
  let state = initialState(c);
  const fired: number[] = [];
  for (const [minute, value] of readings) {
    const r = step(c, state, { value, at: minute * 60_000 });
    state = r.state;
    if (r.fire) fired.push(minute);
  }
  return fired;
};

describe('alert conditions (parse and evaluate)', () => {
  it('parses the issue’s examples, converting the threshold to the canonical unit', () => {
    assert.deepEqual(parseCondition('spo2 < 90', 'spo2'), { indicator: 'spo2', op: '<', threshold: 90, window: { kind: 'edge' } });
    assert.deepEqual(parseCondition('heart_rate > 130 for 5 min', 'heart_rate').window, { kind: 'for', ms: 300_000 });
    assert.deepEqual(parseCondition('glucose > 13.9 mmol/L twice in 1 h', 'glucose'), { indicator: 'glucose', op: '>', threshold: 13.9, window: { kind: 'count', times: 2, ms: 3_600_000 } });
    assert.equal(parseCondition('glucose > 250 mg/dL', 'glucose').threshold, 13.88);
    assert.deepEqual(parseCondition('heart_rate >= 50 3 times in 10 min', 'heart_rate').window, { kind: 'count', times: 3, ms: 600_000 });
  });

  it('refuses what it cannot read, naming the field', () => {
    for (const [text, indicator] of [['spo2 < 90', 'heart_rate'], ['spo2 == 90', 'spo2'], ['spo2 < low', 'spo2'], ['spo2 < 90 furlongs', 'spo2'], ['spo2 < 90 for 5 fortnights', 'spo2'], ['spo2 < 90 twice within 1 h', 'spo2'], ['spo2 < 90 for 30 h extra', 'spo2'], ['spo2 < 90 for 8000 h', 'spo2']] as const) {
      assert.throws(() => parseCondition(text, indicator), (e: { field?: string }) => e.field === 'condition', text);
    }
  });

  it('a plain threshold fires on crossing, once per run, and re-arms', () => {
    assert.deepEqual(run(parseCondition('spo2 < 90', 'spo2'), [[0, 95], [1, 89], [2, 88], [3, 92], [4, 87]]), [1, 4]);
  });

  it('a "for 5 min" rule fires once, not on every reading, and resets when the run breaks', () => {
    const c = parseCondition('heart_rate > 130 for 5 min', 'heart_rate');
    const readings: Array<[number, number]> = Array.from({ length: 12 }, (_, m) => [m, 140]);
    assert.deepEqual(run(c, readings), [5]);
    assert.deepEqual(run(c, [[0, 140], [3, 140], [4, 120], [5, 140], [9, 140], [10, 141], [11, 150]]), [10]);
  });

  it('"twice in 1 h" needs two readings within the hour and then two new ones', () => {
    const c = parseCondition('glucose > 13.9 mmol/L twice in 1 h', 'glucose');
    assert.deepEqual(run(c, [[0, 15], [61, 15], [90, 16], [100, 16], [110, 10], [130, 17], [240, 17]]), [90, 130]);
  });

  it('ignores a reading older than the latest one in a windowed rule', () => {
    const c = parseCondition('heart_rate > 130 for 5 min', 'heart_rate');
    assert.deepEqual(run(c, [[0, 140], [4, 140], [2, 100], [5, 140]]), [5]);
  });
});
