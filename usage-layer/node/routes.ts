/**
 * A compute node's HTTP routes. Each route is: check the caller (signed request, right party), parse
 * the body (parties/wire-parse.ts), call the node service, answer. Errors are thrown; the app's one
 * error handler answers them (app/error-status.ts).
 */
import { Router } from 'express';
import type { KeyDirectory } from '../../parties/key-directory';
import { nodeIdOfParty } from '../../parties/key-directory';
import { requireSignedRequest } from '../../parties/middleware';
import { parseFilteredRequest, parseLinearRequest, parsePeerMessage, parseProductRequest, parseShareBatch } from '../../parties/wire-parse';
import type { SigningKey } from '../../storage-layer/signing-key';
import type { ComputeNodeService } from './service';

export interface NodeRouteOptions {
  id: number;
  n: number;
  t: number;
  party: string;
  signingKey: SigningKey;
  directory: KeyDirectory;
}

export function computeNodeRouter(service: ComputeNodeService, o: NodeRouteOptions): Router {
  const signed = { self: o.party, signResponsesAs: { key: o.signingKey, party: o.party } };
  const gatewayOnly = requireSignedRequest(o.directory, { ...signed, allow: (p) => p === 'gateway' });
  const peersOnly = requireSignedRequest(o.directory, { ...signed, allow: (p) => nodeIdOfParty(p) !== undefined && p !== o.party });
  const anyParty = requireSignedRequest(o.directory, signed);
  const router = Router();

  router.get('/health', anyParty, (_req, res) => {
    res.json({ node: o.id, status: 'ok' });
  });
  router.post('/shares', gatewayOnly, async (req, res) => {
    res.json(await service.storeShares(parseShareBatch(req.body)));
  });
  router.post('/aggregate/linear', gatewayOnly, async (req, res) => {
    res.json(await service.linear(parseLinearRequest(req.body, o.n, o.id, o.t)));
  });
  router.post('/aggregate/product', gatewayOnly, async (req, res) => {
    res.json(await service.product(parseProductRequest(req.body, o.n, o.id, o.t)));
  });
  router.post('/aggregate/filtered', gatewayOnly, async (req, res) => {
    res.json(await service.filtered(parseFilteredRequest(req.body, o.n, o.id, o.t)));
  });
  router.post('/mpc/message', peersOnly, (req, res) => {
    service.deliver(nodeIdOfParty(res.locals.party as string) as number, parsePeerMessage(req.body));
    res.json({ ok: true });
  });
  return router;
}
