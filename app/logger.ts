/** A small structured logger: one JSON line an event, to stderr. Messages never carry health values. */
export interface Logger {
  info(msg: string, extra?: Record<string, unknown>): void;
  warn(msg: string, extra?: Record<string, unknown>): void;
  error(msg: string, err?: unknown): void;
}

export function createLogger(name = 'hgd', quiet = false): Logger {
  const write = (level: string, msg: string, extra?: Record<string, unknown>) => {
    if (quiet) return;
    process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level, name, msg, ...extra })}\n`);
  };
  return {
    info: (msg, extra) => write('info', msg, extra),
    warn: (msg, extra) => write('warn', msg, extra),
    error: (msg, err) => write('error', msg, { err: err instanceof Error ? { name: err.name, message: err.message } : String(err) }),
  };
}
