/**
 * The parties' client: signed JSON requests with global fetch (fetchSigned), and a client for one
 * compute node on top of it. Every request is signed as `party` (the gateway or a peer node) for one
 * `recipient`; when the caller says where public keys are found (`publicKeys`), every answer must be
 * signed by that recipient, or the node is treated as unreachable. Errors are SignedRequestError
 * (peerStatus 0 when the node is unreachable or timed out).
 */
import type { KeyObject } from 'node:crypto';
import type { SigningKey } from '../storage-layer/signing-key';
import { SignedRequestError } from './errors';
import { PARTY_HEADER, RESPONSE_SIGNATURE_HEADER, SIGNATURE_HEADER, signRequest, verifyResponse } from './request-signing';
import type { FilteredRequest, FilteredResponse, LinearRequest, LinearResponse, PeerMessage, ProductRequest, ProductResponse, ShareBatch, ShareBatchReceipt } from './wire';

export interface SignedFetchOptions {
  key: SigningKey;
  /** The sender. */
  party: string;
  /** The party the request is for (signed: any other party refuses it). */
  recipient: string;
  method?: string;
  /** Serialised as JSON unless it is already a string. */
  body?: unknown;
  timeoutMs?: number;
  /** Where public keys are found: when set, the answer must be signed by `recipient`. */
  publicKeys?: (party: string) => KeyObject | undefined;
}

export interface SignedFetchResult<T> {
  status: number;
  body: T;
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
  if (!ok) throw new SignedRequestError(`${what}: the answer is not signed by ${recipient}`, 0);
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
    const signed = signRequest(opts.key, { party: opts.party, recipient: opts.recipient, method, path }, text);
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
  if (opts.publicKeys) {
    const answer = { status: res.status, party: res.headers.get(PARTY_HEADER), signature: res.headers.get(RESPONSE_SIGNATURE_HEADER), body: raw };
    checkAnswer(answer, requestSignature, opts.recipient, opts.publicKeys(opts.recipient), `${method} ${baseUrl}${path}`);
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

export interface NodeClientOptions {
  baseUrl: string;
  key: SigningKey;
  /** The sender. */
  party: string;
  /** The node this client talks to (every request is signed for it). */
  recipient: string;
  timeoutMs?: number;
  /** Where public keys are found: every answer must then be signed by `recipient` (the gateway and peers always set it). */
  publicKeys?: SignedFetchOptions['publicKeys'];
}

export class NodeClient {
  constructor(private readonly opts: NodeClientOptions) {}

  get baseUrl(): string {
    return this.opts.baseUrl;
  }

  request<T>(method: string, path: string, body?: unknown, timeoutMs?: number): Promise<SignedFetchResult<T>> {
    return fetchSigned<T>(this.opts.baseUrl, path, {
      key: this.opts.key,
      party: this.opts.party,
      recipient: this.opts.recipient,
      method,
      body,
      timeoutMs: timeoutMs ?? this.opts.timeoutMs,
      publicKeys: this.opts.publicKeys,
    });
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

  message(msg: PeerMessage): Promise<SignedFetchResult<{ ok: true }>> {
    return this.request('POST', '/mpc/message', msg);
  }
}
