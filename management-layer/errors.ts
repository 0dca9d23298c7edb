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

/** A JSON upload that is not JSON at all. */
export class MalformedJsonError extends HgdError {
  constructor(message: string) {
    super(message, 'malformed_json', { field: 'body' });
  }
}

/** A body that is nothing but NUL bytes (a binary or UTF-16 file sent as text, a zero-filled file). */
export class NulBodyError extends ValidationError {
  constructor(bytes: number) {
    super(`the request body is ${bytes} NUL byte${bytes === 1 ? '' : 's'} (0x00) and nothing else, not text: a zero-filled or binary file?`, 'body');
  }
}
