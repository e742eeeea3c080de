import { test } from "node:test";
import assert from "node:assert/strict";
import { InvalidPrivacyParameter } from "../../privacy/errors.ts";
import {
  type RandomSource, addGaussianNoise, addLaplaceNoise, bernoulliExp, cryptoRandomSource, discreteGaussian, discreteLaplace,
  exactRational, gaussianNoise, laplaceNoise,
} from "../../privacy/noise.ts";
import { normalCdf } from "../../privacy/pld-math.ts";

/** Test-only, NOT secure: sfc32 (Chris Doty-Humphrey's small fast counter), seeded, with exact rejection. */
function seededSource(seed: number): RandomSource {
  let a = 0x9e3779b9, b = 0x243f6a88, c = 0xb7e15162, d = seed >>> 0;
  const next32 = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
  for (let i = 0; i < 16; i++) next32();
  return {
    uniformBelow(max: bigint): bigint {
      if (max <= 1n) return 0n;
      const bits = (max - 1n).toString(2).length;
      const words = Math.ceil(bits / 32);
      const mask = (1n << BigInt(bits)) - 1n;
      for (;;) {
        let value = 0n;
        for (let i = 0; i < words; i++) value = (value << 32n) | BigInt(next32());
        value &= mask;
        if (value < max) return value;
      }
    },
  };
}

// ---------------------------------------------------------------- chi-square, from scratch

function logGamma(x: number): number {
  // Lanczos, g = 7, n = 9 (Numerical Recipes 3rd ed., §6.1 coefficients).
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  x -= 1;
  let sum = c[0]!;
  for (let i = 1; i < 9; i++) sum += c[i]! / (x + i);
  const t = x + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(sum);
}

/** Q(a, x) = Γ(a, x)/Γ(a): series below a + 1, Lentz continued fraction above. */
function upperRegularizedGamma(a: number, x: number): number {
  if (x <= 0) return 1;
  const prefix = Math.exp(-x + a * Math.log(x) - logGamma(a));
  if (x < a + 1) {
    let term = 1 / a, sum = term;
    for (let n = 1; n < 1000 && term > 1e-16 * sum; n++) { term *= x / (a + n); sum += term; }
    return 1 - prefix * sum;
  }
  let b = x + 1 - a, c = 1e300, d = 1 / b, h = d;
  for (let i = 1; i < 1000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b; d = 1 / (Math.abs(d) < 1e-300 ? 1e-300 : d);
    c = b + an / c; c = Math.abs(c) < 1e-300 ? 1e-300 : c;
    const step = d * c;
    h *= step;
    if (Math.abs(step - 1) < 1e-16) break;
  }
  return prefix * h;
}

/** Pearson's χ² p-value of integer samples against a pmf, tails pooled so each bin expects ≥ 5. */
function chiSquarePValue(samples: readonly bigint[], pmf: (x: number) => number): { pValue: number; bins: number } {
  const n = samples.length;
  let low = 0, high = 0;
  while (n * pmf(low - 1) >= 5) low--;
  while (n * pmf(high + 1) >= 5) high++;
  const observed = new Map<number, number>();
  for (const s of samples) {
    const x = Math.min(high, Math.max(low, Number(s)));
    observed.set(x, (observed.get(x) ?? 0) + 1);
  }
  let below = 0, above = 0;
  for (let x = low - 1; n * pmf(x) > 1e-12; x--) below += pmf(x);
  for (let x = high + 1; n * pmf(x) > 1e-12; x++) above += pmf(x);
  let statistic = 0;
  for (let x = low; x <= high; x++) {
    const expected = n * (pmf(x) + (x === low ? below : 0) + (x === high ? above : 0));
    statistic += ((observed.get(x) ?? 0) - expected) ** 2 / expected;
  }
  const bins = high - low + 1;
  return { pValue: upperRegularizedGamma((bins - 1) / 2, statistic / 2), bins };
}

const draw = (count: number, sample: () => bigint): bigint[] => Array.from({ length: count }, sample);

// ---------------------------------------------------------------- exact samplers

test("the doc examples of noise.ts run as written", () => {
  assert.equal(bernoulliExp(0n, 1n), true);
  assert.equal(typeof discreteLaplace(3n), "bigint");
  assert.equal(typeof discreteGaussian(4n), "bigint");
  assert.deepEqual(exactRational(0.75), { numerator: 3n, denominator: 4n });
  assert.ok(Number.isInteger(addGaussianNoise(42, 3) * 2 ** 20));
  assert.ok(Number.isInteger(addLaplaceNoise(10, 1, { granularity: 1 })));
});

