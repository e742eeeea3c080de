/**
 * localTrain end to end on the demo shape (2 blocks, d 64, 4 heads, 128 positions, GPT-2's
 * vocabulary) with the synthetic notes: the loss falls, the update is clipped to C, no tensor
 * leaks (after success, a bad option or an abort), progress and cancellation work.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { resolveTensorBackend } from "../../../../native-bindings/index.ts";
import { DEFAULT_MODEL_SHAPE, initModel } from "../../../../actors/shard-executor/model-init.ts";
import { loadGpt2Stage, type StageWeights } from "../../../../actors/shard-executor/model-loader.ts";
import { Gpt2Tokenizer } from "../../../../actors/shard-executor/tokenizer.ts";
import { localTrain } from "../../../../actors/shard-executor/training/local-train.ts";
import { documentSequences } from "../../../../actors/shard-executor/training/corpus/loader.ts";
import { syntheticNotes } from "../../../../actors/shard-executor/training/corpus/synthetic-notes.ts";
import { seededGaussianVector } from "../../../../actors/shard-executor/training/noise.ts";
import { InvalidTrainingOption, TrainingAborted } from "../../../../actors/shard-executor/training/errors.ts";
import { l2Norm } from "../../../../actors/shard-executor/training/trainable.ts";
import { tempDir } from "../../../fixtures/node-store.ts";

let shared: Promise<{ weights: StageWeights; corpus: number[][] }> | undefined;

/** The demo-shaped model and 200 cardiology notes, made once for this file. */
function demo(t: { after(fn: () => void): void }) {
  shared ??= (async () => {
    const dir = join(tempDir(t, "fedrouter-local-train-"), "demo");
    await initModel({ out: dir, ...DEFAULT_MODEL_SHAPE, vocab: "gpt2", seed: 1 });
    const tokenizer = await Gpt2Tokenizer.fromDirectory(dir);
    const corpus = syntheticNotes("cardiology", 200, 1).flatMap((note) => documentSequences(note, tokenizer, DEFAULT_MODEL_SHAPE.positions));
    return { weights: await loadGpt2Stage(dir), corpus };
  })();
  return shared;
}

test("a few dozen DP-SGD steps (clipping only, z = 0: the federation adds its noise centrally) on synthetic notes lower the loss markedly, leak no tensor, and return an update of norm ≤ C", { timeout: 120_000 }, async (t) => {
  const { weights, corpus } = await demo(t);
  const runtime = await resolveTensorBackend();
  const before = runtime.tf.memory().numTensors;
  const seen: number[] = [];
  const result = await localTrain({
    model: weights, corpus, runtime, steps: 30, part: { kind: "last", blocks: 1 }, sampling: { kind: "fixed", size: 2 },
    exampleClip: 1, noiseMultiplier: 0, updateClip: 0.5, optimizer: { kind: "adam", learningRate: 1e-2 }, seed: 3, onStep: (step, loss) => seen.push(step) && void loss,
  });
  assert.equal(runtime.tf.memory().numTensors, before, "every tensor made by localTrain is freed");
  assert.deepEqual(seen, Array.from({ length: 30 }, (_, i) => i + 1));
  const first = mean(result.losses.slice(0, 3)), last = mean(result.losses.slice(-3));
  assert.ok(first > 10, `a random GPT-2 starts near ln(50,257) ≈ 10.8 (got ${first})`);
  assert.ok(last < first - 2, `loss fell from ${first.toFixed(2)} to only ${last.toFixed(2)}`);
  assert.ok(result.norm > 0.5, `the raw update (norm ${result.norm}) exceeds C, so the clip is exercised`);
  assert.ok(l2Norm(result.update) <= 0.5 && result.clippedNorm <= 0.5, `update norm ${l2Norm(result.update)}`);
  assert.equal(result.update.length, result.spec.size);
  assert.equal(result.privacyEvent, undefined, "a fixed-size batch has no Poisson event to report");
});

test("Poisson sampling with noise reports its DP-SGD event; an update within C is returned unscaled", { timeout: 60_000 }, async (t) => {
  const { weights, corpus } = await demo(t);
  const runtime = await resolveTensorBackend();
  const result = await localTrain({
    model: weights, corpus, runtime, steps: 2, part: { kind: "last", blocks: 1, head: false }, sampling: { kind: "poisson", rate: 0.02 },
    exampleClip: 1, noiseMultiplier: 1.1, updateClip: 1e6, optimizer: { kind: "sgd", learningRate: 0.1 }, seed: 5, noise: seededGaussianVector(1),
  });
  assert.equal(result.norm, result.clippedNorm);
  assert.deepEqual(result.privacyEvent, { kind: "selfComposed", count: 2, event: { kind: "poissonSampled", samplingRate: 0.02, event: { kind: "gaussian", sigma: 1.1, sensitivity: 1 } } });
});

test("an AbortSignal stops training with TrainingAborted and frees every tensor", { timeout: 60_000 }, async (t) => {
  const { weights, corpus } = await demo(t);
  const runtime = await resolveTensorBackend();
  const before = runtime.tf.memory().numTensors;
  const controller = new AbortController();
  await assert.rejects(localTrain({
    model: weights, corpus, runtime, steps: 50, part: { kind: "last", blocks: 1, head: false }, sampling: { kind: "fixed", size: 1 },
    exampleClip: 1, noiseMultiplier: 0, updateClip: 1, seed: 1, signal: controller.signal,
    onStep: (step) => { if (step === 2) controller.abort("operator stopped it"); },
  }), (e: unknown) => e instanceof TrainingAborted && e.stepsDone === 2 && e.code === "TRAINING_ABORTED");
  assert.equal(runtime.tf.memory().numTensors, before);
});

test("bad options are InvalidTrainingOption naming the field, before any tensor is made", { timeout: 30_000 }, async (t) => {
  const { weights, corpus } = await demo(t);
  const runtime = await resolveTensorBackend();
  const before = runtime.tf.memory().numTensors;
  const base = { model: weights, corpus, runtime, steps: 1, exampleClip: 1, noiseMultiplier: 0, updateClip: 1, seed: 1, sampling: { kind: "fixed", size: 1 } };
  const cases: [Record<string, unknown>, string][] = [
    [{ exampleClip: 0 }, "exampleClip"], [{ noiseMultiplier: -1 }, "noiseMultiplier"], [{ steps: 0 }, "steps"], [{ updateClip: Number.NaN }, "updateClip"],
    [{ sampling: { kind: "poisson", rate: 1.5 } }, "sampling.rate"], [{ sampling: { kind: "fixed", size: corpus.length + 1 } }, "sampling.size"],
    [{ optimizer: { kind: "adam", learningRate: 0 } }, "optimizer.learningRate"], [{ corpus: [] }, "corpus"],
    [{ part: { kind: "last", blocks: 3 } }, "part.blocks"], [{ corpus: [[1]] }, "sequence length"], [{ corpus: [[1, 60_000]] }, "token id"],
  ];
  for (const [change, field] of cases) {
    await assert.rejects(localTrain({ ...base, ...change } as never), (e: unknown) => e instanceof InvalidTrainingOption && e.field === field, field);
  }
  assert.equal(runtime.tf.memory().numTensors, before);
});

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}
