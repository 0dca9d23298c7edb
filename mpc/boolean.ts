/**
 * Three-party replicated XOR sharing of bits, bitsliced (Araki et al., CCS 2016; ABY3). A bit vector x
 * is x = c0 ⊕ c1 ⊕ c2; party p (node p + 1) holds the pair (c_p, c_{p+1 mod 3}), so any one party sees
 * two uniformly random components and nothing of x, and any two parties can open it. Bits are sliced
 * 32 elements to a word: bit i of element k sits in word ⌊k/32⌋ of bit plane i, so one word operation
 * is 32 gates.
 *
 *   XOR, and AND or XOR with a public word: local (a public constant goes into component 0).
 *   AND:  z_p = a_p·b_p ⊕ a_p·b_{p+1} ⊕ a_{p+1}·b_p ⊕ α_p, where α_0 ⊕ α_1 ⊕ α_2 = 0. Σ_p z_p covers
 *         all nine products a_i·b_j, so z_0 ⊕ z_1 ⊕ z_2 = a ∧ b. Party p sends z_p to party p − 1,
 *         which then holds (z_{p−1}, z_p): one message of one word per 32 gates, to one peer.
 *   α:    α_p = F(k_p) ⊕ F(k_{p+1}) with AES-128-CTR as the PRF F and keys k_0, k_1, k_2 dealt so that
 *         party p holds (k_p, k_{p+1}). The XOR of the three is 0; to party p − 1, which lacks k_{p+1},
 *         α_p (and so z_p) is pseudorandom.
 * Round messages carry words packed three to a field element (96 bits < P; mpc/codec.ts).
 */
import { createCipheriv } from 'node:crypto';
import { ProtocolMismatchError } from './errors';
import { fillRandom, type RandomSource } from './random';

export const WORD_BITS = 32;
/** Words packed into one field element of a round message. */
const WORDS_PER_ELEMENT = 3;

/** Party p's share of a bitsliced vector: components p (`a`) and p + 1 mod 3 (`b`), word for word. */
export interface ReplicatedWords {
  a: Uint32Array;
  b: Uint32Array;
}

/** Words needed for m elements. */
export const wordsFor = (m: number): number => Math.ceil(m / WORD_BITS);

/** A party's index 0..2 from its node id 1..3 (replicated sharing is for exactly three parties). */
export function partyIndex(self: number): number {
  if (self !== 1 && self !== 2 && self !== 3) throw new ProtocolMismatchError(`replicated sharing runs between nodes 1, 2 and 3, not node-${self}`);
  return self - 1;
}

/** Node id of the party after / before party index p. */
export const nextNode = (p: number): number => ((p + 1) % 3) + 1;
export const previousNode = (p: number): number => ((p + 2) % 3) + 1;

export function xorShares(x: ReplicatedWords, y: ReplicatedWords): ReplicatedWords {
  const a = new Uint32Array(x.a.length);
  const b = new Uint32Array(x.b.length);
  for (let w = 0; w < a.length; w++) {
    a[w] = (x.a[w] as number) ^ (y.a[w] as number);
    b[w] = (x.b[w] as number) ^ (y.b[w] as number);
  }
  return { a, b };
}

/** x ⊕ pub for public words: only component 0 changes (party 0 holds it as `a`, party 2 as `b`). */
export function xorPublic(x: ReplicatedWords, pub: Uint32Array, p: number): ReplicatedWords {
  const a = x.a.slice();
  const b = x.b.slice();
  const target = p === 0 ? a : p === 2 ? b : null;
  if (target) for (let w = 0; w < target.length; w++) target[w] = (target[w] as number) ^ (pub[w] as number);
  return { a, b };
}

/** x ∧ pub for public words: every component is masked. */
export function andPublic(x: ReplicatedWords, pub: Uint32Array): ReplicatedWords {
  const a = new Uint32Array(x.a.length);
  const b = new Uint32Array(x.b.length);
  for (let w = 0; w < a.length; w++) {
    a[w] = (x.a[w] as number) & (pub[w] as number);
    b[w] = (x.b[w] as number) & (pub[w] as number);
  }
  return { a, b };
}

/** Words `start .. start + length` of a share. */
export function sliceShares(x: ReplicatedWords, start: number, length: number): ReplicatedWords {
  return { a: x.a.subarray(start, start + length), b: x.b.subarray(start, start + length) };
}

