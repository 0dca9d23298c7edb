/**
 * Writes the fixed vectors of HGD's own formats (test/vectors/*.json), from fixed keys and fixed
 * randomness, with the production code:
 *   request-signing.json  signed requests (x-hgd-* headers, hgd-request-v2) and signed answers (hgd-response-v2)
 *   sealed-body.json      request and answer bodies sealed to their recipient (parties/sealed-body.ts)
 *   sealing.json          hgd-seal-v1 envelopes (X25519 + HKDF-SHA256 + AES-256-GCM), with the intermediate values
 *   share-batch.json      a dealt and sealed share batch (POST /shares) for each of three nodes
 *   round-message.json    sealed round messages between nodes (POST /mpc/message)
 * Each file has good cases (inputs and the exact expected output) and bad cases (an input every
 * implementation must refuse, with the error code and field HGD answers). The expected refusals are
 * declared here and checked while generating. test/vectors.test.ts replays every case.
 *
 * Run: `npx tsx test/vectors/generate.ts` (rewrites the files; commit them with the change of format).
 */
import { createCipheriv, createPublicKey, diffieHellman, hkdfSync } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { dealChunk, type ShareableValue } from '../../management-layer/sharing/distribute';
import { packElements, shareToHex } from '../../mpc/codec';
import { mod, P } from '../../mpc/field';
import { toFixed } from '../../mpc/fixed-point';
import { histogramKey } from '../../mpc/histogram';
import { deterministicRandom } from '../../mpc/random';
import type { RoundName } from '../../mpc/rounds';
import { checkAnswer } from '../../parties/client';
import { rawX25519PublicKey } from '../../parties/key-directory';
import { openRoundMessage, roundMessageAad, sealRoundMessage } from '../../parties/round-message';
import { answerBodyAad, openAnswerBody, openRequestBody, requestBodyAad, sealAnswerBody, sealRequestBody, type AnswerContext } from '../../parties/sealed-body';
import { openSealed, sealToParty } from '../../parties/sealing';
import { openShareBatch, sealShareBatch } from '../../parties/share-batch';
import { responsePayload, signingPayload, signRequest, signResponse, verifyRequest, type RequestTarget } from '../../parties/request-signing';
import { shareBatchAad } from '../../parties/wire';
import { parsePeerMessage, parseShareBatch } from '../../parties/wire-parse';
import { ed25519FromSeed, sealRandomnessOf, sealRandomnessVector, seedOf, x25519FromSeed } from './fixed-keys';
import { checkpointVectors } from './checkpoint-vectors';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const NODES = [1, 2, 3] as const;
/** 2026-01-01T00:00:00Z: the timestamp of every signed request; verified at NOW. */
const TIMESTAMP = '1767225600000';
const NOW = 1767225601500;

export interface ExpectedError {
  code: string;
  field?: string;
}

/** Runs `fn`, which must throw an error with exactly this code (and field); returns the expectation. */
function refused(name: string, expected: ExpectedError, fn: () => unknown): ExpectedError {
  try {
    fn();
  } catch (err) {
    const e = err as { code?: string; field?: string };
    if (e.code === expected.code && e.field === expected.field) return expected;
    throw new Error(`${name}: refused with ${e.code}/${e.field}, expected ${expected.code}/${expected.field}: ${(err as Error).message}`);
  }
  throw new Error(`${name}: accepted, expected ${expected.code}`);
}

const signingKeyOf = (party: string) => ed25519FromSeed(seedOf(`${party}/ed25519`));
const encryptionKeyOfParty = (party: string) => x25519FromSeed(seedOf(`${party}/x25519`));
const encryptionKeyOf = (node: number) => encryptionKeyOfParty(`node-${node}`);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
/** Flips one bit of byte `at` (negative: from the end) of an envelope's raw bytes (after the prefix). */
function flipEnvelopeByte(sealed: string, at: number): string {
  const raw = Buffer.from(sealed.slice('hgd-seal-v1.'.length), 'base64url');
  const k = at < 0 ? raw.length + at : at;
  raw[k] = (raw[k] as number) ^ 0x01;
  return `hgd-seal-v1.${raw.toString('base64url')}`;
}

// ---- request-signing.json ------------------------------------------------------------------------

