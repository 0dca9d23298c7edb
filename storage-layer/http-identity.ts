/**
 * Who is calling, as every layer's routes see it. The gateway's authentication middleware
 * (app/auth.ts) sets it from a verified token; routes state their rule with `allow(...)`.
 */
import type { RequestHandler, Response } from 'express';
import { HgdError } from './errors';

export type Role = 'admin' | 'provider' | 'patient' | 'researcher' | 'auditor' | 'node';

export interface Identity {
  role: Role;
  /** Stable subject: a user id, a patient pseudonym, a node name. */
  sub: string;
  /** Provider organisation, for role provider. */
  org?: string;
  /** Studies a researcher belongs to. */
  studies?: string[];
}

export class UnauthenticatedError extends HgdError {
  constructor(message = 'authentication required: send "Authorization: Bearer <token>"') {
    super(message, 'unauthenticated');
  }
}

export class ForbiddenError extends HgdError {
  constructor(message: string) {
    super(message, 'forbidden');
  }
}

export function identityOf(res: Response): Identity {
  const id = res.locals.identity as Identity | undefined;
  if (!id) throw new UnauthenticatedError();
  return id;
}

/** The route's access rule: only these roles may call it. */
export function allow(...roles: Role[]): RequestHandler {
  return (_req, res, next) => {
    const id = res.locals.identity as Identity | undefined;
    if (!id) return next(new UnauthenticatedError());
    if (!roles.includes(id.role)) return next(new ForbiddenError(`role ${id.role} may not call this endpoint (allowed: ${roles.join(', ')})`));
    next();
  };
}
