/**
 * The writer signs only what it wrote. Attacks as tests: an application role that forges a row, an
 * owner or superuser who writes or rewrites rows past the append function; each is refused or
 * caught, never signed over, and the gateway keeps serving reads while it refuses writes.
 */
import { strict as assert } from 'node:assert';
import type { Knex } from 'knex';
import type { Database } from '../storage-layer/db';
import type { Ledger } from '../storage-layer/ledger';
import { leafHash } from '../storage-layer/merkle';
import { LedgerIntegrityError } from '../storage-layer/ledger-errors';
import { APP_ROLE } from '../storage-layer/ledger-schema';
import { openTestDatabase, onRealPostgres, ownerOf } from './support/db';
import { openTestLedger } from './support/ledger';
import { startTestGateway } from './support/gateway';

const ZERO = Buffer.alloc(32);

/** Calls the append function directly, as anyone holding the application role's credentials could. */
function callAppend(knex: Knex, args: { firstSeq: number; prev: Buffer; time?: string; kinds?: string[]; actors?: string[]; payloads: string[]; leaves: Buffer[] }) {
  const payloads = args.payloads.map((p) => Buffer.from(p));
  const offsets = payloads.map((_, i) => payloads.slice(0, i).reduce((n, p) => n + p.length, 0));
  return knex.raw('SELECT hgd_ledger_append(?::bigint, ?::bytea, ?::text, ?::text[], ?::text[], ?::bytea, ?::integer[], ?::integer[], ?::bytea)', [
    args.firstSeq, args.prev, args.time ?? new Date().toISOString(), args.kinds ?? args.payloads.map(() => 'consent'),
    args.actors ?? args.payloads.map(() => 'patient:mallory'), Buffer.concat(payloads), offsets, payloads.map((p) => p.length), Buffer.concat(args.leaves),
  ]);
}

/** The canonical bytes the function builds for a consent entry. */
function consentBytes(seq: number, prev: Buffer, time: string, payload: string): Buffer {
  return Buffer.from(`{"actor":"patient:mallory","kind":"consent","payload":${payload},"prev":"${prev.toString('hex')}","seq":${seq},"time":"${time}","v":1}`);
}

async function asOwner(db: Database, work: (trx: Knex.Transaction) => Promise<unknown>, replica = false): Promise<void> {
  await ownerOf(db).knex.transaction(async (trx) => {
    if (replica) await trx.raw('SET LOCAL session_replication_role = replica');
    await work(trx);
  });
}

