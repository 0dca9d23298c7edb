/**
 * The verifier catches what an owner or superuser can do to the tables (triggers off), and names the
 * first entry that differs. Trusted keys come from the test (as from configuration), never from the ledger.
 */
import { strict as assert } from 'node:assert';
import type { Knex } from 'knex';
import type { Database } from '../storage-layer/db';
import type { Ledger } from '../storage-layer/ledger';
import { verifyLedger, type VerifyOptions } from '../storage-layer/verify-ledger';
import { leafHash, MerkleTree } from '../storage-layer/merkle';
import { generateSigningKey, type SigningKey } from '../storage-layer/signing-key';
import { signCheckpoint } from '../storage-layer/checkpoint';
import { exportCheckpoint, parseExportedCheckpoint } from '../storage-layer/checkpoint-export';
import type { ExternalCheckpoint } from '../storage-layer/verify/verifier';
import type { Trust } from '../storage-layer/verify/trust';
import { concatBytes, toBase64 } from '../storage-layer/bytes';
import { openTestDatabase, ownerOf } from './support/db';
import { openTestLedger } from './support/ledger';
import { startTestWitnesses, trustOf, type TestWitnesses } from './support/witnesses';

/** What a database superuser can do: switch the triggers off for their session and rewrite rows. */
async function asSuperuser(db: Database, work: (trx: Knex.Transaction) => Promise<unknown>): Promise<void> {
  await ownerOf(db).knex.transaction(async (trx) => {
    await trx.raw('SET LOCAL session_replication_role = replica');
    await work(trx);
  });
}

/** Deletes the checkpoints (and their cosignatures) above `size`, as an attacker hiding a rewrite would. */
async function dropCheckpointsAbove(trx: Knex.Transaction, size: number): Promise<void> {
  await trx('ledger_cosignatures').where('tree_size', '>', size).del();
  await trx('ledger_checkpoints').where('tree_size', '>', size).del();
}

/** Rewrites entry `from` with `edit` and recomputes every later hash, as a careful attacker would. */
async function rewriteAndRechain(trx: Knex.Transaction, from: number, edit: (text: string) => string): Promise<void> {
  const rows = await trx('ledger_entries').where('seq', '>=', from).orderBy('seq');
  let prev: Buffer | null = null;
  for (const row of rows) {
    let text = Buffer.from(row.canonical).toString('utf8');
    if (Number(row.seq) === from) text = edit(text);
    if (prev) text = text.replace(/"prev":"[0-9a-f]{64}"/, `"prev":"${prev.toString('hex')}"`);
    const leaf = leafHash(Buffer.from(text));
    const kind = JSON.parse(text).kind as string;
    await trx.raw('UPDATE ledger_entries SET canonical = ?, leaf_hash = ?, prev_hash = ?, kind = ? WHERE seq = ?', [Buffer.from(text), leaf, prev ?? row.prev_hash, kind, row.seq]);
    prev = leaf;
  }
}

