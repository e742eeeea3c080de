import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import fc from "fast-check";
import { ADD_KERNEL, CHUNK_WORDS, addInto, addMasks, addWords, type AddKernel, type MaskSign } from "../../../secagg/masking/mask.ts";
import { simdAdder } from "../../../secagg/masking/simd.ts";

const simd = ADD_KERNEL === "wasm-simd";
const KERNELS: AddKernel[] = simd ? ["js", "wasm-simd"] : ["js"];

/** The ring sum by the definition: BigInt arithmetic reduced mod 2^32, no typed-array wrapping relied on. */
function reference(target: Uint32Array, addends: readonly { words: Uint32Array; sign: MaskSign }[]): Uint32Array {
  return Uint32Array.from(target, (t, i) => {
    let sum = BigInt(t);
    for (const { words, sign } of addends) sum += BigInt(sign) * BigInt(words[i]!);
    return Number(BigInt.asUintN(32, sum));
  });
}

test("this runtime has WebAssembly SIMD, so masks are added by the SIMD kernel (Node 20 has it on every platform it supports)", () => {
  assert.equal(ADD_KERNEL, "wasm-simd");
  assert.notEqual(simdAdder(65_536), null);
});

test("both kernels add and subtract words exactly mod 2^32: wrap-around at 0 and 2^32 − 1, lengths not a multiple of 4 nor of a chunk", () => {
  const edges = [0, 1, 2, 0x7fff_ffff, 0x8000_0000, 0x8000_0001, 0xffff_fffe, 0xffff_ffff];
  const word = fc.oneof(fc.constantFrom(...edges), fc.integer({ min: 0, max: 0xffff_ffff }));
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 203 }),
      fc.array(fc.constantFrom<MaskSign>(1, -1), { minLength: 1, maxLength: 4 }),
      fc.infiniteStream(word),
      (length, signs, stream) => {
        const take = () => Uint32Array.from({ length }, () => stream.next().value as number);
        const target = take();
        const addends = signs.map((sign) => ({ words: take(), sign }));
        const expected = reference(target, addends);
        for (const kernel of KERNELS) {
          const got = Uint32Array.from(target);
          addWords(got, addends, kernel);
          assert.deepEqual(got, expected, `${kernel}, length ${length}`);
        }
      },
    ),
    { numRuns: 300 },
  );
  // Every pair of edge words, both signs, each kernel: the carries and borrows across 2^32.
  const a = Uint32Array.from(edges.flatMap((x) => edges.map(() => x)));
  const b = Uint32Array.from(edges.flatMap(() => edges));
  for (const sign of [1, -1] as const) {
    for (const kernel of KERNELS) {
      const got = Uint32Array.from(a);
      addWords(got, [{ words: b, sign }], kernel);
      assert.deepEqual(got, reference(a, [{ words: b, sign }]), `${kernel}, sign ${sign}`);
    }
  }
});

test("the SIMD kernel gives the JS kernel's words for whole masks: several chunks, a ragged last chunk, views at an offset", () => {
  for (const length of [1, 3, 5, 17, CHUNK_WORDS - 1, CHUNK_WORDS, CHUNK_WORDS + 3, 3 * CHUNK_WORDS + 1001]) {
    const masks = Array.from({ length: 5 }, (_, i) => ({ seed: randomBytes(32), sign: (i % 3 === 0 ? -1 : 1) as MaskSign }));
    // A view that starts 4 bytes into its buffer: the kernels must honour byteOffset.
    const backing = new Uint32Array(length + 2);
    for (let i = 0; i < backing.length; i++) backing[i] = (i * 2_654_435_761) >>> 0;
    const results = KERNELS.map((kernel) => {
      const copy = Uint32Array.from(backing);
      addMasks(copy.subarray(1, 1 + length), masks, kernel);
      assert.equal(copy[0], backing[0], `${kernel} wrote before the view`);
      assert.equal(copy[length + 1], backing[length + 1], `${kernel} wrote after the view`);
      return copy;
    });
    for (const r of results) assert.deepEqual(r, results[0], `length ${length}`);
    // Subtracting the same masks, on either kernel, gives the vector back.
    const back = Uint32Array.from(results.at(-1)!);
    addMasks(back.subarray(1, 1 + length), masks.map(({ seed, sign }) => ({ seed, sign: -sign as MaskSign })), "js");
    assert.deepEqual(back, backing);
  }
});

test("addInto is the running sum mod 2^32, and refuses an addend of another length", () => {
  const sum = Uint32Array.from([0xffff_ffff, 5, 0x8000_0000]);
  addInto(sum, Uint32Array.from([1, 0xffff_fffb, 0x8000_0000]));
  assert.deepEqual(sum, Uint32Array.from([0, 0, 0]));
  assert.throws(() => addInto(new Uint32Array(3), new Uint32Array(4)), RangeError);
});
