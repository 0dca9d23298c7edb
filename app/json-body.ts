/**
 * One check on every parsed JSON request body of the API: no string (value or key) may hold a NUL
 * character. PostgreSQL text cannot store U+0000, so without this check such a body reached the
 * database and failed there with 500; now it is a 400 naming the field and its JSON pointer.
 *
 * Uploads to POST /ingest are left to the management layer, which checks every entry on its own and
 * quarantines a bad one instead of refusing the whole upload.
 */
import type { RequestHandler } from 'express';
import { ValidationError } from '../storage-layer/errors';
import { fieldOfPointer } from '../usage-layer/body-schema';

const escape = (token: string) => token.replace(/~/g, '~0').replace(/\//g, '~1');

/** The JSON pointer (RFC 6901) of the first string or key holding a NUL, or undefined. Iterative: deep bodies cannot overflow the stack. */
export function findNul(value: unknown): string | undefined {
  const stack: Array<{ v: unknown; pointer: string }> = [{ v: value, pointer: '' }];
  while (stack.length > 0) {
    const { v, pointer } = stack.pop()!;
    if (typeof v === 'string') {
      if (v.includes('\u0000')) return pointer;
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ v: v[i], pointer: `${pointer}/${i}` });
    } else if (v !== null && typeof v === 'object') {
      const entries = Object.entries(v as Record<string, unknown>);
      for (let i = entries.length - 1; i >= 0; i--) {
        const [key, child] = entries[i]!;
        const at = `${pointer}/${escape(key)}`;
        if (key.includes('\u0000')) return at;
        stack.push({ v: child, pointer: at });
      }
    }
  }
  return undefined;
}

/** Refuses a parsed JSON body with a NUL anywhere (except uploads to POST /ingest, see above). */
export function rejectNulInJsonBody(opts: { except: string[] }): RequestHandler {
  return (req, _res, next) => {
    if (opts.except.includes(req.path) || req.body === undefined || typeof req.body !== 'object' || req.body === null) return next();
    const found = findNul(req.body);
    if (found === undefined) return next();
    const pointer = found.replaceAll('\u0000', '\\u0000'); // a NUL in a key is shown escaped
    const where = pointer === '' ? 'the request body' : `"${pointer}"`;
    next(new ValidationError(`${where} contains a NUL character (\\u0000), which no field may hold`, fieldOfPointer(pointer), pointer));
  };
}
