import { strict as assert } from 'node:assert';
import type { Role } from '../storage-layer/http-identity';
import { startTestGateway, type TestGateway } from './support/gateway';
import { listRoutes } from './support/routes';

type Caller = Role | 'anonymous';
const CALLERS: Caller[] = ['anonymous', 'admin', 'provider', 'patient', 'researcher', 'auditor', 'node'];
const PUBLIC: Caller[] = [...CALLERS];

/**
 * Who may call what: the access rule of every endpoint, in one table. A route the app serves
 * that is missing here fails the test, so a new endpoint cannot ship without its rule.
 */
const MATRIX: Record<string, Caller[]> = {
  'GET /health': PUBLIC,
  'POST /auth/login': PUBLIC,
  'GET /ledger/checkpoint': PUBLIC,
  'GET /ledger/keys': PUBLIC,
  'GET /ledger/consistency': PUBLIC,
  // A patient passes the role rule, then may open only the entries their access log and grants point
  // to (app/patient-ledger.ts, a route in front of the ledger's own; test/patient-ledger.test.ts).
  'GET /ledger/entries/:seq': ['auditor', 'admin', 'patient'],
  'GET /catalogue': PUBLIC,
  'POST /ingest': ['provider'],
  'GET /quarantine': ['provider'],
  'GET /quarantine/:batchId': ['provider'],
  'GET /patients/me/observations': ['patient'],
  'GET /admin/organisations': ['admin'],
  'POST /admin/organisations': ['admin'],
  'GET /admin/users': ['admin'],
  'POST /admin/users': ['admin'],
  'GET /admin/api-keys': ['admin'],
  'POST /admin/api-keys': ['admin'],
  'DELETE /admin/api-keys/:keyId': ['admin'],
  'GET /admin/studies': ['admin'],
  'POST /admin/studies': ['admin'],
  'POST /admin/studies/:id/researchers': ['admin'],
  'DELETE /admin/studies/:id/researchers/:researcher': ['admin'],
  'GET /studies': ['admin', 'patient', 'researcher'],
  'GET /studies/:id': ['admin', 'researcher'],
  'POST /patients/me/grants': ['patient'],
  'GET /patients/me/grants': ['patient'],
  'GET /patients/me/grants/:id': ['patient'],
  'DELETE /patients/me/grants/:id': ['patient'],
  'GET /patients/me/grants/:id/consent': ['patient'],
  'POST /patients/me/consents': ['patient'],
  'POST /queries': ['researcher'],
  'GET /queries': ['researcher'],
  'GET /queries/:id': ['researcher', 'admin'],
  'GET /patients/me/access-log': ['patient'],
  'GET /care/Observation': ['provider'],
  'POST /patients/me/readings': ['patient'],
  'GET /patients/me/quarantine/:batchId': ['patient'],
  'POST /patients/me/alert-rules': ['patient'],
  'GET /patients/me/alert-rules': ['patient'],
  'PATCH /patients/me/alert-rules/:id': ['patient'],
  'GET /patients/me/alert-rules/:id/history': ['patient'],
  'DELETE /patients/me/alert-rules/:id': ['patient'],
  'POST /care/alert-rules': ['provider'],
  'PATCH /care/alert-rules/:id': ['provider'],
  'DELETE /care/alert-rules/:id': ['provider'],
  'GET /patients/me/alerts': ['patient'],
  'GET /alerts/stream': ['patient', 'provider'],
  'POST /webhooks': ['patient', 'provider'],
  'GET /webhooks': ['patient', 'provider'],
  'DELETE /webhooks/:id': ['patient', 'provider'],
};

const SAMPLE_PARAMS: Record<string, string> = {
  seq: '0', batchId: '00000000-0000-4000-8000-000000000000', id: '00000000-0000-4000-8000-000000000000', researcher: 'r-nobody', keyId: '0000000000000000',
};
const QUERIES: Record<string, string> = { 'GET /ledger/consistency': '?from=1&to=1' };
/** Endpoints that answer with a stream that never ends: read the status, then hang up. */
const STREAMS = new Set(['GET /alerts/stream']);

async function streamStatus(url: string, token: string | undefined): Promise<{ status: number; body: { message?: string } | null; text: string }> {
  const abort = new AbortController();
  const res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: abort.signal });
  if (res.status === 200) {
    abort.abort();
    return { status: 200, body: null, text: '(stream)' };
  }
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) as { message?: string }, text };
}

describe('authorisation matrix: every endpoint as every role and as anonymous', function () {
  this.timeout(60_000);
  let t: TestGateway;
  const tokens = new Map<Caller, string | undefined>();

  before(async () => {
    t = await startTestGateway();
    tokens.set('anonymous', undefined);
    for (const role of CALLERS.filter((c): c is Role => c !== 'anonymous')) {
      tokens.set(role, await t.token({ role, sub: `${role}-1`, ...(role === 'provider' ? { org: 'acme' } : {}), ...(role === 'researcher' ? { studies: ['s1'] } : {}) }));
    }
  });
  after(() => t.close());

  it('every route the app serves has a rule in the matrix, and every rule a route', () => {
    const served = [...new Set(listRoutes(t.gateway.app).map((r) => `${r.method} ${r.path}`))].sort();
    assert.deepEqual(served, Object.keys(MATRIX).sort());
  });

  for (const [endpoint, allowed] of Object.entries(MATRIX)) {
    it(`${endpoint}: allows ${allowed.length === CALLERS.length ? 'everyone' : allowed.join(', ')}`, async () => {
      const [method, pattern] = endpoint.split(' ') as [string, string];
      const path = pattern.replace(/:(\w+)/g, (_, name: string) => SAMPLE_PARAMS[name] ?? 'x') + (QUERIES[endpoint] ?? '');
      for (const caller of CALLERS) {
        const r = STREAMS.has(endpoint) ? await streamStatus(t.url + path, tokens.get(caller)) : await t.request(method, path, {
          token: tokens.get(caller),
          ...(method === 'POST' ? { body: '{}', contentType: 'application/json' } : {}),
        });
        // Denial by the route's rule: 401 without identity, 403 naming the role. Anything else
        // (200, or a 4xx about the request itself) means the rule let the caller through.
        const deniedByRule = r.status === 401 || (r.status === 403 && /may not call this endpoint/.test(String(r.body?.message)));
        assert.ok(r.status < 500, `${endpoint} as ${caller}: ${r.status} ${r.text}`);
        assert.equal(deniedByRule, !allowed.includes(caller), `${endpoint} as ${caller}: got ${r.status} ${r.text.slice(0, 200)}`);
        if (caller === 'anonymous' && !allowed.includes(caller)) assert.equal(r.status, 401);
      }
    });
  }
});