test("Bernoulli(exp(−n/d)) lands on e^(−n/d) within 4.5 standard errors", () => {
  const random = seededSource(1);
  assert.ok(draw(1000, () => (bernoulliExp(0n, 7n, random) ? 1n : 0n)).every((x) => x === 1n), "e⁰ = 1");
  for (const [n, d] of [[1n, 3n], [1n, 1n], [3n, 2n], [7n, 2n], [10n, 1n]] as const) {
    const trials = 20_000;
    let hits = 0;
    for (let i = 0; i < trials; i++) if (bernoulliExp(n, d, random)) hits++;
    const p = Math.exp(-Number(n) / Number(d));
    const standardError = Math.sqrt((p * (1 - p)) / trials);
    assert.ok(Math.abs(hits / trials - p) <= 4.5 * standardError + 1e-12, `γ = ${n}/${d}: ${hits / trials} vs ${p}`);
  }
});

test("the discrete Laplace sampler matches its exact pmf (χ², 20k samples, fixed seed)", () => {
  const random = seededSource(2);
  for (const [t, s] of [[1n, 1n], [3n, 2n], [7n, 3n], [40n, 1n]] as const) {
    const rate = Number(s) / Number(t);
    const pmf = (x: number): number => (Math.tanh(rate / 2)) * Math.exp(-Math.abs(x) * rate); // (e^r − 1)/(e^r + 1)·e^{−r|x|}
    const { pValue, bins } = chiSquarePValue(draw(20_000, () => discreteLaplace(t, s, random)), pmf);
    assert.ok(pValue > 1e-3, `scale ${t}/${s}: p = ${pValue} over ${bins} bins`);
  }
});

test("the discrete Gaussian sampler matches its exact pmf (χ², 20k samples, fixed seed)", () => {
  const random = seededSource(3);
  for (const [numerator, denominator] of [[1n, 1n], [9n, 4n], [10n, 1n], [1n, 3n], [400n, 1n]] as const) {
    const variance = Number(numerator) / Number(denominator);
    let normaliser = 0;
    for (let x = -2000; x <= 2000; x++) normaliser += Math.exp(-(x * x) / (2 * variance));
    const pmf = (x: number): number => Math.exp(-(x * x) / (2 * variance)) / normaliser;
    const { pValue, bins } = chiSquarePValue(draw(20_000, () => discreteGaussian(numerator, denominator, random)), pmf);
    assert.ok(pValue > 1e-3, `σ² = ${numerator}/${denominator}: p = ${pValue} over ${bins} bins`);
  }
  assert.equal(discreteGaussian(0n, 1n, random), 0n);
  // The test has power: the same samples reject a pmf whose variance is 10% off.
  const samples = draw(20_000, () => discreteGaussian(10n, 1n, random));
  let wrongNormaliser = 0;
  for (let x = -200; x <= 200; x++) wrongNormaliser += Math.exp(-(x * x) / 22);
  assert.ok(chiSquarePValue(samples, (x) => Math.exp(-(x * x) / 22) / wrongNormaliser).pValue < 1e-6);
});

test("grid noise is g times the discrete sample: on the grid, centred, with variance near σ²", () => {
  const random = seededSource(4);
  const samples = Array.from({ length: 20_000 }, () => addGaussianNoise(5.25, 3, { granularity: 2 ** -9, random }));
  assert.ok(samples.every((x) => Number.isInteger(x * 512)), "every output is a multiple of 2⁻⁹");
  const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
  const variance = samples.reduce((a, b) => a + (b - mean) ** 2, 0) / samples.length;
  assert.ok(Math.abs(mean - 5.25) < 4.5 * (3 / Math.sqrt(samples.length)), `mean ${mean}`);
  assert.ok(Math.abs(variance / 9 - 1) < 0.05, `variance ${variance}`);
  const laplace = Array.from({ length: 2000 }, () => addLaplaceNoise(10, 2, { granularity: 1, random }));
  assert.ok(laplace.every(Number.isInteger));
  assert.ok(Math.abs(laplaceNoise(1, { granularity: 2 ** -10, random }) * 1024 % 1) === 0);
});

