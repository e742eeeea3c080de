import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { chunkCount, chunkPayload, Reassembler, DEFAULT_CHUNKING, MAX_CHUNK_BYTES, type Chunk, type ReassemblyProgress } from "../../federated/chunking.ts";
import { ChunkRejected, InvalidTrainingParameter } from "../../federated/errors.ts";

const GPT2_SMALL_PARAMETERS = 124_439_808;

function reassemble(chunks: Iterable<Chunk>, reassembler = new Reassembler()): ReassemblyProgress {
  let last: ReassemblyProgress | undefined;
  for (const chunk of chunks) last = reassembler.accept(chunk);
  return last!;
}

const rejected = (field: string) => (e: unknown) => e instanceof ChunkRejected && e.field === field && e.code === "CHUNK_REJECTED";

test("GPT-2 small's 124M-float update takes 475 chunks of at most 1 MiB", () => {
  assert.equal(chunkCount(GPT2_SMALL_PARAMETERS * 4), 475);
  assert.equal(DEFAULT_CHUNKING.maxChunkBytes, 1 << 20);
});

// A 124M-element array would allocate 1 GB (sender + reassembled copy) and take seconds to hash
// twice on a shared 2-core machine; 10M elements (40 MB, 39 chunks) exercise the same code path.
test("a 10M-float update passes as 39 chunks of ≤ 1 MiB and comes back bit for bit", () => {
  const update = new Float32Array(10_000_000);
  for (let i = 0; i < update.length; i += 997) update[i] = Math.sin(i);
  const chunks = [...chunkPayload("round-7", update)];
  assert.equal(chunks.length, 39);
  assert.ok(chunks.every((c) => c.payload.byteLength <= 1 << 20 && c.count === 39 && c.roundId === "round-7" && c.totalBytes === 40_000_000));
  const done = reassemble(chunks, new Reassembler({ roundId: "round-7" }));
  assert.equal(done.type, "complete");
  if (done.type !== "complete") return;
  assert.ok(done.data instanceof Float32Array);
  assert.deepEqual(new Uint8Array(done.data.buffer), new Uint8Array(update.buffer));
});

test("property: any payload and chunk size round-trip, as float32 or bytes", () => {
  fc.assert(fc.property(
    fc.uint8Array({ minLength: 1, maxLength: 5000 }),
    fc.integer({ min: 1, max: 300 }).map((k) => k * 4),
    fc.boolean(),
    (bytes, chunkBytes, asFloats) => {
      const data = asFloats ? new Float32Array(bytes.buffer.slice(0, bytes.length - (bytes.length % 4))) : bytes;
      if (data.byteLength === 0) return;
      const reassembler = new Reassembler({ maxChunkBytes: chunkBytes });
      const chunks = [...chunkPayload("r", data, { maxChunkBytes: chunkBytes })];
      assert.equal(chunks.length, chunkCount(data.byteLength, chunkBytes));
      chunks.slice(0, -1).forEach((c) => assert.equal(reassembler.accept(c).type, "incomplete"));
      const done = reassembler.accept(chunks.at(-1)!);
      assert.equal(done.type, "complete");
      if (done.type === "complete") {
        assert.equal(done.kind, asFloats ? "float32" : "bytes");
        assert.deepEqual(new Uint8Array(done.data.buffer, done.data.byteOffset, done.data.byteLength), new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      }
    },
  ), { numRuns: 100 });
});

test("a duplicate or out-of-order chunk is refused and changes nothing; the payload still completes", () => {
  const chunks = [...chunkPayload("r", new Uint8Array(40).map((_, i) => i), { maxChunkBytes: 8 })];
  const reassembler = new Reassembler({ maxChunkBytes: 8 });
  assert.throws(() => reassembler.accept(chunks[1]!), rejected("index"), "a payload starts at chunk 0");
  reassembler.accept(chunks[0]!);
  reassembler.accept(chunks[1]!);
  assert.throws(() => reassembler.accept(chunks[1]!), (e: unknown) => rejected("index")(e) && /duplicate/.test((e as Error).message));
  assert.throws(() => reassembler.accept(chunks[3]!), (e: unknown) => rejected("index")(e) && /out of order/.test((e as Error).message));
  assert.equal(reassembler.receivedBytes, 16);
  const done = reassemble(chunks.slice(2), reassembler);
  assert.equal(done.type, "complete");
});

test("a declared total above the maximum is refused before any buffer is allocated", () => {
  const [first] = chunkPayload("r", new Uint8Array(8), { maxChunkBytes: 4 });
  const reassembler = new Reassembler({ maxTotalBytes: 1 << 20, maxChunkBytes: 4 });
  const hostile = { ...first!, totalBytes: 2 ** 50, count: 2 ** 48 };
  assert.throws(() => reassembler.accept(hostile), (e: unknown) => rejected("totalBytes")(e) && /maximum/.test((e as Error).message));
  assert.equal(reassembler.receivedBytes, 0);
});

test("headers that disagree, a wrong payload size, another round, a chunk too large: each a ChunkRejected", () => {
  const chunks = [...chunkPayload("r", new Uint8Array(40), { maxChunkBytes: 8 })];
  const make = () => { const r = new Reassembler({ maxChunkBytes: 8, roundId: "r" }); r.accept(chunks[0]!); return r; };
  assert.throws(() => make().accept({ ...chunks[1]!, sha256: "0".repeat(64) }), rejected("sha256"));
  assert.throws(() => make().accept({ ...chunks[1]!, totalBytes: 48, count: 6 }), rejected("count"));
  assert.throws(() => make().accept({ ...chunks[1]!, payload: new Uint8Array(7) }), rejected("payload"));
  assert.throws(() => make().accept({ ...chunks[1]!, roundId: "other" }), rejected("roundId"));
  assert.throws(() => new Reassembler({ maxChunkBytes: 4 }).accept(chunks[0]!), rejected("chunkBytes"));
  assert.throws(() => new Reassembler().accept({ ...chunks[0]!, count: 4 }), rejected("count"));
  assert.throws(() => new Reassembler().accept({ ...chunks[0]!, kind: "float32", totalBytes: 41, count: 6 }), rejected("totalBytes"));
  assert.throws(() => new Reassembler().accept({ ...chunks[0]!, payload: [1, 2] as unknown as Uint8Array }), rejected("payload"));
});

test("a tampered byte fails the SHA-256 at the end: the payload is dropped and a clean resend completes", () => {
  const data = new Uint8Array(64).map((_, i) => i * 3);
  const chunks = [...chunkPayload("r", data, { maxChunkBytes: 16 })];
  const tampered = chunks.map((c, i) => (i === 2 ? { ...c, payload: Uint8Array.from(c.payload, (b, j) => (j === 5 ? b ^ 1 : b)) } : c));
  const reassembler = new Reassembler({ maxChunkBytes: 16 });
  assert.throws(() => reassemble(tampered, reassembler), rejected("sha256"));
  assert.equal(reassembler.receivedBytes, 0);
  const done = reassemble(chunks, reassembler);
  assert.equal(done.type, "complete");
});

test("chunk sizes outside 4..16 MiB, or not a multiple of 4, are refused", () => {
  for (const size of [0, 6, MAX_CHUNK_BYTES + 4]) {
    assert.throws(() => [...chunkPayload("r", new Uint8Array(8), { maxChunkBytes: size })], InvalidTrainingParameter);
  }
  assert.throws(() => [...chunkPayload("", new Uint8Array(8))], InvalidTrainingParameter);
  assert.throws(() => [...chunkPayload("r", new Uint8Array(0))], InvalidTrainingParameter);
});
