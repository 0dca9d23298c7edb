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
 * This module lives in management-layer so that both the gateway's share distributor (here) and the
 * compute nodes (usage-layer/node) can use it; the express middleware is in usage-layer/node.
 */
import { createHash, type KeyObject } from 'node:crypto';
import { HgdError } from '../../storage-layer/errors';
import { signBytes, verifyBytes, type SigningKey } from '../../storage-layer/signing-key';

export const PARTY_HEADER = 'x-hgd-party';
export const TIMESTAMP_HEADER = 'x-hgd-timestamp';
export const SIGNATURE_HEADER = 'x-hgd-signature';
/** Largest accepted difference between the sender's timestamp and the receiver's clock. */
export const MAX_CLOCK_SKEW_MS = 60_000;

/** The request is not signed, signed by an unknown party, badly signed or stale. */
export class RequestAuthError extends HgdError {
  constructor(message: string) {
    super(message, 401, 'unauthenticated');
  }
}

/** A signed request failed: the peer answered with an error status, or could not be reached (status 0). */
export class SignedRequestError extends HgdError {
  constructor(
    message: string,
    readonly peerStatus: number,
    readonly peerCode?: string,
  ) {
    super(message, 502, 'peer_request_failed');
  }
}

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

function responsePayload(status: number, requestSignature: string, body: string | Uint8Array): Buffer {
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

export interface SignedFetchOptions {
  key: SigningKey;
  party: string;
  method?: string;
  /** Serialised as JSON unless it is already a string. */
  body?: unknown;
  timeoutMs?: number;
  /** The party that must have signed the answer, and where its public key is found. */
  expectSigner?: { party: string; publicKey: (party: string) => KeyObject | undefined };
}

export interface SignedFetchResult<T> {
  status: number;
  body: T;
  bytesSent: number;
  bytesReceived: number;
}

/**
 * A signed JSON request with global fetch. Resolves with the parsed answer on 2xx; throws
 * SignedRequestError on any other status (peerStatus = status) or when the peer is unreachable or
 * times out (peerStatus = 0). The error message never contains the request body.
 */
export async function fetchSigned<T>(baseUrl: string, path: string, opts: SignedFetchOptions): Promise<SignedFetchResult<T>> {
  const method = (opts.method ?? (opts.body === undefined ? 'GET' : 'POST')).toUpperCase();
  const text = opts.body === undefined ? '' : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
  let res: Response | undefined;
  let requestSignature = '';
  for (let attempt = 0; !res; attempt++) {
    const signed = signRequest(opts.key, opts.party, method, path, text);
    requestSignature = signed[SIGNATURE_HEADER];
    const headers: Record<string, string> = { ...signed };
    if (text) headers['content-type'] = 'application/json';
    try {
      res = await fetch(new URL(path, baseUrl), {
        method,
        headers,
        body: text ? text : undefined,
        signal: AbortSignal.timeout(opts.timeoutMs ?? 30_000),
      });
    } catch (err) {
      const code = (err as { cause?: { code?: string } }).cause?.code;
      // A pooled keep-alive connection the peer closed (e.g. it restarted): the request did not reach
      // it, so one retry on a new connection is safe (and every endpoint is idempotent or single-use).
      if (attempt === 0 && (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE')) continue;
      const reason = (err as Error).name === 'TimeoutError' ? 'timed out' : (code ?? (err as Error).message);
      throw new SignedRequestError(`${method} ${baseUrl}${path} failed: ${reason}`, 0);
    }
  }
  const raw = await res.text();
  const bytesReceived = Buffer.byteLength(raw);
  const signer = opts.expectSigner;
  if (signer) {
    const key = signer.publicKey(signer.party);
    const sig = Buffer.from(res.headers.get(RESPONSE_SIGNATURE_HEADER) ?? '', 'base64');
    const ok = key !== undefined && res.headers.get(PARTY_HEADER) === signer.party && sig.length === 64 &&
      verifyBytes(key, responsePayload(res.status, requestSignature, raw), sig);
    // An answer not signed by the node we asked is not that node's answer: treat the node as unreachable.
    if (!ok) throw new SignedRequestError(`${method} ${baseUrl}${path}: the answer is not signed by ${signer.party}`, 0);
  }
  let parsed: unknown = undefined;
  try {
    parsed = raw ? JSON.parse(raw) : undefined;
  } catch {
    parsed = undefined;
  }
  if (!res.ok) {
    const p = parsed as { error?: string; message?: string } | undefined;
    throw new SignedRequestError(`${method} ${baseUrl}${path} answered ${res.status}${p?.message ? `: ${p.message}` : ''}`, res.status, p?.error);
  }
  return { status: res.status, body: parsed as T, bytesSent: Buffer.byteLength(text), bytesReceived };
}
