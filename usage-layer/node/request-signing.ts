/**
 * Request authentication for compute nodes: an express middleware that accepts only requests signed by
 * a party in the key directory (the gateway or a peer node), see
 * management-layer/sharing/request-signing.ts for the header format. Unsigned, unknown, badly signed or
 * stale requests get 401 with a JSON message. The middleware needs the raw body (express.raw), because
 * the signature covers its SHA-256; on success it parses JSON into `req.body` and sets `res.locals.party`.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { ValidationError } from '../../storage-layer/errors';
import type { KeyDirectory } from '../../management-layer/sharing/key-directory';
import { PARTY_HEADER, RESPONSE_SIGNATURE_HEADER, RequestAuthError, SIGNATURE_HEADER, signResponse, verifyRequest } from '../../management-layer/sharing/request-signing';
import type { SigningKey } from '../../storage-layer/signing-key';

export {
  MAX_CLOCK_SKEW_MS,
  PARTY_HEADER,
  RequestAuthError,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  fetchSigned,
  signRequest,
  verifyRequest,
} from '../../management-layer/sharing/request-signing';

export interface SignedRequestOptions {
  /** Which authenticated parties may use this route (default: any party in the directory). */
  allow?: (party: string, req: Request) => boolean;
  /** Sign every JSON answer to an authenticated request as this party, so callers know who answered. */
  signResponsesAs?: { key: SigningKey; party: string };
}

/** Express middleware: verifies the signature, then parses the JSON body. */
export function requireSignedRequest(directory: KeyDirectory, opts: SignedRequestOptions = {}): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const raw: Buffer = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    let party: string;
    try {
      party = verifyRequest({ method: req.method, path: req.originalUrl, headers: req.headers, body: raw }, (p) => directory.signingKey(p));
    } catch (err) {
      if (err instanceof RequestAuthError) {
        res.status(401).json({ error: err.code, message: err.message });
        return;
      }
      next(err);
      return;
    }
    if (opts.allow && !opts.allow(party, req)) {
      res.status(403).json({ error: 'forbidden', message: `${party} may not call ${req.method} ${req.path}` });
      return;
    }
    res.locals.party = party;
    const signer = opts.signResponsesAs;
    if (signer) {
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
    if (raw.length > 0) {
      try {
        req.body = JSON.parse(raw.toString('utf8'));
      } catch {
        next(new ValidationError('request body is not valid JSON', 'body'));
        return;
      }
    } else {
      req.body = undefined;
    }
    next();
  };
}
