/**
 * The parties' client: sealed, signed JSON requests with global fetch (fetchSigned), and a client for
 * one compute node on top of it. Every request is sent by `self` (the gateway or a peer node) for one
 * `recipient`: its body is sealed to the recipient's X25519 key and the sealed bytes are signed
 * (sealed-body.ts, request-signing.ts); every answer must be signed by that recipient and sealed to
 * `self`, or the node is treated as unreachable. This is the one place where requests are sealed and
 * answers opened: the routes see plaintext JSON only (middleware.ts). Errors are SignedRequestError
 * (peerStatus 0 when the node is unreachable, timed out, or its answer is not its own).
 */
import type { KeyObject } from 'node:crypto';
import { SignedRequestError } from './errors';
import type { PartyIdentity, PartyKeyLookup } from './key-directory';
import { PARTY_HEADER, RESPONSE_SIGNATURE_HEADER, SIGNATURE_HEADER, signRequest, verifyResponse, type RequestTarget } from './request-signing';
import { openAnswerBody, SEALED_CONTENT_TYPE, sealRequestBody } from './sealed-body';
import type { ClampedRequest, ClampedResponse, FilteredRequest, FilteredResponse, HistogramRequest, HistogramResponse, LinearRequest, LinearResponse, PeerMessage, ProductRequest, ProductResponse, ShareBatch, ShareBatchReceipt } from './wire';

export interface SignedFetchOptions {
  /** The sender: it signs the request and opens the answer. */
  self: PartyIdentity;
  /** The party the request is for (signed: any other party refuses it; sealed: no other can read it). */
  recipient: string;
  /** Where the recipient's keys are found: X25519 to seal the request, Ed25519 to check the answer. */
  keys: PartyKeyLookup;
  method?: string;
  /** Serialised as JSON unless it is already a string. */
  body?: unknown;
  timeoutMs?: number;
}

export interface SignedFetchResult<T> {
  status: number;
  body: T;
  /** Bytes of the sealed request and answer bodies, as they crossed the link. */
  bytesSent: number;
  bytesReceived: number;
}

/** An answer as it arrived: its status, the signer's headers and the exact body. */
export interface SignedAnswer {
  status: number;
  /** x-hgd-party */
  party: string | null;
  /** x-hgd-response-signature */
  signature: string | null;
  body: string;
}

/**
 * Throws SignedRequestError with peerStatus 0 unless `answer` is signed by `recipient` (whose Ed25519
 * key is `publicKey`) as the answer to the request signed `requestSignature`: an answer not signed by
 * the node that was asked is not that node's answer, so the node counts as unreachable.
 */
export function checkAnswer(answer: SignedAnswer, requestSignature: string, recipient: string, publicKey: KeyObject | undefined, what = 'request'): void {
  const ok = publicKey !== undefined && answer.party === recipient &&
    verifyResponse(publicKey, answer.status, requestSignature, answer.body, answer.signature ?? '');
  if (!ok) throw new SignedRequestError(`${what}: the answer (status ${answer.status}) is not signed by ${recipient}`, 0);
}

type Target = RequestTarget & { url: URL; what: string };

/** The request body sealed to the recipient ('' for none); peerStatus 0 when it has no X25519 key. */
function sealedBody(opts: SignedFetchOptions, target: RequestTarget): string {
  const text = opts.body === undefined ? '' : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
  if (text === '') return '';
  const key = opts.keys.encryptionKey(opts.recipient);
  if (!key) throw new SignedRequestError(`${opts.recipient} has published no encryption key: nothing can be sealed to it`, 0);
  return sealRequestBody(key, target, text);
}

