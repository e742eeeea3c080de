/**
 * DP-SGD's parts: every example's contribution is clipped to exampleClip, the sum is the sum of
 * those contributions, the noise has standard deviation noiseMultiplier·exampleClip (on the
 * noise vector alone, from the same code path), the secure sampler's spread, batch sampling.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { resolveTensorBackend } from "../../../../native-bindings/index.ts";
import { initModel } from "../../../../actors/shard-executor/model-init.ts";
import { loadGpt2Stage } from "../../../../actors/shard-executor/model-loader.ts";
import { seededUniform } from "../../../../actors/shard-executor/random.ts";
import { TrainingModel } from "../../../../actors/shard-executor/training/train-forward.ts";
import { clippedExampleGradient, clippedGradientSum, privatiseGradient } from "../../../../actors/shard-executor/training/dp-sgd.ts";
import { secureGaussianVector, seededGaussianVector } from "../../../../actors/shard-executor/training/noise.ts";
import { expectedBatchSize, sampleBatch } from "../../../../actors/shard-executor/training/batch-sampling.ts";
import { l2Norm } from "../../../../actors/shard-executor/training/trainable.ts";
import { tempDir } from "../../../fixtures/node-store.ts";

const EXAMPLES = [[50256, 464, 5827, 338, 2910, 3833], [50256, 15496, 995, 13], [50256, 7454, 2402, 257, 640, 11, 612, 373, 257], [1, 2]];

async function tinyTrainingModel(t: { after(fn: () => void): void }, part: ConstructorParameters<typeof TrainingModel>[2]) {
  const dir = join(tempDir(t, "fedrouter-dp-sgd-"), "tiny");
  await initModel({ out: dir, layers: 2, dModel: 32, heads: 4, positions: 16, vocab: "gpt2", seed: 11 });
  const runtime = await resolveTensorBackend();
  return { runtime, model: new TrainingModel(runtime, await loadGpt2Stage(dir), part) };
}

test("each example's clipped gradient has norm ≤ exampleClip, and the step's sum is the sum of exactly those", { timeout: 60_000 }, async (t) => {
  const { runtime, model } = await tinyTrainingModel(t, { kind: "last", blocks: 1 });
  t.after(() => model.dispose());
  for (const clip of [0.05, 1e3]) {
    const each = EXAMPLES.map((tokens) => clippedExampleGradient(runtime, model, tokens, clip));
    for (const [i, e] of each.entries()) {
      const norm = l2Norm(e.gradient);
      assert.ok(norm <= clip, `example ${i}: clipped norm ${norm} > ${clip}`);
      if (e.norm > clip) assert.ok(norm > clip * (1 - 1e-4), `example ${i}: a long gradient is scaled to the bound`);
      else assert.ok(Math.abs(norm - e.norm) <= 1e-4 * e.norm, `example ${i}: a short gradient is kept (${norm} vs ${e.norm})`);
    }
    if (clip < 1) assert.ok(each.every((e) => e.norm > clip), "the small bound does clip every example (else this test checks nothing)");
    const { sum, norms, losses } = clippedGradientSum(runtime, model, EXAMPLES, clip);
    const flat = new Float32Array(model.spec.size);
    model.spec.tensors.forEach((s, i) => flat.set(sum[i]!.dataSync() as Float32Array, s.offset));
    sum.forEach((s) => s.dispose());
    assert.deepEqual(norms.map((n) => n.toPrecision(5)), each.map((e) => e.norm.toPrecision(5)));
    assert.deepEqual(losses.map((n) => n.toPrecision(5)), each.map((e) => e.loss.toPrecision(5)));
    let worst = 0;
    for (let j = 0; j < flat.length; j++) worst = Math.max(worst, Math.abs(flat[j]! - each.reduce((s, e) => s + e.gradient[j]!, 0)));
    assert.ok(worst < 1e-5 * Math.max(clip, 1), `sum differs from Σ clipped by ${worst}`);
    assert.ok(l2Norm(flat) <= EXAMPLES.length * clip, "the sum's norm is at most batch × clip");
  }
});

test("the noise added to the gradient has σ = noiseMultiplier · exampleClip / denominator (seeded: deterministic)", { timeout: 60_000 }, async (t) => {
  const { runtime, model } = await tinyTrainingModel(t, { kind: "last", blocks: 1, head: false });
  t.after(() => model.dispose());
  const tf = runtime.tf;
  const zeros = model.variables.map((v) => tf.zerosLike(v));
  const dp = { exampleClip: 0.7, noiseMultiplier: 1.3 };
  const denominator = 4;
  // The noise vector alone: a zero gradient sum, privatised by the step's own function.
  const noisy = privatiseGradient(runtime, model.spec, zeros, dp, denominator, seededGaussianVector(2024));
  const flat = new Float32Array(model.spec.size);
  model.spec.tensors.forEach((s, i) => flat.set(noisy[i]!.dataSync() as Float32Array, s.offset));
  [...zeros, ...noisy].forEach((x) => x.dispose());
  const n = flat.length; // 12,608 coordinates
  const mean = flat.reduce((a, b) => a + b, 0) / n;
  const sd = Math.sqrt(flat.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1));
  const sigma = (dp.noiseMultiplier * dp.exampleClip) / denominator;
  // With n ≈ 12.6k draws the sample sd is within 5.3·σ/√(2n) of σ with probability 1 − 1e-7; the seed fixes it anyway.
  assert.ok(Math.abs(sd - sigma) < (5.3 * sigma) / Math.sqrt(2 * n), `sample sd ${sd}, σ ${sigma}`);
  assert.ok(Math.abs(mean) < (5.3 * sigma) / Math.sqrt(n), `sample mean ${mean}`);
  // noiseMultiplier 0: the sum divided by the denominator, nothing drawn.
  let drawn = false;
  const plain = privatiseGradient(runtime, model.spec, model.variables, { exampleClip: 1, noiseMultiplier: 0 }, 2, () => { drawn = true; return new Float32Array(0); });
  assert.equal(drawn, false);
  assert.deepEqual(plain[0]!.dataSync(), (model.variables[0]!.dataSync() as Float32Array).map((x) => x / 2));
  plain.forEach((x) => x.dispose());
});

test("the secure sampler (exact discrete Gaussian on node:crypto) has the configured σ", { timeout: 60_000 }, () => {
  // 20,000 draws: |sd/σ − 1| < 5.3/√(2n) = 0.0265 and |mean| < 5.3σ/√n each fail with probability
  // ≤ 1.2e-7 (normal tails at 5.3 sd, two-sided), so the test fails falsely with probability < 1e-6.
  const n = 20_000, sigma = 2.5;
  const draws = secureGaussianVector(n, sigma);
  const mean = draws.reduce((a, b) => a + b, 0) / n;
  const sd = Math.sqrt(draws.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1));
  assert.ok(Math.abs(sd / sigma - 1) < 5.3 / Math.sqrt(2 * n), `sd ${sd}`);
  assert.ok(Math.abs(mean) < (5.3 * sigma) / Math.sqrt(n), `mean ${mean}`);
  const grid = 2 ** (Math.floor(Math.log2(sigma)) - 20);
  assert.ok(draws.every((x) => Number.isInteger(x / grid)), "every draw lies on the grid σ·2⁻²⁰ rounds to");
  assert.deepEqual(secureGaussianVector(5, 0), new Float32Array(5));
});

test("Poisson batches include each example with probability q; fixed batches are distinct indices; both reproducible from the seed", () => {
  const n = 2_000, rate = 0.05;
  const uniform = seededUniform(7);
  let total = 0;
  const rounds = 50;
  for (let r = 0; r < rounds; r++) total += sampleBatch({ kind: "poisson", rate }, n, uniform).length;
  // Binomial(100,000, 0.05): sd ≈ 68.9; 5.3 sd either side (and the seed fixes the draw).
  assert.ok(Math.abs(total - rounds * n * rate) < 5.3 * Math.sqrt(rounds * n * rate * (1 - rate)), `total ${total}`);
  const fixed = sampleBatch({ kind: "fixed", size: 8 }, 20, seededUniform(3));
  assert.equal(new Set(fixed).size, 8);
  assert.ok(fixed.every((i) => i >= 0 && i < 20));
  assert.deepEqual(fixed, sampleBatch({ kind: "fixed", size: 8 }, 20, seededUniform(3)));
  assert.equal(expectedBatchSize({ kind: "poisson", rate: 0.01 }, 500), 5);
});
