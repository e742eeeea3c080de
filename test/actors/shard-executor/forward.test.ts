/**
 * The tfjs forward pass against the float64 reference, on a tiny randomly initialised GPT-2:
 * several prompts, whole and split into two stages, on the wasm and the cpu backend.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { resolveTensorBackend } from "../../../native-bindings/index.ts";
import { Gpt2Stage } from "../../../actors/shard-executor/forward.ts";
import { initModel } from "../../../actors/shard-executor/model-init.ts";
import { loadGpt2Stage } from "../../../actors/shard-executor/model-loader.ts";
import { referenceForward } from "../../fixtures/gpt2-reference.ts";
import { tempDir } from "../../fixtures/node-store.ts";

const PROMPTS = [[15496, 995], [464, 5827, 338, 2910, 3833, 373, 10545, 14, 1795], [50256], Array.from({ length: 16 }, (_, i) => (i * 7919) % 50257)];

/** max |a − b| over max |b|: the error relative to the logits' scale. */
function relativeError(a: Float32Array, b: Float64Array[]): number {
  let diff = 0, scale = 0;
  const flat = b.flatMap((r) => [...r]);
  flat.forEach((v, i) => { diff = Math.max(diff, Math.abs(a[i]! - v)); scale = Math.max(scale, Math.abs(v)); });
  return diff / scale;
}

test("tfjs logits equal the float64 reference to float32 precision, whole and as two stages, on wasm and cpu", { timeout: 120_000 }, async (t) => {
  const dir = join(tempDir(t, "fedrouter-forward-"), "tiny");
  await initModel({ out: dir, layers: 2, dModel: 32, heads: 4, positions: 16, vocab: "gpt2", seed: 5 });
  const whole = await loadGpt2Stage(dir);
  const first = await loadGpt2Stage(dir, { from: 0, to: 1 });
  const last = await loadGpt2Stage(dir, { from: 1, to: 2 });
  for (const prefer of ["wasm", "cpu"] as const) {
    const runtime = await resolveTensorBackend({ prefer });
    const model = new Gpt2Stage(runtime, whole);
    const stage0 = new Gpt2Stage(runtime, first);
    const stage1 = new Gpt2Stage(runtime, last);
    const before = runtime.tf.memory().numTensors;
    for (const tokens of PROMPTS) {
      const reference = referenceForward(whole.config, whole.tensors, { tokens }, 0, 2);
      const logits = model.forward({ tokens });
      assert.equal(logits.length, tokens.length * 50_257);
      const error = relativeError(logits, reference);
      assert.ok(error < 1e-4, `${prefer}, ${tokens.length} tokens: relative error ${error}`);
      const hidden = stage0.forward({ tokens });
      const hiddenRef = referenceForward(whole.config, whole.tensors, { tokens }, 0, 1);
      assert.ok(relativeError(hidden, hiddenRef) < 1e-4, `${prefer}: stage 0 hidden states`);
      const split = stage1.forward({ hidden });
      assert.ok(relativeError(split, reference) < 1e-4, `${prefer}: two stages`);
    }
    assert.equal(runtime.tf.memory().numTensors, before, `${prefer}: no tensor leaks across forward passes`);
    assert.throws(() => model.forward({ tokens: Array.from({ length: 17 }, () => 1) }), /17 tokens exceed the context of 16 positions/);
    assert.throws(() => model.forward({ tokens: [50_257] }), /token id 50257 is outside the vocabulary/);
    assert.throws(() => stage1.forward({ hidden: new Float32Array(33) }), /hidden states of length × 32/);
    model.dispose(); stage0.dispose(); stage1.dispose();
  }
});
