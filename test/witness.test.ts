import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDatabase, type Database } from '../storage-layer/db';
import { Witness } from '../storage-layer/witness/witness';
import { formatAddCheckpoint } from '../storage-layer/witness/protocol';
import { generateSigningKey, type SigningKey } from '../storage-layer/signing-key';
import { signCheckpoint, DEFAULT_ORIGIN } from '../storage-layer/checkpoint';
import { MerkleTree, leafHash } from '../storage-layer/merkle';
import { cosignatureMessage, keyId, parseNote, parseSignatureLines, SIG_COSIGNATURE_V1, splitCosignature } from '../storage-layer/note';
import { nodeCrypto } from '../storage-layer/node-crypto';
import { fromBase64, equalBytes } from '../storage-layer/bytes';
import { openTestDatabase, onRealPostgres, openPeer } from './support/db';

/** A log of `n` made-up leaves, and its signed checkpoint notes at any size. */
function makeLog(key: SigningKey, n: number, salt = 'a') {
  const tree = new MerkleTree();
  for (let i = 0; i < n; i++) tree.append(leafHash(Buffer.from(`${salt}-${i}`)));
  return {
    tree,
    note: (size: number) => signCheckpoint(key, DEFAULT_ORIGIN, size, tree.root(size)).note,
    request: (old: number, size: number) => formatAddCheckpoint({ oldSize: old, proof: old > 0 ? tree.consistencyProof(old, size) : [], note: signCheckpoint(key, DEFAULT_ORIGIN, size, tree.root(size)).note }),
  };
}

