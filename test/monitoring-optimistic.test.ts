/**
 * The rule engine's two paths (management-layer/monitoring/engine.ts): a batch that fires nothing is
 * saved in one statement from an unlocked read, only if no window state was written since; a batch
 * that fires, or whose states moved on (a rule edit), is evaluated under locks. Played as the race a
 * rule edit makes with an evaluation in flight.
 */
import { strict as assert } from 'node:assert';
import { liveRulesOf, saveIfCurrent, stepRules } from '../management-layer/monitoring/engine';
import type { IcsRecord } from '../management-layer/ics-record';
import { bundle, minute, MRN, observation } from './support/care';
import { startTestGateway, type TestGateway } from './support/gateway';

describe('rule evaluation: one statement when nothing fires, locks when something does or a rule changed', function () {
  this.timeout(60_000);
  let t: TestGateway;
  let patient: string;
  let token: string;
  const upload = (resources: unknown[]) =>
    t.request('POST', '/patients/me/readings', { token, body: JSON.stringify(bundle(resources)), contentType: 'application/json' });
  const reading = (id: string, indicator: string, value: number, m: number) => ({ ...observation(id, 'O-1', indicator, value, minute(m)), subject: undefined });
  const createRule = async (indicator: string, condition: string) => (await t.gateway.monitoring.rules.create(patient, { indicator, condition, notify: ['patient'] }, 'test')).id;
  const stateOf = async (ruleId: string) => (await t.gateway.db.knex('monitoring_rule_state').where({ rule_id: ruleId }).first('state', 'epoch')) as { state: unknown; epoch: number | string };
  const marked = async (batchId: string) => Boolean(await t.gateway.db.knex('monitoring_batches').where({ batch_id: batchId }).first('batch_id'));
  /** A stored record as the engine gets it from ingest. */
  const record = (id: string, indicator: string, value: number, m: number): IcsRecord & { id: string } =>
    ({ id, patient, indicator, value, unit: indicator === 'spo2' ? '%' : '/min', effectiveStart: minute(m), effectiveEnd: null, provenance: { source: 'test' } }) as unknown as IcsRecord & { id: string };

  /** The SQL the gateway sends while `run` runs. */
  const statements = async (run: () => Promise<unknown>) => {
    const seen: string[] = [];
    const listener = (q: { sql: string }) => seen.push(q.sql);
    t.gateway.db.knex.on('query', listener);
    try {
      await run();
      await t.gateway.monitoring.monitor.idle();
    } finally {
      t.gateway.db.knex.removeListener('query', listener);
    }
    return { locked: seen.filter((s) => /for update of/i.test(s)).length, optimistic: seen.filter((s) => s.includes('hgd_monitoring_current')).length };
  };

  before(async () => {
    t = await startTestGateway();
    patient = t.gateway.ingest.pseudonymOf(MRN, 'O-1');
    token = await t.patientToken(MRN, 'O-1');
  });
  after(() => t.close());

  it('a batch that fires nothing takes the one-statement path; a batch that fires takes the locked path and raises its alert', async () => {
    const rule = await createRule('spo2', 'spo2 < 90');
    const quiet = await statements(() => upload([94, 95].map((v, k) => reading(`q-${k}`, 'spo2', v, k))));
    assert.deepEqual(quiet, { locked: 0, optimistic: 1 });
    assert.deepEqual((await stateOf(rule)).state, { kind: 'edge', active: false });
    assert.equal(Number((await stateOf(rule)).epoch), 1, 'the save bumped the epoch');
    const firing = await statements(() => upload([reading('f-0', 'spo2', 88, 5)]));
    assert.deepEqual(firing, { locked: 1, optimistic: 0 });
    const alerts = (await t.request('GET', '/patients/me/alerts', { token })).body.alerts as Array<{ ruleId: string; detail: { value: number } }>;
    assert.deepEqual(alerts.filter((a) => a.ruleId === rule).map((a) => a.detail.value), [88]);
    assert.equal(Number((await stateOf(rule)).epoch), 2);
  });

  it('a rule edit between the read and the save: nothing is written (all or nothing), and the locked path steps with the edited rule', async () => {
    const hr = await createRule('heart_rate', 'heart_rate > 130 for 5 min');
    const spo2 = (await liveRulesOf(t.gateway.db.knex, [patient])).find((r) => r.indicator === 'spo2')!.id;
    const batch = [record('r-0', 'heart_rate', 120, 10), record('r-1', 'heart_rate', 125, 11), record('r-2', 'spo2', 97, 10)];
    const stepped = stepRules(await liveRulesOf(t.gateway.db.knex, [patient]), batch);
    assert.equal(stepped.length, 2);
    assert.ok(stepped.every((s) => s.hits.length === 0), 'nothing fires under the read rules');
    const spo2Before = await stateOf(spo2);
    // The patient lowers the threshold meanwhile: the condition changed, so its window state resets (and its epoch moves).
    await t.gateway.monitoring.rules.update(patient, hr, { condition: 'heart_rate > 100 for 5 min' }, 'test');
    assert.equal(await saveIfCurrent(t.gateway.db.knex, 'race-1', stepped), false, 'the states moved on');
    assert.equal(await marked('race-1'), false, 'the batch is not marked: it is still to evaluate');
    assert.deepEqual((await stateOf(hr)).state, { kind: 'for', since: null, fired: false, last: null }, 'the reset state stands');
    assert.deepEqual(await stateOf(spo2), spo2Before, 'the other rule’s state, current at the read, was not written either');
    // Evaluated again from a fresh read (what the engine does, under locks), the edited rule counts the readings as met.
    const again = stepRules(await liveRulesOf(t.gateway.db.knex, [patient]), batch);
    assert.deepEqual(again.find((s) => s.rule.id === hr)!.state, { kind: 'for', since: Date.parse(minute(10)), fired: false, last: Date.parse(minute(11)) });
    assert.equal(await saveIfCurrent(t.gateway.db.knex, 'race-1', again), true);
    assert.equal(await marked('race-1'), true);
    assert.deepEqual((await stateOf(hr)).state, { kind: 'for', since: Date.parse(minute(10)), fired: false, last: Date.parse(minute(11)) });
  });

  it('a batch marked already is not saved twice (a second evaluation of it writes nothing)', async () => {
    const hr = (await liveRulesOf(t.gateway.db.knex, [patient])).find((r) => r.indicator === 'heart_rate')!.id;
    const before = await stateOf(hr);
    const stepped = stepRules(await liveRulesOf(t.gateway.db.knex, [patient]), [record('r-9', 'heart_rate', 60, 20)]);
    assert.equal(await saveIfCurrent(t.gateway.db.knex, 'race-1', stepped), true, 'done already');
    assert.deepEqual(await stateOf(hr), before);
  });

  it('through ingest, a rule edited between batches is stepped with its new condition (no stale state survives)', async () => {
    const hr = (await liveRulesOf(t.gateway.db.knex, [patient])).find((r) => r.indicator === 'heart_rate')!.id;
    await t.gateway.monitoring.rules.update(patient, hr, { condition: 'heart_rate > 150 for 2 min' }, 'test');
    await statements(() => upload([160, 161, 162].map((v, k) => reading(`e-${k}`, 'heart_rate', v, 30 + k))));
    const alerts = (await t.request('GET', '/patients/me/alerts', { token })).body.alerts as Array<{ ruleId: string; detail: { value: number; condition: string } }>;
    assert.deepEqual(alerts.filter((a) => a.ruleId === hr).map((a) => [a.detail.condition, a.detail.value]), [['heart_rate > 150 for 2 min', 162]]);
  });
});
