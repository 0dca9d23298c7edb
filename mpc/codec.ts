/**
 * Serialisation of shares.
 *
 * Storage choice (explicit): shares are stored in PostgreSQL as `numeric(39, 0)` and written/read as
 * **decimal strings**. That is what `numeric` accepts and what node-postgres returns for it, and it lets
 * the nodes aggregate in SQL: `SELECT sum(share) …` is exact in `numeric`, and the coordinator (or
 * `mod(sum(share), P)` in SQL) reduces it modulo P. P = 2^127 − 1 < 10^39, so every share fits in 39
 * digits; a sum of up to 10^6 shares has at most 45 digits (numeric has no practical limit).
 *
 * For transport (JSON between nodes) a fixed-length, 32-character lower-case hex form is also offered.
 */
import { ShareEncodingError } from './errors';
import { P, mod } from './field';

/** Decimal digits needed for any share (P < 10^39). */
const SHARE_DECIMAL_DIGITS = 39;
/** Hex characters of the fixed-length transport form (128 bits). */
const SHARE_HEX_CHARS = 32;
/** P as a decimal string, e.g. for `mod(sum(share), <P>)` in SQL. */
export const P_DECIMAL: string = P.toString(10);

const DECIMAL = /^[0-9]+$/;
const HEX = /^[0-9a-f]{32}$/;

function checkShare(x: bigint): void {
  if (typeof x !== 'bigint' || x < 0n || x >= P) throw new ShareEncodingError('share is not a field element', 'share');
}

/** A share as a decimal string for a `numeric` column (no padding, no sign). */
export function shareToNumeric(x: bigint): string {
  checkShare(x);
  return x.toString(10);
}

/** A share read back from a `numeric` column. Rejects anything but a canonical field element. */
export function shareFromNumeric(s: string): bigint {
  if (typeof s !== 'string' || !DECIMAL.test(s) || s.length > SHARE_DECIMAL_DIGITS) {
    throw new ShareEncodingError('share must be a decimal string of at most 39 digits', 'share');
  }
  const x = BigInt(s);
  if (x >= P) throw new ShareEncodingError('share is not below P', 'share');
  return x;
}

/**
 * The result of `sum(share)` (or `sum(a*b)`) from SQL: a non-negative integer of any length, possibly
 * printed by PostgreSQL with a zero fraction ("123.000" when the column scale is non-zero). Reduced mod P.
 */
export function aggregateFromNumeric(s: string | null): bigint {
  if (s === null) return 0n; // sum over no rows
  const m = /^([0-9]+)(?:\.0*)?$/.exec(typeof s === 'string' ? s : '');
  if (!m) throw new ShareEncodingError('aggregate must be a non-negative integer in decimal', 'aggregate');
  return mod(BigInt(m[1] as string));
}

/** A share as exactly 32 lower-case hex characters (for JSON transport). */
export function shareToHex(x: bigint): string {
  checkShare(x);
  return x.toString(16).padStart(SHARE_HEX_CHARS, '0');
}

/** A share from its 32-character hex form. */
export function shareFromHex(s: string): bigint {
  if (typeof s !== 'string' || !HEX.test(s)) throw new ShareEncodingError('share must be 32 lower-case hex characters', 'share');
  const x = BigInt(`0x${s}`);
  if (x >= P) throw new ShareEncodingError('share is not below P', 'share');
  return x;
}

/** Bytes of one serialised field element in a packed vector (an envelope's plaintext). */
export const ELEMENT_BYTES = 16;

/** Field elements → 16 bytes each, big-endian. */
export function packElements(elements: readonly bigint[]): Uint8Array {
  const out = new Uint8Array(elements.length * ELEMENT_BYTES);
  const view = new DataView(out.buffer);
  const mask = (1n << 64n) - 1n;
  for (let k = 0; k < elements.length; k++) {
    const x = elements[k] as bigint;
    view.setBigUint64(k * ELEMENT_BYTES, x >> 64n);
    view.setBigUint64(k * ELEMENT_BYTES + 8, x & mask);
  }
  return out;
}

/** The inverse of packElements; rejects a length that is not a multiple of 16 or an element ≥ P. */
export function unpackElements(bytes: Uint8Array): bigint[] {
  if (bytes.length % ELEMENT_BYTES !== 0) throw new ShareEncodingError('sealed shares have a wrong length', 'sealed');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Array<bigint>(bytes.length / ELEMENT_BYTES);
  for (let k = 0; k < out.length; k++) {
    const x = (view.getBigUint64(k * ELEMENT_BYTES) << 64n) | view.getBigUint64(k * ELEMENT_BYTES + 8);
    if (x >= P) throw new ShareEncodingError('a sealed share is not a field element', 'sealed');
    out[k] = x;
  }
  return out;
}
