/**
 * HGD's error vocabulary. An error carries a machine-readable `code` and, for bad input, the `field`
 * (and JSON `pointer`) that was wrong. It carries no HTTP status: one table in app/error-status.ts maps
 * every code to a status, for the gateway and the compute nodes alike. The pure maths (mpc/) has its
 * own base class of the same shape (mpc/errors.ts MpcError), because it imports nothing else.
 */
export interface ErrorDetails {
  /** The request field (or parameter) that was wrong. */
  field?: string;
  /** The JSON pointer of the offending value, when a JSON Schema check found it. */
  pointer?: string;
  /** Further public fields of the error answer (never internals), e.g. the id of a refused query. */
  extra?: Record<string, string | number | boolean>;
}

export class HgdError extends Error {
  readonly field?: string;
  readonly pointer?: string;
  readonly extra?: Record<string, string | number | boolean>;

  constructor(message: string, readonly code: string, details: ErrorDetails = {}) {
    super(message);
    this.name = new.target.name;
    if (details.field !== undefined) this.field = details.field;
    if (details.pointer !== undefined) this.pointer = details.pointer;
    if (details.extra !== undefined) this.extra = details.extra;
  }
}

/** Bad input from a caller; `field` names what was wrong. */
export class ValidationError extends HgdError {
  constructor(message: string, field?: string, pointer?: string) {
    super(message, 'invalid_input', { field, pointer });
  }
}

export class NotFoundError extends HgdError {
  constructor(message: string) {
    super(message, 'not_found');
  }
}

/** The ledger's own consistency was broken (a fork attempt, an impossible head). */
export class LedgerConflictError extends HgdError {
  constructor(message: string) {
    super(message, 'ledger_conflict');
  }
}

/** A service is shutting down or cannot take the request now; the client should retry later. */
export class UnavailableError extends HgdError {
  constructor(message: string) {
    super(message, 'unavailable');
  }
}

/** PostgreSQL's SQLSTATE for a unique-constraint violation. */
export const PG_UNIQUE_VIOLATION = '23505';
