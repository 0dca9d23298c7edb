/**
 * The one table from error codes to HTTP statuses, for the gateway and the compute nodes alike.
 * Errors below app/ carry a code (storage-layer/errors.ts HgdError, mpc/errors.ts MpcError) and never a
 * status; a code missing here is answered 500, and test/error-status.test.ts fails when an error class
 * in the repository uses a code this table does not know.
 */
import { MpcError } from '../mpc/errors';
import { HgdError } from '../storage-layer/errors';

export const HTTP_STATUS_BY_CODE = Object.freeze({
  // the caller's request
  invalid_input: 400,
  malformed_json: 400,
  bad_request: 400,
  unauthenticated: 401,
  forbidden: 403,
  no_treatment_grant: 403,
  not_found: 404,
  conflict: 409,
  duplicate_message: 409,
  ledger_conflict: 409,
  privacy_budget_exhausted: 409,
  body_too_large: 413,
  unsupported_media_type: 415,
  unsupported_encoding: 415,
  aggregate_capacity: 422,
  transaction_rejected: 422,
  rate_limited: 429,
  auth_rate_limited: 429,
  // HGD itself or a party it depends on
  catalogue_invalid: 500,
  internal: 500,
  inconsistent_shares: 502,
  mpc_failed: 502,
  peer_key_missing: 502,
  peer_request_failed: 502,
  protocol_mismatch: 502,
  database_busy: 503,
  database_unavailable: 503,
  inbox_full: 503,
  insufficient_nodes: 503,
  nodes_out_of_sync: 503,
  unavailable: 503,
  ledger_damaged: 503,
  node_startup_failed: 503,
  peer_timeout: 504,
} as const);

export type ErrorCode = keyof typeof HTTP_STATUS_BY_CODE;

/** An error of HGD's own vocabulary (from any layer or the maths). */
export type CodedError = HgdError | MpcError;

export function isCodedError(err: unknown): err is CodedError {
  return err instanceof HgdError || err instanceof MpcError;
}

/** The HTTP status for a code; 500 for a code the table does not know. */
export function httpStatusOf(code: string): number {
  return (HTTP_STATUS_BY_CODE as Record<string, number>)[code] ?? 500;
}

/** The one body shape of every error answer. */
export interface ErrorBody {
  error: string;
  message: string;
  field?: string;
  pointer?: string;
}

export function errorBody(err: CodedError): ErrorBody {
  const pointer = err instanceof HgdError ? err.pointer : undefined;
  return {
    ...(err instanceof HgdError ? err.extra : {}),
    error: err.code,
    message: err.message,
    ...(err.field ? { field: err.field } : {}),
    ...(pointer !== undefined ? { pointer } : {}),
  };
}
