/**
 * Turns every error into a JSON answer with an HTTP status and a message naming the field.
 * Nothing internal (stack traces, SQL) reaches the client.
 */
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { ValidationError } from '../storage-layer/errors';
import { errorBody, httpStatusOf, isCodedError, type ErrorBody } from './error-status';

interface BodyParserError extends Error {
  type?: string;
  status?: number;
  limit?: number;
}

/** A lost or refused database connection (PostgreSQL restarting): the client should retry. */
function isDatabaseUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e?.code === 'string' ? e.code : '';
  const message = typeof e?.message === 'string' ? e.message : '';
  return ['57P01', '57P02', '57P03', 'ECONNREFUSED', 'ECONNRESET'].includes(code) || code.startsWith('08') ||
    /Connection terminated|Client has encountered a connection error/.test(message);
}

/** Refuses a NUL byte anywhere in the URL: PostgreSQL text cannot hold it, and no HGD id contains one. */
export const rejectNulInUrl: RequestHandler = (req, _res, next) => {
  next(/%00/.test(req.originalUrl) ? new ValidationError('the URL contains a NUL byte', 'url') : undefined);
};

export const notFoundHandler: RequestHandler = (req, res) => {
  res.status(404).json({ error: 'not_found', message: `no route for ${req.method} ${req.path}` });
};

/** Errors that do not come from HGD's vocabulary but have a known meaning (body parser, database). */
function describeForeign(err: unknown): ErrorBody | undefined {
  const e = err as BodyParserError;
  if (e?.type === 'entity.parse.failed') return { error: 'malformed_json', message: `request body is not valid JSON: ${e.message}`, field: 'body' };
  if (e?.type === 'entity.too.large') return { error: 'body_too_large', message: `request body exceeds the limit of ${e.limit} bytes`, field: 'body' };
  if (e?.type === 'encoding.unsupported' || e?.type === 'charset.unsupported') return { error: 'unsupported_encoding', message: e.message, field: 'content-type' };
  if (isDatabaseUnavailable(err)) return { error: 'database_unavailable', message: 'the database is unavailable; retry shortly' };
  if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500) return { error: 'bad_request', message: e.message };
  return undefined;
}

/**
 * The error handler of every HGD express app (gateway and compute nodes): one body shape
 * ({error, message, field?, pointer?}) and the status from app/error-status.ts. `log` sees 5xx errors only.
 */
export function errorHandler(log: (msg: string, err: unknown) => void): ErrorRequestHandler {
  return (err: unknown, _req, res, _next) => {
    const body = isCodedError(err) ? errorBody(err) : describeForeign(err);
    if (!body) {
      log('unhandled error', err);
      res.status(500).json({ error: 'internal', message: 'internal error' });
      return;
    }
    const status = httpStatusOf(body.error);
    if (status >= 500) log('request failed', err);
    if (body.error === 'database_unavailable') res.set('Retry-After', '1');
    res.status(status).json(body);
  };
}
