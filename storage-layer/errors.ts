/** Typed errors. `status` is the HTTP status an API layer should answer with. */
export class HgdError extends Error {
  constructor(message: string, readonly status: number, readonly code: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Bad input from a caller; `field` names what was wrong. */
export class ValidationError extends HgdError {
  /** `pointer`: the JSON pointer of the offending value, when a JSON Schema check found it. */
  constructor(message: string, readonly field?: string, readonly pointer?: string) {
    super(message, 400, 'invalid_input');
  }
}

export class NotFoundError extends HgdError {
  constructor(message: string) {
    super(message, 404, 'not_found');
  }
}

/** The ledger's own consistency was broken (a fork attempt, an impossible head). */
export class LedgerConflictError extends HgdError {
  constructor(message: string) {
    super(message, 409, 'ledger_conflict');
  }
}
