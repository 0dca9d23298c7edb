/**
 * A compute node's HTTP routes. Every request first passes parties/middleware.ts (signed for this
 * node, body opened; every answer sealed to the caller and signed), then each route is: check the
 * party, parse the body (parties/wire-parse.ts), call the node service, answer. Errors are thrown; the
 * app's one error handler answers them (app/error-status.ts).
 */
import { Router } from 'express';
import { nodeIdOfParty, type PartyIdentity, type PartyKeyLookup } from '../../parties/key-directory';
import { allowParties, requireSignedRequest } from '../../parties/middleware';
import { parseClampedRequest, parseFilteredRequest, parseHistogramRequest, parseLinearRequest, parsePeerMessage, parseProductRequest, parseShareBatch } from '../../parties/wire-parse';
import type { ComputeNodeService } from './service';

export interface NodeRouteOptions {
  id: number;
  n: number;
  t: number;
  /** This node as a party (its name and private keys). */
  self: PartyIdentity;
  directory: PartyKeyLookup;
}

export function computeNodeRouter(service: ComputeNodeService, o: NodeRouteOptions): Router {
  const gatewayOnly = allowParties((p) => p === 'gateway');
  const peersOnly = allowParties((p) => nodeIdOfParty(p) !== undefined && p !== o.self.party);
  const router = Router();
  router.use(requireSignedRequest(o.directory, o.self));

  router.get('/health', (_req, res) => {
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
  router.post('/aggregate/histogram', gatewayOnly, async (req, res) => {
    res.json(await service.histogram(parseHistogramRequest(req.body, o.n, o.id, o.t)));
  });
  router.post('/aggregate/filtered', gatewayOnly, async (req, res) => {
    res.json(await service.filtered(parseFilteredRequest(req.body, o.n, o.id, o.t)));
  });
  router.post('/aggregate/clamped', gatewayOnly, async (req, res) => {
    res.json(await service.clamped(parseClampedRequest(req.body, o.n, o.id, o.t)));
  });
  router.post('/mpc/message', peersOnly, (req, res) => {
    service.deliver(nodeIdOfParty(res.locals.party as string) as number, parsePeerMessage(req.body));
    res.json({ ok: true });
  });
  return router;
}