interface RequestCase extends RequestTarget {
  name: string;
  timestamp: string;
  body: string;
  payload: string;
  headers: Record<string, string>;
}

function requestCase(name: string, target: RequestTarget, body: string): RequestCase {
  const headers = { ...signRequest(signingKeyOf(target.party), target, body, Number(TIMESTAMP)) };
  return { name, ...target, timestamp: TIMESTAMP, body, payload: signingPayload(target, TIMESTAMP, body).toString('utf8'), headers };
}

function badRequest(name: string, verifier: string, base: RequestCase, change: Partial<Pick<RequestCase, 'method' | 'path' | 'body' | 'headers'>>, now = NOW) {
  const req = { method: change.method ?? base.method, path: change.path ?? base.path, headers: change.headers ?? base.headers, body: change.body ?? base.body };
  const error = refused(name, { code: 'unauthenticated' }, () => verifyRequest(req, (p) => (p === 'node-9' ? undefined : signingKeyOf(p).publicKey), { self: verifier, now }));
  return { name, verifier, now, ...req, error };
}

/** The sealed bodies of sealed-body.json that request-signing.json signs (the bytes on the wire). */
interface WireBodies {
  linear: string;
  round: string;
  linearAnswer: string;
  healthAnswer: string;
  refusal: string;
}

