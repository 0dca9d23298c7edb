/** The checkpointer collects cosignatures from three in-process witnesses; a quorum (2 of 3) makes a checkpoint witnessed. */
import { strict as assert } from 'node:assert';
import type { Database } from '../storage-layer/db';
import type { Ledger } from '../storage-layer/ledger';
import { generateSigningKey, type SigningKey } from '../storage-layer/signing-key';
import { parseNote, verifyCosignatures } from '../storage-layer/note';
import { nodeCrypto } from '../storage-layer/node-crypto';
import { databaseSource, verifyLedger } from '../storage-layer/verify-ledger';
import { verifyEntries } from '../storage-layer/verify/verifier';
import { nobleCrypto } from '../storage-layer/noble-crypto';
import { parseAddCheckpoint } from '../storage-layer/witness/protocol';
import { openTestDatabase, ownerOf } from './support/db';
import { openTestLedger } from './support/ledger';
import { startTestWitnesses, trustOf, type TestWitnesses } from './support/witnesses';

describe('witnessed checkpoints', function () {
  this.timeout(120_000);
  let db: Database;
  let key: SigningKey;
  let w: TestWitnesses;
  let ledger: Ledger;
  let origin = '';
  let shared: TestWitnesses;
  let run = 0;
  const open = () => openTestLedger(db, { signingKey: key, origin, checkpointEvery: 1000, witnesses: w.endpoints, quorum: 2, transport: w.transport, witnessTimeoutMs: 2_000 });
  const fill = async (n: number) => {
    for (let i = 0; i < n; i++) await ledger.append({ kind: 'ingestion', actor: 'provider:acme', payload: { i } });
  };

  before(async () => {
    key = generateSigningKey();
    shared = await startTestWitnesses(key);
  });
  after(() => shared.close());
  beforeEach(async () => {
    // A log of its own for each test: the witnesses keep state per origin.
    origin = `test-${++run}.hgd.local/ledger`;
    w = await startTestWitnesses(key, { origin, reuse: shared });
    db = await openTestDatabase();
    ledger = await open();
  });
  afterEach(async () => {
    await ledger.close();
    await db.close();
  });

  it('publishing collects a cosignature from every witness; the note carries them; the verifier counts it witnessed', async () => {
    await fill(12);
    const cp = (await ledger.publish())!;
    assert.equal(cp.treeSize, 13);
    assert.equal(cp.cosignatures.length, 3);
    assert.ok(cp.witnessedAt, 'a quorum cosigned it');
    const note = parseNote(cp.note);
    assert.equal(note.signatures.length, 4, 'the log signature and three cosignatures');
    assert.equal(verifyCosignatures(nodeCrypto, note.body, note.signatures, trustOf([key], w.endpoints, 2, origin).witnesses).length, 3);
    const report = await verifyLedger(db, { trust: trustOf([key], w.endpoints, 2, origin) });
    assert.equal(report.ok, true, JSON.stringify(report.damage));
    assert.equal(report.latestWitnessedSize, 13);
    // The same verifier on @noble instead of node:crypto (what the browser runs) agrees.
    const browser = await verifyEntries({ source: databaseSource(db), crypto: nobleCrypto, trust: trustOf([key], w.endpoints, 2, origin) });
    assert.deepEqual([browser.ok, browser.entries, browser.latestWitnessedSize], [true, 13, 13]);
  });

  it('sends each witness a consistency proof from the size it cosigned last', async () => {
    await fill(5);
    await ledger.publish();
    await fill(7);
    await ledger.publish();
    const last = parseAddCheckpoint(w.requests.get(w.endpoints[0]!.name)!.at(-1)!);
    assert.equal(last.oldSize, 6);
    assert.ok(last.proof.length > 0);
  });

  it('one witness down: still witnessed (2 of 3); two down: not witnessed, and publishing does not hang', async () => {
    await fill(4);
    w.down.add(w.endpoints[2]!.name);
    const two = (await ledger.publish())!;
    assert.equal(two.cosignatures.length, 2);
    assert.ok(two.witnessedAt);
    await fill(3);
    w.down.add(w.endpoints[1]!.name);
    const t0 = Date.now();
    const one = (await ledger.publish())!;
    assert.ok(Date.now() - t0 < 5_000);
    assert.equal(one.cosignatures.length, 1);
    assert.equal(one.witnessedAt, null);
    // The witness that missed a round catches up from the size it last cosigned.
    w.down.clear();
    await fill(1);
    const all = (await ledger.publish())!;
    assert.equal(all.cosignatures.length, 3);
  });

  it('an entry\'s receipt says when it became witnessed', async () => {
    await fill(3);
    const r = await ledger.append({ kind: 'consent', actor: 'patient:p', payload: { grant: 'g' } });
    assert.equal(r.witnessedAt, null, 'not yet at append time');
    const cp = (await ledger.publish())!;
    const later = await ledger.entryWithProof(r.seq);
    assert.equal(later.witnessedAt, cp.witnessedAt);
    assert.equal(later.checkpoint.treeSize, cp.treeSize, 'the proof is against the latest witnessed checkpoint');
    await fill(2);
    await ledger.publish();
    assert.equal((await ledger.entryWithProof(r.seq)).witnessedAt, cp.witnessedAt, 'the first witnessed checkpoint covering it');
  });

  it('a tail cut in the database is caught by the gateway itself: the witnesses have seen a longer ledger', async () => {
    await fill(20);
    await ledger.publish();
    await ledger.close();
    await ownerOf(db).knex.transaction(async (trx) => {
      await trx.raw('SET LOCAL session_replication_role = replica');
      await trx('ledger_cosignatures').del();
      await trx('ledger_checkpoints').del();
      await trx('ledger_entries').where('seq', '>=', 15).del();
    });
    ledger = await open();
    await ledger.publish();
    assert.deepEqual([ledger.damage?.kind, ledger.damage?.seq], ['truncated', 15]);
    assert.match(ledger.damage!.detail, /has cosigned a tree of 21 entries but the ledger holds 15/);
  });
});
