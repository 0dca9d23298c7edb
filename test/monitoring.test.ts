/* eslint-disable @typescript-eslint/no-explicit-any -- tests read whatever JSON came back */
import { strict as assert } from 'node:assert';
import { createHmac } from 'node:crypto';
import express from 'express';
import { createGateway } from '../app/gateway';
import { alertsAbout } from '../management-layer/monitoring';
import { MRN, WEBHOOK_TEST_ENV, observation } from './support/care';
import { testConfig } from './support/config';
import { openTestDatabase } from './support/db';
import { startTestGateway, type TestGateway } from './support/gateway';
import { serve } from './support/http';
import { openSse } from './support/sse';

const JSON_TYPE = 'application/json';
const minute = (m: number) => new Date(Date.UTC(2025, 4, 1, 8, m)).toISOString();
const hr = (id: string, m: number, value: number) => ({ ...observation(id, 'A-1', 'heart_rate', value, minute(m)), subject: undefined });

describe('remote monitoring: rules at ingest, alerts over SSE and webhooks', function () {
  this.timeout(60_000);
  let t: TestGateway;
  let alice: string;
  const post = (path: string, token: string, body: unknown) => t.request('POST', path, { token, body: JSON.stringify(body), contentType: JSON_TYPE });
  const upload = (token: string, resources: unknown[]) => post('/patients/me/readings', token, { resourceType: 'Bundle', type: 'collection', entry: resources.map((resource) => ({ resource })) });

  before(async () => {
    t = await startTestGateway(WEBHOOK_TEST_ENV);
    alice = await t.patientToken(MRN, 'A-1');
  });
  after(() => t.close());

  it('a device stream crosses a threshold and the subscriber receives the alert within one second', async () => {
    const rule = await post('/patients/me/alert-rules', alice, { indicator: 'spo2', condition: 'spo2 < 90' });
    assert.equal(rule.status, 201, rule.text);
    const entry = JSON.parse((await t.gateway.ledger.getEntry(rule.body.ledgerSeq)).canonical);
    assert.deepEqual([entry.kind, entry.payload.action, entry.payload.condition], ['monitoring', 'rule-created', 'spo2 < 90']);
    const sse = await openSse(`${t.url}/alerts/stream`, alice);
    try {
      const readings = [95, 94, 91, 88].map((v, k) => ({ ...observation(`spo2-${k}`, 'A-1', 'spo2', v, minute(k)), subject: undefined }));
      await upload(alice, readings.slice(0, 3));
      const started = Date.now();
      await upload(alice, readings.slice(3));
      const event = await sse.next(1000);
      assert.ok(Date.now() - started < 1000);
      const alert = JSON.parse(event.data);
      assert.deepEqual([alert.kind, alert.ruleId, alert.detail.value, alert.detail.condition], ['rule', rule.body.id, 88, 'spo2 < 90']);
      assert.equal(event.id, String(alert.seq));
      const ledger = JSON.parse((await t.gateway.ledger.getEntry(alert.ledgerSeq)).canonical);
      assert.deepEqual([ledger.kind, ledger.payload.action, ledger.payload.alertId, ledger.payload.value], ['monitoring', 'alert', alert.id, undefined]);
      // The patient sees their alerts; a resumed stream replays only what came after Last-Event-ID.
      const mine = await t.request('GET', '/patients/me/alerts', { token: alice });
      assert.deepEqual(mine.body.alerts.map((a: any) => a.id), [alert.id]);
      const resumed = await openSse(`${t.url}/alerts/stream`, alice, '0');
      assert.equal(JSON.parse((await resumed.next(1000)).data).id, alert.id);
      resumed.close();
    } finally {
      sse.close();
    }
  });

  it('a "for 5 min" rule fires once, not on every reading', async () => {
    const rule = await post('/patients/me/alert-rules', alice, { indicator: 'heart_rate', condition: 'heart_rate > 130 for 5 min' });
    assert.equal(rule.status, 201, rule.text);
    for (let m = 0; m < 12; m += 3) await upload(alice, [0, 1, 2].map((k) => hr(`hr5-${m + k}`, m + k, 140)));
    await t.gateway.monitoring.monitor.idle();
    const alerts = (await t.request('GET', '/patients/me/alerts', { token: alice })).body.alerts.filter((a: any) => a.ruleId === rule.body.id);
    assert.equal(alerts.length, 1);
    assert.equal(alerts[0].detail.effectiveStart, minute(5));
    assert.equal((await t.request('DELETE', `/patients/me/alert-rules/${rule.body.id}`, { token: alice })).status, 200);
  });

  it('a webhook target that is down and then comes back gets every alert exactly once by id, signed', async () => {
    const received: Array<{ id: string; body: string; signature: string }> = [];
    let up = false;
    let loseAck = true;
    const app = express();
    app.post('/hook', express.text({ type: '*/*' }), (req, res) => {
      if (!up) return void res.status(503).end();
      received.push({ id: String(req.header('x-hgd-event-id')), body: String(req.body), signature: String(req.header('x-hgd-signature')) });
      if (loseAck) { // stored, but the answer is lost: HGD must retry, with the same id
        loseAck = false;
        return void res.status(500).end();
      }
      res.status(204).end();
    });
    const target = await serve(app);
    try {
      const hook = await post('/webhooks', alice, { url: `${target.url}/hook` });
      assert.equal(hook.status, 201, hook.text);
      const rule = await post('/patients/me/alert-rules', alice, { indicator: 'glucose', condition: 'glucose > 13.9 mmol/L twice in 1 h' });
      assert.equal(rule.status, 201, rule.text);
      const g = (id: string, m: number, v: number) => ({ ...observation(id, 'A-1', 'glucose', v, minute(m)), subject: undefined });
      await upload(alice, [g('g1', 0, 15), g('g2', 10, 16), g('g3', 20, 15), g('g4', 30, 17), g('g5', 40, 18), g('g6', 50, 19)]);
      const alerts = (await t.request('GET', '/patients/me/alerts', { token: alice })).body.alerts.filter((a: any) => a.ruleId === rule.body.id);
      assert.equal(alerts.length, 3);
      await new Promise((r) => setTimeout(r, 300)); // down: every attempt fails
      assert.equal(received.length, 0);
      up = true;
      const deadline = Date.now() + 10_000;
      while ((new Set(received.map((r) => r.id)).size < 3 || received.length < 4) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const ids = [...new Set(received.map((r) => r.id))].sort();
      assert.deepEqual(ids, alerts.map((a: any) => a.id).sort());
      assert.ok(received.length > ids.length, 'the lost acknowledgement led to a duplicate, marked by the same id');
      for (const r of received) {
        const [, ts, sig] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(r.signature)!;
        assert.equal(sig, createHmac('sha256', hook.body.secret).update(`${ts}.${r.body}`).digest('hex'));
        assert.equal(JSON.parse(r.body).id, r.id);
      }
    } finally {
      await target.close();
    }
  });

  it('a provider sets a rule only with a TREAT grant on the indicator (the same 403 otherwise), and break-the-glass notifies the patient', async () => {
    const drB = await t.token({ role: 'provider', sub: 'dr-b', org: 'clinic-b' });
    const body = { patient: `${MRN}|A-1`, indicator: 'spo2', condition: 'spo2 < 85' };
    const denied = await post('/care/alert-rules', drB, body);
    const deniedUnknown = await post('/care/alert-rules', drB, { ...body, patient: `${MRN}|NOBODY` });
    assert.deepEqual([denied.status, denied.text], [403, deniedUnknown.text]);
    await post('/patients/me/grants', alice, { grantee: 'clinic-b', indicators: ['spo2'], purpose: 'TREAT' });
    const ok = await post('/care/alert-rules', drB, body);
    assert.equal(ok.status, 201, ok.text);
    assert.deepEqual(ok.body.notify, ['org:clinic-b']);
    assert.equal((await post('/care/alert-rules', drB, { ...body, notify: ['org:clinic-z'] })).status, 400);

    const sse = await openSse(`${t.url}/alerts/stream`, alice, String(Number.MAX_SAFE_INTEGER).slice(0, 15));
    try {
      const er = await t.token({ role: 'provider', sub: 'dr-er', org: 'er-d' });
      const r = await fetch(`${t.url}/care/Observation?patient.identifier=${encodeURIComponent(`${MRN}|A-1`)}`, { headers: { authorization: `Bearer ${er}`, 'x-break-glass-reason': 'cardiac arrest' } });
      assert.equal(r.status, 200);
      const mine = (await t.request('GET', '/patients/me/alerts', { token: alice })).body.alerts as any[];
      const bg = mine.find((a) => a.kind === 'break-glass');
      assert.deepEqual([bg.detail.org, bg.detail.reason], ['er-d', 'cardiac arrest']);
    } finally {
      sse.close();
    }
  });
});

describe('remote monitoring across a gateway restart', function () {
  this.timeout(60_000);

  it('a restart in the middle of a window neither loses nor repeats an alert', async () => {
    const db = await openTestDatabase();
    const config = testConfig({ HGD_LOG: 'silent' });
    const open = async () => {
      const gateway = await createGateway(config, { db, shareSink: null });
      return { gateway, server: await serve(gateway.app) };
    };
    const pseudonym = (g: Awaited<ReturnType<typeof open>>) => g.gateway.ingest.pseudonymOf(MRN, 'A-1');
    const upload = async (g: Awaited<ReturnType<typeof open>>, resources: unknown[]) => {
      const token = await g.gateway.tokens.issue({ role: 'patient', sub: pseudonym(g) });
      const r = await fetch(`${g.server.url}/patients/me/readings`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': JSON_TYPE }, body: JSON.stringify({ resourceType: 'Bundle', type: 'collection', entry: resources.map((resource) => ({ resource })) }) });
      assert.equal(r.status, 200, await r.text());
    };
    let g = await open();
    try {
      await g.gateway.monitoring.rules.create(pseudonym(g), { indicator: 'heart_rate', condition: 'heart_rate > 130 for 5 min', notify: ['patient'] }, 'patient:test');
      await upload(g, [0, 1, 2, 3].map((m) => hr(`r-${m}`, m, 150)));
      await g.server.close();
      await g.gateway.close();
      g = await open(); // the window's state survived
      await upload(g, [4, 5, 6, 7].map((m) => hr(`r-${m}`, m, 150)));
      await upload(g, [4, 5].map((m) => hr(`r-${m}`, m, 150))); // a resend after the restart: duplicates, nothing new
      const alerts = await alertsAbout(g.gateway.db.knex, g.gateway.monitoring.sealer, pseudonym(g));
      assert.equal(alerts.length, 1);
      assert.equal(alerts[0]!.detail.effectiveStart, minute(5));
    } finally {
      await g.server.close();
      await g.gateway.close();
      await db.close();
    }
  });
});
