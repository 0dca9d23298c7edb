/**
 * Structured logging with pino, one JSON line an event on stderr. Redaction removes tokens and
 * anything that could carry a health value, even if a caller passes it by mistake.
 */
import pino from 'pino';

export interface Logger {
  info(msg: string, extra?: Record<string, unknown>): void;
  warn(msg: string, extra?: Record<string, unknown>): void;
  error(msg: string, err?: unknown): void;
}

export const REDACTED_PATHS = [
  'authorization', 'token', 'headers.authorization', 'req.headers.authorization', 'body', 'value', 'values',
  'record', 'records', 'observation', 'observations', 'entry', 'share', 'shares', '*.authorization', '*.token', '*.value', '*.body',
];

export function createLogger(name = 'hgd', quiet = false, destination: pino.DestinationStream = pino.destination(2)): Logger {
  const log = pino({
    name,
    level: quiet ? 'silent' : 'info',
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  }, destination);
  return {
    info: (msg, extra) => log.info(extra ?? {}, msg),
    warn: (msg, extra) => log.warn(extra ?? {}, msg),
    // Only the error's name and message: stack traces and SQL stay out of the log.
    error: (msg, err) => log.error({ err: err instanceof Error ? { name: err.name, message: err.message } : String(err) }, msg),
  };
}
