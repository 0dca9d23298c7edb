/**
 * A client for one compute node: every request is signed as `party` (the gateway or a peer node) with
 * global fetch. Errors are SignedRequestError (peerStatus 0 when the node is unreachable or timed out).
 */
import type { ShareBatch, ShareBatchReceipt } from '../../management-layer/sharing/distribute';
import { fetchSigned, type SignedFetchOptions, type SignedFetchResult } from '../../management-layer/sharing/request-signing';
import type { SigningKey } from '../../storage-layer/signing-key';
import type { LinearRequest, LinearResponse, PeerMessage, ProductRequest, ProductResponse } from './wire';

export interface NodeClientOptions {
  baseUrl: string;
  key: SigningKey;
  party: string;
  timeoutMs?: number;
  /** The node that must have signed every answer (the gateway and peers always set it). */
  expectSigner?: SignedFetchOptions['expectSigner'];
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
      method,
      body,
      timeoutMs: timeoutMs ?? this.opts.timeoutMs,
      expectSigner: this.opts.expectSigner,
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

  message(msg: PeerMessage): Promise<SignedFetchResult<{ ok: true }>> {
    return this.request('POST', '/mpc/message', msg);
  }
}
