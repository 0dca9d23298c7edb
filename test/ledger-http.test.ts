import { strict as assert } from 'node:assert';
import { createGateway, type Gateway } from '../app/gateway';
import { verifyInclusion, verifyConsistency } from '../storage-layer/merkle';
import { logTrustedKey } from '../storage-layer/checkpoint';
import { parseNote, verifyLogSignature } from '../storage-layer/note';
import { nodeCrypto } from '../storage-layer/node-crypto';
import { openTestDatabase } from './support/db';
import { testConfig } from './support/config';
import { serve } from './support/http';

describe('ledger HTTP API', () => {
  let gateway: Gateway;
  let server: Awaited<ReturnType<typeof serve>>;
  let auditor = '';
  const get = async (path: string, token: string | null = auditor) => {
    const res = await fetch(server.url + path, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  before(async () => {
    gateway = await createGateway(testConfig({ HGD_LOG: 'silent' }), { db: await openTestDatabase() });
    for (let i = 0; i < 20; i++) await gateway.ledger.append({ kind: 'ingestion', actor: 'provider:acme', payload: { i } });
    server = await serve(gateway.app);
    auditor = await gateway.tokens.issue({ role: 'auditor', sub: 'auditor-1' });
  });
  after(async () => {
    await server.close();
    await gateway.close();
    await gateway.db.close();
  });

  it('GET /ledger/checkpoint returns a signed checkpoint note with the configured public key', async () => {
    const { status, body } = await get('/ledger/checkpoint');
    assert.equal(status, 200);
    const cp = body as { treeSize: number; origin: string; note: string; publicKey: string; witnesses: unknown[]; quorum: number };
    assert.ok(cp.treeSize >= 20);
    assert.equal(cp.publicKey, gateway.ledger.signingKey.publicKeyBase64);
    assert.ok(verifyLogSignature(nodeCrypto, parseNote(cp.note), [logTrustedKey(cp.origin, cp.publicKey)]));
    assert.deepEqual([cp.witnesses, cp.quorum], [[], 0]);
  });

  it('GET /ledger/checkpoint takes its public key from configuration, not from the ledger_keys table', async () => {
    const owner = gateway.db.migrationDatabase ?? gateway.db;
    await owner.knex('ledger_keys').insert({ key_id: 'planted', public_key: Buffer.alloc(32, 7).toString('base64') });
    const { body } = await get('/ledger/checkpoint');
    assert.equal(body.publicKey, gateway.ledger.signingKey.publicKeyBase64);
  });

  it('GET /ledger/entries/:seq returns the entry with a proof that verifies', async () => {
    const { status, body } = await get('/ledger/entries/7');
    assert.equal(status, 200);
    const { entry, proof, checkpoint } = body as { entry: { leafHash: string; seq: number }; proof: { leafIndex: number; treeSize: number; hashes: string[] }; checkpoint: { rootHash: string } };
    assert.equal(entry.seq, 7);
    assert.ok(verifyInclusion(Buffer.from(entry.leafHash, 'hex'), proof.leafIndex, proof.treeSize, proof.hashes.map((h) => Buffer.from(h, 'hex')), Buffer.from(checkpoint.rootHash, 'hex')));
  });

  it('entries are for auditors and admins; checkpoints and proofs of consistency are public', async () => {
    assert.equal((await get('/ledger/entries/3', null)).status, 401);
    const patient = await gateway.tokens.issue({ role: 'patient', sub: 'p' });
    assert.equal((await get('/ledger/entries/3', patient)).status, 403);
    assert.equal((await get('/ledger/checkpoint', null)).status, 200);
    assert.equal((await get('/ledger/consistency?from=1&to=5', null)).status, 200);
  });

  it('GET /ledger/consistency returns a proof that verifies', async () => {
    const { status, body } = await get('/ledger/consistency?from=3&to=15');
    assert.equal(status, 200);
    const c = body as { fromRoot: string; toRoot: string; hashes: string[] };
    assert.ok(verifyConsistency(3, 15, Buffer.from(c.fromRoot, 'hex'), Buffer.from(c.toRoot, 'hex'), c.hashes.map((h) => Buffer.from(h, 'hex'))));
  });

  it('answers bad parameters with 400 naming the field, and unknown entries with 404', async () => {
    for (const [path, field] of [['/ledger/entries/abc', 'seq'], ['/ledger/entries/-1', 'seq'], ['/ledger/consistency?from=x&to=3', 'from'], ['/ledger/consistency?from=2', 'to'], ['/ledger/consistency?from=5&to=2', 'to'], ['/ledger/checkpoint?size=0', 'size']] as const) {
      const { status, body } = await get(path);
      assert.equal(status, 400, path);
      assert.equal(body.field, field, path);
      assert.match(String(body.message), new RegExp(field));
    }
    const missing = await get('/ledger/entries/999999');
    assert.equal(missing.status, 404);
    assert.equal((await get('/ledger/consistency?from=1&to=999999')).status, 400);
    assert.equal((await get('/no/such/route')).status, 404);
  });
});
