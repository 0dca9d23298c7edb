/**
 * Request authentication for compute nodes: an express middleware that accepts only requests signed by
 * a party in the key directory (the gateway or a peer node) and addressed to this node (`self`), see
 * request-signing.ts for the headers, and opens their sealed bodies (sealed-body.ts).
 * It never answers by itself: an unsigned, unknown, badly signed or stale request is passed on as
 * RequestAuthError, a body that does not open as SealError, a party calling a route not meant for it
 * (allowParties) as PartyForbiddenError, and the app's one error handler (app/errors-middleware.ts)
 * answers. It needs the raw body (express.raw), because the signature covers the SHA-256 of the sealed
 * bytes; on success it opens and parses the JSON into `req.body`, sets `res.locals.party`, and makes
 * every JSON answer to the request (errors included) sealed to the sender and signed by this node.
 * Answers to requests that fail authentication are neither: their sender is not known.
 */
import type { KeyObject } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { ValidationError } from '../storage-layer/errors';
import { PartyForbiddenError, RequestAuthError } from './errors';
import type { PartyIdentity, PartyKeyLookup } from './key-directory';
import { PARTY_HEADER, RESPONSE_SIGNATURE_HEADER, SIGNATURE_HEADER, signResponse, verifyRequest } from './request-signing';
import { openRequestBody, SEALED_CONTENT_TYPE, sealAnswerBody } from './sealed-body';

/** Replaces res.json so that every JSON answer is sealed to `sender` and signed by `self`. */
function sealAnswers(req: Request, res: Response, self: PartyIdentity, sender: string, senderKey: KeyObject): void {
  const requestSignature = String(req.headers[SIGNATURE_HEADER] ?? '');
  const send = res.send.bind(res);
  res.json = (value: unknown) => {
    const context = { signer: self.party, recipient: sender, status: res.statusCode, requestSignature };
    const sealed = sealAnswerBody(senderKey, context, JSON.stringify(value));
    res.type(SEALED_CONTENT_TYPE);
    res.set(PARTY_HEADER, self.party);
    res.set(RESPONSE_SIGNATURE_HEADER, signResponse(self.signingKey, res.statusCode, requestSignature, sealed));
    return send(sealed);
  };
}

function parseJsonBody(text: string): unknown {
  if (text.length === 0) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new ValidationError('request body is not valid JSON', 'body');
  }
}

/** Express middleware: verifies the signature, seals the answers, opens and parses the body. */
export function requireSignedRequest(directory: PartyKeyLookup, self: PartyIdentity): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    try {
      const raw: Buffer = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const party = verifyRequest({ method: req.method, path: req.originalUrl, headers: req.headers, body: raw }, (p) => directory.signingKey(p), { self: self.party });
      const senderKey = directory.encryptionKey(party);
      if (!senderKey) throw new RequestAuthError(`${party} has published no encryption key: no answer can be sealed to it`);
      res.locals.party = party;
      sealAnswers(req, res, self, party, senderKey);
      const target = { party, recipient: self.party, method: req.method, path: req.originalUrl };
      req.body = parseJsonBody(openRequestBody(self.encryptionKey, target, raw.toString('utf8')));
      next();
    } catch (err) {
      next(err);
    }
  };
}

/** After requireSignedRequest: only parties for which `allow` holds may use the route (403 otherwise). */
export function allowParties(allow: (party: string) => boolean): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const party = res.locals.party as string;
    next(allow(party) ? undefined : new PartyForbiddenError(`${party} may not call ${req.method} ${req.path}`));
  };
}
