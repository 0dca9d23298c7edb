/**
 * The dealer's correlated randomness for secure comparisons (pure; the gateway deals it per query and
 * seals each node's part to that node). For m comparisons with masks of K bits it deals
 *   edaBits (Escudero et al., CRYPTO 2020): a uniformly random r in [0, 2^K) per element, as a Shamir
 *     sharing [r] (degree t = 1 over F_p, like the stored shares) AND as replicated XOR shares of its K
 *     bits (mpc/boolean.ts), bit plane j = bit j of every element;
 *   daBits (Rotaru & Wood, INDOCRYPT 2019): a uniformly random bit s per element, both as replicated
 *     XOR share and as Shamir sharing [s] (the bridge from bits back to the field, mpc/compare.ts);
 *   keys k_0, k_1, k_2 for the replicated AND's zero sharing; party p gets (k_p, k_{p+1}).
 * Every part a single node receives is uniformly random on its own: a Shamir share of degree 1, two
 * of three XOR components, two of three keys. The dealer knows r and s; it must therefore never see
 * what the nodes open (c = x + r, e = b ⊕ s), which they open among themselves only.
 *
 * The byte form (encodeMaterial) is what the gateway seals: a header (m, K), [r] and [s] 16 bytes an
 * element (mpc/codec.ts), the four word arrays 4 bytes a word (little-endian), the two keys.
 */
import { ELEMENT_BYTES, packElements, unpackElements } from './codec';
import { ShareEncodingError, SharingParameterError } from './errors';
import { randomWords, shareWords, wordsFor, type ReplicatedWords } from './boolean';
import { fillRandom, type RandomSource } from './random';
import { shareMany } from './shamir';

/** One party's material for m comparisons with masks of `maskBits` bits. */
export interface CompareMaterial {
  m: number;
  maskBits: number;
  /** Shamir shares of r_k and s_k, one per element. */
  r: bigint[];
  s: bigint[];
  /** r's bits, plane j at words [j·W, (j + 1)·W), W = wordsFor(m); s's bits, W words. */
  rBits: ReplicatedWords;
  sBits: ReplicatedWords;
  /** AES-128 keys k_p and k_{p+1} of the AND zero sharing. */
  keys: [Uint8Array, Uint8Array];
}

/** Largest mask: the masked value x + r must stay far below P (and below 2^96 for the word code). */
export const MAX_MASK_BITS = 90;
const KEY_BYTES = 16;

/**
 * Most comparisons one run deals for (46 B a node each, about 46 MB a node at the limit). A clamped
 * query deals for L values a cohort patient before anyone knows how many there are, so a large L and
 * cohort would otherwise have the gateway allocate gigabytes; past this the run is refused instead.
 */
export const MAX_DEALT_COMPARISONS = 1_000_000;

function checkSize(m: number, maskBits: number): void {
  if (!Number.isSafeInteger(m) || m < 1) throw new SharingParameterError(`m must be a positive integer, got ${m}`, 'm');
  if (m > MAX_DEALT_COMPARISONS) throw new SharingParameterError(`${m} comparisons are more than one run deals for (at most ${MAX_DEALT_COMPARISONS}): lower the contribution bound (options.perPatient) or the cohort`, 'm');
  if (!Number.isInteger(maskBits) || maskBits < 2 || maskBits > MAX_MASK_BITS) {
    throw new SharingParameterError(`mask bits must be an integer in [2, ${MAX_MASK_BITS}], got ${maskBits}`, 'maskBits');
  }
}

/** The integers whose bits are the planes `planes` (bit j of element k at plane j, word k >> 5). */
export function integersOfPlanes(planes: Uint32Array, m: number, bits: number): bigint[] {
  const words = wordsFor(m);
  const out = new Array<bigint>(m);
  const limbs = Math.ceil(bits / 32);
  for (let k = 0; k < m; k++) {
    const w = k >>> 5;
    const shift = k & 31;
    let value = 0n;
    for (let l = limbs - 1; l >= 0; l--) {
      let limb = 0;
      for (let j = Math.min(bits, 32 * l + 32) - 1; j >= 32 * l; j--) limb = (limb * 2) + (((planes[j * words + w] as number) >>> shift) & 1);
      value = (value << 32n) | BigInt(limb);
    }
    out[k] = value;
  }
  return out;
}

/**
 * Deals material for m comparisons with K-bit masks to the three parties (index 0..2 = nodes 1..3).
 * `rng` is for tests only.
 */