describe('ledger verifier catches tampering', function () {
  this.timeout(120_000);
  let db: Database;
  let ledger: Ledger;
  let key: SigningKey;
  let shared: TestWitnesses;
  let w: TestWitnesses;
  let trust: Trust;
  let exported: ExternalCheckpoint;
  let run = 0;
  const verify = (opts: Omit<VerifyOptions, 'trust'> = {}) => verifyLedger(db, { trust, ...opts });
  /** Each witness's own latest cosigned checkpoint: evidence kept outside the gateway's database. */
  const witnessStates = async (): Promise<ExternalCheckpoint[]> =>
    (await Promise.all(w.witnesses.map(async (x) => ({ label: `witness ${x.name}`, note: (await x.latest())!.note }))));

  before(async () => {
    key = generateSigningKey();
    shared = await startTestWitnesses(key);
  });
  after(() => shared.close());

  beforeEach(async () => {
    const origin = `tamper-${++run}.hgd.local/ledger`;
    w = await startTestWitnesses(key, { origin, reuse: shared });
    trust = trustOf([key], w.endpoints, 2, origin);
    db = await openTestDatabase();
    ledger = await openTestLedger(db, { signingKey: key, origin, checkpointEvery: 1000, witnesses: w.endpoints, quorum: 2, transport: w.transport });
    for (let i = 0; i < 39; i++) {
      await ledger.append({ kind: 'ingestion', actor: 'provider:acme', payload: { batch: i, records: `sha256:${i}` } });
      if ((i + 2) % 10 === 0) await ledger.publish(); // witnessed checkpoints at 10, 20, 30 and 40
    }
    const cp = (await ledger.publish())!;
    assert.deepEqual([cp.treeSize, cp.cosignatures.length], [40, 3]);
    const leaves = concatBytes(...Array.from({ length: 40 }, (_, i) => ledger.leaf(i)));
    exported = parseExportedCheckpoint(JSON.stringify(exportCheckpoint(cp, { origin, logKeys: [key.publicKeyBase64], witnesses: w.endpoints, quorum: 2 }, leaves)));
    await ledger.close();
    const clean = await verify({ external: [exported, ...(await witnessStates())] });
    assert.equal(clean.ok, true, JSON.stringify(clean.damage));
    assert.deepEqual([clean.witnessedCheckpoints >= 4, clean.externalCheckpointsChecked, clean.latestWitnessedSize], [true, 4, 40]);
  });
  afterEach(() => db.close());

  it('a modified row (bytes changed, hash left alone) is named, with kind "modified"', async () => {
    await asSuperuser(db, async (trx) => {
      const row = await trx('ledger_entries').where({ seq: 17 }).first();
      const text = Buffer.from(row.canonical).toString('utf8').replace('"batch":16', '"batch":99');
      await trx('ledger_entries').where({ seq: 17 }).update({ canonical: Buffer.from(text) });
    });
    const r = await verify();
    assert.deepEqual([r.ok, r.damage?.seq, r.damage?.kind], [false, 17, 'modified']);
  });

  it('a modified row whose leaf hash was recomputed is still named', async () => {
    await asSuperuser(db, async (trx) => {
      const row = await trx('ledger_entries').where({ seq: 23 }).first();
      const text = Buffer.from(row.canonical).toString('utf8').replace('"batch":22', '"batch":0');
      await trx('ledger_entries').where({ seq: 23 }).update({ canonical: Buffer.from(text), leaf_hash: leafHash(Buffer.from(text)) });
    });
    const r = await verify();
    assert.deepEqual([r.ok, r.damage?.seq, r.damage?.kind], [false, 23, 'modified']);
  });

  it('a deleted row is named, with kind "deleted"', async () => {
    await asSuperuser(db, (trx) => trx('ledger_entries').where({ seq: 12 }).del());
    const r = await verify();
    assert.deepEqual([r.ok, r.damage?.seq, r.damage?.kind], [false, 12, 'deleted']);
  });

  it('two swapped rows are named, with kind "reordered"', async () => {
    await asSuperuser(db, async (trx) => {
      await trx.raw('UPDATE ledger_entries SET seq = 1000000 WHERE seq = 30');
      await trx.raw('UPDATE ledger_entries SET seq = 30 WHERE seq = 31');
      await trx.raw('UPDATE ledger_entries SET seq = 31 WHERE seq = 1000000');
    });
    const r = await verify();
    assert.deepEqual([r.ok, r.damage?.seq, r.damage?.kind], [false, 30, 'reordered']);
  });

  it('a re-chained rewrite from some seq, its checkpoints deleted: invisible to the database alone, named exactly against the exported checkpoint', async () => {
    await asSuperuser(db, async (trx) => {
      await rewriteAndRechain(trx, 25, (t) => t.replace('"batch":24', '"batch":2400'));
      await dropCheckpointsAbove(trx, 20);
    });
    assert.equal((await verify()).ok, true, 'without an outside anchor this rewrite is invisible');
    const byWitnesses = await verify({ external: await witnessStates() });
    assert.deepEqual([byWitnesses.ok, byWitnesses.damage?.kind, byWitnesses.damage?.seq], [false, 'modified', 20], 'a root says only that something after the last matching checkpoint changed');
    const r = await verify({ external: [exported] });
    assert.deepEqual([r.ok, r.damage?.seq, r.damage?.kind], [false, 25, 'modified']);
    assert.match(r.damage!.detail, /entry 25 differs from its record/);
  });

  it('a re-chained rewrite that keeps the witnessed checkpoints is caught by them', async () => {
    await asSuperuser(db, (trx) => rewriteAndRechain(trx, 5, (t) => t.replace('"batch":4', '"batch":404')));
    const r = await verify();
    assert.deepEqual([r.ok, r.damage?.kind, r.damage?.seq], [false, 'modified', 0]);
    assert.match(r.damage!.detail, /stored checkpoint/);
    assert.equal((await verify({ external: [exported] })).damage?.seq, 5);
  });

  it('a cut tail with its checkpoints removed: caught against the witnesses, named at its first missing entry', async () => {
    await asSuperuser(db, async (trx) => {
      await trx('ledger_entries').where('seq', '>=', 35).del();
      await dropCheckpointsAbove(trx, 30);
    });
    assert.equal((await verify()).ok, true, 'without an outside anchor this cut is invisible');
    for (const external of [await witnessStates(), [exported]]) {
      const r = await verify({ external });
      assert.deepEqual([r.ok, r.damage?.seq, r.damage?.kind], [false, 35, 'truncated']);
    }
  });

  /** Re-signs checkpoints above `above` with `signer`, every 10 entries, over the (rewritten) rows. */
  async function resign(trx: Knex.Transaction, signer: SigningKey, above: number): Promise<void> {
    const tree = new MerkleTree();
    for (const row of await trx('ledger_entries').orderBy('seq')) {
      tree.append(Buffer.from(row.leaf_hash));
      if (tree.size % 10 === 0 && tree.size > above) {
        const sig = signCheckpoint(signer, trust.origin, tree.size, tree.root());
        await trx('ledger_checkpoints').insert({ tree_size: tree.size, root_hash: tree.root(), signed_at: new Date(), key_id: sig.keyId, signature: Buffer.from(sig.signature), note: sig.note });
      }
    }
  }

  it('a planted key and re-signed checkpoints: the planted key entry is named', async () => {
    const planted = generateSigningKey();
    await asSuperuser(db, async (trx) => {
      await rewriteAndRechain(trx, 20, (t) => {
        const body = JSON.parse(t);
        return `{"actor":"system:ledger","kind":"key","payload":{"algorithm":"Ed25519","event":"checkpoint-key-published","keyId":"${planted.keyId}","publicKey":"${planted.publicKeyBase64}"},"prev":"${body.prev}","seq":20,"time":"${body.time}","v":1}`;
      });
      await trx('ledger_entries').where({ seq: 20 }).update({ actor: 'system:ledger' });
      await dropCheckpointsAbove(trx, 20);
      await resign(trx, planted, 20);
    });
    const r = await verify();
    assert.deepEqual([r.ok, r.damage?.seq, r.damage?.kind], [false, 20, 'untrusted-key']);
    const untrusted = await verifyLedger(db);
    assert.deepEqual([untrusted.ok, untrusted.trusted], [true, false], 'a verifier that learnt keys from the ledger would have passed it; without configured keys nothing is vouched for');
  });

  it('re-signed checkpoints without a key entry: their signatures do not verify with the trusted key', async () => {
    const planted = generateSigningKey();
    await asSuperuser(db, async (trx) => {
      await rewriteAndRechain(trx, 25, (t) => t.replace('"batch":24', '"batch":2400'));
      await dropCheckpointsAbove(trx, 20);
      await resign(trx, planted, 20);
    });
    const r = await verify();
    assert.deepEqual([r.ok, r.damage?.seq, r.damage?.kind], [false, 29, 'bad-checkpoint']);
    assert.equal((await verify({ external: [exported] })).damage?.seq, 25, 'the exported record names the entry');
  });

  it('a forged checkpoint row is reported as a bad checkpoint', async () => {
    await asSuperuser(db, async (trx) => {
      const row = await trx('ledger_checkpoints').where({ tree_size: 40 }).first();
      const lines = (row.note as string).split('\n');
      lines[2] = toBase64(new Uint8Array(32).fill(9)); // another root under the log's signature
      await trx('ledger_checkpoints').where({ tree_size: 40 }).update({ note: lines.join('\n') });
    });
    const r = await verify();
    assert.deepEqual([r.ok, r.damage?.kind], [false, 'bad-checkpoint']);
  });
});
