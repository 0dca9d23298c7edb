import { strict as assert } from 'node:assert';
import { canonicalJson } from '../storage-layer/canonical-json';
import { entryCanonical } from '../storage-layer/ledger';

// RFC 8785 (JSON Canonicalization Scheme): examples of sections 3.2.2 and 3.2.3 and number
// serialisations from Appendix B.
describe('canonical JSON (RFC 8785)', () => {
  it('serialises the section 3.2.2 example', () => {
    const input = JSON.parse('{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001], "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/", "literals": [null, true, false]}');
    assert.equal(canonicalJson(input), '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}');
  });

  it('sorts keys by UTF-16 code units (section 3.2.3)', () => {
    const input = JSON.parse('{"\\u20ac":"Euro Sign","\\r":"Carriage Return","\\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One","\\ud83d\\ude00":"Emoji: Grinning Face","\\u0080":"Control","\\u00f6":"Latin Small Letter O With Diaeresis"}');
    assert.equal(canonicalJson(input), '{"\\r":"Carriage Return","1":"One","\u0080":"Control","ö":"Latin Small Letter O With Diaeresis","€":"Euro Sign","😀":"Emoji: Grinning Face","דּ":"Hebrew Letter Dalet With Dagesh"}');
  });

  it('serialises IEEE 754 numbers as Appendix B says', () => {
    const cases: Array<[string, string]> = [
      ['0000000000000000', '0'],
      ['8000000000000000', '0'],
      ['0000000000000001', '5e-324'],
      ['7fefffffffffffff', '1.7976931348623157e+308'],
      ['4340000000000000', '9007199254740992'],
      ['c340000000000000', '-9007199254740992'],
      ['4430000000000000', '295147905179352830000'],
      ['44b52d02c7e14af5', '9.999999999999997e+22'],
      ['44b52d02c7e14af6', '1e+23'],
      ['3eb0c6f7a0b5ed8d', '0.000001'],
      ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
    ];
    for (const [bits, text] of cases) {
      const n = Buffer.from(bits, 'hex').readDoubleBE(0);
      assert.equal(canonicalJson(n), text, bits);
    }
  });

  it('the ledger\'s hand-built entry bytes equal canonicalize() of the same entry', () => {
    const prev = Buffer.alloc(32, 7);
    const payload = { z: 1, a: [3, 'é', { y: null, b: true }], ' ': 'space', '\u20ac': 0.1 };
    const input = { kind: 'ingestion' as const, actor: 'provider:ACME "x"', payloadJson: canonicalJson(payload) };
    const built = entryCanonical(42, '2026-11-25T10:00:00.000Z', prev, input);
    const expected = canonicalJson({ v: 1, seq: 42, kind: input.kind, actor: input.actor, time: '2026-11-25T10:00:00.000Z', prev: prev.toString('hex'), payload });
    assert.equal(built, expected);
  });
});
