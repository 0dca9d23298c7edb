import { strict as assert } from 'node:assert';
import { startTestGateway } from './support/gateway';

describe('HTTP hardening', function () {
  this.timeout(60_000);

  it('sends security headers and no x-powered-by', async () => {
    const t = await startTestGateway();
    try {
      const res = await fetch(`${t.url}/health`);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
      assert.ok(res.headers.get('content-security-policy'));
      assert.ok(res.headers.get('strict-transport-security'));
      assert.equal(res.headers.get('x-powered-by'), null);
    } finally {
      await t.close();
    }
  });

  it('rate-limits per identity: one identity is cut off, another is not', async () => {
    const t = await startTestGateway({ HGD_RATE_LIMIT_PER_MINUTE: '5' });
    try {
      const a = await t.token({ role: 'auditor', sub: 'a' });
      const b = await t.token({ role: 'auditor', sub: 'b' });
      const statuses = [];
      for (let i = 0; i < 7; i++) statuses.push((await t.request('GET', '/ledger/checkpoint', { token: a })).status);
      assert.deepEqual(statuses.slice(0, 5), [200, 200, 200, 200, 200]);
      const limited = await t.request('GET', '/ledger/checkpoint', { token: a });
      assert.equal(limited.status, 429);
      assert.match(limited.body.message, /requests a minute/);
      assert.equal((await t.request('GET', '/ledger/checkpoint', { token: b })).status, 200);
    } finally {
      await t.close();
    }
  });

  it('errors carry no stack trace or internals', async () => {
    const t = await startTestGateway();
    try {
      const provider = await t.token({ role: 'provider', sub: 'u', org: 'acme' });
      const r = await t.request('POST', '/ingest', { token: provider, body: '{"resourceType":', contentType: 'application/fhir+json' });
      assert.equal(r.status, 400);
      assert.doesNotMatch(r.text, /at [\w.]+ \(|node_modules|\.ts:\d+/);
    } finally {
      await t.close();
    }
  });
});
