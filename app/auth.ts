/**
 * Tokens: short-lived JWTs signed by the gateway with Ed25519 (EdDSA, `jose`). The middleware
 * verifies a Bearer token when one is sent, or a provider's API key (`X-API-Key: <key>` or
 * `Authorization: ApiKey <key>`) when an authenticator for keys is given, and puts the Identity in
 * res.locals; each route's `allow(...)` rule then decides.
 *
 * Failed authentication is limited per address (failedAuthLimiter): once an address had
 * `limit` answers of 401 to requests that presented credentials within a minute, every further
 * request from it that presents credentials gets 429 without being checked, until the minute is over.
 */
import type { Request, RequestHandler } from 'express';
import { ipKeyGenerator, MemoryStore, type Options } from 'express-rate-limit';
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

/** A request that tries to authenticate: a token or key in the headers, or a password login. */
function presentsCredentials(req: Request): boolean {
  return req.headers.authorization !== undefined || req.headers['x-api-key'] !== undefined || (req.method === 'POST' && req.path === '/auth/login');
}

/**
 * Counts, per address, the 401 answers to requests that presented credentials (invalid or expired
 * tokens, bad or revoked API keys, failed logins) in a fixed one-minute window. Mount it before the
 * token middleware; requests without credentials are not counted and never limited here.
 */
export function failedAuthLimiter(limit: number, windowMs = 60_000): RequestHandler {
  const store = new MemoryStore();
  store.init({ windowMs } as Options);
  return (req, res, next) => {
    if (!presentsCredentials(req)) return next();
    const key = `auth-failures:${ipKeyGenerator(req.ip ?? '')}`;
    store.get(key).then((seen) => {
      if (seen && seen.totalHits >= limit) {
        const retryAfter = Math.max(1, Math.ceil(((seen.resetTime?.getTime() ?? Date.now() + windowMs) - Date.now()) / 1000));
        res.set('Retry-After', String(retryAfter)).status(429).json({
          error: 'auth_rate_limited',
          message: `more than ${limit} failed authentications a minute from this address; retry in ${retryAfter} s`,
        });
        return;
      }
      res.once('finish', () => {
        if (res.statusCode === 401) void store.increment(key);
      });
      next();
    }, next);
  };
}
