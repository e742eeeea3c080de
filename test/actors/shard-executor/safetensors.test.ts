import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { floatToHalf, halfToFloat, loadSafetensors, readSafetensorsIndex, SafetensorsError, writeSafetensors } from "../../../actors/shard-executor/safetensors.ts";
import { tempDir } from "../../fixtures/node-store.ts";

const values = Float32Array.from([0, 1, -2, 0.5, 3.140625, 1e-3, -65504, 1.5e-5, 7]);

test("F32, F16 and BF16 tensors round-trip through a file; only the wanted tensors are loaded", async (t) => {
  const file = join(tempDir(t, "fedrouter-st-"), "model.safetensors");
  await writeSafetensors(file, {
    "h.0.attn.c_attn.weight": { dtype: "F32", shape: [3, 3], data: values },
    "h.1.attn.c_attn.weight": { dtype: "F16", shape: [9], data: values },
    "wte.weight": { dtype: "BF16", shape: [1, 9], data: values },
  }, { format: "pt" });
  const index = await readSafetensorsIndex(file);
  assert.deepEqual(index.metadata, { format: "pt" });
  assert.deepEqual([...index.tensors.keys()], ["h.0.attn.c_attn.weight", "h.1.attn.c_attn.weight", "wte.weight"]);
  assert.equal((8 + Number(readFileSync(file).readBigUInt64LE(0))) % 8, 0, "the data starts 8-byte aligned, as the reference writer pads");
  const all = await loadSafetensors(file);
  assert.deepEqual([...all.get("h.0.attn.c_attn.weight")!.data], [...values]);
  assert.deepEqual(all.get("h.0.attn.c_attn.weight")!.shape, [3, 3]);
  const half = all.get("h.1.attn.c_attn.weight")!.data;
  const bf = all.get("wte.weight")!.data;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    assert.ok(Math.abs(half[i]! - v) <= Math.max(Math.abs(v) * 2 ** -11, 2 ** -24), `F16 ${v} → ${half[i]}`);
    assert.ok(Math.abs(bf[i]! - v) <= Math.abs(v) * 2 ** -8, `BF16 ${v} → ${bf[i]}`);
  }
  const some = await loadSafetensors(file, (name) => name.startsWith("h.1."));
  assert.deepEqual([...some.keys()], ["h.1.attn.c_attn.weight"]);
});

test("binary16: known bit patterns, and every one of the 65,536 patterns survives a round trip", () => {
  assert.equal(floatToHalf(1), 0x3c00);
  assert.equal(floatToHalf(-2), 0xc000);
  assert.equal(floatToHalf(65504), 0x7bff);
  assert.equal(floatToHalf(65520), 0x7c00); // rounds to +∞
  assert.equal(floatToHalf(2 ** -24), 0x0001);
  assert.equal(floatToHalf(1 + 2 ** -11), 0x3c00); // halfway: to even
  assert.equal(floatToHalf(1 + 3 * 2 ** -11), 0x3c02);
  assert.equal(halfToFloat(0x7c00), Infinity);
  assert.ok(Number.isNaN(halfToFloat(0x7e00)));
  for (let h = 0; h < 0x10000; h++) {
    const v = halfToFloat(h);
    if (Number.isNaN(v)) { assert.ok(Number.isNaN(halfToFloat(floatToHalf(v)))); continue; }
    assert.equal(floatToHalf(v), h, `0x${h.toString(16)} (${v})`);
  }
});

/** A valid two-tensor file's bytes with the header replaced (data: 8 bytes of F32). */
function withHeader(header: unknown, dataBytes = 8, extra = Buffer.alloc(0)): Buffer {
  const json = Buffer.from(JSON.stringify(header));
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([prefix, json, Buffer.alloc(dataBytes), extra]);
}

test("a truncated, inconsistent or foreign file is a SafetensorsError naming the file, the tensor and the problem", async (t) => {
  const dir = tempDir(t, "fedrouter-st-bad-");
  const good = join(dir, "good.safetensors");
  await writeSafetensors(good, { a: { dtype: "F32", shape: [4], data: new Float32Array(4) }, b: { dtype: "F32", shape: [2], data: new Float32Array(2) } });
  const cases: [string, Buffer, RegExp][] = [
    ["truncated", readFileSync(good).subarray(0, readFileSync(good).length - 3), /tensor "b": its data ends at byte \d+ but the file has \d+ \(truncated\?\)/],
    ["tiny", Buffer.from([1, 2, 3]), /too short for a safetensors header/],
    ["huge-header", Buffer.from([0, 0, 0, 0, 0, 0, 0, 1, 0]), /declares a \d+-byte header \(over 100000000\)/],
    ["not-json", withHeader("x").fill(0x7b, 8, 11), /header is not JSON/],
    ["dtype", withHeader({ a: { dtype: "I64", shape: [1], data_offsets: [0, 8] } }), /tensor "a": dtype "I64" is not supported/],
    ["shape", withHeader({ a: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }), /tensor "a": shape \[3\] of F32 needs 12 bytes, its offsets span 8/],
    ["overlap", withHeader({ a: { dtype: "F32", shape: [2], data_offsets: [0, 8] }, b: { dtype: "F32", shape: [1], data_offsets: [4, 8] } }), /tensor "b": overlaps the tensor before it/],
    ["hole", withHeader({ a: { dtype: "F32", shape: [1], data_offsets: [4, 8] } }), /tensor "a": leaves a hole of 4 bytes before it/],
    ["trailing", withHeader({ a: { dtype: "F32", shape: [2], data_offsets: [0, 8] } }, 8, Buffer.alloc(5)), /has 5 bytes after its last tensor/],
  ];
  for (const [name, bytes, expected] of cases) {
    const file = join(dir, `${name}.safetensors`);
    writeFileSync(file, bytes);
    await assert.rejects(loadSafetensors(file), (e: unknown) => e instanceof SafetensorsError && e.code === "BAD_WEIGHTS_FILE" && e.message.startsWith(file) && expected.test(e.message), name);
  }
  await assert.rejects(readSafetensorsIndex(join(dir, "missing.safetensors")), /missing\.safetensors: cannot open it \(ENOENT\)/);
  await assert.rejects(writeSafetensors(join(dir, "w.safetensors"), { a: { dtype: "F32", shape: [3], data: new Float32Array(2) } }), /tensor "a": shape \[3\] has 3 elements, data has 2/);
});
