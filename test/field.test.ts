import { strict as assert } from 'node:assert';
import {
  FieldElementError,
  FixedPointRangeError,
  ShareEncodingError,
} from '../mpc/errors';
import {
  HALF_P,
  P,
  add,
  assertElement,
  div,
  fromSigned,
  inv,
  mod,
  mul,
  neg,
  pow,
  randomBelow,
  randomElement,
  sub,
  sum,
  toSigned,
} from '../mpc/field';
import { decode, decodeProduct, encode, encodeMany, toFixed } from '../mpc/fixed-point';
import {
  P_DECIMAL,
  aggregateFromNumeric,
  shareFromHex,
  shareFromNumeric,
  shareToHex,
  shareToNumeric,
} from '../mpc/codec';

describe('field GF(2^127 − 1)', () => {
  it('has the Mersenne prime modulus', () => {
    assert.equal(P, 170141183460469231731687303715884105727n);
    assert.equal(HALF_P * 2n + 1n, P);
  });

  it('reduces negative and large bigints to [0, P)', () => {
    assert.equal(mod(-1n), P - 1n);
    assert.equal(mod(-P), 0n);
    assert.equal(mod(P), 0n);
    assert.equal(mod(2n * P + 5n), 5n);
    assert.equal(mod(-3n * P - 2n), P - 2n);
    const big = (1n << 300n) + 12345n;
    assert.equal(mod(big), big % P);
    assert.equal(mod(-big), ((-big % P) + P) % P);
    assert.equal(sub(3n, 5n), P - 2n);
    assert.equal(neg(0n), 0n);
  });

  it('obeys the field laws on random elements', () => {
    for (let i = 0; i < 500; i++) {
      const a = randomElement();
      const b = randomElement();
      const c = randomElement();
      assert.equal(mul(a, b), (a * b) % P);
      assert.equal(add(a, b), (a + b) % P);
      assert.equal(mul(a, add(b, c)), add(mul(a, b), mul(a, c)), 'distributivity');
      assert.equal(mul(mul(a, b), c), mul(a, mul(b, c)), 'associativity');
      assert.equal(add(a, neg(a)), 0n);
      assert.equal(sub(add(a, b), b), a);
      if (a !== 0n) {
        assert.equal(mul(a, inv(a)), 1n, 'inverse');
        assert.equal(mul(div(b, a), a), b);
      }
    }
    const a = randomElement();
    assert.equal(pow(a, P - 1n), a === 0n ? 0n : 1n, 'Fermat');
    assert.equal(pow(a, -1n), inv(a));
    assert.equal(pow(3n, 5n), 243n);
  });

  it('refuses to invert 0 and validates elements', () => {
    assert.throws(() => inv(0n), FieldElementError);
    assert.throws(() => inv(P), FieldElementError);
    assert.throws(() => assertElement(P), FieldElementError);
    assert.throws(() => assertElement(-1n), FieldElementError);
    assert.throws(() => assertElement(5), FieldElementError);
    assertElement(P - 1n);
  });

  it('maps signed integers in and out', () => {
    assert.equal(fromSigned(-5n), P - 5n);
    assert.equal(toSigned(P - 5n), -5n);
    assert.equal(toSigned(HALF_P), HALF_P);
    assert.equal(toSigned(HALF_P + 1n), -HALF_P);
    assert.equal(sum([P - 1n, 2n, P]), 1n);
  });

  it('draws random elements in range and random integers below a bound', () => {
    const seen = new Set<bigint>();
    for (let i = 0; i < 200; i++) {
      const x = randomElement();
      assert.ok(x >= 0n && x < P);
      seen.add(x);
    }
    assert.equal(seen.size, 200);
    const counts = [0, 0, 0];
    for (let i = 0; i < 3000; i++) counts[Number(randomBelow(3n))]! += 1;
    for (const c of counts) assert.ok(c > 850 && c < 1150, `counts ${counts}`);
    assert.equal(randomBelow(1n), 0n);
    assert.throws(() => randomBelow(0n), FieldElementError);
  });
});

