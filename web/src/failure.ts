/** A failed request in words (no DOM types here: the Node tests import it through event-stream.ts). */
export class ApiFailure extends Error {
  constructor(message: string, readonly status: number, readonly field?: string) {
    super(message);
  }
}

/** The gateway's error body ({error, message, field?}) in words. */
export function failureOf(status: number, text: string): ApiFailure {
  type ErrorBody = { message?: unknown; field?: unknown } | null;
  let body: ErrorBody;
  try {
    body = JSON.parse(text) as ErrorBody;
  } catch {
    body = null;
  }
  const field = typeof body?.field === 'string' ? body.field : undefined;
  const said = typeof body?.message === 'string' ? body.message : null;
  const message = said ?? (status === 401 ? 'You are not signed in, or your sign-in has expired.' : `The gateway answered ${status} without an explanation.`);
  return new ApiFailure(field ? `${message} (field: ${field})` : message, status, field);
}
