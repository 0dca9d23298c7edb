/* eslint-disable @typescript-eslint/no-explicit-any -- tests read whatever JSON came back */
import { strict as assert } from 'node:assert';
import express from 'express';
import { isInternalAddress, refusedTarget } from '../management-layer/monitoring/webhook-target';
import { MRN, WEBHOOK_TEST_ENV, observation } from './support/care';
import { startTestGateway, type TestGateway } from './support/gateway';
import { serve } from './support/http';

/** Webhooks cannot be aimed at the gateway's own network (SSRF): refused at registration and at delivery. */
describe('webhook targets: internal addresses refused unless allow-listed', function () {
  this.timeout(60_000);

  it('tells internal addresses from public ones (IPv4, IPv6, IPv4-mapped)', () => {
    const internal = ['127.0.0.1', '127.9.9.9', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '224.0.0.1', '::1', '::', 'fe80::1', 'fc00::1', 'fd12:3456::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1', 'not-an-ip'];
    const external = ['8.8.8.8', '172.32.0.1', '93.184.216.34', '100.128.0.1', '2606:4700::1111', '::ffff:8.8.8.8'];
    for (const a of internal) assert.equal(isInternalAddress(a), true, a);
    for (const a of external) assert.equal(isInternalAddress(a), false, a);
  });

  it('checks what a name resolves to, and lets allow-listed hosts through', async () => {
    const dns: Record<string, string[]> = { 'evil.example': ['93.184.216.34', '127.0.0.1'], 'good.example': ['93.184.216.34'], 'meta.example': ['169.254.169.254'] };
    const resolve = async (h: string) => {
      if (!dns[h]) throw new Error('ENOTFOUND');
      return dns[h]!;
    };
    assert.match((await refusedTarget(new URL('https://evil.example/hook'), [], resolve))!, /internal address \(127\.0\.0\.1\)/);
    assert.match((await refusedTarget(new URL('https://meta.example/'), [], resolve))!, /169\.254\.169\.254/);
    assert.match((await refusedTarget(new URL('https://nowhere.example/'), [], resolve))!, /does not resolve/);
    assert.match((await refusedTarget(new URL('https://[::1]:8443/'), [], resolve))!, /internal/);
    assert.equal(await refusedTarget(new URL('https://good.example/hook'), [], resolve), null);
    assert.equal(await refusedTarget(new URL('https://META.example/'), ['meta.example'], resolve), null);
    assert.equal(await refusedTarget(new URL('http://127.0.0.1:9/'), ['127.0.0.1'], resolve), null);
  });

  describe('through the API', () => {
    let t: TestGateway;
    let alice: string;
    const post = (path: string, body: unknown) => t.request('POST', path, { token: alice, body: JSON.stringify(body), contentType: 'application/json' });

    before(async () => {
      t = await startTestGateway(WEBHOOK_TEST_ENV);
      alice = await t.patientToken(MRN, 'A-1');
    });
    after(() => t.close());

    it('refuses loopback, private, link-local and metadata URLs at registration, naming the field', async () => {
      for (const url of ['http://127.0.0.2:8080/hook', 'https://localhost/hook', 'https://10.0.0.5/hook', 'https://169.254.169.254/latest/meta-data', 'https://[::1]/hook', 'https://[fe80::1]/hook', 'https://0x7f000002/hook']) {
        const r = await post('/webhooks', { url });
        assert.equal(r.status, 400, `${url}: ${r.text}`);
        assert.equal(r.body.field, 'url', url);
      }
      assert.equal((await t.request('GET', '/webhooks', { token: alice })).body.webhooks.length, 0);
    });

    it('re-checks before every delivery: a target that became internal gets nothing', async () => {
      const received: string[] = [];
      const app = express();
      app.post('/hook', (req, res) => void (received.push(String(req.header('x-hgd-event-id'))), res.status(204).end()));
      const target = await serve(app);
      try {
        const hook = await post('/webhooks', { url: `${target.url}/hook` });
        assert.equal(hook.status, 201, hook.text);
        // As if its name now resolved to another internal address (the allow-list names 127.0.0.1 only).
        await t.gateway.db.knex('monitoring_webhooks').where({ id: hook.body.id }).update({ url: target.url.replace('127.0.0.1', '127.0.0.2') + '/hook' });
        assert.equal((await post('/patients/me/alert-rules', { indicator: 'spo2', condition: 'spo2 < 90' })).status, 201);
        const low = { ...observation('spo2-low', 'A-1', 'spo2', 85, '2025-07-01T08:00:00Z'), subject: undefined };
        assert.equal((await post('/patients/me/readings', low)).status, 200);
        const deadline = Date.now() + 5000;
        let row: any;
        while (Date.now() < deadline) {
          row = await t.gateway.db.knex('monitoring_deliveries').where({ webhook_id: hook.body.id }).first();
          if (row?.attempts >= 2) break;
          await new Promise((r) => setTimeout(r, 50));
        }
        assert.ok(row.attempts >= 2, 'retried');
        assert.equal(row.delivered_at, null);
        assert.match(row.last_error, /^refused: .*internal address \(127\.0\.0\.2\)/);
        assert.deepEqual(received, []);
      } finally {
        await target.close();
      }
    });
  });
});
