/**
 * Request authentication for compute nodes: an express middleware that accepts only requests signed by
 * a party in the key directory (the gateway or a peer node) and addressed to this node (`self`), see
 * request-signing.ts for the headers.
 * It never answers by itself: an unsigned, unknown, badly signed or stale request is passed on as
 * RequestAuthError, a party calling a route not meant for it as PartyForbiddenError, and the app's one
 * error handler (app/errors-middleware.ts) answers. It needs the raw body (express.raw), because the
 * signature covers its SHA-256; on success it parses JSON into `req.body` and sets `res.locals.party`.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { ValidationError } from '../storage-layer/errors';
import type { SigningKey } from '../storage-layer/signing-key';
import { PartyForbiddenError } from './errors';
import type { KeyDirectory } from './key-directory';
import { PARTY_HEADER, RESPONSE_SIGNATURE_HEADER, SIGNATURE_HEADER, signResponse, verifyRequest } from './request-signing';

export interface SignedRequestOptions {
  /** This receiver's party: requests signed for any other recipient are refused. */
  self: string;
  /** Which authenticated parties may use this route (default: any party in the directory). */
  allow?: (party: string, req: Request) => boolean;
  /** Sign every JSON answer to an authenticated request as this party, so callers know who answered. */
  signResponsesAs?: { key: SigningKey; party: string };
}

/** Replaces res.json so that every JSON answer carries the signer's party and a response signature. */
function signAnswers(req: Request, res: Response, signer: { key: SigningKey; party: string }): void {
  const requestSignature = String(req.headers[SIGNATURE_HEADER] ?? '');
  const send = res.send.bind(res);
  res.json = (value: unknown) => {
    const text = JSON.stringify(value);
    res.type('application/json');
    res.set(PARTY_HEADER, signer.party);
    res.set(RESPONSE_SIGNATURE_HEADER, signResponse(signer.key, res.statusCode, requestSignature, text));
    return send(text);
  };
}

function parseJsonBody(raw: Buffer): unknown {
  if (raw.length === 0) return undefined;
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    throw new ValidationError('request body is not valid JSON', 'body');
  }
}

/** Express middleware: verifies the signature and the caller's right to the route, then parses JSON. */
export function requireSignedRequest(directory: KeyDirectory, opts: SignedRequestOptions): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    try {
      const raw: Buffer = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const party = verifyRequest({ method: req.method, path: req.originalUrl, headers: req.headers, body: raw }, (p) => directory.signingKey(p), { self: opts.self });
      if (opts.allow && !opts.allow(party, req)) throw new PartyForbiddenError(`${party} may not call ${req.method} ${req.path}`);
      res.locals.party = party;
      if (opts.signResponsesAs) signAnswers(req, res, opts.signResponsesAs);
      req.body = parseJsonBody(raw);
      next();
    } catch (err) {
      next(err);
    }
  };
}
