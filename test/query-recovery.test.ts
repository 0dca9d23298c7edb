import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { createGateway, type Gateway } from '../app/gateway';
import { openAdminServices } from '../app/admin';
import type { Database } from '../storage-layer/db';
import type { Coordinator } from '../usage-layer/coordinator';
import { onRealPostgres, openPeer, openTestDatabase } from './support/db';
import { testConfig } from './support/config';
import { startTestStack, type TestStack } from './support/cluster';

/** A coordinator that is never reached: recovery must not run any query. */
const unreachable: Coordinator = {
  aggregate: () => Promise.reject(new Error('no query may run during recovery')),
  health: () => Promise.resolve({ up: [], down: [], errors: {} }),
};

describe('queries interrupted by a gateway crash', function () {
  this.timeout(30_000);
  let db: Database;
  const config = testConfig({ HGD_LOG: 'silent' });
  const start = () => createGateway(config, { db, shareSink: null, coordinator: unreachable });
  before(async () => {
    db = await openTestDatabase();
  });
  after(async () => db?.close());

  it('are marked failed at the next start, their reserved epsilon released and recorded in the ledger', async () => {
    let g: Gateway = await start();
    await g.usage.studies.register({ role: 'admin', sub: 'admin-1' }, { id: 'crash', title: 'Crash study', purpose: 'HRESCH', epsilonBudget: 5 });
    const plan = { epsilon: 0.5, mechanism: 'discrete-laplace', neighbours: 'add or remove one record', parts: [] };
    const ids = [randomUUID(), randomUUID()];
    for (const [k, id] of ids.entries()) {
      // What a crash leaves behind: the epsilon reserved, the query claimed by a runner (or not yet).
      await db.knex.raw('UPDATE studies SET epsilon_spent = epsilon_spent + 0.5 WHERE id = ?', ['crash']);
      await db.knex('research_queries').insert({
        id,
        study: 'crash',
        researcher: 'r-alice',
        purpose: 'HRESCH',
        indicators: JSON.stringify(['heart_rate']),
        aggregate: 'count',
        options: JSON.stringify({ epsilon: 0.5 }),
        epsilon: '0.5',
        privacy: JSON.stringify(plan),
        status: k === 0 ? 'queued' : 'running',
        epsilon_spent: '0.5',
      });
    }
    assert.equal((await g.usage.studies.get('crash'))!.epsilonSpent, 1);
    await g.close(); // "crash": nothing ran the queries
    const seqBefore = g.ledger.size;

    g = await start();
    try {
      assert.equal((await g.usage.studies.get('crash'))!.epsilonSpent, 0, 'the reserved epsilon went back to the budget');
      const admin = { role: 'admin' as const, sub: 'admin-1' };
      for (const id of ids) {
        const q = await g.usage.queries.get(admin, id);
        assert.equal(q.status, 'failed');
        assert.match(q.message ?? '', /gateway stopped while the query was (queued|running)/);
        assert.equal(q.privacy.epsilonSpent, 0);
        assert.ok(q.ledgerSeq !== null && q.ledgerSeq >= seqBefore);
        const e = JSON.parse((await g.ledger.getEntry(q.ledgerSeq)).canonical);
        assert.deepEqual([e.kind, e.actor, e.payload.queryId, e.payload.status, e.payload.epsilonSpent], ['query', 'researcher:r-alice', id, 'failed', 0]);
      }
      assert.deepEqual(await g.usage.queries.recoverInterrupted(), [], 'nothing left to recover');
    } finally {
      await g.close();
    }
  });
});

/**
 * Wraps the real coordinator: after arm(), the next aggregate is computed, then held until release()
 * (the query is running, its value computed and about to be released).
 */
function pausingCoordinator() {
  let gate: Promise<void> = Promise.resolve();
  let release = () => {};
  let computed = () => {};
  let atGate: Promise<void> = Promise.resolve();
  return {
    wrap: (real: Coordinator): Coordinator => ({
      aggregate: async (q) => {
        const result = await real.aggregate(q);
        const held = gate;
        computed();
        await held;
        return result;
      },
      health: () => real.health(),
    }),
    arm() {
      gate = new Promise<void>((r) => (release = r));
      atGate = new Promise<void>((r) => (computed = r));
    },
    get atGate() {
      return atGate;
    },
    release: () => release(),
  };
}

const MRN = 'http://hospital.example/mrn';
const ADMIN = { role: 'admin' as const, sub: 'admin-1' };
const PATIENTS = ['R1', 'R2', 'R3'];

/**
 * The race of issue 11 (item 5), on real PostgreSQL in CI: a query runs on gateway A (computed, about
 * to be released) while an admin command and a second gateway open the same database, and while a
 * recovery runs anyway (as after a lease A lost while stalled).
 */