function requestSigningVectors(bodies: WireBodies) {
  const good = [
    requestCase('gateway asks node 1 for a linear aggregate', LINEAR_TARGET, bodies.linear),
    requestCase('gateway checks the health of node 2 (no body, a query string)', HEALTH_TARGET, ''),
    requestCase('node 1 sends node 2 a sealed round message', ROUND_TARGET, bodies.round),
  ];
  const [linear, health, round] = good as [RequestCase, RequestCase, RequestCase];
  const { 'x-hgd-recipient': _recipient, ...noRecipient } = linear.headers;
  const sig = Buffer.from(linear.headers['x-hgd-signature'] as string, 'base64');
  const bad = [
    badRequest('the request node 1 answered, replayed to node 2', 'node-2', linear, {}),
    badRequest('the request node 1 answered, replayed to node 3', 'node-3', linear, {}),
    badRequest('the recipient header rewritten to the node it is replayed to', 'node-2', linear, { headers: { ...linear.headers, 'x-hgd-recipient': 'node-2' } }),
    badRequest('no recipient header', 'node-1', linear, { headers: noRecipient }),
    badRequest('another body', 'node-1', linear, { body: `${linear.body} ` }),
    badRequest('another path (a query string added)', 'node-1', linear, { path: '/aggregate/linear?x=1' }),
    badRequest('another method', 'node-2', health, { method: 'POST' }),
    badRequest('another timestamp (within the skew window)', 'node-1', linear, { headers: { ...linear.headers, 'x-hgd-timestamp': String(Number(TIMESTAMP) + 1) } }),
    badRequest('stale: verified 60.001 s later', 'node-1', linear, {}, Number(TIMESTAMP) + 60_001),
    badRequest('from the future: verified 60.001 s earlier', 'node-1', linear, {}, Number(TIMESTAMP) - 60_001),
    badRequest('signed by node 1 claiming to be the gateway', 'node-2', round, { headers: { ...round.headers, 'x-hgd-party': 'gateway' } }),
    badRequest('an unknown party', 'node-1', linear, { headers: { ...linear.headers, 'x-hgd-party': 'node-9' } }),
    badRequest('a malformed party', 'node-1', linear, { headers: { ...linear.headers, 'x-hgd-party': '../gateway' } }),
    badRequest('a truncated signature (63 bytes)', 'node-1', linear, { headers: { ...linear.headers, 'x-hgd-signature': sig.subarray(0, 63).toString('base64') } }),
  ];
  const answer = (name: string, signer: string, status: number, request: RequestCase, body: string) => ({
    name, signer, status, requestSignature: request.headers['x-hgd-signature'] as string, body,
    payload: responsePayload(status, request.headers['x-hgd-signature'] as string, body).toString('utf8'),
    signature: signResponse(signingKeyOf(signer), status, request.headers['x-hgd-signature'] as string, body),
  });
  const responses = [
    answer('node 1 answers the linear aggregate', 'node-1', 200, linear, bodies.linearAnswer),
    answer('node 2 answers the health check', 'node-2', 200, health, bodies.healthAnswer),
    answer('node 1 refuses a used query id', 'node-1', 409, linear, bodies.refusal),
  ];
  const [ok, healthAnswer] = responses as [(typeof responses)[0], (typeof responses)[0]];
  const badAnswer = (name: string, recipient: string, a: { party: string; status: number; requestSignature: string; body: string; signature: string }) => {
    const error = refused(name, { code: 'peer_request_failed' }, () =>
      checkAnswer({ status: a.status, party: a.party, signature: a.signature, body: a.body }, a.requestSignature, recipient, signingKeyOf(recipient).publicKey));
    return { name, recipient, ...a, error };
  };
  const asSent = { party: 'node-1', status: ok.status, requestSignature: ok.requestSignature, body: ok.body, signature: ok.signature };
  const badResponses = [
    badAnswer('an answer replayed for another request', 'node-1', { ...asSent, requestSignature: healthAnswer.requestSignature }),
    badAnswer('another status', 'node-1', { ...asSent, status: 500 }),
    badAnswer('another body (one bit of the sealed body flipped)', 'node-1', { ...asSent, body: flipEnvelopeByte(ok.body, -1) }),
    badAnswer('node 2 answering as node 1 with its own key', 'node-1', { ...asSent, signature: signResponse(signingKeyOf('node-2'), ok.status, ok.requestSignature, ok.body) }),
    badAnswer('signed by node 1 but naming node 2 as the signer', 'node-1', { ...asSent, party: 'node-2' }),
    badAnswer('no signature', 'node-1', { ...asSent, signature: '' }),
  ];
  return {
    description: 'Signed requests between the gateway and the compute nodes (parties/request-signing.ts) and signed answers. Keys: Ed25519 seeds (RFC 8032). The bodies are the bytes on the wire: sealed to their recipient (sealed-body.json), the signature covers the sealed bytes. A good request verifies at `now` for its recipient; every bad request is refused with the error code given.',
    format: {
      headers: ['x-hgd-party', 'x-hgd-recipient', 'x-hgd-timestamp', 'x-hgd-signature'],
      payload: "'hgd-request-v2' \\n party \\n recipient \\n METHOD \\n path \\n timestamp \\n hex(SHA-256(sealed body))",
      responseHeaders: ['x-hgd-party', 'x-hgd-response-signature'],
      responsePayload: "'hgd-response-v2' \\n status \\n the request's x-hgd-signature \\n hex(SHA-256(sealed body))",
      maxClockSkewMs: 60_000,
    },
    parties: Object.fromEntries(['gateway', 'node-1', 'node-2', 'node-3'].map((p) => [p, { ed25519Seed: seedOf(`${p}/ed25519`), publicKey: signingKeyOf(p).publicKeyBase64 }])),
    now: NOW,
    requests: good,
    badRequests: bad,
    responses,
    badResponses,
  };
}

// ---- sealed-body.json ----------------------------------------------------------------------------

const LINEAR_TARGET: RequestTarget = { party: 'gateway', recipient: 'node-1', method: 'POST', path: '/aggregate/linear' };
const HEALTH_TARGET: RequestTarget = { party: 'gateway', recipient: 'node-2', method: 'GET', path: '/health?probe=1' };
const ROUND_TARGET: RequestTarget = { party: 'node-1', recipient: 'node-2', method: 'POST', path: '/mpc/message' };
const LINEAR_QUERY = JSON.stringify({ queryId: 'vector-query-0001', indicator: 'heart_rate', from: null, to: null, cohort: ['p-1', 'p-2'], measures: ['count', 'sum'] });

function sealedRequest(name: string, target: RequestTarget, plaintext: string) {
  const randomness = sealRandomnessVector(`sealed-body/${name}`);
  const sealed = sealRequestBody(encryptionKeyOfParty(target.recipient).publicKey, target, plaintext, sealRandomnessOf(randomness));
  const headers = { ...signRequest(signingKeyOf(target.party), target, sealed, Number(TIMESTAMP)) };
  return { name, ...target, plaintext, ...randomness, aad: requestBodyAad(target), sealed, timestamp: TIMESTAMP, headers };
}

