/**
 * The training forward against the inference forward (forward.ts) on the same weights, its
 * gradient against finite differences (the tied wte through both its uses), the trainable parts'
 * specs and the flat vector view.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import fc from "fast-check";
import { resolveTensorBackend } from "../../../../native-bindings/index.ts";
import { Gpt2Stage } from "../../../../actors/shard-executor/forward.ts";
import { initModel } from "../../../../actors/shard-executor/model-init.ts";
import { loadGpt2Stage } from "../../../../actors/shard-executor/model-loader.ts";
import { TrainingModel } from "../../../../actors/shard-executor/training/train-forward.ts";
import { applyFlatDelta, clipToNorm, flattenTrainable, l2Norm, trainableSpec } from "../../../../actors/shard-executor/training/trainable.ts";
import { InvalidTrainingOption, UpdateMismatch } from "../../../../actors/shard-executor/training/errors.ts";
import { tempDir } from "../../../fixtures/node-store.ts";

const TOKENS = [464, 5827, 338, 2910, 3833, 373, 10545, 14, 1795, 50256, 15496, 995];

async function tinyModel(t: { after(fn: () => void): void }, seed: number) {
  const dir = join(tempDir(t, "fedrouter-train-forward-"), "tiny");
  await initModel({ out: dir, layers: 2, dModel: 32, heads: 4, positions: 16, vocab: "gpt2", seed });
  return { dir, weights: await loadGpt2Stage(dir) };
}

test("the training forward's logits equal the inference forward's to float32 precision, for every part, on wasm and cpu", { timeout: 60_000 }, async (t) => {
  const { weights } = await tinyModel(t, 3);
  for (const prefer of ["wasm", "cpu"] as const) {
    const runtime = await resolveTensorBackend({ prefer });
    const inference = new Gpt2Stage(runtime, weights);
    const expected = inference.forward({ tokens: TOKENS });
    inference.dispose();
    for (const part of [{ kind: "all" }, { kind: "last", blocks: 1 }, { kind: "last", blocks: 2, head: false }] as const) {
      const model = new TrainingModel(runtime, weights, part);
      const logits = model.logits(TOKENS);
      model.dispose();
      assert.equal(logits.length, expected.length);
      let diff = 0, scale = 0;
      for (let i = 0; i < logits.length; i++) { diff = Math.max(diff, Math.abs(logits[i]! - expected[i]!)); scale = Math.max(scale, Math.abs(expected[i]!)); }
      assert.ok(diff / scale < 1e-5, `${prefer}, ${JSON.stringify(part)}: relative difference ${diff / scale}`);
    }
  }
});

test("the loss is the mean next-token cross-entropy computed from the logits", { timeout: 30_000 }, async (t) => {
  const { weights } = await tinyModel(t, 4);
  const runtime = await resolveTensorBackend();
  const model = new TrainingModel(runtime, weights, { kind: "all" });
  const logits = model.logits(TOKENS);
  const v = weights.config.vocabSize;
  let expected = 0;
  for (let i = 0; i + 1 < TOKENS.length; i++) {
    const row = logits.subarray(i * v, (i + 1) * v);
    const max = row.reduce((a, b) => Math.max(a, b), -Infinity);
    const logSum = max + Math.log(row.reduce((s, x) => s + Math.exp(x - max), 0));
    expected += logSum - row[TOKENS[i + 1]!]!;
  }
  expected /= TOKENS.length - 1;
  const loss = runtime.tf.tidy(() => model.loss([TOKENS]).dataSync()[0]!);
  model.dispose();
  assert.ok(Math.abs(loss - expected) < 1e-4 * expected, `loss ${loss}, from the logits ${expected}`);
});

test("gradients match central finite differences: the tied wte (head and embedding), wpe, attention, MLP and LayerNorm", { timeout: 60_000 }, async (t) => {
  const { weights } = await tinyModel(t, 5);
  const runtime = await resolveTensorBackend();
  const tf = runtime.tf;
  const tokens = TOKENS.slice(0, 8);
  const model = new TrainingModel(runtime, weights, { kind: "all" });
  const grads = tf.tidy(() => {
    const { grads: g } = tf.variableGrads(() => model.loss([tokens]) as never, model.variables as never);
    return model.spec.tensors.map((s, i) => [s.name, g[model.variables[i]!.name]!.dataSync() as Float32Array] as const);
  });
  model.dispose();
  const gradOf = new Map(grads);
  const d = weights.config.dModel;
  const lossWith = (name: string, at: number, shift: number): number => {
    const original = weights.tensors.get(name)!;
    const data = Float32Array.from(original.data);
    data[at] = data[at]! + shift;
    const m = new TrainingModel(runtime, { ...weights, tensors: new Map(weights.tensors).set(name, { ...original, data }) }, { kind: "all" });
    const value = tf.tidy(() => m.loss([tokens]).dataSync()[0]!);
    m.dispose();
    return value;
  };
  // wte rows used as input (embedding and head) and one used only as a target (head only); then
  // a tensor of each other kind. At each, the coordinate of largest gradient (clearest against float32 noise).
  const probes: [string, number, number][] = [
    ["wte.weight", tokens[0]! * d, d], ["wte.weight", tokens[3]! * d, d], ["wte.weight", tokens[7]! * d, d], ["wpe.weight", 0, 8 * d],
    ["h.0.attn.c_attn.weight", 0, d * 3 * d], ["h.0.attn.c_proj.weight", 0, d * d], ["h.1.mlp.c_fc.weight", 0, d * 4 * d], ["h.0.ln_1.weight", 0, d], ["ln_f.bias", 0, d],
  ];
  for (const [name, from, length] of probes) {
    const grad = gradOf.get(name)!;
    let at = from;
    for (let i = from; i < from + length; i++) if (Math.abs(grad[i]!) > Math.abs(grad[at]!)) at = i;
    const h = 0.02;
    const numeric = (lossWith(name, at, h) - lossWith(name, at, -h)) / (2 * h);
    assert.ok(Math.abs(numeric - grad[at]!) < 0.05 * Math.abs(grad[at]!) + 5e-4, `${name}[${at}]: autodiff ${grad[at]}, finite differences ${numeric}`);
  }
});

test("a part's spec lists its tensors in checkpoint order with contiguous offsets; 'last' trains wte unless head is false", () => {
  const shape = { layers: 3, dModel: 16, heads: 2, positions: 8, vocabSize: 100 };
  const all = trainableSpec(shape, { kind: "all" });
  assert.equal(all.tensors[0]!.name, "wte.weight");
  assert.equal(all.tensors.length, 2 + 12 * 3 + 2);
  const last = trainableSpec(shape, { kind: "last", blocks: 1 });
  assert.deepEqual(last.tensors.map((s) => s.name).filter((n) => !n.startsWith("h.2.")), ["wte.weight", "ln_f.weight", "ln_f.bias"]);
  const noHead = trainableSpec(shape, { kind: "last", blocks: 2, head: false });
  assert.ok(noHead.tensors.every((s) => /^h\.[12]\.|^ln_f\./.test(s.name)));
  for (const spec of [all, last, noHead]) {
    let offset = 0;
    for (const s of spec.tensors) { assert.equal(s.offset, offset); assert.equal(s.size, s.shape.reduce((a, b) => a * b, 1)); offset += s.size; }
    assert.equal(spec.size, offset);
  }
  assert.throws(() => trainableSpec(shape, { kind: "last", blocks: 4 }), (e: unknown) => e instanceof InvalidTrainingOption && e.field === "part.blocks");
  assert.throws(() => trainableSpec(shape, { kind: "last", blocks: 0 }), InvalidTrainingOption);
  assert.throws(() => trainableSpec(shape, { kind: "first" } as never), (e: unknown) => e instanceof InvalidTrainingOption && e.code === "INVALID_TRAINING_OPTION");
});

test("flatten then applyFlatDelta adds the delta to exactly the trainable tensors (property)", () => {
  const shape = { layers: 2, dModel: 4, heads: 2, positions: 3, vocabSize: 5 };
  const spec = trainableSpec(shape, { kind: "last", blocks: 1 });
  const full = trainableSpec(shape, { kind: "all" });
  fc.assert(fc.property(fc.integer({ min: 0, max: 1000 }), (seed) => {
    const tensors = new Map(full.tensors.map((s, i) => [s.name, { shape: s.shape, data: Float32Array.from({ length: s.size }, (_, j) => Math.sin(seed + i * 31 + j)) }]));
    const delta = Float32Array.from({ length: spec.size }, (_, j) => Math.cos(seed * 7 + j));
    const applied = applyFlatDelta(spec, tensors, delta);
    const before = flattenTrainable(spec, tensors), after = flattenTrainable(spec, applied);
    for (let i = 0; i < spec.size; i++) assert.equal(after[i], Math.fround(before[i]! + delta[i]!));
    assert.equal(applied.get("h.0.ln_1.weight"), tensors.get("h.0.ln_1.weight"), "frozen tensors are shared, unchanged");
  }), { numRuns: 30 });
  assert.throws(() => applyFlatDelta(spec, new Map(), new Float32Array(spec.size)), UpdateMismatch);
  assert.throws(() => flattenTrainable(spec, new Map()), (e: unknown) => e instanceof UpdateMismatch && e.code === "TRAINING_UPDATE_MISMATCH");
});

test("clipToNorm never returns a vector longer than the bound and leaves a shorter one unchanged (property)", () => {
  fc.assert(fc.property(fc.array(fc.float({ min: -1e3, max: 1e3, noNaN: true }), { minLength: 1, maxLength: 200 }), fc.double({ min: 1e-3, max: 1e3, noNaN: true }), (values, bound) => {
    const v = Float32Array.from(values);
    const { clipped, norm, clippedNorm } = clipToNorm(v, bound);
    assert.ok(clippedNorm <= bound, `${clippedNorm} > ${bound}`);
    assert.equal(norm, l2Norm(v));
    if (norm <= bound) assert.deepEqual(clipped, v);
    else assert.ok(clippedNorm > bound * (1 - 1e-5), "a longer vector is scaled to the bound, not below it");
  }), { numRuns: 200 });
});