/** The shares one after the other. */
export function concatShares(parts: readonly ReplicatedWords[]): ReplicatedWords {
  const length = parts.reduce((acc, p) => acc + p.a.length, 0);
  const a = new Uint32Array(length);
  const b = new Uint32Array(length);
  let at = 0;
  for (const p of parts) {
    a.set(p.a, at);
    b.set(p.b, at);
    at += p.a.length;
  }
  return { a, b };
}

function keystream(key: Uint8Array, label: number, words: number): Uint32Array {
  const iv = new Uint8Array(16);
  new DataView(iv.buffer).setUint32(0, label);
  const cipher = createCipheriv('aes-128-ctr', key, iv);
  const out = cipher.update(new Uint8Array(words * 4));
  return new Uint32Array(out.buffer, out.byteOffset, words);
}

/** α_p for `words` gates of the AND layer `label`: F(k_p) ⊕ F(k_{p+1}); XOR over the parties is 0. */
export function zeroShareWords(keys: readonly [Uint8Array, Uint8Array], label: number, words: number): Uint32Array {
  const f0 = keystream(keys[0], label, words);
  const f1 = keystream(keys[1], label, words);
  const out = new Uint32Array(words);
  for (let w = 0; w < words; w++) out[w] = (f0[w] as number) ^ (f1[w] as number);
  return out;
}

/** The local half of an AND gate per word: z_p (send it to the previous party). */
export function andLocal(x: ReplicatedWords, y: ReplicatedWords, alpha: Uint32Array): Uint32Array {
  const z = new Uint32Array(x.a.length);
  for (let w = 0; w < z.length; w++) {
    const xa = x.a[w] as number;
    const ya = y.a[w] as number;
    z[w] = (xa & ya) ^ (xa & (y.b[w] as number)) ^ ((x.b[w] as number) & ya) ^ (alpha[w] as number);
  }
  return z;
}

/** Words → field elements for a round message, three 32-bit words an element. */
export function packWords(words: Uint32Array): bigint[] {
  const out = new Array<bigint>(Math.ceil(words.length / WORDS_PER_ELEMENT));
  for (let e = 0; e < out.length; e++) {
    const w = e * WORDS_PER_ELEMENT;
    out[e] = (BigInt(words[w + 2] ?? 0) << 64n) | (BigInt(words[w + 1] ?? 0) << 32n) | BigInt(words[w] as number);
  }
  return out;
}

/** The inverse of packWords for `length` words; a message of another size is a protocol error. */
export function unpackWords(values: readonly bigint[], length: number, what: string): Uint32Array {
  if (values.length !== Math.ceil(length / WORDS_PER_ELEMENT)) throw new ProtocolMismatchError(`${what}: ${values.length} elements for ${length} words`);
  const out = new Uint32Array(length);
  for (let e = 0; e < values.length; e++) {
    const v = values[e] as bigint;
    if (v >> 96n !== 0n) throw new ProtocolMismatchError(`${what}: element ${e} is not three words`);
    const w = e * WORDS_PER_ELEMENT;
    out[w] = Number(v & 0xffffffffn);
    if (w + 1 < length) out[w + 1] = Number((v >> 32n) & 0xffffffffn);
    if (w + 2 < length) out[w + 2] = Number(v >> 64n);
  }
  return out;
}

/** `length` uniformly random words. */
export function randomWords(length: number, rng?: RandomSource): Uint32Array {
  const out = new Uint32Array(length);
  fillRandom(new Uint8Array(out.buffer), rng);
  return out;
}

/** Dealer: replicated shares of the words `x` for parties 0, 1, 2. */
export function shareWords(x: Uint32Array, rng?: RandomSource): ReplicatedWords[] {
  const c0 = randomWords(x.length, rng);
  const c1 = randomWords(x.length, rng);
  const c2 = new Uint32Array(x.length);
  for (let w = 0; w < x.length; w++) c2[w] = (x[w] as number) ^ (c0[w] as number) ^ (c1[w] as number);
  return [{ a: c0, b: c1 }, { a: c1, b: c2 }, { a: c2, b: c0 }];
}

/** Opens words from the three parties' shares (tests; the protocol opens only b ⊕ s). */
export function openWords(shares: readonly ReplicatedWords[]): Uint32Array {
  const [s0, s1, s2] = shares as [ReplicatedWords, ReplicatedWords, ReplicatedWords];
  const out = new Uint32Array(s0.a.length);
  for (let w = 0; w < out.length; w++) out[w] = (s0.a[w] as number) ^ (s1.a[w] as number) ^ (s2.a[w] as number);
  return out;
}

/** Bit k of a bitsliced plane. */
export const bitOf = (words: Uint32Array, k: number): number => ((words[k >>> 5] as number) >>> (k & 31)) & 1;
