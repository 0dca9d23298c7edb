/** Typed errors of the management layer, built on storage-layer/errors. */
import { HgdError, ValidationError } from '../storage-layer/errors';

export { HgdError, ValidationError };

/** The ICS catalogue file itself is broken: a deployment fault, not bad input. */
export class CatalogueError extends HgdError {
  constructor(message: string, readonly problems: string[] = []) {
    super(message, 'catalogue_invalid');
  }
}

/** A unit that is unknown, not accepted for the indicator, or not convertible. `field` is the JSON pointer when known. */
export class UnitError extends ValidationError {
  constructor(message: string, readonly indicator: string, readonly unit: string, field?: string) {
    super(message, field);
  }
}

/** A value outside the indicator's plausible range, not finite, or not an integer where one is required. */
export class ValueError extends ValidationError {
  constructor(message: string, readonly indicator: string, readonly value: number, field?: string) {
    super(message, field);
  }
}

/** A whole upload could not be read (not JSON, unsupported Bundle type, CSV header incomplete). `field` is a JSON pointer. */
export class ParseError extends ValidationError {
  constructor(message: string, field?: string) {
    super(message, field);
  }
}