type SealedRequestCase = ReturnType<typeof sealedRequest>;

function sealedAnswer(name: string, request: SealedRequestCase, status: number, plaintext: string) {
  const context: AnswerContext = { signer: request.recipient, recipient: request.party, status, requestSignature: request.headers['x-hgd-signature'] };
  const randomness = sealRandomnessVector(`sealed-body/${name}`);
  const sealed = sealAnswerBody(encryptionKeyOfParty(request.party).publicKey, context, plaintext, sealRandomnessOf(randomness));
  return { name, ...context, plaintext, ...randomness, aad: answerBodyAad(context), sealed, signature: signResponse(signingKeyOf(context.signer), status, context.requestSignature, sealed) };
}

const sealedError = { code: 'invalid_input', field: 'sealed' };

function badSealedRequest(name: string, opener: string, target: RequestTarget, sealed: string) {
  return { name, opener, ...target, sealed, error: refused(name, sealedError, () => openRequestBody(encryptionKeyOfParty(opener), target, sealed)) };
}

function badSealedAnswer(name: string, opener: string, context: AnswerContext, sealed: string) {
  return { name, opener, ...context, sealed, error: refused(name, sealedError, () => openAnswerBody(encryptionKeyOfParty(opener), context, sealed)) };
}

function sealedBodyVectors(roundMessage: string) {
  const requests = [
    sealedRequest('gateway asks node 1 for a linear aggregate', LINEAR_TARGET, LINEAR_QUERY),
    sealedRequest('gateway checks the health of node 2 (no body stays no body)', HEALTH_TARGET, ''),
    sealedRequest('node 1 sends node 2 a round message (sealed inside too, round-message.json)', ROUND_TARGET, roundMessage),
  ];
  const [linear, health] = requests as [SealedRequestCase, SealedRequestCase];
  const answers = [
    sealedAnswer('node 1 answers the linear aggregate', linear, 200, JSON.stringify({ node: 1, count: 3, digest: '1234', scale: 1, sum: shareToHex(42n), noised: false, peerBytesSent: 0 })),
    sealedAnswer('node 2 answers the health check', health, 200, JSON.stringify({ node: 2, status: 'ok' })),
    sealedAnswer('node 1 refuses a used query id', linear, 409, JSON.stringify({ error: 'duplicate_message', message: 'query vector-query-0001 was already run at this node' })),
  ];
  const [ok] = answers as [ReturnType<typeof sealedAnswer>];
  const okContext: AnswerContext = { signer: ok.signer, recipient: ok.recipient, status: ok.status, requestSignature: ok.requestSignature };
  return {
    description: 'Request and answer bodies between the parties, sealed with hgd-seal-v1 (sealing.json) to their recipient (parties/sealed-body.ts): a request to the X25519 key of x-hgd-recipient, an answer to the key of the party that asked. `headers` and `signature` sign the sealed bytes (request-signing.json). A good case seals to exactly `sealed` with the given randomness and opens to `plaintext`; a bad case is refused by `opener`, which opens it with the context given.',
    format: {
      requestAad: "'hgd-request-v2|' sender '|' recipient '|' METHOD '|' path",
      answerAad: "'hgd-response-v2|' signer '|' recipient (the party that asked) '|' status '|' the request's x-hgd-signature",
      padding: 'before sealing, the UTF-8 plaintext is padded with spaces (0x20) to a multiple of 256 bytes; the opener strips trailing spaces',
      emptyBody: 'an empty body is sent empty (GET /health)',
      contentType: 'application/vnd.hgd.sealed',
    },
    parties: Object.fromEntries(['gateway', 'node-1', 'node-2', 'node-3'].map((p) => [p, { x25519Seed: seedOf(`${p}/x25519`), publicKey: encryptionKeyOfParty(p).publicKeyBase64 }])),
    requests,
    answers,
    badRequests: [
      badSealedRequest('opened by node 2 (sealed to node 1)', 'node-2', { ...LINEAR_TARGET, recipient: 'node-2' }, linear.sealed),
      badSealedRequest('claimed by another sender (node 2 re-signs the gateway\'s envelope)', 'node-1', { ...LINEAR_TARGET, party: 'node-2' }, linear.sealed),
      badSealedRequest('posted to another path', 'node-1', { ...LINEAR_TARGET, path: '/aggregate/product' }, linear.sealed),
      badSealedRequest('sent with another method', 'node-1', { ...LINEAR_TARGET, method: 'PUT' }, linear.sealed),
      badSealedRequest('a tampered envelope', 'node-1', LINEAR_TARGET, flipEnvelopeByte(linear.sealed, -1)),
      badSealedRequest('a body in clear', 'node-1', LINEAR_TARGET, LINEAR_QUERY),
    ],
    badAnswers: [
      badSealedAnswer('opened by node 2 (sealed to the gateway)', 'node-2', { ...okContext, recipient: 'node-2' }, ok.sealed),
      badSealedAnswer('taken as the answer to another request', 'gateway', { ...okContext, requestSignature: health.headers['x-hgd-signature'] }, ok.sealed),
      badSealedAnswer('taken with another status', 'gateway', { ...okContext, status: 500 }, ok.sealed),
      badSealedAnswer('claimed by another signer', 'gateway', { ...okContext, signer: 'node-2' }, ok.sealed),
      badSealedAnswer('a tampered envelope', 'gateway', okContext, flipEnvelopeByte(ok.sealed, -1)),
    ],
  };
}