describe('the ledger writer signs only what it wrote', () => {
  let db: Database;
  let ledger: Ledger;

  beforeEach(async () => {
    db = await openTestDatabase();
    ledger = await openTestLedger(db, { checkpointEvery: 5 });
    for (let i = 0; i < 9; i++) await ledger.append({ kind: 'ingestion', actor: 'provider:acme', payload: { i } });
    await ledger.checkpointNow();
  });
  afterEach(async () => {
    await ledger.close();
    await db.close();
  });

  describe('the application role', () => {
    before(function () {
      if (!onRealPostgres) this.skip(); // roles mean nothing in single-user PGlite; CI runs these on PostgreSQL
    });

    it('connects as the restricted role, not as the owner', async () => {
      const who = (await db.knex.raw('SELECT current_user AS u')).rows[0].u;
      assert.equal(who, APP_ROLE);
      const owner = (await db.knex.raw("SELECT tableowner FROM pg_tables WHERE tablename = 'ledger_entries' AND schemaname = current_schema()")).rows[0].tableowner;
      assert.notEqual(owner, APP_ROLE);
    });

    it('cannot INSERT a forged ledger row directly, even a correctly chained one', async () => {
      const head = await ledger.getEntry(9);
      const time = new Date().toISOString();
      const canonical = consentBytes(10, Buffer.from(head.leafHash, 'hex'), time, '{"grant":"invented"}');
      const row = { seq: 10, kind: 'consent', actor: 'patient:mallory', recorded_at: time, canonical, leaf_hash: leafHash(canonical), prev_hash: Buffer.from(head.leafHash, 'hex') };
      await assert.rejects(db.knex('ledger_entries').insert(row), /permission denied/);
      await ledger.sync();
      assert.equal(ledger.size, 10);
    });

    it('cannot UPDATE, DELETE, TRUNCATE, disable a trigger or set session_replication_role', async () => {
      await assert.rejects(db.knex('ledger_entries').update({ actor: 'x' }).where({ seq: 1 }), /permission denied/);
      await assert.rejects(db.knex('ledger_entries').where({ seq: 1 }).del(), /permission denied/);
      await assert.rejects(db.knex.raw('TRUNCATE ledger_entries'), /permission denied/);
      await assert.rejects(db.knex.raw('ALTER TABLE ledger_entries DISABLE TRIGGER USER'), /must be owner/);
      await assert.rejects(db.knex.raw('ALTER TABLE ledger_entries DISABLE TRIGGER ALL'), /must be owner/);
      await assert.rejects(db.knex.raw('SET session_replication_role = replica'), /permission denied/);
      await assert.rejects(db.knex('ledger_checkpoints').del(), /permission denied/);
      await assert.rejects(db.knex('hgd_migrations').insert({ id: 'skip-me' }), /permission denied/);
    });

    it('can do what the gateway needs on the other tables', async () => {
      await db.knex.raw('CREATE TEMP TABLE probe (x int)'); // not a schema object: temp tables stay possible
      const tables = (await db.knex.raw("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename NOT LIKE 'ledger_%' AND tablename <> 'hgd_migrations'")).rows as Array<{ tablename: string }>;
      for (const { tablename } of tables) {
        for (const p of ['SELECT', 'INSERT', 'UPDATE', 'DELETE']) {
          const ok = (await db.knex.raw('SELECT has_table_privilege(current_user, ?, ?) AS ok', [tablename, p])).rows[0].ok;
          assert.equal(ok, true, `${p} on ${tablename}`);
        }
      }
    });
  });

  describe('the append function (also on PGlite)', () => {
    it('refuses leaf hashes it did not compute itself', async () => {
      const head = await ledger.getEntry(9);
      await assert.rejects(callAppend(db.knex, { firstSeq: 10, prev: Buffer.from(head.leafHash, 'hex'), payloads: ['{"grant":"x"}'], leaves: [Buffer.alloc(32, 7)] }), /leaf hashes differ/);
      await ledger.sync();
      assert.equal((ledger.damage), null);
    });

    it('refuses a batch that does not continue the head, or names another predecessor', async () => {
      const head = await ledger.getEntry(9);
      const time = new Date().toISOString();
      const prev = Buffer.from(head.leafHash, 'hex');
      const leafAt = (seq: number, p: Buffer) => leafHash(consentBytes(seq, p, time, '{}'));
      await assert.rejects(callAppend(db.knex, { firstSeq: 12, prev, time, payloads: ['{}'], leaves: [leafAt(12, prev)] }), /head moved/);
      await assert.rejects(callAppend(db.knex, { firstSeq: 5, prev, time, payloads: ['{}'], leaves: [leafAt(5, prev)] }), /head moved/);
      await assert.rejects(callAppend(db.knex, { firstSeq: 10, prev: ZERO, time, payloads: ['{}'], leaves: [leafAt(10, ZERO)] }), /rewritten/);
    });

    it('refuses a payload that is not one JSON object, and malformed batches', async () => {
      const head = await ledger.getEntry(9);
      const time = new Date().toISOString();
      const prev = Buffer.from(head.leafHash, 'hex');
      for (const payload of ['[1]', '{"a":1},"prev":"00","x":{"b":2}', '{"a":']) {
        const leaf = leafHash(consentBytes(10, prev, time, payload));
        await assert.rejects(callAppend(db.knex, { firstSeq: 10, prev, time, payloads: [payload], leaves: [leaf] }), /JSON|json/, payload);
      }
      await assert.rejects(callAppend(db.knex, { firstSeq: 10, prev, time, kinds: ['forged'], payloads: ['{}'], leaves: [ZERO] }), /kind/);
      await assert.rejects(callAppend(db.knex, { firstSeq: 10, prev, time: 'yesterday', payloads: ['{}'], leaves: [ZERO] }), /time/);
      await assert.rejects(callAppend(db.knex, { firstSeq: 10, prev, payloads: ['{}', '{}'], leaves: [ZERO] }), /one batch/);
      await ledger.sync();
      assert.equal(ledger.size, 10);
    });
  });

  describe('a row the owner or a superuser wrote past the function', () => {
    it('with a wrong leaf hash: sync() stops before it, it is never signed, writes get 503, reads go on', async () => {
      const head = await ledger.getEntry(9);
      const time = new Date().toISOString();
      const prev = Buffer.from(head.leafHash, 'hex');
      const canonical = consentBytes(10, prev, time, '{"grant":"invented"}');
      await asOwner(db, (trx) => trx('ledger_entries').insert({ seq: 10, kind: 'consent', actor: 'patient:mallory', recorded_at: time, canonical, leaf_hash: Buffer.alloc(32, 1), prev_hash: prev }));
      await ledger.sync();
      assert.deepEqual([ledger.damage?.seq, ledger.damage?.kind], [10, 'modified']);
      assert.equal(ledger.size, 10, 'the tree stops before the bad row');
      const cp = await ledger.checkpointNow();
      assert.equal(cp!.treeSize, 10, 'no checkpoint covers it');
      const refused = await ledger.append({ kind: 'query', actor: 'r', payload: {} }).then(() => null, (e: unknown) => e);
      assert.ok(refused instanceof LedgerIntegrityError);
      assert.equal(refused.code, 'ledger_damaged');
      assert.match(refused.message, /damaged at entry 10.*restores it to the last witnessed checkpoint/);
      await assert.rejects(db.knex.transaction((trx) => ledger.appendWithin(trx, [{ kind: 'query', actor: 'r', payload: {} }])), LedgerIntegrityError);
      assert.equal((await ledger.getEntry(10)).kind, 'consent', 'reads go on');
      assert.equal((await ledger.entryWithProof(4)).proof.treeSize, 10);
      await assert.rejects(ledger.entryWithProof(10), /not covered by the verified ledger/);
    });

    it('correctly hashed but naming another predecessor: caught, never signed', async () => {
      const time = new Date().toISOString();
      const canonical = consentBytes(10, ZERO, time, '{"grant":"invented"}');
      await asOwner(db, (trx) => trx('ledger_entries').insert({ seq: 10, kind: 'consent', actor: 'patient:mallory', recorded_at: time, canonical, leaf_hash: leafHash(canonical), prev_hash: Buffer.alloc(32, 3) }));
      await ledger.sync();
      assert.equal(ledger.damage?.kind, 'modified');
      assert.equal((await ledger.checkpointNow())!.treeSize, 10);
    });

    it('rewriting the head the writer already holds (triggers off): the next append is refused and the ledger degrades', async () => {
      await asOwner(db, async (trx) => {
        const row = await trx('ledger_entries').where({ seq: 9 }).first();
        const text = Buffer.from(row.canonical).toString('utf8').replace('"i":8', '"i":88');
        await trx('ledger_entries').where({ seq: 9 }).update({ canonical: Buffer.from(text), leaf_hash: leafHash(Buffer.from(text)) });
      }, true);
      await assert.rejects(ledger.append({ kind: 'query', actor: 'r', payload: {} }), /rewritten|damaged/);
      assert.equal(ledger.damage?.seq, 9);
      await assert.rejects(ledger.append({ kind: 'query', actor: 'r', payload: {} }), LedgerIntegrityError);
      assert.equal((await ledger.checkpointNow())!.treeSize, 10, 'signatures stay on the tree the writer verified');
    });

    it('a gateway opening a damaged ledger starts degraded instead of failing', async () => {
      const time = new Date().toISOString();
      const canonical = consentBytes(10, ZERO, time, '{}');
      await asOwner(db, (trx) => trx('ledger_entries').insert({ seq: 10, kind: 'consent', actor: 'patient:mallory', recorded_at: time, canonical, leaf_hash: Buffer.alloc(32, 5), prev_hash: Buffer.alloc(32, 6) }));
      const second = await openTestLedger(db);
      try {
        assert.equal(second.damage?.seq, 10);
        assert.equal(second.size, 10);
        assert.equal((await second.getEntry(3)).seq, 3);
      } finally {
        await second.close();
      }
    });
  });
});

