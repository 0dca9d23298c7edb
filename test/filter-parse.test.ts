/**
 * What a compute node accepts as a filtered request (parties/wire-parse.ts) and the round names it
 * accepts (mpc/rounds.ts): bad input is refused naming the field, before anything runs.
 */
import { strict as assert } from 'node:assert';
import { isRoundName, numbered, zeroRound } from '../mpc/rounds';
import { parseFilteredRequest, parseFilterTree, parseHistogramRequest } from '../parties/wire-parse';

const leaf = { indicator: 'hba1c', op: '>=', value: 6.5, domain: { min: 3, max: 20, scale: 2 } };
const body = (extra: Record<string, unknown> = {}) => ({
  queryId: 'query-00000001', indicator: 'bp_systolic', from: null, to: null, cohort: ['a', 'b'], measures: ['sum'],
  filter: leaf, maskBits: 51, material: 'hgd-seal-v1.x', participants: [1, 2, 3], ...extra,
});
const refused = (fn: () => unknown, field: string) => assert.throws(fn, (e: unknown) => (e as { field?: string }).field === field);

describe('filtered requests at a node', () => {
  it('parses a nested filter and a well-formed request', () => {
    const tree = parseFilterTree({ and: [leaf, { or: [leaf, { ...leaf, op: '<' }] }] });
    assert.deepEqual(tree, { and: [leaf, { or: [leaf, { ...leaf, op: '<' }] }] });
    const req = parseFilteredRequest(body(), 3, 1, 1);
    assert.deepEqual(req.cohort, ['a', 'b']);
    assert.equal(req.maskBits, 51);
  });

  it('refuses bad operators, values, domains, shapes and sizes, naming the field', () => {
    refused(() => parseFilterTree({ ...leaf, op: '==' }), 'filter');
    refused(() => parseFilterTree({ ...leaf, value: 'x' }), 'filter');
    refused(() => parseFilterTree({ ...leaf, domain: { min: 5, max: 1, scale: 0 } }), 'filter');
    refused(() => parseFilterTree({ and: [] }), 'filter');
    refused(() => parseFilterTree({ and: [leaf], or: [leaf] }), 'filter');
    refused(() => parseFilterTree({ and: Array.from({ length: 17 }, () => leaf) }), 'filter');
    // The gateway allows 4 levels; `=` (an and of two) and a quantile's round (an and around the filter) add one each.
    const nested = (levels: number): unknown => (levels === 0 ? leaf : { and: [nested(levels - 1)] });
    assert.ok(parseFilterTree(nested(5)));
    refused(() => parseFilterTree(nested(6)), 'filter');
    refused(() => parseFilteredRequest(body({ cohort: null }), 3, 1, 1), 'cohort');
    refused(() => parseFilteredRequest(body({ maskBits: 1000 }), 3, 1, 1), 'maskBits');
    refused(() => parseFilteredRequest(body({ material: null }), 3, 1, 1), 'material');
    refused(() => parseFilteredRequest(body({ cohort: [] }), 3, 1, 1), 'material');
    refused(() => parseFilteredRequest(body({ participants: [1, 2] }), 3, 1, 1), 'participants');
    refused(() => parseFilteredRequest(body({ measures: ['histogram'] }), 3, 1, 1), 'measures');
  });

  it('histogram requests: edges inside the domain, below and above said, the filter optional, noise on the buckets only', () => {
    const domain = { min: 40, max: 300, scale: 0 };
    const h = (extra: Record<string, unknown> = {}) => ({
      queryId: 'query-00000002', indicator: 'bp_systolic', from: null, to: null, cohort: ['a', 'b'], perPatient: 1, edges: [90, 120, 140], below: true, above: false, domain,
      filter: null, maskBits: 49, material: 'hgd-seal-v1.x', participants: [1, 2, 3], noise: { histogram: { epsilon: 1, sensitivity: 1 } }, ...extra,
    });
    const req = parseHistogramRequest(h(), 3, 1, 1);
    assert.deepEqual([req.edges, req.below, req.above, req.filter, req.noise], [[90, 120, 140], true, false, null, { histogram: { epsilon: 1, sensitivity: 1 } }]);
    refused(() => parseHistogramRequest(h({ below: 'yes' }), 3, 1, 1), 'below');
    refused(() => parseHistogramRequest(h({ above: undefined }), 3, 1, 1), 'above');
    assert.deepEqual(parseHistogramRequest(h({ filter: leaf }), 3, 1, 1).filter, leaf);
    refused(() => parseHistogramRequest(h({ edges: [90] }), 3, 1, 1), 'edges');
    refused(() => parseHistogramRequest(h({ edges: [120, 90] }), 3, 1, 1), 'edges');
    refused(() => parseHistogramRequest(h({ edges: [30, 90] }), 3, 1, 1), 'edges');
    refused(() => parseHistogramRequest(h({ edges: Array.from({ length: 21 }, (_, k) => 50 + k) }), 3, 1, 1), 'edges');
    refused(() => parseHistogramRequest(h({ domain: { min: 300, max: 40, scale: 0 } }), 3, 1, 1), 'domain');
    refused(() => parseHistogramRequest(h({ cohort: null }), 3, 1, 1), 'cohort');
    refused(() => parseHistogramRequest(h({ noise: { count: { epsilon: 1, sensitivity: 1 } } }), 3, 1, 1), 'noise');
    refused(() => parseHistogramRequest(h({ participants: [1, 2] }), 3, 1, 1), 'participants');
    refused(() => parseHistogramRequest(h({ filter: { and: [] } }), 3, 1, 1), 'filter');
  });

  it('round names: the kinds, optionally numbered, and nothing else', () => {
    for (const ok of ['zero', 'reshare', 'noise', 'cmp-open', 'cmp-and.1', 'cmp-and.12', 'zero.3', 'cmp-b2a']) assert.ok(isRoundName(ok), ok);
    for (const bad of ['', 'cmp', 'zero.0', 'zero.', 'zero.1.2', 'cmp-and.99999', 'evil', 'zero\n']) assert.ok(!isRoundName(bad), bad);
    assert.equal(numbered(numbered(zeroRound(), 2), 5).name, 'zero.5');
  });
});
