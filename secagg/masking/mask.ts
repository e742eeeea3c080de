/**
 * Mask expansion: a 32-byte seed becomes d uniform words of Z_{2^32} — the AES-128-CTR keystream
 * (node:crypto, AES-NI where the CPU has it) under key = seed[0..16), counter block =
 * seed[16..32), read as little-endian 32-bit words — added to or subtracted from a vector in
 * place. Never allocates a vector-sized buffer: the keystream is made and consumed in chunks that
 * stay in cache, and the additions wrap mod 2^32. The adding is simd.ts's WebAssembly SIMD kernel
 * where the runtime has it (d = 1 M, 10 masks: 1.3 ms of adding over the keystream's own 7.8 ms,
 * against 13 ms for the scalar JS loop kept as the fallback), each keystream chunk copied into its
 * memory while in cache.
 *
 * AES-CTR is a PRG here in the sense Bonawitz et al. (CCS 2017) ask for: its output is
 * indistinguishable from uniform as long as the key is, and each seed is used for one vector of
 * one round (the seeds are derived per round and per pair, keys.ts). Words are read in the
 * platform's byte order; every platform Node supports is little-endian, which every party must
 * share for masks to cancel.
 */
import { createCipheriv } from "node:crypto";
import { simdAdder, type ChunkAdder } from "./simd.ts";

/** Words per keystream chunk: 64 KiB, small enough for L2, large enough that a call's overhead vanishes. */
export const CHUNK_WORDS = 16_384;
const ZEROS = new Uint8Array(CHUNK_WORDS * 4);

/** Signs of a mask: +1 adds it, −1 subtracts it. */
export type MaskSign = 1 | -1;

/**
 * How the words are added: "wasm-simd" (simd.ts, four lanes an instruction) where this runtime
 * has WebAssembly SIMD, else "js" (a scalar loop). Both give the same words; the choice is speed.
 */
export type AddKernel = "wasm-simd" | "js";
const SIMD = simdAdder(CHUNK_WORDS * 4);
export const ADD_KERNEL: AddKernel = SIMD === null ? "js" : "wasm-simd";

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
export function addMasks(target: Uint32Array, masks: readonly { readonly seed: Uint8Array; readonly sign: MaskSign }[], kernel: AddKernel = ADD_KERNEL): void {
  const ciphers = masks.map(({ seed }) => createCipheriv("aes-128-ctr", seed.subarray(0, 16), seed.subarray(16, 32)));
  chunked(target, kernel, (adder, start, words) => {
    const zeros = ZEROS.subarray(0, words * 4);
    for (let m = 0; m < masks.length; m++) adder.add(ciphers[m]!.update(zeros), masks[m]!.sign);
  });
}

/** target ← target + Σ sign · words over `addends` (each target's length), mod 2^32. */
export function addWords(target: Uint32Array, addends: readonly { readonly words: Uint32Array; readonly sign: MaskSign }[], kernel: AddKernel = ADD_KERNEL): void {
  for (const { words } of addends) {
    if (words.length !== target.length) throw new RangeError(`addWords: an addend of ${words.length} words to a target of ${target.length}`);
  }
  chunked(target, kernel, (adder, start, words) => {
    for (const addend of addends) adder.add(new Uint8Array(addend.words.buffer, addend.words.byteOffset + start * 4, words * 4), addend.sign);
  });
}

/** target ← target + addend mod 2^32 (the server's running sum of masked inputs). */
export function addInto(target: Uint32Array, addend: Uint32Array): void {
  addWords(target, [{ words: addend, sign: 1 }]);
}

/** The mask itself, PRG(seed) as d words (for tests and the uniformity check). */
export function expandMask(seed: Uint8Array, length: number): Uint32Array {
  const out = new Uint32Array(length);
  addMask(out, seed, 1);
  return out;
}

/** Runs `each` over the target's CHUNK_WORDS-word chunks, each loaded into the kernel's adder and stored back. */
function chunked(target: Uint32Array, kernel: AddKernel, each: (adder: ChunkAdder, start: number, words: number) => void): void {
  const adder = kernel === "js" ? JS_ADDER : SIMD;
  if (adder === null) throw new Error(`mask.ts: the ${kernel} kernel is not available in this runtime`);
  try {
    for (let start = 0; start < target.length; start += CHUNK_WORDS) {
      const words = Math.min(CHUNK_WORDS, target.length - start);
      const chunk = new Uint8Array(target.buffer, target.byteOffset + start * 4, words * 4);
      adder.load(chunk);
      each(adder, start, words);
      adder.store(chunk);
    }
  } finally {
    adder.wipe();
  }
}

/**
 * The scalar kernel, on Int32 views of the target's own bytes: (a ± b) | 0 is a ± b mod 2^32 in two's
 * complement, and stays in the JIT's int32 arithmetic, where Uint32 values ≥ 2^31 would fall back to doubles.
 */
const JS_ADDER: ChunkAdder = (() => {
  let chunk: Int32Array = new Int32Array(0);
  return {
    maxBytes: CHUNK_WORDS * 4,
    load(bytes) {
      chunk = new Int32Array(bytes.buffer, bytes.byteOffset, bytes.length >>> 2);
    },
    add(bytes, sign) {
      if (bytes.length !== chunk.length * 4) throw new RangeError(`mask.ts: ${bytes.length} bytes added to a chunk of ${chunk.length * 4}`);
      const stream = int32Words(bytes);
      const words = chunk.length;
      if (sign === 1) {
        for (let i = 0; i < words; i++) chunk[i] = (chunk[i]! + stream[i]!) | 0;
      } else {
        for (let i = 0; i < words; i++) chunk[i] = (chunk[i]! - stream[i]!) | 0;
      }
    },
    store() {
      // The adds went to the target's own bytes.
    },
    wipe() {
      chunk = new Int32Array(0);
    },
  };
})();

/** An Int32Array over the bytes, copied only when they are not 4-byte aligned. */
function int32Words(bytes: Uint8Array): Int32Array {
  if (bytes.byteOffset % 4 === 0) return new Int32Array(bytes.buffer, bytes.byteOffset, bytes.length >>> 2);
  return new Int32Array(Uint8Array.from(bytes).buffer);
}
