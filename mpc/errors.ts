/**
 * Typed errors of the MPC maths. mpc/ imports nothing else from the repository, so its base class
 * mirrors storage-layer/errors.ts HgdError (a `code` and an optional `field`, no HTTP status); the
 * code-to-status table in app/error-status.ts covers both.
 */
export class MpcError extends Error {
  readonly field?: string;

  constructor(message: string, readonly code: string, field?: string) {
    super(message);
    this.name = new.target.name;
    if (field !== undefined) this.field = field;
  }
}

/** Parameters a caller passed are not acceptable: answered like any other bad input. */
class MpcInputError extends MpcError {
  constructor(message: string, field?: string) {
    super(message, 'invalid_input', field);
  }
}

/** (n, t) or a degree is not acceptable: not an integer, t < 1, n < 2t + 1, degree ≥ n, … */
export class SharingParameterError extends MpcInputError {}

/** A bigint is not a canonical field element (outside [0, P)). */
export class FieldElementError extends MpcInputError {}

/** A value cannot be represented in fixed point: not finite, or |value·10^scale| is not a safe integer. */
export class FixedPointRangeError extends MpcInputError {}

/** A serialised share (decimal, hex or packed bytes) is malformed. */
export class ShareEncodingError extends MpcInputError {}

/** Differential-privacy parameters are not acceptable (ε ≤ 0, sensitivity ≤ 0, …). */
export class DpParameterError extends MpcInputError {}


/**
 * An aggregate could exceed the signed range of the field, (P − 1)/2 in absolute value, and would
 * wrap around (decode to a wrong value). Raised before the query runs.
 */
export class AggregateCapacityError extends MpcError {
  constructor(message: string) {
    super(message, 'aggregate_capacity');
  }
}

/**
 * Shares returned by compute nodes do not lie on one polynomial of the expected degree: a node
 * returned a wrong share (fault or attack). `suspects` are the x coordinates that may be wrong;
 * `located` is true when the wrong share(s) could be identified uniquely.
 */
export class InconsistentSharesError extends MpcError {
  constructor(message: string, readonly suspects: number[], readonly located: boolean) {
    super(message, 'inconsistent_shares');
  }
}

/** A party's round message does not fit the protocol (wrong number of elements, unknown round). */
export class ProtocolMismatchError extends MpcError {
  constructor(message: string) {
    super(message, 'protocol_mismatch');
  }
}
