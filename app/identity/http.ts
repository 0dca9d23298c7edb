/**
 * `POST /auth/login` {username, password} → {token, tokenType, expiresIn}: a short-lived JWT for a
 * user of the identity store. Public; limited per address and username on top of the global limit.
 */
import { Router } from 'express';
import { rateLimit, ipKeyGenerator } from 'express-rate-limit';
import type { TokenService } from '../auth';
import type { IdentityService } from './identity-service';
import { checkBody } from '../../usage-layer/body-schema';

export function identityRouter(identity: IdentityService, tokens: TokenService, opts: { loginsPerMinute: number }): Router {
  const router = Router();
  const limiter = rateLimit({
    windowMs: 60_000,
    limit: opts.loginsPerMinute,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    keyGenerator: (req) => `login:${ipKeyGenerator(req.ip ?? '')}`,
    handler: (_req, res) => {
      res.status(429).json({ error: 'rate_limited', message: `more than ${opts.loginsPerMinute} login attempts a minute from this address; retry later` });
    },
  });
  router.post('/auth/login', limiter, async (req, res) => {
    const b = checkBody<{ username: string; password: string }>('login', req.body ?? {});
    const who = await identity.login(b.username, b.password);
    res.json({ token: await tokens.issue(who), tokenType: 'Bearer', expiresIn: tokens.ttlSeconds });
  });
  return router;
}
