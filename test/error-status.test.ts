/**
 * One error vocabulary: every code an error class or route in the repository uses is in the one
 * code→status table (app/error-status.ts), and the gateway and the nodes answer with the same body.
 */
import assert from 'node:assert/strict';
import { execSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { HTTP_STATUS_BY_CODE, errorBody, httpStatusOf } from '../app/error-status';
import { InconsistentSharesError, SharingParameterError } from '../mpc/errors';
import { ValidationError } from '../storage-layer/errors';
import { BudgetExhaustedError } from '../usage-layer/errors';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

/** Codes passed to HgdError/MpcError constructors (`super(message, 'code'…)`) anywhere in the code. */
function codesInSource(): Set<string> {
  const files = execSync('git ls-files "*.ts"', { cwd: root }).toString().trim().split('\n').filter((f) => !f.startsWith('test/'));
  const codes = new Set<string>();
  for (const f of files) {
    const src = fs.readFileSync(path.join(root, f), 'utf8');
    // the code argument of classes that extend a base error directly (ValidationError's 2nd argument is a field)
    for (const m of src.matchAll(/extends (?:HgdError|MpcError) \{[\s\S]*?super\(\s*[^,]+,\s*'([a-z_]+)'/g)) codes.add(m[1] as string);
    for (const m of src.matchAll(/\berror:\s*'([a-z_]+)'/g)) codes.add(m[1] as string);
  }
  return codes;
}

describe('error vocabulary', () => {
  it('every code used in the repository has an HTTP status in the one table', () => {
    const codes = codesInSource();
    assert.ok(codes.size > 15, `found only ${[...codes].join(', ')}`);
    const missing = [...codes].filter((c) => !(c in HTTP_STATUS_BY_CODE));
    assert.deepEqual(missing, [], `codes without a status: ${missing.join(', ')}`);
  });

  it('maths errors carry codes, not statuses, and map like any other', () => {
    const e = new SharingParameterError('n must be ≥ 3', 'n');
    assert.equal((e as unknown as { status?: number }).status, undefined);
    assert.equal(httpStatusOf(e.code), 400);
    assert.deepEqual(errorBody(e), { error: 'invalid_input', message: 'n must be ≥ 3', field: 'n' });
    assert.equal(httpStatusOf(new InconsistentSharesError('x', [3], false).code), 502);
    assert.equal(httpStatusOf('no_such_code'), 500);
  });

  it('the body is {error, message, field?, pointer?} plus public extras', () => {
    assert.deepEqual(errorBody(new ValidationError('bad', 'options.epsilon', '/options/epsilon')), { error: 'invalid_input', message: 'bad', field: 'options.epsilon', pointer: '/options/epsilon' });
    assert.deepEqual(errorBody(new BudgetExhaustedError('refused', 'q1')), { id: 'q1', status: 'refused', error: 'privacy_budget_exhausted', message: 'refused' });
  });
});
