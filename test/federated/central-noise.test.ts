/**
 * Central noise: the added noise has the configured σ and mean 0 (bounds with a false-failure
 * rate ≤ 1e-6 for a correct sampler on a random seed; the seed is fixed, so the run is
 * deterministic), lies on the grid, and σ is never below z·Δ.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { addCentralNoise, centralNoisePlan, defaultGranularity, noisyMeanUpdate, MIN_SIGMA_STEPS, SNAP_MARGIN } from "../../federated/central-noise.ts";
import { seededRandomWords } from "../../federated/random-words.ts";
import { InvalidModelUpdate, InvalidTrainingParameter } from "../../federated/errors.ts";

/** Mean and variance checks at total false-failure ≤ 1e-6 (three one-sided checks at 3.3e-7 each). */
function assertNoiseMoments(noise: Float64Array, sigma: number, where: string): void {
  const n = noise.length;
  let sum = 0, squares = 0;
  for (const y of noise) { sum += y; squares += y * y; }
  const x = Math.log(3e6);
  // The discrete Gaussian is sub-Gaussian with parameter σ² (Canonne–Kamath–Steinke 2020): |mean| ≤ σ√(2x/n).
  const meanBound = sigma * Math.sqrt((2 * x) / n);
  assert.ok(Math.abs(sum / n) <= meanBound, `${where}: mean ${sum / n} beyond ±${meanBound}`);
  // Σy²/σ²: upper tail as for χ²_n (Laurent & Massart 2000, Lemma 1; Hsu, Kakade & Zhang 2012 for
  // sub-Gaussian vectors), lower tail by Maurer's bound for non-negative variables with E y⁴ ≤ 3.01σ⁴.
  const ratio = squares / n / (sigma * sigma);
  assert.ok(ratio <= 1 + 2 * Math.sqrt(x / n) + (2 * x) / n, `${where}: variance/σ² = ${ratio} too high`);
  assert.ok(ratio >= 1 - Math.sqrt((2 * 3.01 * x) / n), `${where}: variance/σ² = ${ratio} too low`);
}

test("noise on a zero sum has mean 0 and the planned σ ≥ z·C (400k coordinates, fixed seed)", () => {
  const d = 400_000;
  const options = { clipNorm: 0.5, noiseMultiplier: 1.3 };
  const { noisy, sigma, granularity, sensitivity } = addCentralNoise(new Float32Array(d), { ...options, random: seededRandomWords("central") });
  assert.ok(sigma >= options.noiseMultiplier * sensitivity, "σ is rounded up, never down");
  assert.ok(sensitivity >= options.clipNorm && sensitivity <= options.clipNorm * (1 + 1 / SNAP_MARGIN));
  assert.ok(sigma <= options.noiseMultiplier * options.clipNorm * (1 + 1 / SNAP_MARGIN) + granularity);
  assertNoiseMoments(Float64Array.from(noisy), sigma, "zero sum");
});

test("the moment checks have teeth: the same noise judged against σ × 1.05 fails", () => {
  const { noisy, sigma } = addCentralNoise(new Float32Array(400_000), { clipNorm: 0.5, noiseMultiplier: 1.3, random: seededRandomWords("central") });
  assert.throws(() => assertNoiseMoments(Float64Array.from(noisy), sigma * 1.05, "wrong σ"), assert.AssertionError);
});

test("on a sum already on the grid (sumOnGrid), the noise is a whole number of grid steps and Δ = C", () => {
  const d = 200_000, g = 2 ** -16;
  const sum = new Float32Array(d);
  for (let i = 0; i < d; i++) sum[i] = ((i % 97) - 48) * g * 3; // multiples of g
  const { noisy, granularity, sensitivity, sigma } = addCentralNoise(sum, { clipNorm: 1, noiseMultiplier: 0.8, granularity: g, sumOnGrid: true, random: seededRandomWords("grid") });
  assert.equal(granularity, g);
  assert.equal(sensitivity, 1);
  const noise = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    noise[i] = noisy[i]! - sum[i]!;
    assert.ok(Number.isInteger(noise[i]! / g), `coordinate ${i} is off the grid`);
  }
  assertNoiseMoments(noise, sigma, "on the grid");
});

test("sumOnGrid is checked: a coordinate off the grid is an InvalidModelUpdate", () => {
  const sum = new Float32Array([0, 0.1]);
  assert.throws(() => addCentralNoise(sum, { clipNorm: 1, noiseMultiplier: 1, granularity: 2 ** -12, sumOnGrid: true }),
    (e: unknown) => e instanceof InvalidModelUpdate && e.field === "sum[1]");
});

test("the default grid keeps g·√d ≤ C/1000 and is the largest such power of two", () => {
  for (const [c, d] of [[1, 1_000_000], [0.1, 124_439_808], [5, 10]] as const) {
    const g = defaultGranularity(c, d);
    assert.ok(Number.isInteger(Math.log2(g)));
    assert.ok(g * Math.sqrt(d) <= c / SNAP_MARGIN);
    assert.ok(2 * g * Math.sqrt(d) > c / SNAP_MARGIN);
  }
});

test("a grid too coarse for σ (fewer than 1024 steps) or a bad z or C is an InvalidTrainingParameter", () => {
  assert.throws(() => centralNoisePlan(10, { clipNorm: 1, noiseMultiplier: 1, granularity: 2 ** -5 }), (e: unknown) => e instanceof InvalidTrainingParameter && e.field === "granularity" && new RegExp(`${MIN_SIGMA_STEPS}`).test(e.message));
  assert.throws(() => centralNoisePlan(10, { clipNorm: 1, noiseMultiplier: 1, granularity: 0.3 }), InvalidTrainingParameter);
  assert.throws(() => centralNoisePlan(10, { clipNorm: 0, noiseMultiplier: 1 }), InvalidTrainingParameter);
  assert.throws(() => centralNoisePlan(10, { clipNorm: 1, noiseMultiplier: -1 }), InvalidTrainingParameter);
  assert.throws(() => addCentralNoise(new Float32Array([Number.NaN]), { clipNorm: 1, noiseMultiplier: 1 }), InvalidModelUpdate);
});

test("the noisy mean is the noisy sum over the expected number of clients", () => {
  const sum = new Float32Array(1000).fill(2);
  const result = noisyMeanUpdate(sum, { clipNorm: 1, noiseMultiplier: 1, expectedClients: 8, random: seededRandomWords("mean") });
  result.update.forEach((u, i) => assert.equal(u, Math.fround(result.noisy[i]! / 8)));
  assert.throws(() => noisyMeanUpdate(sum, { clipNorm: 1, noiseMultiplier: 1, expectedClients: 0 }), InvalidTrainingParameter);
});