test("the crypto source stays in range for small and BigInt bounds, and noise takes both signs", () => {
  for (const max of [1n, 2n, 10n, 2n ** 48n - 1n, 2n ** 48n, 2n ** 70n + 3n, 3n ** 50n]) {
    for (let i = 0; i < 300; i++) {
      const x = cryptoRandomSource.uniformBelow(max);
      assert.ok(x >= 0n && x < max, `${x} outside [0, ${max})`);
    }
  }
  const noise = Array.from({ length: 200 }, () => gaussianNoise(1));
  assert.ok(noise.some((x) => x > 0) && noise.some((x) => x < 0), "both signs");
  assert.ok(noise.every((x) => Number.isInteger(x * 2 ** 20)), "on the default 2⁻²⁰ grid");
  const counts = Array.from({ length: 200 }, () => discreteLaplace(2n));
  assert.ok(counts.some((x) => x > 0n) && counts.some((x) => x < 0n));
});

test("exactRational returns the double's exact dyadic value", () => {
  assert.deepEqual(exactRational(0.75), { numerator: 3n, denominator: 4n });
  assert.deepEqual(exactRational(0.1), { numerator: 3602879701896397n, denominator: 36028797018963968n });
  assert.deepEqual(exactRational(3 * 2 ** 20), { numerator: 3145728n, denominator: 1n });
  assert.deepEqual(exactRational(5e-324), { numerator: 1n, denominator: 2n ** 1074n });
});

// The claim in noise.ts: where δ ≥ 1e-12, the discrete Gaussian's exact δ(ε) exceeds the continuous
// Gaussian's by at most a relative 2.5/(σ/g)² — and it does exceed it, so only the zCDP/RDP charge is a proof.
test("where δ ≥ 1e-12 the discrete Gaussian's δ(ε) is within a relative 2.5/σ² of the continuous one's", () => {
  let aboveSomewhere = false;
  for (const sigma of [3, 10, 30, 100]) {
    let normaliser = 0;
    const span = Math.ceil(40 * sigma);
    for (let x = -span; x <= span; x++) normaliser += Math.exp(-(x * x) / (2 * sigma * sigma));
    const p = (x: number): number => Math.exp(-(x * x) / (2 * sigma * sigma)) / normaliser;
    for (const sensitivity of [1, 2, 5, 13]) {
      for (let epsilon = 0; epsilon <= 6; epsilon += 0.25) {
        const a = sensitivity / (2 * sigma), b = (epsilon * sigma) / sensitivity;
        const continuous = normalCdf(a - b) - Math.exp(epsilon) * normalCdf(-a - b);
        if (continuous < 1e-12) continue;
        let discrete = 0;
        for (let x = -span; x <= span + sensitivity; x++) discrete += Math.max(0, p(x) - Math.exp(epsilon) * p(x - sensitivity));
        assert.ok(discrete <= continuous * (1 + 2.5 / sigma ** 2), `σ=${sigma} Δ=${sensitivity} ε=${epsilon}: ${discrete} vs ${continuous}`);
        if (discrete > continuous) aboveSomewhere = true;
      }
    }
  }
  assert.ok(aboveSomewhere, "the discrete curve is above the continuous one somewhere");
});

// ---------------------------------------------------------------- errors

test("bad parameters are InvalidPrivacyParameter", () => {
  const invalid = (f: () => unknown, label: string): void =>
    assert.throws(f, (e: unknown) => e instanceof InvalidPrivacyParameter && e.code === "INVALID_PRIVACY_PARAMETER", label);
  invalid(() => bernoulliExp(1n, 0n), "zero denominator");
  invalid(() => bernoulliExp(-1n, 2n), "negative γ");
  invalid(() => discreteLaplace(0n), "t = 0");
  invalid(() => discreteLaplace(1n, 0n), "s = 0");
  invalid(() => discreteGaussian(-4n), "negative variance");
  invalid(() => addGaussianNoise(0, -1), "negative σ");
  invalid(() => addGaussianNoise(0, Number.NaN), "NaN σ");
  invalid(() => addGaussianNoise(0, 1, { granularity: 0.3 }), "granularity not a power of two");
  invalid(() => addGaussianNoise(0, 1e6, { granularity: 2 ** -40 }), "grid too fine for σ");
  invalid(() => addGaussianNoise(0, 3, { granularity: 2 ** -4 }), "grid too coarse for σ: 48 < 1024 steps");
  invalid(() => addGaussianNoise(Number.NaN, 1), "NaN value");
  invalid(() => addLaplaceNoise(0, 0), "zero scale");
  invalid(() => cryptoRandomSource.uniformBelow(0n), "empty range");
  invalid(() => exactRational(-1), "negative double");
});
