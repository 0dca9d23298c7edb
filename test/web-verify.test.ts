import { strict as assert } from 'node:assert';
import { startTestGateway, type TestGateway } from './support/gateway';
import { verifyCheckpointNote, verifyConsistencyAnswer, verifyInclusionAnswer } from '../web/src/audit/verify';
import { trustFromFile, type Trust } from '../storage-layer/verify/trust';
import { generateSigningKey } from '../storage-layer/signing-key';
import { openTestDatabase } from './support/db';
import { openTestLedger } from './support/ledger';
import { startTestWitnesses, trustOf } from './support/witnesses';

/**
 * The auditor page's checks (web/src/audit/verify.ts, noble in the browser) on a real gateway's
 * answers, and on answers an attacker changed: each change is reported bad, never good.
 */
describe('web auditor: in-browser proof checks', function () {
  this.timeout(60_000);
  let g: TestGateway;
  let trust: Trust;
  let auditor: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers as the gateway sent them
  type Json = any;
  const clone = (x: Json): Json => JSON.parse(JSON.stringify(x));
  const flip = (hex: string) => (hex[0] === '0' ? '1' : '0') + hex.slice(1);

  let older: Json;
  before(async () => {
    g = await startTestGateway();
    for (let i = 0; i < 12; i++) {
      if (i === 6) {
        await g.gateway.ledger.checkpointNow();
        older = (await g.request('GET', '/ledger/checkpoint')).body;
      }
      const r = await g.request('POST', '/admin/studies', { token: await g.token({ role: 'admin', sub: 'a' }), body: JSON.stringify({ id: `s${i}`, title: `S${i}`, purpose: 'HRESCH' }), contentType: 'application/json' });
      assert.equal(r.status, 201, r.text);
    }
    auditor = await g.token({ role: 'auditor', sub: 'aud' });
    const c = (await g.request('GET', '/ledger/checkpoint')).body;
    trust = trustFromFile({ origin: c.origin, logKeys: [c.publicKey], witnesses: c.witnesses, quorum: c.quorum });
  });
  after(async () => g?.close());

  const entry = async (seq: number) => (await g.request('GET', `/ledger/entries/${seq}`, { token: auditor })).body;

  it('a genuine inclusion proof is good; every tampering is bad', async () => {
    const good = await entry(5);
    assert.deepEqual(verifyInclusionAnswer(good, 5, trust).ok, true, verifyInclusionAnswer(good, 5, trust).words);
    const attacks: Array<[string, (a: Json) => void, RegExp]> = [
      ['a proof hash changed', (a) => { a.proof.hashes[0] = flip(a.proof.hashes[0]); }, /does not lead from entry 5/],
      ['a proof hash dropped', (a) => { a.proof.hashes.pop(); }, /does not lead/],
      ['the entry rewritten', (a) => { a.entry.canonical = a.entry.canonical.replace('"payload":{', '"payload":{"forged":1,'); }, /does not lead/],
      ['the server-computed leaf hash ignored', (a) => { a.entry.leafHash = '00'.repeat(32); }, /^entry 5 /],
      ['another entry passed off', (a) => { a.proof.leafIndex = 4; }, /not entry 5/],
      ['a root swapped in the note', (a) => { a.checkpoint.note = a.checkpoint.note.replace(/\n([A-Za-z0-9+/]{43}=)\n/, (_m: string, r: string) => `\n${r[0] === 'A' ? 'B' : 'A'}${r.slice(1)}\n`); }, /signature does not verify/],
      ['a tree size the note does not sign', (a) => { a.proof.treeSize += 1; }, /another tree size/],
      ['a hash that is not hex', (a) => { a.proof.hashes[0] = 'zz'; }, /not a 32-byte hex hash/],
    ];
    for (const [what, change, words] of attacks) {
      const a = clone(good);
      change(a);
      assert.notDeepEqual(a, good, `${what}: the attack changed nothing`);
      const v = verifyInclusionAnswer(a, 5, trust);
      if (what.includes('ignored')) assert.ok(v.ok, `${what}: ${v.words}`);
      else assert.ok(!v.ok, `${what} was reported good`);
      assert.match(v.words, words, what);
    }
  });

  it('a checkpoint signed by another key, or naming another log, is bad', async () => {
    const c = (await g.request('GET', '/ledger/checkpoint')).body;
    assert.ok(verifyCheckpointNote(c.note, trust).ok);
    const other = trustFromFile({ origin: c.origin, logKeys: [Buffer.alloc(32, 7).toString('base64')], witnesses: [], quorum: 0 });
    assert.match(verifyCheckpointNote(c.note, other).words, /does not verify with a trusted log key/);
    const renamed = { ...trust, origin: 'evil.example/log' };
    assert.match(verifyCheckpointNote(c.note, renamed).words, /not the trusted "evil.example\/log"/);
  });

  it('a consistency proof between two signed checkpoints is good; a changed hash or a swapped order is bad', async () => {
    await g.gateway.ledger.checkpointNow();
    const newer = (await g.request('GET', '/ledger/checkpoint')).body;
    assert.ok(newer.treeSize > older.treeSize, `the ledger grew past ${older.treeSize} (it has ${newer.treeSize})`);
    const proof = (await g.request('GET', `/ledger/consistency?from=${older.treeSize}&to=${newer.treeSize}`)).body;
    const v = verifyConsistencyAnswer(older.note, newer.note, proof, trust);
    assert.ok(v.ok, v.words);
    const bad = clone(proof);
    bad.hashes[0] = flip(bad.hashes[0]);
    assert.match(verifyConsistencyAnswer(older.note, newer.note, bad, trust).words, /does not extend/);
    assert.ok(!verifyConsistencyAnswer(newer.note, older.note, proof, trust).ok, 'the checkpoints swapped');
    const lying = { ...proof, fromRoot: '00'.repeat(32), toRoot: '00'.repeat(32) };
    assert.ok(verifyConsistencyAnswer(older.note, newer.note, lying, trust).ok, 'the roots come from the signed notes, not the proof');
  });
});

