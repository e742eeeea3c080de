/**
 * The tensor backend resolver on this machine: tfjs-node(-gpu) cannot be installed here (they
 * download libtensorflow), so it must say so and pick the wasm backend; a forced backend is used
 * or refused with the reason; a wrong name is a typed error; and the chosen backend computes.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { describeBackend, resolveTensorBackend, TensorBackendUnavailable, UnknownTensorBackend } from "../../native-bindings/tensor/index.ts";

test("best first: node-gpu and node are reported not installed, wasm is chosen, cpu not tried", async () => {
  const runtime = await resolveTensorBackend({ env: {} });
  assert.equal(runtime.backend, "wasm");
  assert.equal(runtime.tf.getBackend(), "wasm");
  assert.deepEqual(runtime.attempts.map((a) => [a.name, a.outcome]), [["node-gpu", "not installed"], ["node", "not installed"], ["wasm", "chosen"], ["cpu", "not tried"]]);
  assert.match(runtime.attempts[0]!.reason!, /npm install @tensorflow\/tfjs-node-gpu/);
  assert.match(describeBackend(runtime), /^tensor backend: wasm \((no )?SIMD\); passed over node-gpu \(not installed: npm install @tensorflow\/tfjs-node-gpu to use it\), node \(not installed/);
});

test("FEDROUTER_TF_BACKEND=cpu forces the cpu backend; prefer overrides the environment", async () => {
  const cpu = await resolveTensorBackend({ env: { FEDROUTER_TF_BACKEND: "cpu" } });
  assert.equal(cpu.backend, "cpu");
  assert.equal(cpu.tf.getBackend(), "cpu");
  assert.equal(cpu.attempts.find((a) => a.name === "wasm")!.outcome, "not tried");
  const wasm = await resolveTensorBackend({ prefer: "wasm", env: { FEDROUTER_TF_BACKEND: "cpu" } });
  assert.equal(wasm.backend, "wasm");
});

test("a forced backend that cannot load is TensorBackendUnavailable with the reason; a wrong name is UnknownTensorBackend", async () => {
  await assert.rejects(resolveTensorBackend({ prefer: "node-gpu" }), (e: unknown) =>
    e instanceof TensorBackendUnavailable && e.code === "TENSOR_BACKEND_UNAVAILABLE" && /^the forced tensor backend "node-gpu" could not be loaded: node-gpu: not installed/.test(e.message));
  await assert.rejects(resolveTensorBackend({ env: { FEDROUTER_TF_BACKEND: "cuda" } }), (e: unknown) =>
    e instanceof UnknownTensorBackend && /FEDROUTER_TF_BACKEND = "cuda" is not a tensor backend \(expected one of node-gpu, node, wasm, cpu\)/.test(e.message));
});

test("wasm and cpu compute the same matrix product as plain arithmetic (float32 precision)", async () => {
  const rows = 7, inner = 33, cols = 5;
  const a = Float32Array.from({ length: rows * inner }, (_, i) => Math.sin(i) * 0.5);
  const b = Float32Array.from({ length: inner * cols }, (_, i) => Math.cos(i * 1.3));
  const expected = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) for (let k = 0; k < inner; k++) expected[r * cols + c]! += a[r * inner + k]! * b[k * cols + c]!;
  for (const prefer of ["wasm", "cpu"] as const) {
    const { tf } = await resolveTensorBackend({ prefer });
    const product = tf.tidy(() => tf.matMul(tf.tensor2d(a, [rows, inner]), tf.tensor2d(b, [inner, cols])).dataSync());
    for (let i = 0; i < expected.length; i++) assert.ok(Math.abs(product[i]! - expected[i]!) <= 1e-5 * Math.max(1, Math.abs(expected[i]!)), `${prefer}[${i}]: ${product[i]} vs ${expected[i]}`);
  }
});

test("concurrent resolutions in one thread all succeed (tfjs has one active backend; they run one after another)", async () => {
  const runtimes = await Promise.all([resolveTensorBackend({ prefer: "wasm" }), resolveTensorBackend({ prefer: "wasm" }), resolveTensorBackend({ prefer: "cpu" }), resolveTensorBackend({ prefer: "wasm" })]);
  assert.deepEqual(runtimes.map((r) => r.backend), ["wasm", "wasm", "cpu", "wasm"]);
  assert.equal(runtimes[3]!.tf.getBackend(), "wasm", "the last resolution's backend is the active one");
});