describe('a damaged ledger over HTTP', function () {
  this.timeout(60_000);

  it('reports degraded health, answers writes 503 with the reason, keeps serving reads', async () => {
    const gw = await startTestGateway();
    try {
      const admin = await gw.token({ role: 'admin', sub: 'admin-1' });
      const auditor = await gw.token({ role: 'auditor', sub: 'auditor-1' });
      const study = (id: string) => gw.request('POST', '/admin/studies', { token: admin, contentType: 'application/json', body: JSON.stringify({ id, title: 'T', purpose: 'HRESCH' }) });
      assert.equal((await study('s1')).status, 201);
      await gw.gateway.ledger.sync();
      const size = gw.gateway.ledger.size;
      const time = new Date().toISOString();
      await asOwner(gw.gateway.db, (trx) => trx('ledger_entries').insert({ seq: size, kind: 'admin', actor: 'admin:mallory', recorded_at: time, canonical: Buffer.from('{}'), leaf_hash: Buffer.alloc(32, 1), prev_hash: Buffer.alloc(32, 2) }));
      await gw.gateway.ledger.sync();
      const health = await gw.request('GET', '/health');
      assert.deepEqual([health.status, health.body.status, health.body.ledger.damaged.seq], [200, 'degraded', size]);
      const refused = await study('s2');
      assert.equal(refused.status, 503);
      assert.equal(refused.body.error, 'ledger_damaged');
      assert.match(refused.body.message, new RegExp(`damaged at entry ${size}`));
      assert.equal(await gw.gateway.db.knex('studies').where({ id: 's2' }).first(), undefined, 'the refused write left nothing behind');
      assert.equal((await gw.request('GET', '/ledger/entries/1', { token: auditor })).status, 200);
      assert.equal((await gw.request('GET', '/ledger/checkpoint')).status, 200);
    } finally {
      await gw.close();
    }
  });
});