describe('fixed-point encoding', () => {
  it('encodes round(v·10^s), negatives as P − |v|', () => {
    assert.equal(encode(12.345, 2), 1235n);
    assert.equal(encode(-12.345, 2), P - 1235n);
    assert.equal(encode(1.005, 2), 101n, 'decimal rounding, not binary');
    assert.equal(encode(-0.5, 0), P - 1n, 'half away from zero');
    assert.equal(encode(0, 4), 0n);
    assert.equal(encode(-0, 4), 0n);
    assert.equal(encode(1e-7, 4), 0n);
    assert.equal(encode(1.5e-3, 3), 2n);
    assert.equal(encode(1e15, 0), 10n ** 15n);
    assert.equal(toFixed(-98.76, 3), -98760n);
    assert.deepEqual(encodeMany([1, -1], 1), [10n, P - 10n]);
  });

  it('decodes elements above P/2 as negative, and products at twice the scale', () => {
    for (const v of [0, 1.25, -1.25, 98.6, -273.15, 123456.789, -0.0001]) {
      assert.equal(decode(encode(v, 4), 4), v);
    }
    assert.equal(decodeProduct(mul(encode(-1.5, 2), encode(2.25, 2)), 2), -3.375);
    assert.equal(decode(HALF_P + 1n, 0), -Number(HALF_P));
  });

  it('guards values that are not safe integers after scaling', () => {
    assert.throws(() => encode(1e12, 4), FixedPointRangeError); // 1e16 > 2^53
    assert.throws(() => encode(-1e12, 4), FixedPointRangeError);
    assert.throws(() => encode(Number.NaN, 2), FixedPointRangeError);
    assert.throws(() => encode(Number.POSITIVE_INFINITY, 2), FixedPointRangeError);
    assert.throws(() => encode(1, -1), FixedPointRangeError);
    assert.throws(() => encode(1, 2.5), FixedPointRangeError);
    assert.equal(encode(Number.MAX_SAFE_INTEGER, 0), BigInt(Number.MAX_SAFE_INTEGER));
  });
});

describe('share serialisation', () => {
  it('round-trips decimal strings for numeric columns', () => {
    for (let i = 0; i < 100; i++) {
      const x = randomElement();
      const s = shareToNumeric(x);
      assert.match(s, /^[0-9]{1,39}$/);
      assert.equal(shareFromNumeric(s), x);
    }
    assert.equal(shareToNumeric(0n), '0');
    assert.equal(P_DECIMAL.length, 39);
  });

  it('round-trips fixed-length hex', () => {
    assert.equal(shareToHex(1n), '0'.repeat(31) + '1');
    const x = randomElement();
    assert.equal(shareToHex(x).length, 32);
    assert.equal(shareFromHex(shareToHex(x)), x);
  });

  it('rejects malformed or out-of-range shares', () => {
    assert.throws(() => shareFromNumeric(P_DECIMAL), ShareEncodingError);
    assert.throws(() => shareFromNumeric('-1'), ShareEncodingError);
    assert.throws(() => shareFromNumeric('1.5'), ShareEncodingError);
    assert.throws(() => shareFromNumeric(''), ShareEncodingError);
    assert.throws(() => shareFromHex('f'.repeat(32)), ShareEncodingError);
    assert.throws(() => shareFromHex('ABC'), ShareEncodingError);
    assert.throws(() => shareToNumeric(P), ShareEncodingError);
  });

  it('reduces SQL sums of shares modulo P', () => {
    const xs = Array.from({ length: 50 }, () => randomElement());
    const sqlSum = xs.reduce((a, b) => a + b, 0n).toString(); // what sum(numeric) returns
    assert.equal(aggregateFromNumeric(sqlSum), sum(xs));
    assert.equal(aggregateFromNumeric(`${sqlSum}.000`), sum(xs));
    assert.equal(aggregateFromNumeric(null), 0n);
    assert.throws(() => aggregateFromNumeric('12a'), ShareEncodingError);
  });
});
