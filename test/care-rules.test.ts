/* eslint-disable @typescript-eslint/no-explicit-any -- tests read whatever JSON came back */
import { strict as assert } from 'node:assert';
import { minute, MRN, observation } from './support/care';
import { startTestGateway, type TestGateway } from './support/gateway';

const JSON_TYPE = 'application/json';

/** Alert rules edited in place: by their owner, a ledger entry per change, the window state reset or kept, the history shown. */
describe('alert rules edited in place (PATCH) and their history', function () {
  this.timeout(60_000);
  let t: TestGateway;
  let alice: string;
  let bob: string;
  const send = (method: string, path: string, token: string, body?: unknown) => t.request(method, path, { token, ...(body === undefined ? {} : { body: JSON.stringify(body), contentType: JSON_TYPE }) });
  let n = 0;
  /** Alice's own heart-rate reading; returns the ids of the alerts of `ruleId` so far. */
  const reading = async (m: number, value: number, ruleId: string) => {
    const own = { ...observation(`hr-edit-${n++}`, 'A-1', 'heart_rate', value, minute(m)), subject: undefined };
    assert.equal((await send('POST', '/patients/me/readings', alice, own)).status, 200);
    return ((await send('GET', '/patients/me/alerts', alice)).body.alerts as any[]).filter((a) => a.ruleId === ruleId).map((a) => a.detail.recordId);
  };
  const entry = async (seq: number) => JSON.parse((await t.gateway.ledger.getEntry(seq)).canonical);

  before(async () => {
    t = await startTestGateway();
    alice = await t.patientToken(MRN, 'A-1');
    bob = await t.patientToken(MRN, 'B-1');
  });
  after(() => t.close());

  it('keeps the window state when only the recipients change, resets it when the condition changes, each change on the ledger', async () => {
    const created = await send('POST', '/patients/me/alert-rules', alice, { indicator: 'heart_rate', condition: 'heart_rate > 130 twice in 1 h' });
    assert.equal(created.status, 201, created.text);
    const id = created.body.id as string;
    assert.deepEqual(await reading(0, 140, id), []); // one hit of two

    const recipients = await send('PATCH', `/patients/me/alert-rules/${id}`, alice, { notify: ['patient', 'org:clinic-x'] });
    assert.equal(recipients.status, 200, recipients.text);
    assert.deepEqual([recipients.body.version, recipients.body.notify, recipients.body.condition], [2, ['patient', 'org:clinic-x'], 'heart_rate > 130 twice in 1 h']);
    assert.equal((await reading(1, 141, id)).length, 1, 'the hit before the edit still counts: the state was kept');

    assert.equal((await reading(2, 142, id)).length, 1, 'one hit of two under the old condition');
    const condition = await send('PATCH', `/patients/me/alert-rules/${id}`, alice, { condition: 'heart_rate > 120 twice in 1 h' });
    assert.equal(condition.status, 200, condition.text);
    assert.equal(condition.body.version, 3);
    // 142 at minute 2 was a hit under the old condition; kept, it would make 125 the second one.
    assert.equal((await reading(3, 125, id)).length, 1, 'one hit after the reset: no alert yet');
    assert.equal((await reading(4, 126, id)).length, 2, 'the second hit after the reset fires');

    const history = await send('GET', `/patients/me/alert-rules/${id}/history`, alice);
    assert.equal(history.status, 200, history.text);
    const versions = history.body.versions as any[];
    assert.deepEqual(versions.map((v) => [v.version, v.action, v.stateReset, v.changedBy]), [
      [1, 'created', false, `patient:${t.gateway.ingest.pseudonymOf(MRN, 'A-1')}`],
      [2, 'changed', false, `patient:${t.gateway.ingest.pseudonymOf(MRN, 'A-1')}`],
      [3, 'changed', true, `patient:${t.gateway.ingest.pseudonymOf(MRN, 'A-1')}`],
    ]);
    assert.deepEqual(versions.map((v) => v.condition), ['heart_rate > 130 twice in 1 h', 'heart_rate > 130 twice in 1 h', 'heart_rate > 120 twice in 1 h']);
    const ledger = await Promise.all(versions.map((v) => entry(v.ledgerSeq)));
    assert.deepEqual(ledger.map((e) => [e.kind, e.payload.action, e.payload.ruleId, e.payload.stateReset]), [
      ['monitoring', 'rule-created', id, undefined],
      ['monitoring', 'rule-changed', id, false],
      ['monitoring', 'rule-changed', id, true],
    ]);
    assert.deepEqual(ledger[2].payload.notify, ['patient', 'org:clinic-x']);

    const deleted = await send('DELETE', `/patients/me/alert-rules/${id}`, alice);
    assert.equal(deleted.status, 200);
    const after = (await send('GET', `/patients/me/alert-rules/${id}/history`, alice)).body.versions as any[];
    assert.deepEqual(after.map((v) => [v.version, v.action]).at(-1), [4, 'deleted']);
    assert.equal((await entry(after.at(-1).ledgerSeq)).payload.action, 'rule-deleted');
    assert.equal((await send('PATCH', `/patients/me/alert-rules/${id}`, alice, { condition: 'heart_rate > 100' })).status, 404, 'a deleted rule is not edited');
  });

  it('records nothing for an edit that changes nothing, refuses bad edits naming the field, and only the owner edits', async () => {
    const created = await send('POST', '/patients/me/alert-rules', alice, { indicator: 'spo2', condition: 'spo2 < 90' });
    const id = created.body.id as string;
    const head = async () => Number((await t.gateway.db.knex('ledger_entries').count<Array<{ n: string | number }>>('* as n'))[0]!.n);
    const before = await head();
    const same = await send('PATCH', `/patients/me/alert-rules/${id}`, alice, { condition: ' spo2  <  90 ', notify: ['patient'] });
    assert.deepEqual([same.status, same.body.version], [200, 1]);
    assert.equal(await head(), before, 'no ledger entry for a change that changes nothing');
    const cases: Array<[unknown, string]> = [
      [{ condition: 'heart_rate > 100' }, 'condition'],
      [{ condition: 'spo2 < ninety' }, 'condition'],
      [{ notify: [] }, 'notify'],
      [{ indicator: 'heart_rate' }, 'indicator'],
      [{}, 'body'],
    ];
    for (const [body, field] of cases) {
      const r = await send('PATCH', `/patients/me/alert-rules/${id}`, alice, body);
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
      assert.equal(r.body.field, field, JSON.stringify(body));
    }
    assert.equal((await send('GET', '/patients/me/alert-rules', alice)).body.rules.find((r: any) => r.id === id).condition, 'spo2 < 90');
    // Another patient can neither edit it nor see its history.
    assert.equal((await send('PATCH', `/patients/me/alert-rules/${id}`, bob, { condition: 'spo2 < 80' })).status, 404);
    assert.equal((await send('GET', `/patients/me/alert-rules/${id}/history`, bob)).status, 404);
  });

  it('a provider edits its own rule only while its TREAT grant covers the indicator, and the patient sees the change', async () => {
    const drB = await t.token({ role: 'provider', sub: 'dr-b', org: 'clinic-b' });
    const drC = await t.token({ role: 'provider', sub: 'dr-c', org: 'clinic-c' });
    const grant = await send('POST', '/patients/me/grants', alice, { grantee: 'clinic-b', indicators: ['glucose'], purpose: 'TREAT' });
    assert.equal(grant.status, 201, grant.text);
    const rule = await send('POST', '/care/alert-rules', drB, { patient: `${MRN}|A-1`, indicator: 'glucose', condition: 'glucose > 13.9 mmol/L twice in 1 h' });
    assert.equal(rule.status, 201, rule.text);
    const id = rule.body.id as string;
    const edited = await send('PATCH', `/care/alert-rules/${id}`, drB, { condition: 'glucose > 15 mmol/L twice in 1 h', notify: ['patient', 'org:clinic-b'] });
    assert.equal(edited.status, 200, edited.text);
    assert.equal((await send('PATCH', `/care/alert-rules/${id}`, drB, { notify: ['org:clinic-z'] })).status, 400);
    assert.equal((await send('PATCH', `/care/alert-rules/${id}`, drC, { condition: 'glucose > 20' })).status, 404, 'another organisation’s rule');
    const versions = (await send('GET', `/patients/me/alert-rules/${id}/history`, alice)).body.versions as any[];
    assert.deepEqual(versions.map((v) => [v.action, v.changedBy, v.stateReset]), [['created', 'provider:clinic-b', false], ['changed', 'provider:clinic-b', true]]);
    // Revoked: the same 403 as a read without a grant, and nothing changes.
    assert.equal((await send('DELETE', `/patients/me/grants/${grant.body.id}`, alice)).status, 200);
    const denied = await send('PATCH', `/care/alert-rules/${id}`, drB, { condition: 'glucose > 10' });
    assert.equal(denied.status, 403, denied.text);
    assert.equal(denied.body.error, 'no_treatment_grant');
    assert.equal((await send('GET', `/patients/me/alert-rules/${id}/history`, alice)).body.versions.length, 2);
  });
});
