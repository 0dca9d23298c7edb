/**
 * Request bodies of the usage layer's JSON API, checked against schema/api/*.schema.json (ajv). A
 * failure is a 400 naming the first offending field: `pointer` is its JSON pointer (RFC 6901), `field`
 * the same path in dotted form without array indices (`/options/epsilon` → `options.epsilon`,
 * `/indicators/1` → `indicators`, the body itself → `body`). What a schema cannot say (known indicators,
 * instants, the configured epsilon bounds, a study's purpose) stays in the services.
 */
import { describeAjvErrors, validatorFor } from '../management-layer/schemas';
import { ValidationError } from '../storage-layer/errors';

export type ApiSchema =
  | 'study' | 'study-researcher' | 'admin-organisation' | 'admin-user' | 'admin-api-key' | 'admin-study-researcher'
  | 'grant' | 'query' | 'login' | 'alert-rule' | 'alert-rule-change' | 'care-alert-rule' | 'webhook';

/** `/options/epsilon` → `options.epsilon`; array indices are dropped; '' → 'body'. */
export function fieldOfPointer(pointer: string): string {
  const tokens = pointer
    .split('/')
    .slice(1)
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'))
    .filter((t) => !/^\d+$/.test(t));
  return tokens.length === 0 ? 'body' : tokens.join('.');
}

/** Throws a ValidationError naming the first problem (with up to five in the message). */
export function checkBody<T = Record<string, unknown>>(schema: ApiSchema, raw: unknown): T {
  const validate = validatorFor(`api/${schema}.schema.json`);
  if (validate(raw)) return raw as T;
  const issues = describeAjvErrors(validate.errors);
  const first = issues[0] ?? { pointer: '', reason: 'is not valid' };
  const say = (i: { pointer: string; reason: string }) => `${i.pointer === '' ? 'the request body' : `"${i.pointer}"`} ${i.reason}`;
  throw new ValidationError(issues.slice(0, 5).map(say).join('; '), fieldOfPointer(first.pointer), first.pointer);
}