// ---- sealing.json --------------------------------------------------------------------------------

function sealCase(name: string, recipient: number, aad: string, plaintext: Buffer) {
  const randomness = sealRandomnessVector(`sealing/${name}`);
  const r = sealRandomnessOf(randomness);
  const key = encryptionKeyOf(recipient);
  const epk = rawX25519PublicKey(createPublicKey(r.ephemeralKey));
  const shared = diffieHellman({ privateKey: r.ephemeralKey, publicKey: key.publicKey });
  const aesKey = Buffer.from(hkdfSync('sha256', shared, Buffer.concat([epk, rawX25519PublicKey(key.publicKey)]), Buffer.from('hgd-seal-v1'), 32));
  const sealed = sealToParty(key.publicKey, plaintext, aad, r);
  // The spec written out: the envelope is exactly epk ‖ iv ‖ tag ‖ ciphertext of AES-256-GCM under aesKey.
  const cipher = createCipheriv('aes-256-gcm', aesKey, Buffer.from(randomness.iv, 'hex')).setAAD(Buffer.from(aad, 'utf8'));
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  if (sealed !== `hgd-seal-v1.${Buffer.concat([epk, Buffer.from(randomness.iv, 'hex'), cipher.getAuthTag(), ct]).toString('base64url')}`) throw new Error(`${name}: envelope layout`);
  return { name, recipient: `node-${recipient}`, ...randomness, aad, plaintext: hex(plaintext), ephemeralPublicKey: hex(epk), sharedSecret: hex(shared), aesKey: hex(aesKey), sealed };
}

function sealingVectors() {
  const good = [
    sealCase('an empty plaintext', 1, 'hgd-vectors|empty', Buffer.alloc(0)),
    sealCase('one field element', 2, shareBatchAad(2, '1767225600000000', ['r-1']), Buffer.from(packElements([42n]))),
    sealCase('text with an empty associated data', 3, '', Buffer.from('hgd-seal-v1 test vector', 'utf8')),
  ];
  const [, one] = good as [unknown, (typeof good)[1]];
  const bad = (name: string, recipient: number, aad: string, sealed: string) => {
    const error = refused(name, { code: 'invalid_input', field: 'sealed' }, () => openSealed(encryptionKeyOf(recipient), sealed, aad));
    return { name, recipient: `node-${recipient}`, aad, sealed, error };
  };
  return {
    description: 'hgd-seal-v1 envelopes (parties/sealing.ts): ECIES with an ephemeral X25519 key, HKDF-SHA256 and AES-256-GCM. X25519 keys are raw 32-byte private keys (RFC 7748). A good case seals to exactly `sealed` with the given randomness and opens to `plaintext`; a bad case is refused.',
    format: {
      envelope: "'hgd-seal-v1.' base64url( epk[32] ‖ iv[12] ‖ tag[16] ‖ ciphertext )",
      hkdf: "ikm = X25519(ephemeral, recipient), salt = epk ‖ recipient public key, info = 'hgd-seal-v1', 32 bytes",
      aead: 'AES-256-GCM, AAD = the context string (UTF-8)',
    },
    recipients: Object.fromEntries(NODES.map((id) => [`node-${id}`, { x25519Seed: seedOf(`node-${id}/x25519`), publicKey: encryptionKeyOf(id).publicKeyBase64 }])),
    good,
    bad: [
      bad('opened by another node', 3, one.aad, one.sealed),
      bad('another associated data', 2, shareBatchAad(2, '1767225600000001', ['r-1']), one.sealed),
      bad('a flipped ciphertext byte', 2, one.aad, flipEnvelopeByte(one.sealed, 60)),
      bad('a flipped tag byte', 2, one.aad, flipEnvelopeByte(one.sealed, 44)),
      bad('a flipped IV byte', 2, one.aad, flipEnvelopeByte(one.sealed, 32)),
      bad('a flipped ephemeral key byte', 2, one.aad, flipEnvelopeByte(one.sealed, 0)),
      bad('truncated below 60 bytes', 2, one.aad, `hgd-seal-v1.${Buffer.from(one.sealed.slice(12), 'base64url').subarray(0, 59).toString('base64url')}`),
      bad('another version prefix', 2, one.aad, one.sealed.replace('hgd-seal-v1.', 'hgd-seal-v2.')),
      bad('an empty string', 2, one.aad, ''),
    ],
  };
}