describe('recovery without races: a query running on gateway A', function () {
  this.timeout(120_000);
  let s: TestStack;
  let pause: ReturnType<typeof pausingCoordinator>;
  let researcher: string;
  let peer: Database;

  const queryRow = (id: string) => s.gateway.db.knex('research_queries').where({ id }).first();
  const outcomeEntries = async (id: string) => {
    const rows = (await s.gateway.db.knex('ledger_entries').where({ kind: 'query' }).select('canonical')) as Array<{ canonical: Uint8Array }>;
    return rows.map((r) => JSON.parse(Buffer.from(r.canonical).toString('utf8'))).filter((e) => e.payload.queryId === id);
  };
  /** The study's spent epsilon equals the sum over its queries: nothing refunded twice or kept for a failed query. */
  const assertBudgetConsistent = async (study: string) => {
    const spent = (await s.gateway.usage.studies.get(study))!.epsilonSpent;
    const perQuery = (await s.gateway.db.knex('research_queries').where({ study }).select('epsilon_spent')) as Array<{ epsilon_spent: string }>;
    assert.equal(spent, Math.round(perQuery.reduce((acc, r) => acc + Number(r.epsilon_spent), 0) * 1e6) / 1e6);
    return spent;
  };
  /** Submits a count over the study and waits until gateway A computed it and holds it before release. */
  const runningQuery = async (study: string): Promise<string> => {
    const r = await s.request('POST', '/queries', { token: researcher, body: JSON.stringify({ study, indicators: ['heart_rate'], aggregate: 'count', options: { epsilon: 20 } }), contentType: 'application/json' });
    assert.equal(r.status, 202, r.text);
    await pause.atGate;
    assert.equal((await queryRow(r.body.id)).status, 'running');
    return r.body.id as string;
  };

  let studies = 0;
  /** A fresh study (min cohort 2, budget 5) that the three patients granted heart_rate to. */
  const freshStudy = async (): Promise<string> => {
    const study = `race-${++studies}`;
    await s.gateway.usage.studies.register(ADMIN, { id: study, title: 'Race', purpose: 'HRESCH', minCohort: 2, epsilonBudget: 100 });
    await s.gateway.usage.studies.addResearcher(ADMIN, study, { researcher: 'r-alice' });
    for (const p of PATIENTS) {
      const g = await s.request('POST', '/patients/me/grants', { token: await s.patientToken(MRN, p), body: JSON.stringify({ study, indicators: ['heart_rate'], purpose: 'HRESCH' }), contentType: 'application/json' });
      assert.equal(g.status, 201, g.text);
    }
    return study;
  };

  before(async () => {
    pause = pausingCoordinator();
    // ε 20 per query (contributors ε 4): three patients clear the DP threshold (minCohort 2 + margin 1),
    // so each query reaches the (paused) coordinator; a large patient budget for the many queries.
    s = await startTestStack({ wrapCoordinator: pause.wrap, env: { HGD_MAX_EPSILON: '20', HGD_PATIENT_EPSILON_BUDGET: '100000' } });
    peer = onRealPostgres ? await openPeer(s.gateway.db) : s.gateway.db;
    researcher = await s.token({ role: 'researcher', sub: 'r-alice' });
    await s.ingestCsv(PATIENTS.map((p, i) => [`${MRN}|${p}`, '8867-4', 60 + i, '/min', `2024-03-0${i + 1}T08:00:00Z`]));
    assert.ok(s.gateway.lease.held, 'gateway A holds the writer lease');
  });
  beforeEach(() => pause.arm());
  afterEach(() => pause.release());
  after(async () => {
    if (peer && peer !== s?.gateway.db) await peer.close();
    await s?.close();
  });

  it('an admin command and a second gateway on the same database recover nothing; the query is released once', async () => {
    const study = await freshStudy();
    const id = await runningQuery(study);
    const admin = await openAdminServices(s.config, { db: peer });
    try {
      await admin.identity.createOrganisation({ role: 'admin', sub: 'cli' }, 'acme');
    } finally {
      await admin.close();
    }
    const b = await createGateway(s.config, { db: peer, shareSink: null, coordinator: unreachable });
    try {
      assert.equal(b.lease.held, false, 'gateway B does not get the lease gateway A holds');
      assert.equal((await queryRow(id)).status, 'running', 'neither the admin command nor gateway B failed the running query');
    } finally {
      await b.close();
    }
    pause.release();
    const done = await s.waitForQuery(id, researcher);
    assert.equal(done.status, 'done');
    assert.ok(done.result && typeof done.result.value === 'number');
    const entries = await outcomeEntries(id);
    assert.deepEqual(entries.map((e) => e.payload.status), ['done'], 'exactly one outcome entry');
    assert.equal(await assertBudgetConsistent(study), 20);
  });

  it('gateway A taking the lease again (after losing it) leaves its own running query alone', async () => {
    const id = await runningQuery(await freshStudy());
    assert.deepEqual(await s.gateway.usage.queries.recoverInterrupted(), [], 'its own runner owns the query');
    assert.equal((await queryRow(id)).status, 'running');
    pause.release();
    assert.equal((await s.waitForQuery(id, researcher)).status, 'done');
    assert.deepEqual((await outcomeEntries(id)).map((e) => e.payload.status), ['done']);
  });

  it('a recovery that runs anyway marks it failed; gateway A then releases nothing and writes no second entry', async () => {
    const study = await freshStudy();
    const id = await runningQuery(study);
    // What a gateway that took over a lapsed lease would do while A still computes.
    const b = await createGateway(s.config, { db: peer, shareSink: null, coordinator: unreachable });
    try {
      assert.deepEqual(await b.usage.queries.recoverInterrupted(), [id]);
    } finally {
      await b.close();
    }
    pause.release();
    await s.gateway.usage.queries.idle();
    const row = await queryRow(id);
    assert.equal(row.status, 'failed');
    assert.equal(row.result, null, 'nothing released');
    assert.equal(row.contributors, null);
    const view = await s.gateway.usage.queries.get(ADMIN, id);
    assert.equal(view.result, null);
    assert.equal((await s.gateway.db.knex('query_contributors').where({ query_id: id })).length, 0, 'no access-log rows for an unreleased query');
    for (const p of PATIENTS) {
      const log = await s.request('GET', '/patients/me/access-log', { token: await s.patientToken(MRN, p) });
      assert.ok(!log.body.entries.some((e: { queryId: string }) => e.queryId === id), 'not in any access log');
    }
    const entries = await outcomeEntries(id);
    assert.deepEqual(entries.map((e) => [e.payload.status, e.payload.epsilonSpent]), [['failed', 0]], 'exactly one outcome entry');
    assert.equal(await assertBudgetConsistent(study), 0, 'the epsilon was returned exactly once');
  });
});

