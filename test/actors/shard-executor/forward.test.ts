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

test("with a KV cache, decoding token by token gives the same logits as the whole sequence, through two stages as well", { timeout: 120_000 }, async (t) => {
  const dir = join(tempDir(t, "fedrouter-kv-"), "tiny");
  await initModel({ out: dir, layers: 2, dModel: 32, heads: 4, positions: 16, vocab: "gpt2", seed: 9 });
  const whole = await loadGpt2Stage(dir);
  const runtime = await resolveTensorBackend({ prefer: "wasm" });
  const model = new Gpt2Stage(runtime, whole);
  const stage0 = new Gpt2Stage(runtime, await loadGpt2Stage(dir, { from: 0, to: 1 }));
  const stage1 = new Gpt2Stage(runtime, await loadGpt2Stage(dir, { from: 1, to: 2 }));
  const tokens = PROMPTS[1]!;
  const reference = referenceForward(whole.config, whole.tensors, { tokens }, 0, 2);
  const cache = model.createCache();
  const [c0, c1] = [stage0.createCache(), stage1.createCache()];
  // A prompt of three tokens at once (prefill), then one token at a time.
  const steps = [tokens.slice(0, 3), ...tokens.slice(3).map((tok) => [tok])];
  let at = 0;
  for (const step of steps) {
    const logits = model.forward({ tokens: step }, cache);
    const piped = stage1.forward({ hidden: stage0.forward({ tokens: step }, c0) }, c1);
    const expected = reference.slice(at, at + step.length);
    assert.ok(relativeError(logits, expected) < 1e-4, `cached step at ${at}: ${relativeError(logits, expected)}`);
    assert.ok(relativeError(piped, expected) < 1e-4, `two cached stages at ${at}`);
    at += step.length;
  }
  assert.equal(cache.length, tokens.length);
  assert.throws(() => model.forward({ tokens: Array.from({ length: 16 - tokens.length + 1 }, () => 1) }, cache), /exceed the context of 16 positions/);
  cache.dispose(); c0.dispose(); c1.dispose();
  model.dispose(); stage0.dispose(); stage1.dispose();
});

test("decoding 1,000 tokens with a KV cache holds a constant number of tensors (memory released every step)", { timeout: 180_000 }, async (t) => {
  const dir = join(tempDir(t, "fedrouter-kv-mem-"), "tiny");
  await initModel({ out: dir, layers: 2, dModel: 32, heads: 4, positions: 1024, vocab: "gpt2", seed: 2 });
  const runtime = await resolveTensorBackend({ prefer: "wasm" });
  // The first stage alone (no 50,257-wide head): what grows with the sequence is the cache.
  const stage = new Gpt2Stage(runtime, await loadGpt2Stage(dir, { from: 0, to: 1 }));
  const baseline = runtime.tf.memory().numTensors;
  const cache = stage.createCache();
  const counts: number[] = [];
  for (let i = 0; i < 1_000; i++) {
    const hidden = stage.forward({ tokens: [(i * 7919) % 50_257] }, cache);
    assert.equal(hidden.length, 32);
    if (i === 9 || i === 499 || i === 999) counts.push(runtime.tf.memory().numTensors);
  }
  assert.equal(cache.length, 1_000);
  assert.deepEqual(counts, [baseline + 2, baseline + 2, baseline + 2], "one block × (K, V), nothing else kept");
  cache.dispose();
  assert.equal(runtime.tf.memory().numTensors, baseline);
  stage.dispose();
});

