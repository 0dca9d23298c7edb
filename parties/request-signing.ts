/**
 * Signed HTTP requests between the parties of the MPC deployment (the gateway and the compute nodes).
 *
 * Every request carries four headers:
 *   x-hgd-party      the sender, e.g. 'gateway' or 'node-2'
 *   x-hgd-recipient  the party the request is for, e.g. 'node-1'; the receiver refuses any other
 *   x-hgd-timestamp  milliseconds since the epoch; the receiver rejects more than 60 s of skew
 *   x-hgd-signature  base64 Ed25519 signature over signingPayload:
 *                    'hgd-request-v2\n' sender '\n' recipient '\n' METHOD '\n' path '\n' timestamp '\n' sha256hex(body)
 * where `path` is the request target as sent (path and query string) and `body` the bytes on the wire:
 * since v2 every non-empty body is sealed to the recipient (sealed-body.ts), and the signature covers
 * the sealed bytes (v1 signed the same lines over a body in clear). The receiver looks the sender's
 * public key up in the key directory (key-directory.ts). Because the recipient is signed, a request one
 * node answered cannot be replayed to another; inside the skew window a replay to the same node is
 * harmless by construction of the endpoints (share storage is idempotent, query ids are single-use at
 * every node and persist in its database, round messages are accepted once per query, round and sender).
 *
 * Answers are signed too (signResponse): 'hgd-response-v2\n' status '\n' the request's signature '\n'
 * sha256hex(body), the body again as sealed (to the party that asked), so an answer is bound to the one
 * request it answers (and through it to the recipient). The client that seals, sends and checks is
 * parties/client.ts; the receiving middleware is parties/middleware.ts. Fixed vectors:
 * test/vectors/request-signing.json.
 */
import { createHash, type KeyObject } from 'node:crypto';
import { signBytes, verifyBytes, type SigningKey } from '../storage-layer/signing-key';
import { RequestAuthError } from './errors';

export const PARTY_HEADER = 'x-hgd-party';
export const RECIPIENT_HEADER = 'x-hgd-recipient';
export const TIMESTAMP_HEADER = 'x-hgd-timestamp';
export const SIGNATURE_HEADER = 'x-hgd-signature';
/** Largest accepted difference between the sender's timestamp and the receiver's clock. */
export const MAX_CLOCK_SKEW_MS = 60_000;

const REQUEST_CONTEXT = 'hgd-request-v2';
const RESPONSE_CONTEXT = 'hgd-response-v2';

export interface SignedHeaders {
  [PARTY_HEADER]: string;
  [RECIPIENT_HEADER]: string;
  [TIMESTAMP_HEADER]: string;
  [SIGNATURE_HEADER]: string;
}

/** What a request signature covers besides the body. */
export interface RequestTarget {
  /** The sender. */
  party: string;
  /** The party the request is for. */
  recipient: string;
  method: string;
  /** Request target as sent (path and query string). */
  path: string;
}

export function sha256Hex(body: string | Uint8Array): string {
  return createHash('sha256').update(body).digest('hex');
}

/** The exact bytes that are signed. */
export function signingPayload(target: RequestTarget, timestamp: string, body: string | Uint8Array): Buffer {
  const lines = [REQUEST_CONTEXT, target.party, target.recipient, target.method.toUpperCase(), target.path, timestamp, sha256Hex(body)];
  return Buffer.from(lines.join('\n'), 'utf8');
}

/** Headers that authenticate `method path body` as coming from `party` and meant for `recipient`. */
export function signRequest(key: SigningKey, target: RequestTarget, body: string | Uint8Array = '', now = Date.now()): SignedHeaders {
  const timestamp = String(Math.trunc(now));
  return {
    [PARTY_HEADER]: target.party,
    [RECIPIENT_HEADER]: target.recipient,
    [TIMESTAMP_HEADER]: timestamp,
    [SIGNATURE_HEADER]: signBytes(key, signingPayload(target, timestamp, body)).toString('base64'),
  };
}

