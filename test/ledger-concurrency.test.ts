import { strict as assert } from 'node:assert';
import type { Database } from '../storage-layer/db';
import type { Ledger } from '../storage-layer/ledger';
import { verifyLedger } from '../storage-layer/verify-ledger';
import { openPeer, openTestDatabase, onRealPostgres } from './support/db';
import { openTestLedger } from './support/ledger';

const WRITERS = 8;
const PER_WRITER = onRealPostgres ? 600 : 250;
const IN_FLIGHT = 25;

/** One writer: its own connection pool and its own Ledger, like a separate gateway process. */
async function runWriter(ledger: Ledger, id: number): Promise<number[]> {
  const seqs: number[] = [];
  for (let i = 0; i < PER_WRITER; i += IN_FLIGHT) {
    const wave = Array.from({ length: Math.min(IN_FLIGHT, PER_WRITER - i) }, (_, j) =>
      ledger.append({ kind: 'ingestion', actor: `writer:${id}`, payload: { writer: id, n: i + j } }));
    for (const r of await Promise.all(wave)) seqs.push(r.seq);
  }
  return seqs;
}

describe('ledger under concurrent writers', function () {
  this.timeout(120_000);
  const dbs: Database[] = [];
  const ledgers: Ledger[] = [];
  let main: Database;

  before(async () => {
    main = await openTestDatabase();
    for (let w = 0; w < WRITERS; w++) {
      // On PostgreSQL every writer has its own pool; PGlite has one connection, so the writers
      // share it (the group-commit queue is still exercised by eight concurrent producers).
      const db = onRealPostgres ? await openPeer(main, { poolMax: 2 }) : main;
      if (onRealPostgres) dbs.push(db);
      ledgers.push(await openTestLedger(db, { checkpointEvery: 200 }));
    }
  });
  after(async () => {
    for (const l of ledgers) await l.close();
    for (const d of dbs) await d.close();
    await main.close();
  });

  it(`${WRITERS} writers append ${WRITERS * PER_WRITER} entries with no fork, no gap and nothing lost`, async () => {
    const perWriter = await Promise.all(ledgers.map((l, w) => runWriter(l, w)));
    const all = perWriter.flat();
    assert.equal(new Set(all).size, WRITERS * PER_WRITER, 'every append got its own seq');

    const rows = await main.knex('ledger_entries').select('seq', 'actor').orderBy('seq');
    assert.equal(rows.length, WRITERS * PER_WRITER + WRITERS, 'each writer\'s entries plus one key entry per writer');
    rows.forEach((r: { seq: number }, i: number) => assert.equal(Number(r.seq), i, 'no gap'));
    for (let w = 0; w < WRITERS; w++) {
      assert.equal(rows.filter((r: { actor: string }) => r.actor === `writer:${w}`).length, PER_WRITER, `writer ${w} lost nothing`);
    }
    const forks = await main.knex.raw('SELECT prev_hash, count(*) FROM ledger_entries GROUP BY prev_hash HAVING count(*) > 1');
    assert.equal(forks.rows.length, 0, 'no two entries share a predecessor');

    const report = await verifyLedger(main);
    assert.equal(report.ok, true, JSON.stringify(report.damage));
    assert.ok(report.checkpointsChecked > 0);
  });
});