export function dealCompareMaterial(m: number, maskBits: number, rng?: RandomSource): CompareMaterial[] {
  checkSize(m, maskBits);
  const words = wordsFor(m);
  const rPlanes = randomWords(maskBits * words, rng);
  const sPlane = randomWords(words, rng);
  const rShares = shareMany(integersOfPlanes(rPlanes, m, maskBits), 3, 1, undefined, rng);
  const sShares = shareMany(integersOfPlanes(sPlane, m, 1), 3, 1, undefined, rng);
  const rBits = shareWords(rPlanes, rng);
  const sBits = shareWords(sPlane, rng);
  const keys = [0, 1, 2].map(() => {
    const k = new Uint8Array(KEY_BYTES);
    fillRandom(k, rng);
    return k;
  });
  return [0, 1, 2].map((p) => ({
    m,
    maskBits,
    r: rShares[p] as bigint[],
    s: sShares[p] as bigint[],
    rBits: rBits[p] as ReplicatedWords,
    sBits: sBits[p] as ReplicatedWords,
    keys: [keys[p] as Uint8Array, keys[(p + 1) % 3] as Uint8Array],
  }));
}

const wordBytes = (w: Uint32Array): Uint8Array => new Uint8Array(w.buffer, w.byteOffset, w.byteLength);

/** One party's material as bytes (to be sealed to that party). */
export function encodeMaterial(mat: CompareMaterial): Uint8Array {
  const parts: Uint8Array[] = [packElements(mat.r), packElements(mat.s), wordBytes(mat.rBits.a), wordBytes(mat.rBits.b), wordBytes(mat.sBits.a), wordBytes(mat.sBits.b), mat.keys[0], mat.keys[1]];
  const out = new Uint8Array(8 + parts.reduce((acc, p) => acc + p.length, 0));
  const view = new DataView(out.buffer);
  view.setUint32(0, mat.m);
  view.setUint32(4, mat.maskBits);
  let at = 8;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Bytes of the material for m elements and K-bit masks. */
export function materialBytes(m: number, maskBits: number): number {
  const words = wordsFor(m);
  return 8 + 2 * m * ELEMENT_BYTES + 2 * (maskBits + 1) * words * 4 + 2 * KEY_BYTES;
}

/** Reads material back; a wrong length or an element ≥ P is a ShareEncodingError. */
export function decodeMaterial(bytes: Uint8Array): CompareMaterial {
  if (bytes.length < 8) throw new ShareEncodingError('comparison material is truncated', 'material');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const m = view.getUint32(0);
  const maskBits = view.getUint32(4);
  checkSize(m, maskBits);
  if (bytes.length !== materialBytes(m, maskBits)) throw new ShareEncodingError(`comparison material has ${bytes.length} bytes, expected ${materialBytes(m, maskBits)}`, 'material');
  let at = 8;
  // A copy (a Node Buffer's slice would share memory that the caller zeroes after decoding).
  const take = (length: number): Uint8Array => {
    const out = new Uint8Array(length);
    out.set(bytes.subarray(at, at + length));
    at += length;
    return out;
  };
  const words = (length: number): Uint32Array => new Uint32Array(take(length * 4).buffer);
  const w = wordsFor(m);
  const r = unpackElements(take(m * ELEMENT_BYTES));
  const s = unpackElements(take(m * ELEMENT_BYTES));
  const rBits = { a: words(maskBits * w), b: words(maskBits * w) };
  const sBits = { a: words(w), b: words(w) };
  return { m, maskBits, r, s, rBits, sBits, keys: [take(KEY_BYTES), take(KEY_BYTES)] };
}

/** The first k planes' words of `planes` (`planes.length / words` planes of `words` words each), `kept` words a plane. */
function keepWords(planes: Uint32Array, words: number, kept: number, lastMask: number): Uint32Array {
  const count = planes.length / words;
  const out = new Uint32Array(count * kept);
  for (let j = 0; j < count; j++) {
    out.set(planes.subarray(j * words, j * words + kept), j * kept);
    out[j * kept + kept - 1] = (out[j * kept + kept - 1] as number) & lastMask;
  }
  return out;
}

/**
 * One party's material for its first k elements only (k ≤ m). The dealer deals for the most elements
 * a query can have (e.g. L values per cohort patient); the nodes, which know from metadata how many
 * they have, all keep the same first k. Bits beyond k are zeroed.
 */
export function firstElements(mat: CompareMaterial, k: number): CompareMaterial {
  if (!Number.isSafeInteger(k) || k < 1 || k > mat.m) throw new SharingParameterError(`cannot keep ${k} of ${mat.m} dealt comparisons`, 'm');
  if (k === mat.m) return mat;
  const words = wordsFor(mat.m);
  const kept = wordsFor(k);
  const lastMask = k % 32 === 0 ? 0xffffffff : 2 ** (k % 32) - 1;
  const keep = (x: ReplicatedWords): ReplicatedWords => ({ a: keepWords(x.a, words, kept, lastMask), b: keepWords(x.b, words, kept, lastMask) });
  return { m: k, maskBits: mat.maskBits, r: mat.r.slice(0, k), s: mat.s.slice(0, k), rBits: keep(mat.rBits), sBits: keep(mat.sBits), keys: mat.keys };
}
