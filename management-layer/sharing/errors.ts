/**
 * Typed errors of the secret-sharing core. They extend the project's base classes in
 * storage-layer/errors.ts so that an API layer can map them to HTTP statuses.
 */
import { HgdError, ValidationError } from '../../storage-layer/errors';

/** (n, t) or a degree is not acceptable: not an integer, t < 1, n < 2t + 1, degree ≥ n, … */
export class SharingParameterError extends ValidationError {
  constructor(message: string, field?: string) {
    super(message, field);
  }
}

/** A bigint is not a canonical field element (outside [0, P)). */
export class FieldElementError extends ValidationError {
  constructor(message: string, field?: string) {
    super(message, field);
  }
}

/** A value cannot be represented in fixed point: not finite, or |value·10^scale| is not a safe integer. */
export class FixedPointRangeError extends ValidationError {
  constructor(message: string, field?: string) {
    super(message, field);
  }
}

/** A serialised share (decimal or hex string) is malformed. */
export class ShareEncodingError extends ValidationError {
  constructor(message: string, field?: string) {
    super(message, field);
  }
}

/** Differential-privacy parameters are not acceptable (ε ≤ 0, sensitivity ≤ 0, …). */
export class DpParameterError extends ValidationError {
  constructor(message: string, field?: string) {
    super(message, field);
  }
}

/**
 * An aggregate could exceed the signed range of the field, (P − 1)/2 in absolute value, and would
 * wrap around (decode to a wrong value). Raised before the query runs.
 */
export class AggregateCapacityError extends HgdError {
  constructor(message: string) {
    super(message, 422, 'aggregate_capacity');
  }
}

/**
 * Shares returned by compute nodes do not lie on one polynomial of the expected degree: a node
 * returned a wrong share (fault or attack). `suspects` are the x coordinates that may be wrong;
 * `located` is true when the wrong share(s) could be identified uniquely.
 */
export class InconsistentSharesError extends HgdError {
  constructor(message: string, readonly suspects: number[], readonly located: boolean) {
    super(message, 502, 'inconsistent_shares');
  }
}
