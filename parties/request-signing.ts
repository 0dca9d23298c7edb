/**
 * Signed HTTP requests between the parties of the MPC deployment (the gateway and the compute nodes).
 *
 * Every request carries three headers:
 *   x-hgd-party      the sender, e.g. 'gateway' or 'node-2'
 *   x-hgd-timestamp  milliseconds since the epoch; the receiver rejects more than 60 s of skew
 *   x-hgd-signature  base64 Ed25519 signature over `${METHOD}\n${path}\n${timestamp}\n${sha256hex(body)}`
 * where `path` is the request target as sent (path and query string). The receiver looks the sender's
 * public key up in the key directory (key-directory.ts). Replays inside the skew window are harmless
 * by construction of the endpoints (share storage is idempotent, query and message ids are single-use).
 *
 * Answers are signed too (signResponse, bound to the request's signature). The client that sends and
 * checks is parties/client.ts; the receiving middleware is parties/middleware.ts.
 */
import { createHash, type KeyObject } from 'node:crypto';
import { signBytes, verifyBytes, type SigningKey } from '../storage-layer/signing-key';
import { RequestAuthError } from './errors';

export const PARTY_HEADER = 'x-hgd-party';
export const TIMESTAMP_HEADER = 'x-hgd-timestamp';
export const SIGNATURE_HEADER = 'x-hgd-signature';
/** Largest accepted difference between the sender's timestamp and the receiver's clock. */
export const MAX_CLOCK_SKEW_MS = 60_000;

export interface SignedHeaders {
  [PARTY_HEADER]: string;
  [TIMESTAMP_HEADER]: string;
  [SIGNATURE_HEADER]: string;
}

export function sha256Hex(body: string | Uint8Array): string {
  return createHash('sha256').update(body).digest('hex');
}

/** The exact bytes that are signed. */
export function signingPayload(method: string, path: string, timestamp: string, body: string | Uint8Array): Buffer {
  return Buffer.from(`${method.toUpperCase()}\n${path}\n${timestamp}\n${sha256Hex(body)}`, 'utf8');
}

/** Headers that authenticate `method path body` as coming from `party`. */
export function signRequest(key: SigningKey, party: string, method: string, path: string, body: string | Uint8Array = '', now = Date.now()): SignedHeaders {
  const timestamp = String(Math.trunc(now));
  return {
    [PARTY_HEADER]: party,
    [TIMESTAMP_HEADER]: timestamp,
    [SIGNATURE_HEADER]: signBytes(key, signingPayload(method, path, timestamp, body)).toString('base64'),
  };
}

/** A node's answer carries its party and a signature over (status, the request's signature, body). */
export const RESPONSE_SIGNATURE_HEADER = 'x-hgd-response-signature';

export function responsePayload(status: number, requestSignature: string, body: string | Uint8Array): Buffer {
  return Buffer.from(`${status}\n${requestSignature}\n${sha256Hex(body)}`, 'utf8');
}

/** Signs an answer to one request: binding it to the request's signature stops replays of old answers. */
export function signResponse(key: SigningKey, status: number, requestSignature: string, body: string | Uint8Array): string {
  return signBytes(key, responsePayload(status, requestSignature, body)).toString('base64');
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

/**
 * Verifies a request; returns the authenticated party or throws RequestAuthError.
 * `lookup` returns the Ed25519 public key of a party (undefined for an unknown party).
 */
export function verifyRequest(req: IncomingSignedRequest, lookup: (party: string) => KeyObject | undefined, now = Date.now()): string {
  const party = header(req.headers, PARTY_HEADER);
  const timestamp = header(req.headers, TIMESTAMP_HEADER);
  const signature = header(req.headers, SIGNATURE_HEADER);
  if (!party || !timestamp || !signature) throw new RequestAuthError('request is not signed (x-hgd-party, x-hgd-timestamp and x-hgd-signature are required)');
  if (!PARTY.test(party)) throw new RequestAuthError('unknown party');
  if (!/^[0-9]{1,16}$/.test(timestamp)) throw new RequestAuthError('x-hgd-timestamp must be milliseconds since the epoch');
  if (Math.abs(now - Number(timestamp)) > MAX_CLOCK_SKEW_MS) throw new RequestAuthError('request timestamp is stale or in the future (more than 60 s of skew)');
  const key = lookup(party);
  if (!key) throw new RequestAuthError(`unknown party ${party}`);
  const sig = Buffer.from(signature, 'base64');
  if (sig.length !== 64 || !verifyBytes(key, signingPayload(req.method, req.path, timestamp, req.body), sig)) {
    throw new RequestAuthError('bad request signature');
  }
  return party;
}
