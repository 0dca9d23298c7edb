import { strict as assert } from 'node:assert';
import { createCipheriv, createPublicKey, diffieHellman, hkdfSync } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { dealChunk, type ShareableValue } from '../management-layer/sharing/distribute';
import { packElements, shareFromHex, shareToHex } from '../mpc/codec';
import { mod } from '../mpc/field';
import { toFixed } from '../mpc/fixed-point';
import { deterministicRandom } from '../mpc/random';
import { reconstruct } from '../mpc/shamir';
import { checkAnswer } from '../parties/client';
import { rawX25519PublicKey, type EncryptionKey } from '../parties/key-directory';
import { responsePayload, signingPayload, signRequest, signResponse, verifyRequest, verifyResponse } from '../parties/request-signing';
import { openRoundMessage, roundMessageAad, sealRoundMessage } from '../parties/round-message';
import { answerBodyAad, openAnswerBody, openRequestBody, requestBodyAad, sealAnswerBody, sealRequestBody } from '../parties/sealed-body';
import { openSealed, sealToParty } from '../parties/sealing';
import { openShareBatch, sealShareBatch, shareBatchBodies } from '../parties/share-batch';
import type { ShareBatchItem } from '../parties/wire';
import { shareBatchAad } from '../parties/wire';
import { parsePeerMessage, parseShareBatch } from '../parties/wire-parse';
import { ed25519FromSeed, sealRandomnessOf, x25519FromSeed, type SealRandomnessVector } from './vectors/fixed-keys';

/**
 * Replays the fixed vectors of HGD's own formats (test/vectors/*.json, written by
 * test/vectors/generate.ts): every good case is recomputed from its inputs with the production code
 * and must match byte for byte; every bad case must be refused with the error code (and field) given.
 * The model is transparency-dev/merkle's testdata and test/merkle.test.ts (RFC 9162).
 */
const DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'vectors');
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- vector files are read as data
const load = (file: string): any => JSON.parse(fs.readFileSync(path.join(DIR, file), 'utf8'));

interface ExpectedError {
  code: string;
  field?: string;
}

/** `fn` throws an error with exactly this code and field. */
function assertRefused(name: string, expected: ExpectedError, fn: () => unknown): void {
  assert.throws(fn, (err: unknown) => {
    const e = err as { code?: string; field?: string };
    assert.deepEqual({ code: e.code, field: e.field }, { code: expected.code, field: expected.field }, `${name}: ${(err as Error).message}`);
    return true;
  }, name);
}

/** The X25519 keys of the file's nodes, by node id. */
function nodeKeys(nodes: Record<string, { x25519Seed: string; publicKey: string }>): Map<number, EncryptionKey> {
  return new Map(Object.entries(nodes).map(([party, k]) => {
    const key = x25519FromSeed(k.x25519Seed);
    assert.equal(key.publicKeyBase64, k.publicKey, `${party}'s public key`);
    return [Number(party.slice('node-'.length)), key];
  }));
}

describe('vectors: request signatures (test/vectors/request-signing.json)', () => {
  const v = load('request-signing.json');
  const keys = new Map(Object.entries(v.parties as Record<string, { ed25519Seed: string; publicKey: string }>).map(([party, k]) => {
    const key = ed25519FromSeed(k.ed25519Seed);
    assert.equal(key.publicKeyBase64, k.publicKey, `${party}'s public key`);
    return [party, key];
  }));
  const lookup = (party: string) => keys.get(party)?.publicKey;

  it('every good request signs to exactly its headers and verifies at its recipient', () => {
    assert.ok(v.requests.length >= 3);
    for (const c of v.requests) {
      const target = { party: c.party, recipient: c.recipient, method: c.method, path: c.path };
      assert.equal(signingPayload(target, c.timestamp, c.body).toString('utf8'), c.payload, c.name);
      assert.deepEqual({ ...signRequest(keys.get(c.party)!, target, c.body, Number(c.timestamp)) }, c.headers, c.name);
      assert.equal(verifyRequest({ method: c.method, path: c.path, headers: c.headers, body: Buffer.from(c.body, 'utf8') }, lookup, { self: c.recipient, now: v.now }), c.party, c.name);
    }
  });

  it('every bad request is refused with its error code', () => {
    assert.ok(v.badRequests.length >= 10);
    for (const c of v.badRequests) {
      assertRefused(c.name, c.error, () => verifyRequest({ method: c.method, path: c.path, headers: c.headers, body: c.body }, lookup, { self: c.verifier, now: c.now }));
    }
  });

  it('every good answer signs to exactly its signature, bound to its request', () => {
    for (const c of v.responses) {
      assert.equal(responsePayload(c.status, c.requestSignature, c.body).toString('utf8'), c.payload, c.name);
      assert.equal(signResponse(keys.get(c.signer)!, c.status, c.requestSignature, c.body), c.signature, c.name);
      assert.ok(verifyResponse(keys.get(c.signer)!.publicKey, c.status, c.requestSignature, c.body, c.signature), c.name);
      checkAnswer({ status: c.status, party: c.signer, signature: c.signature, body: c.body }, c.requestSignature, c.signer, lookup(c.signer));
    }
  });

  it('every bad answer is refused: the node that was asked counts as unreachable', () => {
    assert.ok(v.badResponses.length >= 5);
    for (const c of v.badResponses) {
      assertRefused(c.name, c.error, () => checkAnswer({ status: c.status, party: c.party, signature: c.signature, body: c.body }, c.requestSignature, c.recipient, lookup(c.recipient)));
    }
  });
});

