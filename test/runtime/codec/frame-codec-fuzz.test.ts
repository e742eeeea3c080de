import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { CODEC_VERSION, createFrameCodec, type DecodeResult } from "../../../runtime/codec/index.ts";
import { DecodeError, FrameTooLarge } from "../../../runtime/errors.ts";
import { TestRef, envelope } from "./arbitraries.ts";

const codec = createFrameCodec({ resolveRef: (path) => new TestRef(path) });

/** Decodes, failing the test on a throw; returns the result for further claims. */
function decodeNeverThrows(bytes: Uint8Array, attachments?: ArrayBuffer[]): DecodeResult {
  let result: DecodeResult;
  assert.doesNotThrow(() => { result = codec.decode(bytes, attachments); });
  if (!result!.ok) assert.ok(result!.error instanceof DecodeError || result!.error instanceof FrameTooLarge);
  return result!;
}
const frame = (...body: number[]) => new Uint8Array([CODEC_VERSION, ...body]);
const reasonOf = (result: DecodeResult) => (!result.ok && result.error instanceof DecodeError ? result.error.reason : "");

test("random bytes never throw and fail only as DecodeError or FrameTooLarge", () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => { decodeNeverThrows(bytes); }), { numRuns: 2000 });
});

test("random bytes after a valid version byte never throw", () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (body) => { decodeNeverThrows(frame(...body)); }), { numRuns: 3000 });
});

test("a truncated frame is a DecodeError, never a throw", () => {
  fc.assert(
    fc.property(fc.array(envelope, { minLength: 1, maxLength: 24 }), fc.nat(), (batch, seed) => {
      const { bytes, transfer } = codec.encode(batch);
      const cut = seed % bytes.length; // every proper prefix, the empty one included
      const result = decodeNeverThrows(bytes.subarray(0, cut), transfer);
      assert.ok(!result.ok && result.error instanceof DecodeError);
    }),
    { numRuns: 1000 },
  );
});

test("a frame with one byte changed never throws", () => {
  fc.assert(
    fc.property(fc.array(envelope, { minLength: 1, maxLength: 24 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (batch, at, xor) => {
      const { bytes } = codec.encode(batch);
      bytes[at % bytes.length]! ^= xor;
      decodeNeverThrows(bytes);
    }),
    { numRuns: 1000 },
  );
});

test("empty input, a bare version byte and a non-array are DecodeErrors", () => {
  assert.match(reasonOf(decodeNeverThrows(new Uint8Array(0))), /empty/);
  assert.match(reasonOf(decodeNeverThrows(frame())), /truncated/);
  assert.match(reasonOf(decodeNeverThrows(frame(0x05))), /not hold an array/);
  assert.match(reasonOf(decodeNeverThrows(frame(0x90, 0x01))), /left over/);
  assert.match(reasonOf(codec.decode("not bytes" as unknown as Uint8Array)), /not a Uint8Array/);
});

test("extensions with the wrong payload are DecodeErrors with a reason", () => {
  const cases: Array<[number[], RegExp]> = [
    [[0x91, 0xd4, 0x01, 0x00, 0x05], /path string/], // ref holding a number
    [[0x91, 0xc7, 0x02, 0x02, 99, 0x00], /unknown kind 99/], // binary of an unknown kind
    [[0x91, 0xc7, 0x04, 0x02, 7, 0, 0, 0], /whole number of 4-byte/], // Float32Array of 3 bytes
    [[0x91, 0xc7, 0x05, 0x03, 7, 0, 0, 0, 0], /attachment 0 is missing/], // no attachments given
    [[0x91, 0xc7, 0x02, 0x03, 7, 0], /expected 5/], // attachment index cut short
  ];
  for (const [body, reason] of cases) assert.match(reasonOf(decodeNeverThrows(frame(...body))), reason);
  const odd = decodeNeverThrows(frame(0x91, 0xc7, 0x05, 0x03, 7, 0, 0, 0, 0), [new ArrayBuffer(3)]);
  assert.match(reasonOf(odd), /attachment 0 of 3 bytes/);
});

test("values nested past the stack are a DecodeError, and the codec keeps working", () => {
  const deep = new Uint8Array(200_002).fill(0x91);
  deep[0] = CODEC_VERSION;
  deep[deep.length - 1] = 0xc0;
  assert.match(reasonOf(decodeNeverThrows(deep)), /nested too deeply/);
  assert.deepStrictEqual(codec.decode(codec.encode([{ ok: true }]).bytes), { ok: true, values: [{ ok: true }] });
});

test("valid, garbage, valid: the first and third frames decode, and no frame changes a later one", () => {
  const batch = Array.from({ length: 32 }, (_, i) => ({ to: "fed://n/user/counter", msg: { type: "add", n: i } }));
  const first = codec.encode(batch).bytes;
  const third = codec.encode(batch).bytes;
  // Redefines record 0x40 as ["x", "y"], then breaks off mid-array.
  const redefineThenTruncate = frame(0xdc, 0x00, 0x20, 0xd4, 0x72, 0x40, 0x92, 0xa1, 0x78, 0xa1, 0x79, 0x01, 0x02, 0x40);
  // A well-formed frame that redefines 0x40 and uses it: fine on its own, harmless to others.
  const redefineValid = frame(0x91, 0xd4, 0x72, 0x40, 0x92, 0xa1, 0x78, 0xa1, 0x79, 0x01, 0x02);
  const garbage = [redefineThenTruncate, redefineValid, frame(0xff, 0x13, 0x37), new Uint8Array([0x01, 0xdd, 0xff, 0xff, 0xff, 0xff])];
  for (const bad of garbage) {
    assert.deepStrictEqual(codec.decode(first), { ok: true, values: batch });
    decodeNeverThrows(bad);
    assert.deepStrictEqual(codec.decode(third), { ok: true, values: batch });
  }
  assert.deepStrictEqual(codec.decode(redefineValid), { ok: true, values: [{ x: 1, y: 2 }] });
});

test("a frame decodes the same on a fresh codec as on the one that saw earlier frames", () => {
  fc.assert(
    fc.property(fc.array(fc.array(envelope, { maxLength: 20 }), { minLength: 2, maxLength: 5 }), (batches) => {
      const frames = batches.map((b) => codec.encode(b).bytes);
      const last = frames[frames.length - 1]!;
      const fresh = createFrameCodec({ resolveRef: (path) => new TestRef(path) });
      for (const f of frames) codec.decode(f);
      assert.deepStrictEqual(codec.decode(last), fresh.decode(last));
    }),
    { numRuns: 100 },
  );
});