// ---- share-batch.json ----------------------------------------------------------------------------

const BATCH_VALUES: ShareableValue[] = [
  { recordId: 'r-1', pseudonym: 'p-1', indicator: 'heart_rate', effectiveStart: '2026-01-01T08:00:00.000Z', effectiveEnd: null, value: 72.5, scale: 1 },
  { recordId: 'r-2', pseudonym: 'p-2', indicator: 'heart_rate', effectiveStart: '2026-01-01T09:30:00.000Z', effectiveEnd: '2026-01-01T09:31:00.000Z', value: 58, scale: 1 },
  { recordId: 'r-3', pseudonym: 'p-1', indicator: 'glucose', effectiveStart: '2026-01-02T07:15:00.000Z', effectiveEnd: null, value: -3.25, scale: 2 },
];
const DEALING = '1767225600000000';
const DEALER_SEED = 'hgd-vectors/share-batch/v1';

function shareBatchVectors() {
  const dealt = dealChunk(BATCH_VALUES, 3, 1, deterministicRandom(DEALER_SEED));
  const secrets = BATCH_VALUES.flatMap((v) => {
    const x = toFixed(v.value, v.scale);
    return [mod(x), mod(x * x)];
  });
  const meta = { dealing: DEALING, items: dealt.items };
  const perNode = NODES.map((node) => {
    const shares = dealt.perNode[node - 1] as bigint[];
    const randomness = sealRandomnessVector(`share-batch/node-${node}`);
    const batch = sealShareBatch(node, meta, shares, encryptionKeyOf(node).publicKey, sealRandomnessOf(randomness));
    return { node, shares: shares.map(shareToHex), ...randomness, aad: shareBatchAad(node, DEALING, dealt.items.map((i) => i.recordId)), plaintext: hex(packElements(shares)), body: JSON.stringify(batch) };
  });
  const one = perNode[0] as (typeof perNode)[0];
  const body1 = JSON.parse(one.body) as Record<string, unknown> & { items: Array<Record<string, unknown>>; sealed: string };
  /** Node 1's batch with other shares sealed correctly (so only the content is wrong). */
  const resealed = (elements: bigint[] | Uint8Array) => {
    const plain = elements instanceof Uint8Array ? elements : packElements(elements);
    return JSON.stringify({ ...body1, sealed: sealToParty(encryptionKeyOf(1).publicKey, plain, one.aad, sealRandomnessOf(sealRandomnessVector('share-batch/bad'))) });
  };
  const shares1 = dealt.perNode[0] as bigint[];
  const bad = (name: string, node: number, body: string, error: ExpectedError) => ({
    name, node, body, error: refused(name, error, () => openShareBatch(encryptionKeyOf(node), node, parseShareBatch(JSON.parse(body)))),
  });
  const sealedError = { code: 'invalid_input', field: 'sealed' };
  return {
    description: 'Share batches (POST /shares, parties/wire.ts ShareBatch, parties/share-batch.ts): three records dealt with degree t = 1 to n = 3 nodes from a fixed random stream (mpc/random.ts deterministicRandom(dealerSeed)), each node\'s shares sealed to it with fixed randomness. A good case reproduces items, every node\'s shares and its exact body; a node opens its body to its shares. A bad case is refused by the node named.',
    format: {
      elements: 'per item: x = round(value·10^scale) and x² (a legacy batch, dealt before histograms ran on comparisons, also carries one-hot entries after them for an item with `hist`; a node skips them); all mod P = 2^127 − 1, degree-t Shamir shares at x = node id',
      plaintext: 'the node\'s shares, 16 bytes each, big-endian (mpc/codec.ts packElements)',
      aad: "'hgd-shares|node-<i>|' dealing '|' hex(SHA-256(record ids joined by \\n))",
    },
    n: 3,
    t: 1,
    dealerSeed: DEALER_SEED,
    dealing: DEALING,
    nodes: Object.fromEntries(NODES.map((id) => [`node-${id}`, { x25519Seed: seedOf(`node-${id}/x25519`), publicKey: encryptionKeyOf(id).publicKeyBase64 }])),
    values: BATCH_VALUES,
    items: dealt.items,
    secrets: secrets.map(shareToHex),
    perNode,
    bad: [
      bad('a tampered envelope', 1, JSON.stringify({ ...body1, sealed: flipEnvelopeByte(body1.sealed, -1) }), sealedError),
      bad('node 1\'s envelope sent to node 2', 2, one.body, sealedError),
      bad('a record id changed in the metadata', 1, JSON.stringify({ ...body1, items: body1.items.map((it, k) => (k === 0 ? { ...it, recordId: 'r-9' } : it)) }), sealedError),
      bad('another dealing', 1, JSON.stringify({ ...body1, dealing: '1767225600000001' }), sealedError),
      bad('an element ≥ P', 1, resealed([P, ...shares1.slice(1)]), sealedError),
      bad('one element short', 1, resealed(shares1.slice(1)), sealedError),
      bad('a ragged length (one byte short)', 1, resealed(packElements(shares1).subarray(1)), sealedError),
      bad('a legacy histogram key that does not match its edges', 1, JSON.stringify({ ...body1, histograms: { [histogramKey([20, 60, 100, 300])]: [20, 60, 100, 250] } }), { code: 'invalid_input', field: 'histograms' }),
      bad('an item naming a (legacy) histogram the batch does not describe', 1, JSON.stringify({ ...body1, items: body1.items.map((it, k) => (k === 2 ? { ...it, hist: 'h-none' } : it)) }), { code: 'invalid_input', field: 'hist' }),
      bad('an unsupported version', 1, JSON.stringify({ ...body1, v: 2 }), { code: 'invalid_input', field: 'v' }),
    ],
  };
}