describe('web auditor: witness cosignatures checked in the browser', function () {
  this.timeout(60_000);

  it('counts the cosignatures that verify with trusted witness keys; a forged or missing one does not count', async () => {
    const key = generateSigningKey();
    const origin = 'web.hgd.local/ledger';
    const w = await startTestWitnesses(key, { origin });
    const db = await openTestDatabase();
    const ledger = await openTestLedger(db, { signingKey: key, origin, checkpointEvery: 1000, witnesses: w.endpoints, quorum: 2, transport: w.transport, witnessTimeoutMs: 2_000 });
    try {
      for (let i = 0; i < 5; i++) await ledger.append({ kind: 'ingestion', actor: 'provider:acme', payload: { i } });
      const cp = (await ledger.publish())!;
      const trust = trustOf([key], w.endpoints, 2, origin);
      const all = verifyCheckpointNote(cp.note, trust);
      assert.ok(all.ok && all.checkpoint?.witnessed, all.words);
      assert.deepEqual(all.checkpoint!.cosigners.map((c) => c.witness).sort(), w.endpoints.map((e) => e.name).sort());
      assert.match(all.words, /cosigned by 3 of 3 witnesses \(witnessed\)/);
      // Two cosignature lines dropped: one is left, below the quorum of two.
      const lines = cp.note.split('\n');
      const one = verifyCheckpointNote(lines.filter((l) => !l.includes(cp.cosignatures[0]!.line.trim()) && !l.includes(cp.cosignatures[1]!.line.trim())).join('\n'), trust);
      assert.equal(one.checkpoint?.cosigners.length, 1);
      assert.match(one.words, /quorum 2 not reached/);
      // A cosignature with one character of its signature changed (well inside the base64, past the key ID and timestamp) is not counted.
      const line = cp.cosignatures[2]!.line;
      const at = line.lastIndexOf(' ') + 40;
      const forgedLine = line.slice(0, at) + (line[at] === 'A' ? 'B' : 'A') + line.slice(at + 1);
      const forged = verifyCheckpointNote(cp.note.replace(cp.cosignatures[2]!.line, forgedLine), trust);
      assert.equal(forged.checkpoint?.cosigners.length, 2, forged.words);
    } finally {
      await ledger.close();
      await db.close();
      await w.close();
    }
  });
});
