/**
 * Uniform random 32-bit words for the vectorised noise sampler, read from a pooled buffer:
 * node:crypto's CSPRNG (`randomFillSync`) in production, an AES-256-CTR keystream from a seed in
 * tests (deterministic, and still a cryptographic generator). Never uses Math.random.
 *
 * Pooling is what makes per-coordinate noise affordable: one `randomFillSync` call yields 16,384
 * words, where a `crypto.randomInt` per coin (privacy/noise.ts) costs a call into C++ each.
 */
import { createCipheriv, createHash, randomFillSync } from "node:crypto";
import { requireTraining } from "./errors.ts";

/** A stream of uniform 32-bit words, and uniform integers and coins built on it by rejection. */
export interface RandomWords {
  /** A uniform integer in [0, 2³²). */
  nextWord(): number;
}

const POOL_WORDS = 16_384;

/** node:crypto's CSPRNG, read 64 KiB at a time. */
export function cryptoRandomWords(): RandomWords {
  const pool = new Uint32Array(POOL_WORDS);
  let next = POOL_WORDS;
  return {
    nextWord(): number {
      if (next === POOL_WORDS) {
        randomFillSync(pool);
        next = 0;
      }
      return pool[next++]!;
    },
  };
}

/**
 * A deterministic stream for tests and reproducible benchmarks: the AES-256-CTR keystream under
 * the key SHA-256(seed). Same seed, same words; different seeds, independent-looking streams.
 * @example seededRandomWords("noise-test").nextWord(); // the same word on every run
 */
export function seededRandomWords(seed: string): RandomWords {
  const key = createHash("sha256").update(seed).digest();
  const cipher = createCipheriv("aes-256-ctr", key, Buffer.alloc(16));
  const zeros = Buffer.alloc(POOL_WORDS * 4);
  let pool = new Uint32Array(0);
  let next = 0;
  return {
    nextWord(): number {
      if (next === pool.length) {
        const update = cipher.update(zeros);
        const bytes = update.byteOffset % 4 === 0 ? update : new Uint8Array(update); // a Uint32Array view needs 4-byte alignment
        pool = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length >>> 2);
        next = 0;
      }
      return pool[next++]!;
    },
  };
}

const TWO_32 = 2 ** 32;
const TWO_21 = 2 ** 21;
const TWO_53 = 2 ** 53;

/**
 * A uniform integer in [0, m) for an integer 1 ≤ m ≤ 2⁵³, by rejection (exact: no modulo bias).
 * One word when m ≤ 2³², two (53 bits) above.
 * @example uniformBelow(cryptoRandomWords(), 6); // a fair die, 0…5
 */
export function uniformBelow(random: RandomWords, m: number): number {
  if (m <= TWO_32) {
    // The largest multiple of m that fits in 32 bits: words at or above it are redrawn.
    const limit = TWO_32 - (TWO_32 % m);
    for (;;) {
      const x = random.nextWord();
      if (x < limit) return x % m;
    }
  }
  requireTraining(Number.isSafeInteger(m) || m === TWO_53, "m", m, "uniformBelow takes an integer bound up to 2⁵³");
  const limit = TWO_53 - (TWO_53 % m);
  for (;;) {
    const x = (random.nextWord() % TWO_21) * TWO_32 + random.nextWord();
    if (x < limit) return x % m;
  }
}

/**
 * A uniform BigInt in [0, m) for any m ≥ 1, by rejection on whole words (used only on the
 * sampler's overflow paths, where a bound passes 2⁵³).
 */
export function uniformBelowBig(random: RandomWords, m: bigint): bigint {
  requireTraining(m >= 1n, "m", Number(m), "must be ≥ 1");
  const bits = (m - 1n).toString(2).length;
  const words = Math.ceil(bits / 32);
  const topMask = 2n ** BigInt(bits - 32 * (words - 1)) - 1n;
  for (;;) {
    let x = BigInt(random.nextWord()) & topMask;
    for (let i = 1; i < words; i++) x = (x << 32n) | BigInt(random.nextWord());
    if (x < m) return x;
  }
}