// ---- round-message.json --------------------------------------------------------------------------

interface RoundCase {
  name: string;
  from: number;
  to: number;
  queryId: string;
  round: RoundName;
  values: string[];
}

function roundGood(c: RoundCase) {
  const randomness = sealRandomnessVector(`round-message/${c.name}`);
  const values = c.values.map((v) => BigInt(`0x${v}`));
  const msg = sealRoundMessage(encryptionKeyOf(c.to).publicKey, c, values, sealRandomnessOf(randomness));
  return { ...c, ...randomness, aad: roundMessageAad(c), plaintext: hex(packElements(values)), body: JSON.stringify(msg) };
}

function roundMessageVectors() {
  const good = [
    roundGood({ name: 'node 1 deals node 2 its noise shares', from: 1, to: 2, queryId: '3f0c2b1e-7d4a-4e6b-9a51-0c8f2d6e4b17', round: 'noise', values: [shareToHex(123456789n), shareToHex(P - 5n), shareToHex(0n)] }),
    roundGood({ name: 'node 3 deals node 1 its zero sharing', from: 3, to: 1, queryId: 'product-query-0001', round: 'zero', values: [shareToHex(2n ** 126n + 17n)] }),
    roundGood({ name: 'node 2 reshares to node 3', from: 2, to: 3, queryId: 'product-query-0001', round: 'reshare', values: [shareToHex(1n), shareToHex(P - 1n)] }),
  ];
  const g = good[0] as (typeof good)[0];
  const body = JSON.parse(g.body) as Record<string, unknown>;
  const reseal = (plain: Uint8Array) => JSON.stringify({ ...body, sealed: sealToParty(encryptionKeyOf(2).publicKey, plain, g.aad, sealRandomnessOf(sealRandomnessVector('round-message/bad'))) });
  const sealedError = { code: 'invalid_input', field: 'sealed' };
  const bad = (name: string, from: number, to: number, b: string, error: ExpectedError) => ({
    name, from, to, body: b, error: refused(name, error, () => openRoundMessage(encryptionKeyOf(to), from, to, parsePeerMessage(JSON.parse(b)))),
  });
  return {
    description: 'Sealed round messages between compute nodes (POST /mpc/message, parties/round-message.ts). `from` is the authenticated sender (the x-hgd-party of the signed request), `to` the node that opens it. A good case seals to exactly `body` with the given randomness and opens to `values`; a bad case is refused by node `to`.',
    format: {
      body: "{ v: 1, queryId, round: 'zero' | 'reshare' | 'noise', sealed: hgd-seal-v1 envelope (sealing.json) }",
      plaintext: 'the values, 16 bytes each, big-endian (mpc/codec.ts packElements)',
      aad: "'hgd-round-v1|node-<from>|node-<to>|' queryId '|' round",
    },
    nodes: Object.fromEntries(NODES.map((id) => [`node-${id}`, { x25519Seed: seedOf(`node-${id}/x25519`), publicKey: encryptionKeyOf(id).publicKeyBase64 }])),
    good,
    bad: [
      bad('opened by a node it was not sealed to', 1, 3, g.body, sealedError),
      bad('claimed by another sender (node 3 re-sends node 1\'s envelope)', 3, 2, g.body, sealedError),
      bad('moved to another round', 1, 2, JSON.stringify({ ...body, round: 'zero' }), sealedError),
      bad('moved to another query', 1, 2, JSON.stringify({ ...body, queryId: 'another-query-0001' }), sealedError),
      bad('a tampered envelope', 1, 2, JSON.stringify({ ...body, sealed: flipEnvelopeByte(body.sealed as string, -1) }), sealedError),
      bad('an element ≥ P', 1, 2, reseal(packElements([P])), sealedError),
      bad('a ragged length (17 bytes)', 1, 2, reseal(new Uint8Array(17)), sealedError),
      bad('an unsupported version', 1, 2, JSON.stringify({ ...body, v: 2 }), { code: 'invalid_input', field: 'v' }),
      bad('an unknown round', 1, 2, JSON.stringify({ ...body, round: 'open' }), { code: 'invalid_input', field: 'round' }),
      bad('a malformed query id', 1, 2, JSON.stringify({ ...body, queryId: 'short' }), { code: 'invalid_input', field: 'queryId' }),
      bad('shares in clear instead of an envelope (the old format)', 1, 2, JSON.stringify({ queryId: g.queryId, round: g.round, values: g.values }), { code: 'invalid_input', field: 'v' }),
    ],
  };
}

export function generateVectors(): Record<string, unknown> {
  const rounds = roundMessageVectors();
  const sealed = sealedBodyVectors((rounds.good[0] as { body: string }).body);
  const [linear, , round] = sealed.requests as [SealedRequestCase, SealedRequestCase, SealedRequestCase];
  const [linearAnswer, healthAnswer, refusal] = sealed.answers.map((a) => a.sealed) as [string, string, string];
  return {
    'request-signing.json': requestSigningVectors({ linear: linear.sealed, round: round.sealed, linearAnswer, healthAnswer, refusal }),
    'sealed-body.json': sealed,
    'sealing.json': sealingVectors(),
    'share-batch.json': shareBatchVectors(),
    'round-message.json': rounds,
    'checkpoint.json': checkpointVectors(),
  };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  for (const [file, doc] of Object.entries(generateVectors())) {
    fs.writeFileSync(path.join(HERE, file), `${JSON.stringify(doc, null, 2)}\n`);
    console.log(`wrote test/vectors/${file}`);
  }
}
