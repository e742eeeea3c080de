import { test } from "node:test";
import assert from "node:assert/strict";
import { MessageChannel } from "node:worker_threads";
import fc from "fast-check";
import { CODEC_VERSION, DEFAULT_CODEC, WireRef, createFrameCodec, type DecodeResult } from "../../../runtime/codec/index.ts";
import { AskTimeout, DecodeError, EncodeError, FrameTooLarge, InvalidArgument } from "../../../runtime/errors.ts";
import { TestRef, envelope, message } from "./arbitraries.ts";

const codec = createFrameCodec({ resolveRef: (path) => new TestRef(path) });

function valuesOf(result: DecodeResult): unknown[] {
  if (!result.ok) throw result.error;
  return result.values;
}
const roundTrip = (values: unknown[], transfer?: ArrayBuffer[]): unknown[] => {
  const frame = codec.encode(values, transfer ? { transfer } : undefined);
  return valuesOf(codec.decode(frame.bytes, frame.transfer));
};

test("the doc example of createFrameCodec runs as written", () => {
  const codec = createFrameCodec();
  const frame = codec.encode([{ to: "fed://n/user/counter", msg: { type: "add", n: 1 } }]);
  const result = codec.decode(frame.bytes, frame.transfer);
  assert.deepEqual(result, { ok: true, values: [{ to: "fed://n/user/counter", msg: { type: "add", n: 1 } }] });
});

test("every protocol-shaped message decodes to itself, refs compared by path", () => {
  fc.assert(fc.property(message, (m) => assert.deepStrictEqual(roundTrip([m]), [m])), { numRuns: 500 });
});

test("every batch of envelopes decodes to itself, small (maps) and large (records) alike", () => {
  fc.assert(fc.property(fc.array(envelope, { maxLength: 40 }), (batch) => assert.deepStrictEqual(roundTrip(batch), batch)), { numRuns: 200 });
});

test("a frame starts with the version byte and owns its buffer exactly", () => {
  const { bytes } = codec.encode([{ type: "ping" }]);
  assert.equal(bytes[0], CODEC_VERSION);
  assert.equal(bytes.byteOffset, 0);
  assert.equal(bytes.buffer.byteLength, bytes.byteLength);
});

test("every binary type keeps its type; a Buffer arrives as a Uint8Array", () => {
  const values = [
    new Int8Array([-1, 2]), new Uint8Array([1, 2]), new Uint8ClampedArray([255]), new Int16Array([-300]),
    new Uint16Array([60000]), new Int32Array([-7]), new Uint32Array([4e9]), new Float32Array([1.5, NaN]),
    new Float64Array([Math.PI, -0]), new BigInt64Array([-5n]), new BigUint64Array([2n ** 64n - 1n]),
    new DataView(new Uint8Array([9, 8]).buffer), new Uint8Array([7, 7]).buffer, new Float64Array(0),
    new Float32Array(100).fill(0.5), new Float64Array(20_000).map((_, i) => i * 1.5), // ext 16 and ext 32 headers
  ];
  assert.deepStrictEqual(roundTrip(values), values);
  assert.deepStrictEqual(roundTrip([Buffer.from("hi")]), [new Uint8Array([104, 105])]);
});

test("a decoded typed array owns a fresh buffer, not a view on the frame", () => {
  const [decoded] = roundTrip([new Float64Array([1, 2, 3])]) as [Float64Array];
  assert.equal(decoded.byteOffset, 0);
  assert.equal(decoded.buffer.byteLength, 24);
});

test("a transferred Float32Array moves its buffer through a MessagePort and arrives intact", async () => {
  const data = new Float32Array(1024).map((_, i) => i / 3);
  const expected = data.slice();
  const frame = codec.encode([{ to: "fed://n/user/a", msg: { type: "gradient", data } }], { transfer: [data.buffer] });
  assert.deepEqual(frame.transfer, [data.buffer]);
  assert.ok(frame.bytes.byteLength < 100, "the frame holds a reference, not the 4 KiB");
  const { port1, port2 } = new MessageChannel();
  try {
    const arrived = new Promise<{ bytes: Uint8Array; transfer: ArrayBuffer[] }>((resolve) => port2.once("message", resolve));
    port1.postMessage({ bytes: frame.bytes, transfer: frame.transfer }, [frame.bytes.buffer as ArrayBuffer, ...frame.transfer]);
    assert.equal(data.byteLength, 0, "the sender's array is detached");
    const { bytes, transfer } = await arrived;
    const [env] = valuesOf(codec.decode(bytes, transfer)) as [{ msg: { data: Float32Array } }];
    assert.deepStrictEqual(env.msg.data, expected);
  } finally {
    port1.close();
    port2.close();
  }
});

test("a view that does not cover its whole buffer is copied, not moved", () => {
  const buffer = new ArrayBuffer(64);
  const view = new Float32Array(buffer, 16, 4).fill(2.5);
  const frame = codec.encode([view], { transfer: [buffer] });
  assert.deepEqual(frame.transfer, []);
  const [decoded] = valuesOf(codec.decode(frame.bytes, frame.transfer)) as [Float32Array];
  assert.deepStrictEqual(decoded, new Float32Array([2.5, 2.5, 2.5, 2.5]));
  assert.equal(buffer.byteLength, 64);
});

