/**
 * The vectorised sampler against the exact distribution. Statistical tests run on fixed seeds
 * (AES-CTR streams), so each is deterministic; their thresholds are set so that a correct
 * sampler would fail on a random seed with probability ≤ 1e-6 (stated per test).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { bernoulliExpFraction, bernoulliExpRational, fillDiscreteGaussian, sampleDiscreteGaussian, MAX_SCALE_STEPS } from "../../federated/discrete-gaussian.ts";
import { seededRandomWords, uniformBelow, uniformBelowBig, cryptoRandomWords } from "../../federated/random-words.ts";
import { discreteGaussian } from "../../privacy/noise.ts";
import { InvalidTrainingParameter } from "../../federated/errors.ts";

/** Φ⁻¹(1 − 1e-6). */
const Z_1E6 = 4.753424308822899;

/** Wilson–Hilferty's approximation to the χ²_k quantile at 1 − 1e-6 (accurate to a few % for k ≥ 5, so it has a margin). */
function chiSquareQuantile(k: number): number {
  const a = 2 / (9 * k);
  return k * (1 - a + Z_1E6 * Math.sqrt(a)) ** 3;
}

/** Pearson's χ² of samples from N_ℤ(0, s²) against its exact PMF, bins −B..B with both tails pooled. */
function chiSquareAgainstPmf(s: number, samples: Float64Array, bound: number): { statistic: number; degrees: number } {
  const weight = (y: number) => Math.exp(-(y * y) / (2 * s * s));
  let total = 0;
  for (let y = -60 * s; y <= 60 * s; y++) total += weight(y);
  const expectedP = new Map<number, number>();
  let inner = 0;
  for (let y = -bound; y <= bound; y++) {
    expectedP.set(y, weight(y) / total);
    inner += weight(y) / total;
  }
  const tail = (1 - inner) / 2;
  const counts = new Map<number, number>();
  for (const y of samples) {
    const key = y < -bound ? -Infinity : y > bound ? Infinity : y;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const n = samples.length;
  let statistic = 0;
  const cells: [number, number][] = [...expectedP].map(([y, p]) => [counts.get(y) ?? 0, p]);
  cells.push([counts.get(-Infinity) ?? 0, tail], [counts.get(Infinity) ?? 0, tail]);
  let degrees = -1;
  for (const [observed, p] of cells) {
    const expected = n * p;
    if (expected < 5) continue; // only cells Pearson's approximation holds for
    statistic += (observed - expected) ** 2 / expected;
    degrees++;
  }
  return { statistic, degrees };
}

for (const s of [1, 2, 5, 12]) {
  test(`N_ℤ(0, ${s}²): Pearson's χ² against the exact PMF stays below its 1 − 1e-6 quantile (200k samples, fixed seed)`, () => {
    const samples = fillDiscreteGaussian(new Float64Array(200_000), s, seededRandomWords(`pmf-${s}`));
    const { statistic, degrees } = chiSquareAgainstPmf(s, samples, 4 * s);
    assert.ok(degrees >= 4);
    assert.ok(statistic < chiSquareQuantile(degrees), `χ² = ${statistic.toFixed(1)} on ${degrees} df, quantile ${chiSquareQuantile(degrees).toFixed(1)}`);
  });
}

test("the χ² test has teeth: a sampler with the wrong scale (s = 5 tested as 5.5) fails it", () => {
  const samples = fillDiscreteGaussian(new Float64Array(200_000), 5, seededRandomWords("teeth"));
  const wrong = chiSquareAgainstPmf(5.5, samples, 20);
  assert.ok(wrong.statistic > chiSquareQuantile(wrong.degrees), `χ² = ${wrong.statistic}`);
});

test("at s = 2²⁰ the sample mean and variance match 0 and s² (bounds with false-failure ≤ 1e-6, fixed seed)", () => {
  const n = 100_000, s = 2 ** 20;
  const samples = fillDiscreteGaussian(new Float64Array(n), s, seededRandomWords("moments"));
  let sum = 0, squares = 0;
  for (const y of samples) { sum += y; squares += y * y; }
  // Sub-Gaussian mean bound and Laurent–Massart-type variance bounds, 1e-6 split over 3 checks (x = ln(3e6)).
  const x = Math.log(3e6);
  assert.ok(Math.abs(sum / n) <= s * Math.sqrt((2 * x) / n), `mean ${sum / n}`);
  const ratio = squares / n / (s * s);
  assert.ok(ratio <= 1 + 2 * Math.sqrt(x / n) + (2 * x) / n, `variance ratio ${ratio}`);
  assert.ok(ratio >= 1 - Math.sqrt((2 * 3.01 * x) / n), `variance ratio ${ratio}`);
});

test("Bernoulli(exp(−n/d)) coins hit e^(−n/d), in doubles and past 2⁵³ in BigInt (Hoeffding, false-failure ≤ 1e-6 per case)", () => {
  const random = seededRandomWords("coins");
  const trials = 100_000;
  const slack = Math.sqrt(Math.log(2 / 1e-6) / (2 * trials));
  // The last pair takes the BigInt path: d·k passes 2⁵³ from k = 2.
  for (const [n, d] of [[0, 1], [1, 1], [1, 3], [7, 8], [5, 2], [13, 4], [2 ** 51, 2 ** 52 + 1]] as const) {
    let hits = 0;
    const flip = n <= d ? () => bernoulliExpFraction(random, n, d) : () => bernoulliExpRational(random, n, d);
    for (let i = 0; i < trials; i++) if (flip()) hits++;
    assert.ok(Math.abs(hits / trials - Math.exp(-n / d)) <= slack, `exp(−${n}/${d}): ${hits / trials} vs ${Math.exp(-n / d)}`);
  }
});

test("uniformBelow is exact below 2³², 2⁵³ and as a BigInt: in range, every residue reached", () => {
  const random = seededRandomWords("uniform");
  const seen = new Set<number>();
  for (let i = 0; i < 6000; i++) {
    const x = uniformBelow(random, 6);
    assert.ok(Number.isInteger(x) && x >= 0 && x < 6);
    seen.add(x);
  }
  assert.equal(seen.size, 6);
  const big = 2 ** 40 + 3;
  let above32 = 0;
  for (let i = 0; i < 1000; i++) {
    const x = uniformBelow(random, big);
    assert.ok(Number.isSafeInteger(x) && x >= 0 && x < big);
    if (x >= 2 ** 32) above32++;
  }
  assert.ok(above32 > 900, "the high word is used");
  for (let i = 0; i < 200; i++) {
    const x = uniformBelowBig(random, 10n ** 30n);
    assert.ok(x >= 0n && x < 10n ** 30n);
  }
});

test("seeded streams are reproducible and differ by seed; the crypto stream is not all zeros", () => {
  const a = fillDiscreteGaussian(new Float64Array(50), 1000, seededRandomWords("same"));
  const b = fillDiscreteGaussian(new Float64Array(50), 1000, seededRandomWords("same"));
  const c = fillDiscreteGaussian(new Float64Array(50), 1000, seededRandomWords("other"));
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  const words = cryptoRandomWords();
  assert.ok(Array.from({ length: 8 }, () => words.nextWord()).some((w) => w !== 0));
});

test("a scale that is not an integer from 1 to 2³⁶ is an InvalidTrainingParameter", () => {
  for (const s of [0, 1.5, -3, MAX_SCALE_STEPS * 2, Number.NaN]) {
    assert.throws(() => sampleDiscreteGaussian(s, seededRandomWords("x")), InvalidTrainingParameter);
  }
});

test("speed: the vectorised sampler against privacy/noise.ts's BigInt sampler (diagnostic only, no assertion on time)", (t) => {
  const s = 2 ** 20;
  const fastN = 100_000, slowN = 2_000;
  let start = performance.now();
  fillDiscreteGaussian(new Float64Array(fastN), s, cryptoRandomWords());
  const fastUs = ((performance.now() - start) * 1000) / fastN;
  start = performance.now();
  for (let i = 0; i < slowN; i++) discreteGaussian(BigInt(s) * BigInt(s));
  const slowUs = ((performance.now() - start) * 1000) / slowN;
  t.diagnostic(`per sample at s = 2²⁰: vectorised ${fastUs.toFixed(2)} µs, BigInt CKS ${slowUs.toFixed(2)} µs (${(slowUs / fastUs).toFixed(0)}×); 10⁶ coordinates: ${(fastUs).toFixed(2)} s vs ${slowUs.toFixed(1)} s`);
});