describe('vectors: sealed request and answer bodies (test/vectors/sealed-body.json)', () => {
  const v = load('sealed-body.json');
  const signing = load('request-signing.json');
  const keys = new Map(Object.entries(v.parties as Record<string, { x25519Seed: string; publicKey: string }>).map(([party, k]) => {
    const key = x25519FromSeed(k.x25519Seed);
    assert.equal(key.publicKeyBase64, k.publicKey, `${party}'s public key`);
    return [party, key];
  }));
  const signers = new Map(Object.entries(signing.parties as Record<string, { ed25519Seed: string }>).map(([party, k]) => [party, ed25519FromSeed(k.ed25519Seed)]));
  const target = (c: { party: string; recipient: string; method: string; path: string }) => ({ party: c.party, recipient: c.recipient, method: c.method, path: c.path });
  const context = (c: { signer: string; recipient: string; status: number; requestSignature: string }) => ({ signer: c.signer, recipient: c.recipient, status: c.status, requestSignature: c.requestSignature });

  it('every good request seals to exactly its body, is signed over the sealed bytes, and opens at its recipient', () => {
    assert.ok(v.requests.length >= 3);
    for (const c of v.requests) {
      const t = target(c);
      assert.equal(requestBodyAad(t), c.aad, c.name);
      assert.equal(sealRequestBody(keys.get(c.recipient)!.publicKey, t, c.plaintext, sealRandomnessOf(c)), c.sealed, c.name);
      assert.deepEqual({ ...signRequest(signers.get(c.party)!, t, c.sealed, Number(c.timestamp)) }, c.headers, c.name);
      assert.equal(verifyRequest({ method: c.method, path: c.path, headers: c.headers, body: c.sealed }, (p) => signers.get(p)?.publicKey, { self: c.recipient, now: signing.now }), c.party, c.name);
      assert.equal(openRequestBody(keys.get(c.recipient)!, t, c.sealed), c.plaintext, c.name);
    }
  });

  it('every good answer seals to exactly its body, is signed over the sealed bytes, and opens at the party that asked', () => {
    for (const c of v.answers) {
      const ctx = context(c);
      assert.equal(answerBodyAad(ctx), c.aad, c.name);
      assert.equal(sealAnswerBody(keys.get(c.recipient)!.publicKey, ctx, c.plaintext, sealRandomnessOf(c)), c.sealed, c.name);
      checkAnswer({ status: c.status, party: c.signer, signature: c.signature, body: c.sealed }, c.requestSignature, c.signer, signers.get(c.signer)!.publicKey);
      assert.equal(openAnswerBody(keys.get(c.recipient)!, ctx, c.sealed), c.plaintext, c.name);
    }
  });

  it('every bad request or answer body is refused by the party that opens it', () => {
    assert.ok(v.badRequests.length >= 5 && v.badAnswers.length >= 4);
    for (const c of v.badRequests) assertRefused(c.name, c.error, () => openRequestBody(keys.get(c.opener)!, target(c), c.sealed));
    for (const c of v.badAnswers) assertRefused(c.name, c.error, () => openAnswerBody(keys.get(c.opener)!, context(c), c.sealed));
  });
});

describe('vectors: hgd-seal-v1 envelopes (test/vectors/sealing.json)', () => {
  const v = load('sealing.json');
  const keys = nodeKeys(v.recipients);
  const node = (party: string) => keys.get(Number(party.slice('node-'.length)))!;

  it('every good case seals to exactly its envelope, through the intermediate values of the spec, and opens', () => {
    for (const c of v.good) {
      const r = sealRandomnessOf(c as SealRandomnessVector);
      const plaintext = Buffer.from(c.plaintext, 'hex');
      assert.equal(sealToParty(node(c.recipient).publicKey, plaintext, c.aad, r), c.sealed, c.name);
      assert.deepEqual(openSealed(node(c.recipient), c.sealed, c.aad), plaintext, c.name);
      // The spec step by step, with node:crypto only.
      const epk = rawX25519PublicKey(createPublicKey(r.ephemeralKey));
      const shared = diffieHellman({ privateKey: r.ephemeralKey, publicKey: node(c.recipient).publicKey });
      const aesKey = Buffer.from(hkdfSync('sha256', shared, Buffer.concat([epk, Buffer.from(node(c.recipient).publicKeyBase64, 'base64')]), Buffer.from('hgd-seal-v1'), 32));
      assert.deepEqual([epk.toString('hex'), shared.toString('hex'), aesKey.toString('hex')], [c.ephemeralPublicKey, c.sharedSecret, c.aesKey], c.name);
      const cipher = createCipheriv('aes-256-gcm', aesKey, Buffer.from(c.iv, 'hex')).setAAD(Buffer.from(c.aad, 'utf8'));
      const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
      assert.equal(`hgd-seal-v1.${Buffer.concat([epk, Buffer.from(c.iv, 'hex'), cipher.getAuthTag(), ct]).toString('base64url')}`, c.sealed, c.name);
    }
  });

  it('every bad envelope is refused with its error code', () => {
    assert.ok(v.bad.length >= 8);
    for (const c of v.bad) assertRefused(c.name, c.error, () => openSealed(node(c.recipient), c.sealed, c.aad));
  });
});

