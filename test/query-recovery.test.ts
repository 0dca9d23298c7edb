import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { createGateway, type Gateway } from '../app/gateway';
import type { Database } from '../storage-layer/db';
import type { Coordinator } from '../usage-layer/coordinator';
import { openTestDatabase } from './support/db';
import { testConfig } from './support/config';

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
