/** Loads the JSON Schemas in schema/ into one shared ajv instance, each compiled on first use. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Ajv2020, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';

/** Absolute path of a file in the repository's schema/ directory. */
export function schemaPath(file: string): string {
  return fileURLToPath(new URL(`../schema/${file}`, import.meta.url));
}

export function readSchemaJson(file: string): unknown {
  return JSON.parse(readFileSync(schemaPath(file), 'utf8'));
}

let ajv: Ajv2020 | undefined;
const compiled = new Map<string, ValidateFunction>();

function instance(): Ajv2020 {
  if (!ajv) {
    ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true, verbose: true });
    addFormats(ajv);
  }
  return ajv;
}

/** The compiled validator for schema/<file>. */
export function validatorFor(file: string): ValidateFunction {
  let fn = compiled.get(file);
  if (!fn) {
    fn = instance().compile(readSchemaJson(file) as object);
    compiled.set(file, fn);
  }
  return fn;
}

export interface SchemaIssue {
  /** JSON pointer of the offending value (for a missing property: where it should be). */
  pointer: string;
  reason: string;
}

/** ajv errors as pointer + reason, most specific first, without the noise of anyOf/oneOf wrappers. */
export function describeAjvErrors(errors: ErrorObject[] | null | undefined): SchemaIssue[] {
  const out: SchemaIssue[] = [];
  const seen = new Set<string>();
  const list = errors ?? [];
  // An anyOf/oneOf failure is reported once, in its own words, instead of one error per alternative.
  const alternatives = list.filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf').map((e) => `${e.schemaPath}/`);
  for (const e of list) {
    if (e.keyword === 'if') continue;
    if (alternatives.some((prefix) => e.schemaPath.startsWith(prefix))) continue;
    let pointer = e.instancePath;
    let reason = e.message ?? e.keyword;
    const description = (e.parentSchema as { description?: unknown } | undefined)?.description;
    if (e.keyword === 'anyOf' || e.keyword === 'oneOf') {
      reason = typeof description === 'string' ? `does not match: ${description}` : 'does not match any allowed form';
    } else if (e.keyword === 'required') {
      const missing = String((e.params as { missingProperty: string }).missingProperty);
      pointer = `${pointer}/${escapePointer(missing)}`;
      reason = 'is required';
    } else if (e.keyword === 'additionalProperties') {
      const extra = String((e.params as { additionalProperty: string }).additionalProperty);
      pointer = `${pointer}/${escapePointer(extra)}`;
      reason = 'is not allowed';
    } else if (e.keyword === 'enum') {
      reason = `must be one of ${JSON.stringify((e.params as { allowedValues: unknown[] }).allowedValues)}`;
    } else if (e.keyword === 'pattern') {
      reason = `${JSON.stringify(e.data)} ${typeof description === 'string' ? `is not valid: ${description}` : 'does not have the expected format'}`;
    } else if (e.keyword === 'const') {
      reason = `must be ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}`;
    }
    const key = `${pointer}\u0000${reason}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ pointer, reason });
  }
  return out;
}

/** RFC 6901 escaping of one reference token. */
export function escapePointer(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}