describe('vectors: share batches (test/vectors/share-batch.json)', () => {
  const v = load('share-batch.json');
  const keys = nodeKeys(v.nodes);

  it('the dealer reproduces the items and every node’s shares from the fixed random stream', () => {
    const dealt = dealChunk(v.values as ShareableValue[], v.n, v.t, deterministicRandom(v.dealerSeed));
    assert.deepEqual(dealt.items, v.items);
    assert.deepEqual(dealt.perNode.map((shares) => shares.map(shareToHex)), v.perNode.map((p: { shares: string[] }) => p.shares));
  });

  it('the secrets are the values’ encodings, and any t + 1 nodes’ shares open to them', () => {
    const secrets = (v.values as ShareableValue[]).flatMap((x) => {
      const fixed = toFixed(x.value, x.scale);
      return [mod(fixed), mod(fixed * fixed)];
    });
    assert.deepEqual(secrets.map(shareToHex), v.secrets);
    for (const pair of [[1, 2], [1, 3], [2, 3]]) {
      const opened = secrets.map((_, k) => reconstruct(pair.map((node) => ({ x: node, y: shareFromHex(v.perNode[node - 1].shares[k]) }))));
      assert.deepEqual(opened.map(shareToHex), v.secrets, `nodes ${pair.join(', ')}`);
    }
  });

  it('every node’s batch seals to exactly its body, and the node opens it to its shares', () => {
    const meta = { dealing: v.dealing, items: v.items as ShareBatchItem[] };
    for (const p of v.perNode) {
      const shares = p.shares.map(shareFromHex);
      assert.equal(shareBatchAad(p.node, v.dealing, meta.items.map((i) => i.recordId)), p.aad);
      assert.equal(Buffer.from(packElements(shares)).toString('hex'), p.plaintext);
      const batch = sealShareBatch(p.node, meta, shares, keys.get(p.node)!.publicKey, sealRandomnessOf(p));
      assert.equal(JSON.stringify(batch), p.body, `node ${p.node}`);
      assert.equal(shareBatchBodies(meta)(batch), p.body, `node ${p.node}: the body with the metadata serialised once`);
      assert.deepEqual(openShareBatch(keys.get(p.node)!, p.node, parseShareBatch(JSON.parse(p.body))).map(shareToHex), p.shares);
    }
  });

  it('every bad batch is refused by its node with its error code', () => {
    assert.ok(v.bad.length >= 8);
    for (const c of v.bad) assertRefused(c.name, c.error, () => openShareBatch(keys.get(c.node)!, c.node, parseShareBatch(JSON.parse(c.body))));
  });
});

describe('vectors: sealed round messages (test/vectors/round-message.json)', () => {
  const v = load('round-message.json');
  const keys = nodeKeys(v.nodes);

  it('every good message seals to exactly its body and opens at its recipient, from its sender, to its values', () => {
    for (const c of v.good) {
      const ctx = { from: c.from, to: c.to, queryId: c.queryId, round: c.round };
      const values = c.values.map(shareFromHex);
      assert.equal(roundMessageAad(ctx), c.aad, c.name);
      assert.equal(Buffer.from(packElements(values)).toString('hex'), c.plaintext, c.name);
      assert.equal(JSON.stringify(sealRoundMessage(keys.get(c.to)!.publicKey, ctx, values, sealRandomnessOf(c))), c.body, c.name);
      assert.deepEqual(openRoundMessage(keys.get(c.to)!, c.from, c.to, parsePeerMessage(JSON.parse(c.body))).map(shareToHex), c.values, c.name);
    }
  });

  it('every bad message is refused by its node with its error code', () => {
    assert.ok(v.bad.length >= 10);
    for (const c of v.bad) assertRefused(c.name, c.error, () => openRoundMessage(keys.get(c.to)!, c.from, c.to, parsePeerMessage(JSON.parse(c.body))));
  });
});
