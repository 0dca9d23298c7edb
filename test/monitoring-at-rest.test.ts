/* eslint-disable @typescript-eslint/no-explicit-any -- tests read whatever JSON came back */
import { strict as assert } from 'node:assert';
import { createHmac, randomBytes } from 'node:crypto';
import express from 'express';
import { allMigrations, createGateway } from '../app/gateway';
import { MonitoringSealer } from '../management-layer/monitoring';
import { runMigrations } from '../storage-layer/migrate';
import { MRN, WEBHOOK_TEST_ENV, observation } from './support/care';
import { testConfig } from './support/config';
import { openTestDatabase } from './support/db';
import { startTestGateway, type TestGateway } from './support/gateway';
import { serve } from './support/http';

const bytesOf = (rows: any[], column: string) => Buffer.concat(rows.map((r) => Buffer.from(r[column] ?? [])));

/** Alert details (the value that raised an alert) and webhook secrets are encrypted at rest. */
describe('remote monitoring: alert details and webhook secrets sealed at rest', function () {
  this.timeout(60_000);

  describe('new alerts and webhooks', () => {
    let t: TestGateway;
    let alice: string;
    const post = (path: string, body: unknown) => t.request('POST', path, { token: alice, body: JSON.stringify(body), contentType: 'application/json' });

    before(async () => {
      t = await startTestGateway(WEBHOOK_TEST_ENV);
      alice = await t.patientToken(MRN, 'A-1');
    });
    after(() => t.close());

    it('stores neither the value nor the condition nor the secret in clear, and still serves and signs them', async () => {
      const received: Array<{ body: string; signature: string }> = [];
      const app = express();
      app.post('/hook', express.text({ type: '*/*' }), (req, res) => void (received.push({ body: String(req.body), signature: String(req.header('x-hgd-signature')) }), res.status(204).end()));
      const target = await serve(app);
      try {
        const hook = await post('/webhooks', { url: `${target.url}/hook` });
        assert.equal(hook.status, 201, hook.text);
        assert.equal((await post('/patients/me/alert-rules', { indicator: 'spo2', condition: 'spo2 < 87.5' })).status, 201);
        const low = { ...observation('spo2-at-rest', 'A-1', 'spo2', 83.4, '2025-08-01T08:00:00Z'), subject: undefined };
        assert.equal((await post('/patients/me/readings', low)).status, 200);
        const mine = (await t.request('GET', '/patients/me/alerts', { token: alice })).body.alerts as any[];
        assert.deepEqual([mine.length, mine[0].detail.value, mine[0].detail.condition], [1, 83.4, 'spo2 < 87.5']);

        const alerts = await t.gateway.db.knex('monitoring_alerts').select('*');
        assert.ok(alerts.every((a: any) => a.detail === null && a.detail_sealed));
        const hooks = await t.gateway.db.knex('monitoring_webhooks').select('*');
        assert.ok(hooks.every((h: any) => h.secret === null && h.secret_sealed));
        const stored = Buffer.concat([bytesOf(alerts, 'detail_sealed'), bytesOf(hooks, 'secret_sealed')]);
        for (const clear of ['83.4', '87.5', 'spo2', hook.body.secret]) assert.equal(stored.includes(Buffer.from(clear)), false, `${clear} in clear`);

        const deadline = Date.now() + 5000;
        while (received.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        const [, ts, sig] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(received[0]!.signature)!;
        assert.equal(sig, createHmac('sha256', hook.body.secret).update(`${ts}.${received[0]!.body}`).digest('hex'));
        assert.equal(JSON.parse(received[0]!.body).detail.value, 83.4);
      } finally {
        await target.close();
      }
    });
  });

  it('binds a sealed value to its row: another alert’s or webhook’s id does not open it', () => {
    const sealer = new MonitoringSealer(randomBytes(32));
    const detail = sealer.sealDetail('alert-1', { value: 80 });
    assert.deepEqual(sealer.openDetail('alert-1', detail), { value: 80 });
    assert.throws(() => sealer.openDetail('alert-2', detail));
    assert.throws(() => sealer.openSecret('alert-1', detail));
    assert.throws(() => new MonitoringSealer(randomBytes(32)).openDetail('alert-1', detail), 'another key');
  });

  it('seals what an older gateway stored in clear when it migrates (monitoring-003)', async () => {
    const db = await openTestDatabase();
    const config = testConfig({ HGD_LOG: 'silent' });
    try {
      await runMigrations(db, allMigrations, () => {}); // the schema before monitoring-003
      const patient = 'p'.repeat(64);
      const [row] = await db.knex('monitoring_alerts').insert({ id: 'old-alert', kind: 'rule', patient, rule_id: null, detail: JSON.stringify({ value: 77.5, condition: 'spo2 < 90' }), ledger_seq: 0 }).returning('seq');
      await db.knex('monitoring_alert_recipients').insert({ alert_seq: row.seq, recipient: `patient:${patient}` });
      await db.knex('monitoring_webhooks').insert({ id: 'old-hook', owner: `patient:${patient}`, url: 'https://example.org/hook', secret: 'old-secret-in-clear' });
      const gateway = await createGateway(config, { db, shareSink: null });
      try {
        const a = await db.knex('monitoring_alerts').where({ id: 'old-alert' }).first();
        const h = await db.knex('monitoring_webhooks').where({ id: 'old-hook' }).first();
        assert.deepEqual([a.detail, h.secret], [null, null]);
        assert.equal(Buffer.from(a.detail_sealed).includes(Buffer.from('77.5')), false);
        assert.equal(gateway.monitoring.sealer.openSecret('old-hook', h.secret_sealed), 'old-secret-in-clear');
        const { alertsAbout } = await import('../management-layer/monitoring');
        assert.deepEqual((await alertsAbout(db.knex, gateway.monitoring.sealer, patient)).map((x) => x.detail), [{ value: 77.5, condition: 'spo2 < 90' }]);
      } finally {
        await gateway.close();
      }
    } finally {
      await db.close();
    }
  });
});