describe('the writer lease', function () {
  this.timeout(60_000);
  let db: Database;
  const config = testConfig({ HGD_LOG: 'silent', HGD_WRITER_LEASE_SECONDS: '1' });
  before(async () => {
    db = await openTestDatabase();
  });
  after(async () => db?.close());

  it('is held by one gateway at a time and passes on when its holder stops', async () => {
    const a = await createGateway(config, { db, shareSink: null, coordinator: unreachable });
    const peer = onRealPostgres ? await openPeer(db) : db;
    const b = await createGateway(config, { db: peer, shareSink: null, coordinator: unreachable });
    try {
      assert.deepEqual([a.lease.held, b.lease.held], [true, false]);
      await a.close();
      const deadline = Date.now() + 10_000;
      while (!b.lease.held && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.equal(b.lease.held, true, 'gateway B took the lease once A gave it up');
    } finally {
      await b.close();
      if (peer !== db) await peer.close();
    }
  });

  it('left behind by a killed gateway is taken over after it expires, and only then are its queries recovered', async () => {
    const setup = await createGateway(config, { db, shareSink: null, coordinator: unreachable });
    await setup.usage.studies.register(ADMIN, { id: 'killed', title: 'Killed', purpose: 'HRESCH', epsilonBudget: 5 });
    await setup.close();
    const id = randomUUID();
    await db.knex.raw('UPDATE studies SET epsilon_spent = epsilon_spent + 0.5 WHERE id = ?', ['killed']);
    await db.knex('research_queries').insert({
      id, study: 'killed', researcher: 'r-alice', purpose: 'HRESCH', indicators: JSON.stringify(['heart_rate']), aggregate: 'count',
      options: JSON.stringify({ epsilon: 0.5 }), epsilon: '0.5', privacy: JSON.stringify({ epsilon: 0.5, mechanism: 'discrete-laplace', neighbours: 'add or remove one record', parts: [] }),
      status: 'running', epsilon_spent: '0.5',
    });
    // The killed gateway's lease row, still valid for a moment.
    await db.knex('writer_lease').insert({ name: 'gateway', holder: 'dead-host:1:x', acquired_at: db.knex.fn.now(), expires_at: db.knex.raw("now() + interval '1 second'") });
    const g = await createGateway(config, { db, shareSink: null, coordinator: unreachable });
    try {
      assert.equal(g.lease.held, false);
      assert.equal((await db.knex('research_queries').where({ id }).first()).status, 'running', 'not recovered while another holder\'s lease is valid');
      const deadline = Date.now() + 10_000;
      while ((await db.knex('research_queries').where({ id }).first()).status === 'running' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.equal(g.lease.held, true);
      const q = await g.usage.queries.get(ADMIN, id);
      assert.equal(q.status, 'failed');
      assert.equal((await g.usage.studies.get('killed'))!.epsilonSpent, 0);
    } finally {
      await g.close();
    }
  });
});
