/**
 * Where the maths gets its randomness. Every function of mpc/ that draws randomness takes an optional
 * RandomSource; without one it uses node:crypto's CSPRNG. Tests and the fixed vectors under
 * test/vectors/ pass `deterministicRandom(seed)` so that a run can be replayed, as noble-curves does
 * with its optional `rng` argument.
 */
import { createHash, randomFillSync } from 'node:crypto';

export interface RandomSource {
  /** Fills `out` with random bytes. */
  fill(out: Uint8Array): void;
}

/**
 * A replayable byte stream: SHA-256(seed ‖ counter as 8 bytes big-endian), counter = 0, 1, …
 * For tests and vectors ONLY: anyone who knows the seed knows every "random" value.
 */
export function deterministicRandom(seed: string | Uint8Array): RandomSource {
  const seedBytes = typeof seed === 'string' ? new TextEncoder().encode(seed) : seed;
  let counter = 0n;
  let block = new Uint8Array(0);
  let pos = 0;
  const counterBytes = new Uint8Array(8);
  return {
    fill(out: Uint8Array) {
      for (let i = 0; i < out.length; i++) {
        if (pos >= block.length) {
          new DataView(counterBytes.buffer).setBigUint64(0, counter++);
          block = createHash('sha256').update(seedBytes).update(counterBytes).digest();
          pos = 0;
        }
        out[i] = block[pos++] as number;
      }
    },
  };
}

/** 64 random bits from `rng` as a bigint. */
export function randomWord(rng: RandomSource): bigint {
  const bytes = new Uint8Array(8);
  rng.fill(bytes);
  return new DataView(bytes.buffer).getBigUint64(0);
}

/** Fills `out` from `rng`, or from node:crypto's CSPRNG when none is given. */
export function fillRandom(out: Uint8Array, rng?: RandomSource): void {
  if (rng) rng.fill(out);
  else randomFillSync(out);
}