/** Signs and sends the sealed body; resolves with the answer and the signature it must answer. */
async function send(opts: SignedFetchOptions, target: Target, body: string): Promise<{ res: Response; requestSignature: string }> {
  for (let attempt = 0; ; attempt++) {
    const signed = signRequest(opts.self.signingKey, target, body);
    const headers: Record<string, string> = { ...signed, ...(body ? { 'content-type': SEALED_CONTENT_TYPE } : {}) };
    try {
      const res = await fetch(target.url, { method: target.method, headers, body: body || undefined, signal: AbortSignal.timeout(opts.timeoutMs ?? 30_000) });
      return { res, requestSignature: signed[SIGNATURE_HEADER] };
    } catch (err) {
      const code = (err as { cause?: { code?: string } }).cause?.code;
      // A pooled keep-alive connection the peer closed (e.g. it restarted): the request did not reach
      // it, so one retry on a new connection is safe (and every endpoint is idempotent or single-use).
      if (attempt === 0 && (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE')) continue;
      const reason = (err as Error).name === 'TimeoutError' ? 'timed out' : (code ?? (err as Error).message);
      throw new SignedRequestError(`${target.what} failed: ${reason}`, 0);
    }
  }
}

/** The answer's plaintext, once its signature is the recipient's and it opens with `self`'s key. */
function openAnswer(opts: SignedFetchOptions, status: number, headers: Headers, raw: string, requestSignature: string, what: string): string {
  const answer = { status, party: headers.get(PARTY_HEADER), signature: headers.get(RESPONSE_SIGNATURE_HEADER), body: raw };
  checkAnswer(answer, requestSignature, opts.recipient, opts.keys.signingKey(opts.recipient), what);
  try {
    return openAnswerBody(opts.self.encryptionKey, { signer: opts.recipient, recipient: opts.self.party, status, requestSignature }, raw);
  } catch {
    throw new SignedRequestError(`${what}: the answer of ${opts.recipient} is not sealed to ${opts.self.party}`, 0);
  }
}

function parseJson(text: string): unknown {
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A sealed, signed JSON request with global fetch. Resolves with the opened, parsed answer on 2xx;
 * throws SignedRequestError on any other status (peerStatus = status) or when the peer is unreachable,
 * times out or its answer is not its own (peerStatus = 0). The error message never contains the body.
 */
export async function fetchSigned<T>(baseUrl: string, path: string, opts: SignedFetchOptions): Promise<SignedFetchResult<T>> {
  const method = (opts.method ?? (opts.body === undefined ? 'GET' : 'POST')).toUpperCase();
  const what = `${method} ${baseUrl}${path}`;
  const target: Target = { party: opts.self.party, recipient: opts.recipient, method, path, url: new URL(path, baseUrl), what };
  const body = sealedBody(opts, target);
  const { res, requestSignature } = await send(opts, target, body);
  const raw = await res.text();
  const parsed = parseJson(openAnswer(opts, res.status, res.headers, raw, requestSignature, what));
  if (!res.ok) {
    const p = parsed as { error?: string; message?: string } | undefined;
    throw new SignedRequestError(`${what} answered ${res.status}${p?.message ? `: ${p.message}` : ''}`, res.status, p?.error);
  }
  return { status: res.status, body: parsed as T, bytesSent: Buffer.byteLength(body), bytesReceived: Buffer.byteLength(raw) };
}

export interface NodeClientOptions {
  baseUrl: string;
  /** The sender. */
  self: PartyIdentity;
  /** The node this client talks to (every request is sealed and signed for it). */
  recipient: string;
  /** Where the node's public keys are found (usually the KeyDirectory). */
  keys: PartyKeyLookup;
  timeoutMs?: number;
}

export class NodeClient {
  constructor(private readonly opts: NodeClientOptions) {}

  get baseUrl(): string {
    return this.opts.baseUrl;
  }

  request<T>(method: string, path: string, body?: unknown, timeoutMs?: number): Promise<SignedFetchResult<T>> {
    const { self, recipient, keys } = this.opts;
    return fetchSigned<T>(this.opts.baseUrl, path, { self, recipient, keys, method, body, timeoutMs: timeoutMs ?? this.opts.timeoutMs });
  }

  health(timeoutMs = 2_000): Promise<SignedFetchResult<{ node: number; status: string }>> {
    return this.request('GET', '/health', undefined, timeoutMs);
  }

  storeShares(batch: ShareBatch | string): Promise<SignedFetchResult<ShareBatchReceipt>> {
    return this.request('POST', '/shares', batch);
  }

  linear(req: LinearRequest): Promise<SignedFetchResult<LinearResponse>> {
    return this.request('POST', '/aggregate/linear', req);
  }

  product(req: ProductRequest): Promise<SignedFetchResult<ProductResponse>> {
    return this.request('POST', '/aggregate/product', req);
  }

  filtered(req: FilteredRequest): Promise<SignedFetchResult<FilteredResponse>> {
    return this.request('POST', '/aggregate/filtered', req);
  }

  histogram(req: HistogramRequest): Promise<SignedFetchResult<HistogramResponse>> {
    return this.request('POST', '/aggregate/histogram', req);
  }

  clamped(req: ClampedRequest): Promise<SignedFetchResult<ClampedResponse>> {
    return this.request('POST', '/aggregate/clamped', req);
  }

  message(msg: PeerMessage): Promise<SignedFetchResult<{ ok: true }>> {
    return this.request('POST', '/mpc/message', msg);
  }
}
