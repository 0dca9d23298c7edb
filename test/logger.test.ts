import { strict as assert } from 'node:assert';
import { createLogger } from '../app/logger';

describe('structured logging', () => {
  it('redacts tokens and anything that could carry a health value, and logs errors without stacks', () => {
    const lines: string[] = [];
    const log = createLogger('t', false, { write: (line: string) => { lines.push(line); } });
    log.info('request', { authorization: 'Bearer eyJsecret', value: 5.55, nested: { token: 'tok-123', value: 83.91 }, body: { valueQuantity: { value: 120 } }, status: 200 });
    const err = new Error('boom');
    log.error('failed', err);
    const text = lines.join('');
    for (const secret of ['eyJsecret', 'tok-123', '5.55', '83.91', '120']) assert.ok(!text.includes(secret), `${secret} was logged`);
    assert.match(text, /"status":200/);
    assert.match(text, /"message":"boom"/);
    assert.doesNotMatch(text, /at .*logger\.test/);
  });
});
