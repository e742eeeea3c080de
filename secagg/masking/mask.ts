/**
 * Mask expansion: a 32-byte seed becomes d uniform words of Z_{2^32} — the AES-128-CTR keystream
 * (node:crypto, AES-NI where the CPU has it) under key = seed[0..16), counter block =
 * seed[16..32), read as little-endian 32-bit words — added to or subtracted from a vector in
 * place. Never allocates a vector-sized buffer: the keystream is made and consumed in chunks that
 * stay in cache, and the additions wrap mod 2^32 through the Uint32Array store itself.
 *
 * AES-CTR is a PRG here in the sense Bonawitz et al. (CCS 2017) ask for: its output is
 * indistinguishable from uniform as long as the key is, and each seed is used for one vector of
 * one round (the seeds are derived per round and per pair, keys.ts). Words are read in the
 * platform's byte order; every platform Node supports is little-endian, which every party must
 * share for masks to cancel.
 */
import { createCipheriv } from "node:crypto";

/** Words per keystream chunk: 64 KiB, small enough for L2, large enough that a call's overhead vanishes. */
export const CHUNK_WORDS = 16_384;
const ZEROS = new Uint8Array(CHUNK_WORDS * 4);

/** Signs of a mask: +1 adds it, −1 subtracts it. */
export type MaskSign = 1 | -1;

/**
 * target ← target ± PRG(seed), coordinate by coordinate mod 2^32.
 * @example
 * const v = new Uint32Array(4);
 * addMask(v, seed, 1); addMask(v, seed, -1); // v is all zeros again
 */
export function addMask(target: Uint32Array, seed: Uint8Array, sign: MaskSign): void {
  addMasks(target, [{ seed, sign }]);
}

/**
 * target ← target + Σ ±PRG(seed) over `masks`, chunk by chunk: every mask's keystream for one
 * chunk is added while that chunk of the target is still in cache, rather than streaming the whole
 * vector through memory once per mask.
 */
export function addMasks(target: Uint32Array, masks: readonly { readonly seed: Uint8Array; readonly sign: MaskSign }[]): void {
  const ciphers = masks.map(({ seed }) => createCipheriv("aes-128-ctr", seed.subarray(0, 16), seed.subarray(16, 32)));
  for (let start = 0; start < target.length; start += CHUNK_WORDS) {
    const words = Math.min(CHUNK_WORDS, target.length - start);
    // Int32 views of the same bytes: (a ± b) | 0 is a ± b mod 2^32 in two's complement, and stays
    // in the JIT's int32 arithmetic, where Uint32 values ≥ 2^31 would fall back to doubles.
    const chunk = new Int32Array(target.buffer, target.byteOffset + start * 4, words);
    const zeros = ZEROS.subarray(0, words * 4);
    for (let m = 0; m < masks.length; m++) {
      const stream = keystreamWords(ciphers[m]!.update(zeros));
      if (masks[m]!.sign === 1) {
        for (let i = 0; i < words; i++) chunk[i] = (chunk[i]! + stream[i]!) | 0;
      } else {
        for (let i = 0; i < words; i++) chunk[i] = (chunk[i]! - stream[i]!) | 0;
      }
    }
  }
}

/** The mask itself, PRG(seed) as d words (for tests and the uniformity check). */
export function expandMask(seed: Uint8Array, length: number): Uint32Array {
  const out = new Uint32Array(length);
  addMask(out, seed, 1);
  return out;
}

/** An Int32Array over the keystream bytes, copied only when the Buffer is not 4-byte aligned. */
function keystreamWords(bytes: Buffer): Int32Array {
  if (bytes.byteOffset % 4 === 0) return new Int32Array(bytes.buffer, bytes.byteOffset, bytes.length >>> 2);
  return new Int32Array(new Uint8Array(bytes).buffer);
}

/** target ← target + addend mod 2^32 (the server's running sum of masked inputs). */
export function addInto(target: Uint32Array, addend: Uint32Array): void {
  const t = new Int32Array(target.buffer, target.byteOffset, target.length);
  const a = new Int32Array(addend.buffer, addend.byteOffset, addend.length);
  for (let i = 0; i < t.length; i++) t[i] = (t[i]! + a[i]!) | 0;
}
