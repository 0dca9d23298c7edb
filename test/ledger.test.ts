import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDatabase, type Database } from '../storage-layer/db';
import { Ledger } from '../storage-layer/ledger';
import { generateSigningKey } from '../storage-layer/signing-key';
import { verifyLedger } from '../storage-layer/verify-ledger';
import { verifyInclusion } from '../storage-layer/merkle';
import { logTrustedKey, type SignedCheckpoint } from '../storage-layer/checkpoint';
import { leafHash } from '../storage-layer/merkle';
import { parseNote, verifyLogSignature } from '../storage-layer/note';
import { nodeCrypto } from '../storage-layer/node-crypto';
import { openPeer, openTestDatabase, onRealPostgres, ownerOf } from './support/db';
import { openTestLedger } from './support/ledger';
import { trustOf } from './support/witnesses';

const signedBy = (cp: SignedCheckpoint, publicKey: string) => verifyLogSignature(nodeCrypto, parseNote(cp.note), [logTrustedKey(cp.origin, publicKey)]) !== null;

describe('ledger', () => {
  let db: Database;
  let ledger: Ledger;

  beforeEach(async () => {
    db = await openTestDatabase();
    ledger = await openTestLedger(db, { checkpointEvery: 10 });
  });
  afterEach(async () => {
    await ledger.close();
    await db.close();
  });

  it('appends entries that chain, hash and verify', async () => {
    const receipts = [];
    for (let wave = 0; wave < 5; wave++) {
      // Five concurrent producers a wave: each wave is one group commit.
      receipts.push(...(await Promise.all(Array.from({ length: 5 }, (_, i) => ledger.append({ kind: 'ingestion', actor: 'provider:acme', payload: { batch: wave * 5 + i } })))));
    }
    const seqs = receipts.map((r) => r.seq).sort((a, b) => a - b);
    assert.deepEqual(seqs, Array.from({ length: 25 }, (_, i) => i + 1)); // entry 0 publishes the key
    for (const r of receipts) {
      const entry = await ledger.getEntry(r.seq);
      assert.equal(entry.leafHash, r.leafHash);
      assert.equal(leafHash(Buffer.from(entry.canonical, 'utf8')).toString('hex'), r.leafHash);
      const previous = await ledger.getEntry(r.seq - 1);
      assert.equal(entry.prevHash, previous.leafHash, `prev of ${r.seq}`);
      if (!r.checkpoint && !r.checkpointDueBy) assert.fail(`receipt ${JSON.stringify(r)} carries no checkpoint nor promise`);
    }
    const report = await verifyLedger(db, { trust: trustOf([ledger.signingKey], []) });
    assert.equal(report.ok, true, JSON.stringify(report.damage));
    assert.equal(report.trusted, true);
    assert.equal(report.entries, 26);
    assert.ok(report.checkpointsChecked >= 2, `checked ${report.checkpointsChecked} checkpoints`);
  });

  it('stores the exact canonical bytes that were hashed, with the key entry first', async () => {
    const first = await ledger.getEntry(0);
    const body = JSON.parse(first.canonical);
    assert.equal(body.kind, 'key');
    assert.equal(body.payload.publicKey, ledger.signingKey.publicKeyBase64);
    assert.equal(body.prev, '0'.repeat(64));
  });

  it('serves an inclusion proof that verifies against a signed checkpoint', async () => {
    const r = await ledger.append({ kind: 'consent', actor: 'patient:p1', payload: { grant: 'g1' } });
    const { entry, proof, checkpoint } = await ledger.entryWithProof(r.seq);
    assert.ok(signedBy(checkpoint, ledger.signingKey.publicKeyBase64));
    assert.ok(!signedBy(checkpoint, generateSigningKey().publicKeyBase64));
    assert.ok(verifyInclusion(Buffer.from(entry.leafHash, 'hex'), proof.leafIndex, proof.treeSize, proof.hashes.map((h) => Buffer.from(h, 'hex')), Buffer.from(checkpoint.rootHash, 'hex')));
  });

  it('stores actors and payloads with quotes, backslashes and placeholders verbatim', async () => {
    const actor = "provider:o'brien \\x ?? $1 :name";
    const r = await ledger.append({ kind: 'ingestion', actor, payload: { note: "?'\\" } });
    const entry = await ledger.getEntry(r.seq);
    assert.equal(entry.actor, actor);
    assert.deepEqual(JSON.parse(entry.canonical).payload, { note: "?'\\" });
    assert.equal((await verifyLedger(db)).ok, true);
  });

  it('rejects bad input with a typed error naming the field', async () => {
    await assert.rejects(ledger.append({ kind: 'bogus' as 'query', actor: 'x', payload: {} }), /kind/);
    await assert.rejects(ledger.append({ kind: 'query', actor: '', payload: {} }), /actor/);
    await assert.rejects(ledger.append({ kind: 'query', actor: 'x', payload: [] as unknown as Record<string, unknown> }), /payload/);
    assert.equal((await verifyLedger(db)).ok, true);
  });

  it('refuses UPDATE, DELETE and TRUNCATE through its triggers, even to the owner', async () => {
    const owner = ownerOf(db).knex;
    await ledger.append({ kind: 'query', actor: 'researcher:r', payload: {} });
    await assert.rejects(owner('ledger_entries').update({ actor: 'mallory' }).where({ seq: 1 }), /append-only/);
    await assert.rejects(owner('ledger_entries').where({ seq: 1 }).del(), /append-only/);
    await assert.rejects(owner.raw('TRUNCATE ledger_entries'), /append-only/);
    await ledger.checkpointNow();
    await assert.rejects(owner('ledger_checkpoints').del(), /append-only/);
    await assert.rejects(owner.raw('TRUNCATE ledger_cosignatures'), /append-only/);
    assert.equal((await verifyLedger(db)).ok, true);
  });

  it('refuses a fork at the database level (UNIQUE(seq), UNIQUE(prev_hash))', async () => {
    await ledger.append({ kind: 'query', actor: 'r', payload: {} });
    const head = await ledger.getEntry(1);
    const row = { seq: 99, kind: 'query', actor: 'r', recorded_at: new Date(), canonical: Buffer.from('{}'), leaf_hash: Buffer.alloc(32, 1), prev_hash: Buffer.from(head.prevHash, 'hex') };
    const owner = ownerOf(db).knex; // the application role cannot insert at all (test/ledger-integrity.test.ts)
    await assert.rejects(owner('ledger_entries').insert(row), /unique|duplicate/i);
    await assert.rejects(owner('ledger_entries').insert({ ...row, seq: 1, prev_hash: Buffer.alloc(32, 2) }), /unique|duplicate/i);
  });

  it('gives consistency proofs between sizes and rejects bad ranges', async () => {
    for (let i = 0; i < 12; i++) await ledger.append({ kind: 'query', actor: 'r', payload: { i } });
    const c = await ledger.consistency(3, 12);
    assert.equal(c.toRoot, ledger.root(12).toString('hex'));
    await assert.rejects(ledger.consistency(0, 5), /from/);
    await assert.rejects(ledger.consistency(5, 4), /to/);
    await assert.rejects(ledger.consistency(1, 1000), /tree size/);
  });
});

describe('ledger across restarts', () => {
  it('continues the same chain after the process reopens the database', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hgd-ledger-'));
    const open = async () => (onRealPostgres ? null : openDatabase({ pgliteDir: dir }));
    let db = (await open()) ?? (await openTestDatabase());
    const shared = db;
    let ledger = await openTestLedger(db);
    for (let i = 0; i < 5; i++) await ledger.append({ kind: 'ingestion', actor: 'p', payload: { i } });
    await ledger.close();
    if (!onRealPostgres) {
      await db.close();
      db = (await open())!;
    } else {
      db = await openPeer(shared);
    }
    ledger = await openTestLedger(db);
    assert.equal(ledger.size, 7); // 6 entries, then the entry that publishes the new process's key
    const r = await ledger.append({ kind: 'ingestion', actor: 'p', payload: { i: 5 } });
    assert.equal(r.seq, 7);
    const report = await verifyLedger(db);
    assert.equal(report.ok, true, JSON.stringify(report.damage));
    await ledger.close();
    await db.close();
    if (onRealPostgres) await shared.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
