import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { clipIndicator, nextClipNorm, updateNoiseMultiplier, defaultCountNoiseStd } from "../../federated/adaptive-clipping.ts";
import { InvalidTrainingParameter } from "../../federated/errors.ts";
import { seededRandomWords, uniformBelowBig } from "../../federated/random-words.ts";
import { gaussian, composed } from "../../privacy/events.ts";
import { PldAccountant, RdpAccountant } from "../../privacy/index.ts";
import { gaussianEpsilon } from "../../privacy/calibration.ts";
import type { RandomSource } from "../../privacy/noise.ts";

/** privacy/noise.ts's RandomSource over a seeded stream, for reproducible count noise. */
const seededSource = (seed: string): RandomSource => {
  const words = seededRandomWords(seed);
  return { uniformBelow: (max: bigint) => uniformBelowBig(words, max) };
};

test("z_Δ = (z⁻² − (2σ_b)⁻²)^(−1/2): the update's and the count's noise together are exactly one Gaussian of multiplier z", () => {
  fc.assert(fc.property(fc.double({ min: 0.3, max: 10, noNaN: true }), fc.double({ min: 1.01, max: 100, noNaN: true }), (z, factor) => {
    const sigmaB = (factor * z) / 2; // any σ_b > z/2
    const zDelta = updateNoiseMultiplier(z, sigmaB);
    assert.ok(zDelta > z, "the update gets more noise than z alone");
    assert.ok(Math.abs(zDelta ** -2 + (2 * sigmaB) ** -2 - z ** -2) <= 1e-12 * z ** -2);
  }), { numRuns: 200 });
});

test("checked against the privacy library: gaussian(z_Δ) ∘ gaussian(2σ_b) costs what gaussian(z) costs, by PLD (Balle–Wang) and by RDP", () => {
  for (const [z, m] of [[1, 20], [0.8, 100], [2, 50]] as const) {
    const sigmaB = defaultCountNoiseStd(m);
    const zDelta = updateNoiseMultiplier(z, sigmaB);
    const pair = composed(gaussian(zDelta, 1), gaussian(sigmaB, 0.5)); // the count: σ_b on sensitivity ½
    const pld = new PldAccountant();
    pld.compose(pair, 50);
    const single = gaussianEpsilon(1e-6, z / Math.sqrt(50));
    assert.ok(Math.abs(pld.epsilon(1e-6) - single) <= 1e-9 * single, `PLD: ${pld.epsilon(1e-6)} vs ${single}`);
    const rdpPair = new RdpAccountant(), rdpSingle = new RdpAccountant();
    rdpPair.compose(pair, 50);
    rdpSingle.compose(gaussian(z, 1), 50);
    rdpPair.rdp.forEach((r, i) => assert.ok(Math.abs(r - rdpSingle.rdp[i]!) <= 1e-9 * rdpSingle.rdp[i]!));
  }
});

test("σ_b ≤ z/2 would spend the whole budget on the count: InvalidTrainingParameter", () => {
  assert.throws(() => updateNoiseMultiplier(1, 0.5), (e: unknown) => e instanceof InvalidTrainingParameter && e.field === "countNoiseStd");
  assert.throws(() => updateNoiseMultiplier(2, 0.9), InvalidTrainingParameter);
  assert.ok(updateNoiseMultiplier(2, 1.1) > 2);
  assert.throws(() => updateNoiseMultiplier(0, 5), InvalidTrainingParameter);
});

test("clients report ±½: +½ when the update fit under C", () => {
  assert.equal(clipIndicator(0.99, 1), 0.5);
  assert.equal(clipIndicator(1, 1), 0.5);
  assert.equal(clipIndicator(1.01, 1), -0.5);
  assert.throws(() => clipIndicator(-1, 1), InvalidTrainingParameter);
});

test("the step is geometric: C' = C·exp(−η_C(b̃ − γ)), down when most fit, up when few do", () => {
  const m = 100;
  const allFit = nextClipNorm({ clipNorm: 2, indicatorSum: m / 2, expectedClients: m }, { countNoiseStd: 0.5 }, { random: seededSource("all") });
  assert.ok(Math.abs(allFit.clipNorm - 2 * Math.exp(-0.2 * (allFit.noisyFraction - 0.5))) < 1e-12);
  assert.ok(allFit.clipNorm < 2 && allFit.noisyFraction > 0.9);
  const noneFit = nextClipNorm({ clipNorm: 2, indicatorSum: -m / 2, expectedClients: m }, { countNoiseStd: 0.5 }, { random: seededSource("none") });
  assert.ok(noneFit.clipNorm > 2 && noneFit.noisyFraction < 0.1);
  assert.throws(() => nextClipNorm({ clipNorm: 1, indicatorSum: 0.3, expectedClients: m }), (e: unknown) => e instanceof InvalidTrainingParameter && e.field === "indicatorSum");
  assert.throws(() => nextClipNorm({ clipNorm: 1, indicatorSum: 0, expectedClients: m }, { targetQuantile: 1 }), InvalidTrainingParameter);
});

test("over rounds the clip norm tracks the target quantile of the update norms (norms uniform on [0, 10], γ = 0.3 → C near 3)", () => {
  const m = 200;
  const words = seededRandomWords("norms");
  const source = seededSource("count");
  let c = 0.5;
  for (let round = 0; round < 150; round++) {
    let indicatorSum = 0;
    for (let i = 0; i < m; i++) indicatorSum += clipIndicator((words.nextWord() / 2 ** 32) * 10, c);
    c = nextClipNorm({ clipNorm: c, indicatorSum, expectedClients: m }, { targetQuantile: 0.3 }, { random: source }).clipNorm;
  }
  // Sampling noise of 200 norms (sd of the fraction ≈ 0.03) and σ_b = m/20 (≈ 0.05 on b̃) move C by a few tenths around 3.
  assert.ok(c > 2.2 && c < 3.8, `C = ${c}`);
});
