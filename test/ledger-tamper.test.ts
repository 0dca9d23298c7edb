import { strict as assert } from 'node:assert';
import type { Knex } from 'knex';
import type { Database } from '../storage-layer/db';
import type { Ledger } from '../storage-layer/ledger';
import { verifyLedger } from '../storage-layer/verify-ledger';
import { leafHash } from '../storage-layer/merkle';
import type { ExportedCheckpoint } from '../storage-layer/checkpoint';
import { openTestDatabase } from './support/db';
import { openTestLedger } from './support/ledger';

/** What a database superuser can do: switch the triggers off for their session and rewrite rows. */
async function asSuperuser(db: Database, work: (trx: Knex.Transaction) => Promise<void>): Promise<void> {
  await db.knex.transaction(async (trx) => {
    await trx.raw('SET LOCAL session_replication_role = replica');
    await work(trx);
  });
}

describe('ledger verifier catches tampering', () => {
  let db: Database;
  let ledger: Ledger;
  let exported: ExportedCheckpoint;

  beforeEach(async () => {
    db = await openTestDatabase();
    ledger = await openTestLedger(db, { checkpointEvery: 10 });
    for (let i = 0; i < 39; i++) await ledger.append({ kind: 'ingestion', actor: 'provider:acme', payload: { batch: i, records: `sha256:${i}` } });
    const cp = (await ledger.checkpointNow())!;
    assert.equal(cp.treeSize, 40);
    exported = { ...cp, publicKey: ledger.signingKey.publicKeyBase64 };
    await ledger.close();
    const clean = await verifyLedger(db, { external: exported });
    assert.equal(clean.ok, true, 'the untouched ledger verifies');
    assert.equal(clean.externalCheckpointChecked, true);
  });
  afterEach(() => db.close());

  it('a modified row (bytes changed, hash left alone) is named, with kind "modified"', async () => {
    await asSuperuser(db, async (trx) => {
      const row = await trx('ledger_entries').where({ seq: 17 }).first();
      const text = Buffer.from(row.canonical).toString('utf8').replace('"batch":16', '"batch":99');
      await trx('ledger_entries').where({ seq: 17 }).update({ canonical: Buffer.from(text) });
    });
    const r = await verifyLedger(db);
    assert.equal(r.ok, false);
    assert.deepEqual([r.damage?.seq, r.damage?.kind], [17, 'modified']);
  });

  it('a modified row whose leaf hash was recomputed is still named', async () => {
    await asSuperuser(db, async (trx) => {
      const row = await trx('ledger_entries').where({ seq: 23 }).first();
      const text = Buffer.from(row.canonical).toString('utf8').replace('"batch":22', '"batch":0');
      await trx('ledger_entries').where({ seq: 23 }).update({ canonical: Buffer.from(text), leaf_hash: leafHash(Buffer.from(text)) });
    });
    const r = await verifyLedger(db);
    assert.deepEqual([r.ok, r.damage?.seq, r.damage?.kind], [false, 23, 'modified']);
  });

  it('a deleted row is named, with kind "deleted"', async () => {
    await asSuperuser(db, (trx) => trx('ledger_entries').where({ seq: 12 }).del().then(() => undefined));
    const r = await verifyLedger(db);
    assert.deepEqual([r.ok, r.damage?.seq, r.damage?.kind], [false, 12, 'deleted']);
  });

  it('two swapped rows are named, with kind "reordered"', async () => {
    await asSuperuser(db, async (trx) => {
      await trx.raw('UPDATE ledger_entries SET seq = 1000000 WHERE seq = 30');
      await trx.raw('UPDATE ledger_entries SET seq = 30 WHERE seq = 31');
      await trx.raw('UPDATE ledger_entries SET seq = 31 WHERE seq = 1000000');
    });
    const r = await verifyLedger(db);
    assert.deepEqual([r.ok, r.damage?.seq, r.damage?.kind], [false, 30, 'reordered']);
  });

  it('a truncated tail is caught by the signed checkpoint, with kind "truncated"', async () => {
    await asSuperuser(db, (trx) => trx('ledger_entries').where('seq', '>=', 35).del().then(() => undefined));
    const r = await verifyLedger(db);
    assert.deepEqual([r.ok, r.damage?.seq, r.damage?.kind], [false, 35, 'truncated']);
  });

  it('a truncated tail with its checkpoints removed is caught by the exported checkpoint', async () => {
    await asSuperuser(db, async (trx) => {
      await trx('ledger_entries').where('seq', '>=', 35).del();
      await trx('ledger_checkpoints').where('tree_size', '>', 30).del();
    });
    assert.equal((await verifyLedger(db)).ok, true, 'without an outside anchor this cut is invisible');
    const r = await verifyLedger(db, { external: exported });
    assert.deepEqual([r.ok, r.damage?.seq, r.damage?.kind], [false, 35, 'truncated']);
  });

  it('a rewritten and fully re-chained history is caught by the checkpoints', async () => {
    await asSuperuser(db, async (trx) => {
      // Rewrite entry 5 and recompute every hash after it, as a careful attacker would.
      const rows = await trx('ledger_entries').where('seq', '>=', 5).orderBy('seq');
      let prev: Buffer | null = null;
      for (const row of rows) {
        let text = Buffer.from(row.canonical).toString('utf8');
        if (row.seq === 5) text = text.replace('"batch":4', '"batch":404');
        if (prev) text = text.replace(/"prev":"[0-9a-f]{64}"/, `"prev":"${prev.toString('hex')}"`);
        const leaf = leafHash(Buffer.from(text));
        await trx.raw('UPDATE ledger_entries SET canonical = ?, leaf_hash = ?, prev_hash = ? WHERE seq = ?', [Buffer.from(text), leaf, prev ?? row.prev_hash, row.seq]);
        prev = leaf;
      }
    });
    const r = await verifyLedger(db);
    assert.equal(r.ok, false);
    assert.equal(r.damage?.kind, 'modified');
    assert.ok(r.damage!.seq <= 5 && (r.damage!.before ?? 0) > 5, `damage ${JSON.stringify(r.damage)} brackets seq 5`);
  });

  it('a forged checkpoint row is reported as a bad checkpoint', async () => {
    await asSuperuser(db, (trx) => trx('ledger_checkpoints').where({ tree_size: 40 }).update({ root_hash: Buffer.alloc(32, 9) }).then(() => undefined));
    const r = await verifyLedger(db);
    assert.deepEqual([r.ok, r.damage?.kind], [false, 'bad-checkpoint']);
  });
});