/** A node's answer carries its party and a signature over (status, the request's signature, body). */
export const RESPONSE_SIGNATURE_HEADER = 'x-hgd-response-signature';

export function responsePayload(status: number, requestSignature: string, body: string | Uint8Array): Buffer {
  return Buffer.from(`${RESPONSE_CONTEXT}\n${status}\n${requestSignature}\n${sha256Hex(body)}`, 'utf8');
}

/** Signs an answer to one request: binding it to the request's signature stops replays of old answers. */
export function signResponse(key: SigningKey, status: number, requestSignature: string, body: string | Uint8Array): string {
  return signBytes(key, responsePayload(status, requestSignature, body)).toString('base64');
}

/** True when `signature` (base64) is `publicKey`'s signature of this answer to the request signed `requestSignature`. */
export function verifyResponse(publicKey: KeyObject, status: number, requestSignature: string, body: string | Uint8Array, signature: string): boolean {
  const sig = Buffer.from(signature, 'base64');
  return sig.length === 64 && verifyBytes(publicKey, responsePayload(status, requestSignature, body), sig);
}

export interface IncomingSignedRequest {
  method: string;
  /** Request target as received (path and query string). */
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: string | Uint8Array;
}

function header(headers: IncomingSignedRequest['headers'], name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

const PARTY = /^(?:gateway|node-[1-9][0-9]{0,3})$/;

/** The four signed headers, present and well-formed; throws RequestAuthError otherwise. */
function signedHeaders(headers: IncomingSignedRequest['headers']): SignedHeaders {
  const party = header(headers, PARTY_HEADER);
  const recipient = header(headers, RECIPIENT_HEADER);
  const timestamp = header(headers, TIMESTAMP_HEADER);
  const signature = header(headers, SIGNATURE_HEADER);
  if (!party || !recipient || !timestamp || !signature) {
    throw new RequestAuthError('request is not signed (x-hgd-party, x-hgd-recipient, x-hgd-timestamp and x-hgd-signature are required)');
  }
  if (!PARTY.test(party)) throw new RequestAuthError('unknown party');
  if (!/^[0-9]{1,16}$/.test(timestamp)) throw new RequestAuthError('x-hgd-timestamp must be milliseconds since the epoch');
  return { [PARTY_HEADER]: party, [RECIPIENT_HEADER]: recipient, [TIMESTAMP_HEADER]: timestamp, [SIGNATURE_HEADER]: signature };
}

export interface VerifyRequestOptions {
  /** This receiver's party: a request addressed to anyone else is refused. */
  self: string;
  now?: number;
}

/**
 * Verifies a request meant for `opts.self`; returns the authenticated sender or throws RequestAuthError.
 * `lookup` returns the Ed25519 public key of a party (undefined for an unknown party).
 */
export function verifyRequest(req: IncomingSignedRequest, lookup: (party: string) => KeyObject | undefined, opts: VerifyRequestOptions): string {
  const h = signedHeaders(req.headers);
  const party = h[PARTY_HEADER];
  if (h[RECIPIENT_HEADER] !== opts.self) throw new RequestAuthError(`request is addressed to ${h[RECIPIENT_HEADER].slice(0, 40)}, not to ${opts.self}`);
  if (Math.abs((opts.now ?? Date.now()) - Number(h[TIMESTAMP_HEADER])) > MAX_CLOCK_SKEW_MS) {
    throw new RequestAuthError('request timestamp is stale or in the future (more than 60 s of skew)');
  }
  const key = lookup(party);
  if (!key) throw new RequestAuthError(`unknown party ${party}`);
  const sig = Buffer.from(h[SIGNATURE_HEADER], 'base64');
  const target: RequestTarget = { party, recipient: opts.self, method: req.method, path: req.path };
  if (sig.length !== 64 || !verifyBytes(key, signingPayload(target, h[TIMESTAMP_HEADER], req.body), sig)) {
    throw new RequestAuthError('bad request signature');
  }
  return party;
}
