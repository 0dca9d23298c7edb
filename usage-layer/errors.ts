/** Typed errors of the usage layer (HTTP statuses for the API). */
import { HgdError } from '../storage-layer/errors';

export { ForbiddenError } from '../storage-layer/http-identity';

/** The resource exists already, or is in a state that forbids the change. */
export class ConflictError extends HgdError {
  constructor(message: string, field?: string) {
    super(message, 'conflict', { field });
  }
}

/** A query would spend more of the study's privacy budget than is left: refused, nothing spent. */
export class BudgetExhaustedError extends HgdError {
  constructor(message: string, readonly queryId: string) {
    super(message, 'privacy_budget_exhausted', { extra: { id: queryId, status: 'refused' } });
  }
}