test("a buffer referenced twice is transferred once; an unlisted buffer is copied", () => {
  const shared = new Int32Array([1, 2]);
  const other = new Int32Array([3]);
  const frame = codec.encode([shared, { again: shared }, other], { transfer: [shared.buffer] });
  assert.equal(frame.transfer.length, 1);
  assert.deepStrictEqual(valuesOf(codec.decode(frame.bytes, frame.transfer)), [shared, { again: shared }, other]);
});

test("refs nested anywhere go through resolveRef; without a resolver they decode as { path }", () => {
  const msg = { type: "reserve", replyTo: new TestRef("fed://n/temp/7"), deep: [{ to: new TestRef("fed://m/user/b") }] };
  const [decoded] = roundTrip([msg]) as [typeof msg];
  assert.ok(decoded.replyTo instanceof TestRef);
  assert.deepStrictEqual(decoded, msg);
  const plain = createFrameCodec();
  assert.deepStrictEqual(valuesOf(plain.decode(plain.encode([msg]).bytes)), [
    { type: "reserve", replyTo: { path: "fed://n/temp/7" }, deep: [{ to: { path: "fed://m/user/b" } }] },
  ]);
});

test("a ref whose resolveRef throws is a DecodeError, never a throw", () => {
  const strict = createFrameCodec({ resolveRef: () => { throw new Error("unknown node"); } });
  const result = strict.decode(codec.encode([new TestRef("fed://x/user/a")]).bytes);
  assert.ok(!result.ok && result.error instanceof DecodeError && result.error.reason.includes("unknown node"));
});

test("an Error arrives as its toJSON() fields or { name, message }, never with its stack", () => {
  const values = roundTrip([new TypeError("bad input"), new AskTimeout("fed://n/user/a", 50)]);
  assert.deepStrictEqual(values, [
    { name: "TypeError", message: "bad input" },
    { code: "ASK_TIMEOUT", message: "fed://n/user/a did not answer within 50 ms", target: "fed://n/user/a", timeoutMs: 50 },
  ]);
});

test("functions, symbols, bigints past 64 bits and cycles are EncodeErrors that quote no content", () => {
  const cyclic: Record<string, unknown> = { note: "patient-x" };
  cyclic.self = cyclic;
  const cyclicArray: unknown[] = ["patient-x"];
  cyclicArray.push(cyclicArray);
  class NoPath extends WireRef { readonly path = 42 as unknown as string; }
  const bad = [() => "patient-x", Symbol("patient-x"), 2n ** 70n + 7n, cyclic, cyclicArray, new NoPath()];
  for (const value of bad) {
    for (const batch of [[{ note: "patient-x", value }], Array.from({ length: 20 }, () => ({ value }))]) {
      assert.throws(() => codec.encode(batch), (error: unknown) =>
        error instanceof EncodeError && !error.message.includes("patient-x") && !error.message.includes("1180591620717411303431"));
    }
  }
  assert.deepStrictEqual(roundTrip([{ still: "works" }]), [{ still: "works" }]);
});

test("a value nested deeper than the stack allows is an EncodeError, not a crash", () => {
  let deep: unknown = 1;
  for (let i = 0; i < 100_000; i++) deep = [deep];
  assert.throws(() => codec.encode([deep]), EncodeError);
  assert.deepStrictEqual(roundTrip([[1]]), [[1]]);
});

test("a frame over maxFrameBytes is FrameTooLarge on encode, and nothing is moved", () => {
  const small = createFrameCodec({ maxFrameBytes: 1024 });
  assert.throws(() => small.encode([{ text: "x".repeat(2000) }]), (e: unknown) => e instanceof FrameTooLarge && e.maxBytes === 1024 && e.byteLength > 1024);
  assert.throws(() => small.encode([new Float64Array(200)]), FrameTooLarge);
  const data = new Float32Array(1 << 18);
  const frame = small.encode([data], { transfer: [data.buffer] });
  assert.equal(frame.transfer.length, 1, "a moved buffer does not count against the frame");
  assert.equal(data.byteLength, 1 << 20, "encode itself never detaches");
});

test("an oversized frame is FrameTooLarge on decode, decided before parsing", () => {
  const small = createFrameCodec({ maxFrameBytes: 1024 });
  const garbage = new Uint8Array(1025).fill(0xff);
  garbage[0] = CODEC_VERSION;
  const result = small.decode(garbage);
  assert.ok(!result.ok && result.error instanceof FrameTooLarge && result.error.byteLength === 1025);
  const big = codec.encode([{ text: "y".repeat(2000) }]).bytes;
  const refused = small.decode(big);
  assert.ok(!refused.ok && refused.error.code === "FRAME_TOO_LARGE");
});

test("a frame of another codec version is a DecodeError naming both versions", () => {
  const bytes = codec.encode([{ type: "ping" }]).bytes;
  bytes[0] = 2;
  const result = codec.decode(bytes);
  assert.ok(!result.ok && result.error instanceof DecodeError && /version 2.*version 1/.test(result.error.reason));
});

test("maxFrameBytes must be a positive integer", () => {
  for (const maxFrameBytes of [0, -1, 1.5, Number.NaN]) {
    assert.throws(() => createFrameCodec({ maxFrameBytes }), InvalidArgument);
  }
  assert.equal(DEFAULT_CODEC.maxFrameBytes, 4 * 1024 * 1024);
});