test("a batch of prompts of different lengths, some continuing cached sequences, gives each sequence the logits it gets alone, through two stages as well", { timeout: 120_000 }, async (t) => {
  const dir = join(tempDir(t, "fedrouter-batch-"), "tiny");
  await initModel({ out: dir, layers: 2, dModel: 32, heads: 4, positions: 16, vocab: "gpt2", seed: 13 });
  const whole = await loadGpt2Stage(dir);
  const runtime = await resolveTensorBackend({ prefer: "wasm" });
  const model = new Gpt2Stage(runtime, whole);
  const stage0 = new Gpt2Stage(runtime, await loadGpt2Stage(dir, { from: 0, to: 1 }));
  const stage1 = new Gpt2Stage(runtime, await loadGpt2Stage(dir, { from: 1, to: 2 }));
  const before = runtime.tf.memory().numTensors;
  // Uncached: four whole prompts of lengths 2, 9, 1 and 16 in one call.
  const outs = model.forwardBatch(PROMPTS.map((tokens) => ({ input: { tokens } })));
  PROMPTS.forEach((tokens, i) => {
    const error = relativeError(outs[i]!, referenceForward(whole.config, whole.tensors, { tokens }, 0, 2));
    assert.equal(outs[i]!.length, tokens.length * 50_257, `prompt ${i}: one row of logits per token`);
    assert.ok(error < 1e-4, `prompt ${i} in a batch: relative error ${error}`);
  });
  const lastRows = model.forwardBatch(PROMPTS.map((tokens) => ({ input: { tokens } })), { logits: "last" });
  PROMPTS.forEach((tokens, i) => assert.deepEqual([...lastRows[i]!], [...outs[i]!.subarray((tokens.length - 1) * 50_257)], `prompt ${i}: logits "last" is the last row of "all"`));
  // Cached: three sequences at different positions; each round mixes a prefill with decodes.
  const sequences = [PROMPTS[1]!, PROMPTS[3]!.slice(0, 12), [464, 5827, 338]];
  const references = sequences.map((tokens) => referenceForward(whole.config, whole.tensors, { tokens }, 0, 2));
  const caches = sequences.map(() => ({ whole: model.createCache(), c0: stage0.createCache(), c1: stage1.createCache() }));
  const schedule = [[3, 1, 2], [1, 4, 1], [5, 7, 0]]; // tokens each sequence advances per round
  const at = sequences.map(() => 0);
  for (const round of schedule) {
    const live = round.map((n, i) => ({ n, i })).filter(({ n }) => n > 0);
    const step = live.map(({ n, i }) => sequences[i]!.slice(at[i], at[i]! + n));
    const logits = model.forwardBatch(live.map(({ i }, j) => ({ input: { tokens: step[j]! }, cache: caches[i]!.whole })));
    const hidden = stage0.forwardBatch(live.map(({ i }, j) => ({ input: { tokens: step[j]! }, cache: caches[i]!.c0 })));
    const piped = stage1.forwardBatch(live.map(({ i }, j) => ({ input: { hidden: hidden[j]! }, cache: caches[i]!.c1 })));
    live.forEach(({ n, i }, j) => {
      const expected = references[i]!.slice(at[i], at[i]! + n);
      assert.ok(relativeError(logits[j]!, expected) < 1e-4, `sequence ${i} at ${at[i]}: ${relativeError(logits[j]!, expected)}`);
      assert.ok(relativeError(piped[j]!, expected) < 1e-4, `sequence ${i} at ${at[i]}, two stages`);
      at[i]! += n;
    });
  }
  assert.deepEqual(caches.map((c) => c.whole.length), at, "every cache advanced by exactly its own tokens");
  assert.throws(() => model.forwardBatch([{ input: { tokens: [1] }, cache: caches[0]!.whole }, { input: { tokens: [2] }, cache: caches[0]!.whole }]), /at most once/);
  assert.throws(() => model.forwardBatch([{ input: { tokens: [1] }, cache: caches[1]!.whole }, { input: { tokens: [50_257] } }]), /outside the vocabulary/);
  assert.equal(caches[1]!.whole.length, at[1], "a refused batch changes no cache");
  for (const c of caches) { c.whole.dispose(); c.c0.dispose(); c.c1.dispose(); }
  assert.equal(runtime.tf.memory().numTensors, before, "no tensor leaks across batches");
  model.dispose(); stage0.dispose(); stage1.dispose();
});
