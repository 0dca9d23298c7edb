/**
 * Tokens: short-lived JWTs signed by the gateway with Ed25519 (EdDSA, `jose`). The middleware
 * verifies a Bearer token when one is sent, or a provider's API key (`X-API-Key: <key>` or
 * `Authorization: ApiKey <key>`) when an authenticator for keys is given, and puts the Identity in
 * res.locals; each route's `allow(...)` rule then decides.
 */
import type { RequestHandler } from 'express';
import { SignJWT, jwtVerify } from 'jose';
import type { Config } from '../config';
import { loadOrCreateSigningKey, type SigningKey } from '../storage-layer/signing-key';
import { UnauthenticatedError, type Identity, type Role } from '../storage-layer/http-identity';

const ISSUER = 'hgd-gateway';
const ROLES: Role[] = ['admin', 'provider', 'patient', 'researcher', 'auditor', 'node'];

export class TokenService {
  constructor(private readonly key: SigningKey, readonly ttlSeconds: number) {}

  static fromConfig(config: Config): TokenService {
    return new TokenService(loadOrCreateSigningKey(config.auth.tokenKeyFile), config.auth.tokenTtlSeconds);
  }

  async issue(identity: Identity, ttlSeconds = this.ttlSeconds): Promise<string> {
    const claims: Record<string, unknown> = { role: identity.role };
    if (identity.org) claims.org = identity.org;
    if (identity.studies) claims.studies = identity.studies;
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'EdDSA', kid: this.key.keyId })
      .setSubject(identity.sub)
      .setIssuer(ISSUER)
      .setIssuedAt()
      .setExpirationTime(`${ttlSeconds}s`)
      .sign(this.key.privateKey);
  }

  async verify(token: string): Promise<Identity> {
    try {
      const { payload } = await jwtVerify(token, this.key.publicKey, { issuer: ISSUER, algorithms: ['EdDSA'] });
      const role = payload.role as Role;
      if (!ROLES.includes(role) || typeof payload.sub !== 'string') throw new Error('bad claims');
      const identity: Identity = { role, sub: payload.sub };
      if (typeof payload.org === 'string') identity.org = payload.org;
      if (Array.isArray(payload.studies)) identity.studies = payload.studies.filter((s): s is string => typeof s === 'string');
      return identity;
    } catch {
      throw new UnauthenticatedError('the bearer token is invalid or expired');
    }
  }

  middleware(apiKeys?: (key: string) => Promise<Identity>): RequestHandler {
    return (req, res, next) => {
      const header = req.headers.authorization;
      const xApiKey = req.headers['x-api-key'];
      const done = (p: Promise<Identity>) => p.then((identity) => {
        res.locals.identity = identity;
        next();
      }, next);
      if (xApiKey !== undefined) {
        if (header) return next(new UnauthenticatedError('send either an Authorization header or X-API-Key, not both'));
        if (!apiKeys || typeof xApiKey !== 'string') return next(new UnauthenticatedError('the API key is invalid or revoked'));
        return done(apiKeys(xApiKey));
      }
      if (!header) return next();
      const apiKey = /^ApiKey (\S+)$/.exec(header);
      if (apiKey) {
        if (!apiKeys) return next(new UnauthenticatedError('the API key is invalid or revoked'));
        return done(apiKeys(apiKey[1]!));
      }
      const match = /^Bearer ([A-Za-z0-9._-]+)$/.exec(header);
      if (!match) return next(new UnauthenticatedError('the Authorization header must be "Bearer <token>" (or "ApiKey <key>")'));
      done(this.verify(match[1]!));
    };
  }
}