describe('witness (C2SP tlog-witness add-checkpoint)', () => {
  let db: Database;
  let logKey: SigningKey;
  let witnessKey: SigningKey;
  let witness: Witness;
  const open = (d: Database) => Witness.open(d, { name: 'node-1.test/witness', signingKey: witnessKey, log: { origin: DEFAULT_ORIGIN, publicKey: logKey.publicKeyBase64 } });

  beforeEach(async () => {
    db = await openTestDatabase();
    logKey = generateSigningKey();
    witnessKey = generateSigningKey();
    witness = await open(db);
  });
  afterEach(() => db.close());

  it('cosigns a first checkpoint with a cosignature/v1 line that verifies with its key', async () => {
    const log = makeLog(logKey, 10);
    const res = await witness.handle(log.request(0, 10));
    assert.equal(res.status, 200, res.body);
    const [line] = parseSignatureLines(res.body);
    assert.equal(line!.name, 'node-1.test/witness');
    assert.ok(equalBytes(line!.keyId, keyId(nodeCrypto, 'node-1.test/witness', SIG_COSIGNATURE_V1, fromBase64(witness.publicKey))));
    const { timestamp, signature } = splitCosignature(line!.signature)!;
    assert.ok(Math.abs(timestamp - Date.now() / 1000) < 60);
    const body = parseNote(log.note(10)).body;
    assert.ok(nodeCrypto.verifyEd25519(fromBase64(witness.publicKey), cosignatureMessage(body, timestamp), signature));
    assert.deepEqual((await witness.latest())?.treeSize, 10);
  });

  it('extends its tree only with a consistency proof from the size it cosigned last', async () => {
    const log = makeLog(logKey, 40);
    assert.equal((await witness.handle(log.request(0, 10))).status, 200);
    assert.equal((await witness.handle(log.request(10, 25))).status, 200);
    assert.equal((await witness.handle(log.request(25, 25))).status, 200, 'the same tree again is fine');
    assert.equal((await witness.latest())?.treeSize, 25);
  });

  it('answers 409 with its size (text/x.tlog.size) when the old size is not its latest', async () => {
    const log = makeLog(logKey, 30);
    await witness.handle(log.request(0, 20));
    const res = await witness.handle(log.request(10, 30));
    assert.deepEqual([res.status, res.body, res.contentType], [409, '20\n', 'text/x.tlog.size']);
    const fresh = await witness.handle(log.request(0, 30));
    assert.deepEqual([fresh.status, fresh.body], [409, '20\n'], 'a client without state learns the size with old 0');
  });

  it('never cosigns a smaller tree', async () => {
    const log = makeLog(logKey, 30);
    await witness.handle(log.request(0, 30));
    const smaller = await witness.handle(formatAddCheckpoint({ oldSize: 30, proof: [], note: log.note(20) }));
    assert.equal(smaller.status, 400, 'old size above the checkpoint size');
    const fromZero = await witness.handle(log.request(0, 20));
    assert.equal(fromZero.status, 409);
    assert.equal((await witness.latest())?.treeSize, 30);
  });

  it('refuses a checkpoint inconsistent with what it cosigned (422), and another root for its size (409)', async () => {
    const honest = makeLog(logKey, 30, 'honest');
    const forked = makeLog(logKey, 30, 'forked');
    await witness.handle(honest.request(0, 20));
    // The forked log's proof from 20 does not lead from the honest root at 20.
    const res = await witness.handle(formatAddCheckpoint({ oldSize: 20, proof: forked.tree.consistencyProof(20, 30), note: forked.note(30) }));
    assert.equal(res.status, 422, res.body);
    const sameSize = await witness.handle(formatAddCheckpoint({ oldSize: 20, proof: [], note: forked.note(20) }));
    assert.equal(sameSize.status, 409);
    assert.equal((await witness.latest())?.treeSize, 20);
    assert.ok(equalBytes((await witness.latest())!.rootHash, honest.tree.root(20)));
  });

  it('refuses an unknown origin (404), a checkpoint not signed by the pinned key (403) and malformed requests (400)', async () => {
    const other = makeLog(generateSigningKey(), 5);
    assert.equal((await witness.handle(other.request(0, 5))).status, 403, 'a key published anywhere else is not the pinned one');
    const foreign = formatAddCheckpoint({ oldSize: 0, proof: [], note: signCheckpoint(logKey, 'elsewhere.example/log', 5, other.tree.root(5)).note });
    assert.equal((await witness.handle(foreign)).status, 404);
    for (const body of ['', 'old 01\n\nx', 'old 0\nnot-base64!\n\n' + other.note(5), `old 0\n\n${other.note(5).replace('\n\n', '\n')}`]) {
      assert.equal((await witness.handle(body)).status, 400, JSON.stringify(body));
    }
    assert.equal(await witness.latest(), null);
  });

  it('keeps its state across a restart (it persisted before answering)', async function () {
    const log = makeLog(logKey, 30);
    if (onRealPostgres) {
      await witness.handle(log.request(0, 20));
      const peer = await openPeer(db);
      const again = await open(peer);
      assert.equal((await again.handle(log.request(0, 30))).status, 409, 'the new process knows size 20');
      assert.equal((await again.handle(log.request(20, 30))).status, 200);
      await peer.close();
      return;
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hgd-witness-'));
    try {
      let local = await openDatabase({ pgliteDir: dir });
      await (await open(local)).handle(log.request(0, 20));
      await local.close();
      local = await openDatabase({ pgliteDir: dir });
      const again = await open(local);
      assert.deepEqual((await again.handle(log.request(0, 30))).body, '20\n');
      assert.equal((await again.handle(log.request(20, 30))).status, 200);
      await local.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('serialises concurrent requests: a slower smaller tree cannot roll back a larger one', async () => {
    const log = makeLog(logKey, 40);
    await witness.handle(log.request(0, 10));
    const answers = await Promise.all([witness.handle(log.request(10, 20)), witness.handle(log.request(10, 40))]);
    assert.deepEqual(answers.map((a) => a.status).sort(), [200, 409]);
    const latest = (await witness.latest())!.treeSize;
    assert.ok(latest === 20 || latest === 40);
    // Whichever won, the other can no longer be cosigned from 10.
    assert.equal((await witness.handle(log.request(10, latest === 20 ? 40 : 20))).status, 409);
  });

  it('its stored note carries the log signature and its own cosignature only', async () => {
    const log = makeLog(logKey, 8);
    await witness.handle(log.request(0, 8));
    const state = (await witness.latest())!;
    const names = parseNote(state.note).signatures.map((s) => s.name);
    assert.deepEqual(names, [DEFAULT_ORIGIN, 'node-1.test/witness']);
  });
});

describe('hosting a witness on a compute node', () => {
  it('openNodeWitness pins the configured log key and publishes its public key for the gateway', async () => {
    const { openNodeWitness, localWitnesses, witnessName } = await import('../storage-layer/witness/host');
    const { testConfig } = await import('./support/config');
    const { loadOrCreateSigningKey } = await import('../storage-layer/signing-key');
    const config = testConfig();
    const db = await openTestDatabase();
    try {
      const witness = await openNodeWitness(config, 2, db);
      assert.equal(witness.name, witnessName(config, 2));
      assert.deepEqual(localWitnesses(config), [{ name: witness.name, publicKey: witness.publicKey, url: `${config.nodes.urls[1]}/witness` }]);
      const logKey = loadOrCreateSigningKey(config.ledger.signingKeyFile);
      const tree = new MerkleTree();
      tree.append(leafHash(Buffer.from('x')));
      const note = signCheckpoint(logKey, config.ledger.origin, 1, tree.root()).note;
      assert.equal((await witness.handle(formatAddCheckpoint({ oldSize: 0, proof: [], note }))).status, 200);
      const foreign = signCheckpoint(generateSigningKey(), config.ledger.origin, 1, tree.root()).note;
      assert.equal((await witness.handle(formatAddCheckpoint({ oldSize: 0, proof: [], note: foreign }))).status, 403);
    } finally {
      await db.close();
    }
  });
});
