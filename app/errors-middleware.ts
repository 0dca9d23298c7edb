/**
 * Turns every error into a JSON answer with an HTTP status and a message naming the field.
 * Nothing internal (stack traces, SQL) reaches the client.
 */
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { HgdError, ValidationError } from '../storage-layer/errors';

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

export function errorHandler(log: (msg: string, err: unknown) => void): ErrorRequestHandler {
  return (err: unknown, _req, res, _next) => {
    const e = err as BodyParserError;
    if (err instanceof HgdError) {
      res.status(err.status).json({
        error: err.code,
        message: err.message,
        ...(err instanceof ValidationError && err.field ? { field: err.field } : {}),
        ...(err instanceof ValidationError && err.pointer !== undefined ? { pointer: err.pointer } : {}),
      });
    } else if (e?.type === 'entity.parse.failed') {
      res.status(400).json({ error: 'malformed_json', message: `request body is not valid JSON: ${e.message}`, field: 'body' });
    } else if (e?.type === 'entity.too.large') {
      res.status(413).json({ error: 'body_too_large', message: `request body exceeds the limit of ${e.limit} bytes`, field: 'body' });
    } else if (e?.type === 'encoding.unsupported' || e?.type === 'charset.unsupported') {
      res.status(415).json({ error: 'unsupported_encoding', message: e.message, field: 'content-type' });
    } else if (isDatabaseUnavailable(err)) {
      res.set('Retry-After', '1').status(503).json({ error: 'database_unavailable', message: 'the database is unavailable; retry shortly' });
    } else if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500) {
      res.status(e.status).json({ error: 'bad_request', message: e.message });
    } else {
      log('unhandled error', err);
      res.status(500).json({ error: 'internal', message: 'internal error' });
    }
  };
}
