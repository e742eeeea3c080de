import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { composed, dpSgd, exponential, gaussian, gnmax, laplace, poissonSampled, selfComposed, type PrivacyEvent } from "../../privacy/events.ts";
import { InvalidPrivacyParameter, UnsupportedPrivacyEvent } from "../../privacy/errors.ts";
import { PldAccountant, gaussianPld, laplacePld, pureDpPld } from "../../privacy/pld.ts";
import {
  type LossPmf, deltaForEpsilon, epsilonForDelta, logNormalCdf, normalCdf, pldDelta, pldEpsilon, selfComposePld,
} from "../../privacy/pld-math.ts";
import { RdpAccountant } from "../../privacy/rdp.ts";
import { convolve, convolvePairs, fft } from "../../privacy/fft.ts";
import { exactGaussianEpsilon, gaussianDelta } from "./independent-normal.ts";

const nonZero = (pmf: LossPmf): Record<number, number> =>
  Object.fromEntries([...pmf.probs].flatMap((p, i) => (p > 0 ? [[pmf.lower + i, p]] : [])));

function assertPmf(actual: LossPmf, expected: Record<number, number>, infinityMass: number, label: string): void {
  const got = nonZero(actual);
  assert.deepEqual(Object.keys(got).map(Number).sort((a, b) => a - b), Object.keys(expected).map(Number).sort((a, b) => a - b), label);
  for (const [loss, p] of Object.entries(expected)) assert.ok(Math.abs(got[Number(loss)]! - p) < 1e-8, `${label} at ${loss}: ${got[Number(loss)]} vs ${p}`);
  assert.ok(Math.abs(actual.infinityMass - infinityMass) < 1e-8, `${label} infinity mass ${actual.infinityMass} vs ${infinityMass}`);
}

// ---------------------------------------------------------------- doc examples and the normal CDF

test("the doc examples of PldAccountant and gaussianPld run as written", () => {
  const accountant = new PldAccountant();
  accountant.compose(gaussian(Math.sqrt(3)), 3);
  assert.ok(Math.abs(accountant.delta(1) - 0.126936) < 1e-5);
  const mass = gaussianPld(1, 1).remove.infinityMass;
  assert.ok(mass > 0 && mass < 1e-21, `${mass}`);
});

test("Φ and ln Φ match tabulated values to 1e-14, deep in the lower tail too", () => {
  const table: [number, number][] = [
    [-0.1, 0.460172162722971], [-0.5, 0.308537538725987], [-1, 0.158655253931457], [-2, 0.0227501319481792],
    [-3, 0.00134989803163009], [-5, 2.86651571879194e-7], [-8, 6.22096057427178e-16], [-10, 7.61985302416053e-24],
    [-20, 2.75362411860623e-89], [1, 0.841344746068543],
  ];
  for (const [x, p] of table) {
    assert.ok(Math.abs(normalCdf(x) / p - 1) < 1e-14, `Φ(${x}) = ${normalCdf(x)} vs ${p}`);
    assert.ok(Math.abs(logNormalCdf(x) - Math.log(p)) < 1e-13 * Math.max(1, Math.abs(Math.log(p))), `ln Φ(${x})`);
  }
  assert.ok(Math.abs(logNormalCdf(-100) - (-5005.524208693)) < 1e-6); // −x²/2 − ln(−x·√(2π)) − …, no underflow
});

// ---------------------------------------------------------------- dp_accounting's PMF tables

// google/differential-privacy python/dp_accounting/dp_accounting/pld/privacy_loss_distribution_test.py,
// GaussianPrivacyLossDistributionTest.test_gaussian_varying_standard_deviation_and_sensitivity_connect_dots
// (log_mass_truncation_bound = ln 2 + ln Φ(−0.9), value_discretization_interval = 1).
test("connect-the-dots Gaussian PMFs equal dp_accounting's tables, ADD and REMOVE", () => {
  const bound = Math.log(2) + logNormalCdf(-0.9);
  const cases: [number, number, number, Record<number, number>, number, Record<number, number> | null, number][] = [
    [1, 1, 1, { 2: 0.167710257, 1: 0.34327019, 0: 0.319116756, [-1]: 0.126282046, [-2]: 0.022697115 }, 0.020923636, null, 0],
    [3, 6, 1, { 4: 0.156393834, 3: 0.176732821, 2: 0.195352391, 1: 0.169838899, 0: 0.116146963, [-1]: 0.062480239, [-2]: 0.026438071, [-3]: 0.008799009, [-4]: 0.002864453 }, 0.084953319, null, 0],
    [1, 1, 0.8, { 1: 0.4480217, 0: 0.398104072, [-1]: 0.115544309, [-2]: 0.015193708 }, 0.02313621,
      { 2: 0.112267164, 1: 0.314081995, 0: 0.398104072, [-1]: 0.164817973 }, 0.010728796],
    [3, 6, 0.2, { 1: 0.215999775, 0: 0.738200118, [-1]: 0.038917231, [-2]: 0.00565051, [-3]: 0.001232367 }, 0,
      { 3: 0.024752755, 2: 0.041751932, 1: 0.105788001, 0: 0.738200118, [-1]: 0.079461876 }, 0.010045317],
  ];
  for (const [sigma, sensitivity, samplingRate, add, addInfinity, remove, removeInfinity] of cases) {
    const pld = gaussianPld(sigma, sensitivity, { samplingRate, interval: 1, logMassTruncationBound: bound });
    const label = `σ=${sigma} Δ=${sensitivity} q=${samplingRate}`;
    if (remove === null) {
      assert.equal(pld.add, null, `${label} is symmetric`);
      assertPmf(pld.remove, add, addInfinity, label);
    } else {
      assertPmf(pld.add!, add, addInfinity, `${label} ADD`);
      assertPmf(pld.remove, remove, removeInfinity, `${label} REMOVE`);
    }
  }
  // ...test_gaussian_discretization_connect_dots: σ = 1, interval 0.5.
  assertPmf(gaussianPld(1, 1, { interval: 0.5, logMassTruncationBound: bound }).remove,
    { 3: 0.178515818, 2: 0.175063076, 1: 0.195400642, 0: 0.171573378, [-1]: 0.11851648, [-2]: 0.064402107, [-3]: 0.039832263 }, 0.056696236, "interval 0.5");
});

// ...privacy_loss_distribution_test.py, LaplacePrivacyLossDistributionTest.
test("connect-the-dots Laplace PMFs equal dp_accounting's tables", () => {
  // test_laplace_varying_parameter_and_sensitivity_connect_dots (interval 1): [b, Δ, q, ADD, REMOVE]
  assertPmf(laplacePld(1, 1, { interval: 1 }).remove, { 1: 0.62245933, 0: 0.14855068, [-1]: 0.22898999 }, 0, "b=1 Δ=1");
  const sampled = laplacePld(1, 2, { samplingRate: 0.7, interval: 1 });
  assertPmf(sampled.add!, { 1: 0.7, 0: 0.17131139, [-1]: 0.0812958, [-2]: 0.04739281 }, 0, "b=1 Δ=2 q=0.7 ADD");
  assertPmf(sampled.remove, { 2: 0.3501881, 1: 0.2209849, 0: 0.17131139, [-1]: 0.25751561 }, 0, "b=1 Δ=2 q=0.7 REMOVE");
  // test_laplace_discretization_connect_dots (b = 1, interval 0.3)
  assertPmf(laplacePld(1, 1, { interval: 0.3 }).remove, {
    4: 0.18817131, 3: 0.37181835, 2: 0.06128993, 1: 0.05275273, 0: 0.0454047, [-1]: 0.03908019, [-2]: 0.03363663, [-3]: 0.15117006, [-4]: 0.05667611,
  }, 0, "interval 0.3");
});

// ---------------------------------------------------------------- exactness and pessimism

test("one Gaussian's PLD has the exact Balle–Wang δ(ε) on the grid and never less between", () => {
  for (const sigma of [0.5, 1, 2, 5]) {
    const pld = gaussianPld(sigma, 1);
    for (const epsilon of [0, 0.1, 0.25, 0.5, 1, 2, 4, 0.12345, 1.00005, 3.33333]) {
      const exact = gaussianDelta(epsilon, sigma);
      const got = pldDelta(pld, epsilon, 1e-4);
      assert.ok(got >= exact - 1e-13, `σ=${sigma} ε=${epsilon}: PLD δ ${got} below exact ${exact}`);
      // On the grid the two agree to rounding; between grid points the chord is above by O(d²).
      assert.ok(got - exact <= 1e-7 * Math.max(exact, 1e-6), `σ=${sigma} ε=${epsilon}: PLD δ ${got} far above exact ${exact}`);
    }
  }
});

test("ε from one Gaussian's PLD is the exact ε or above it by less than one grid step", () => {
  for (const sigma of [0.5, 1, 2, 5]) {
    const pld = gaussianPld(sigma, 1);
    for (const delta of [1e-3, 1e-5, 1e-8]) {
      const exact = exactGaussianEpsilon(delta, sigma);
      const got = pldEpsilon(pld, delta, 1e-4);
      assert.ok(got >= exact - 1e-9 && got - exact < 1e-4, `σ=${sigma} δ=${delta}: ${got} vs exact ${exact}`);
    }
  }
});

test("the subsampled Gaussian's ADD and REMOVE PLDs differ and the accountant reports the worse", () => {
  const pld = gaussianPld(1, 1, { samplingRate: 0.1 });
  assert.notEqual(pld.add, null);
  const remove = epsilonForDelta(pld.remove, 1e-5, 1e-4);
  const add = epsilonForDelta(pld.add!, 1e-5, 1e-4);
  assert.ok(Math.abs(remove - add) > 1e-3, `${remove} vs ${add}`);
  assert.equal(pldEpsilon(pld, 1e-5, 1e-4), Math.max(remove, add));
  assert.equal(pldDelta(pld, 0.5, 1e-4), Math.max(deltaForEpsilon(pld.remove, 0.5, 1e-4), deltaForEpsilon(pld.add!, 0.5, 1e-4)));
});

// ---------------------------------------------------------------- published values

// google/differential-privacy python/dp_accounting/dp_accounting/pld/pld_privacy_accountant_test.py
test("dp_accounting's PLDAccountant tests give the same (ε, δ), to their tolerance", () => {
  const run = (build: (a: PldAccountant) => void): PldAccountant => { const a = new PldAccountant(); build(a); return a; };
  const near = (actual: number, expected: number, tolerance: number, label: string): void =>
    assert.ok(Math.abs(actual - expected) <= tolerance, `${label}: ${actual} vs ${expected} ± ${tolerance}`);
  // test_gaussian_basic: σ = √3, composed 1 + 2 times; δ(1) = 0.126936.
  const g = run((a) => { a.compose(gaussian(Math.sqrt(3)), 1); a.compose(gaussian(Math.sqrt(3)), 2); });
  near(g.delta(1), 0.126936, 1e-3, "gaussian δ(1)");
  near(g.epsilon(0.126936), 1, 1e-3, "gaussian ε");
  // test_poisson_subsampled_gaussian and test_self_composed_subsampled_gaussian: q = 0.2, σ = 0.5, 3 times.
  const sampled = poissonSampled(0.2, gaussian(0.5));
  for (const a of [run((x) => { x.compose(sampled, 1); x.compose(sampled, 2); }), run((x) => x.compose(selfComposed(sampled, 3)))]) {
    near(a.delta(1), 0.15594, 1e-3, "subsampled gaussian δ(1)");
    near(a.epsilon(0.15594), 1, 1e-3, "subsampled gaussian ε");
  }
  // test_laplace_basic: Lap(1) ×3 and Lap(2) ×2 is 4-DP; δ is 1e-14 "due to truncation".
  const l = run((a) => { a.compose(laplace(1), 3); a.compose(laplace(2), 2); });
  near(l.delta(4), 1e-14, 1e-6, "laplace δ(4)");
  near(l.epsilon(1e-14), 4, 1e-6, "laplace ε");
  // test_poisson_subsampled_laplace: q = 0.2, b = 0.5, 3 times: ε = 3·ln(1 + q(e² − 1)) = 2.46964.
  const sl = run((a) => { a.compose(poissonSampled(0.2, laplace(0.5)), 1); a.compose(poissonSampled(0.2, laplace(0.5)), 2); });
  near(sl.delta(2.46964), 1e-14, 1e-6, "subsampled laplace δ");
  near(sl.epsilon(1e-14), 2.46964, 1e-3, "subsampled laplace ε");
  // test_additive_noise_mechanisms_with_zero_noise_multiplier / test_poisson_subsampling_with_zero_probability
  for (const event of [gaussian(0), laplace(0), poissonSampled(0.1, gaussian(0))]) {
    const a = run((x) => x.compose(event));
    assert.equal(a.delta(1), 1);
    assert.equal(a.epsilon(0.01), Infinity);
  }
  for (const event of [poissonSampled(0, gaussian(1)), poissonSampled(0, laplace(0))]) {
    const a = run((x) => x.compose(event));
    assert.equal(a.delta(0), 0);
    assert.equal(a.epsilon(0), 0);
  }
});

// google/differential-privacy python/dp_accounting/dp_accounting/pld/accountant_test.py: noise calibrated by
// dp_accounting's PLD search must give back its target ε here.
test("noise that dp_accounting calibrates to a target ε gives that ε back", () => {
  const epsilonOf = (event: PrivacyEvent, count: number, delta: number): number => { const a = new PldAccountant(); a.compose(event, count); return a.epsilon(delta); };
  // test_get_smallest_subsampled_gaussian_noise: ε = 1, δ = 1e-5.
  assert.ok(Math.abs(epsilonOf(poissonSampled(0.01, gaussian(0.67379294682)), 1, 1e-5) - 1) < 1e-3);
  assert.ok(Math.abs(epsilonOf(poissonSampled(0.001, gaussian(3.20956502598, 6)), 25, 1e-5) - 1) < 1e-3);
  // test_get_smallest_gaussian_noise: (ε = 1, δ = 0.78760074) for σ = 1/3, and for σ = 10, Δ = 6, 25 queries.
  for (const [event, count] of [[gaussian(1 / 3), 1], [gaussian(10, 6), 25]] as const) {
    const a = new PldAccountant();
    a.compose(event, count);
    assert.ok(Math.abs(a.delta(1) - 0.78760074) < 1e-6, `${a.delta(1)}`);
  }
  // test_get_smallest_laplace_noise: ε = 1, δ = 1e-4 needs b = 13.6 ± 0.1 for 20 queries, 71.0 ± 0.1 for 500.
  for (const [b, count] of [[13.6, 20], [71.0, 500]] as const) {
    assert.ok(epsilonOf(laplace(b - 0.1), count, 1e-4) > 1, `b = ${b - 0.1} is too little noise`);
    assert.ok(epsilonOf(laplace(b + 0.1), count, 1e-4) < 1, `b = ${b + 0.1} is enough noise`);
  }
});

// ---------------------------------------------------------------- composition

function naiveConvolution(a: Float64Array, b: Float64Array): Float64Array {
  const out = new Float64Array(a.length + b.length - 1);
  for (let i = 0; i < a.length; i++) for (let j = 0; j < b.length; j++) out[i + j] = out[i + j]! + a[i]! * b[j]!;
  return out;
}

test("the doc examples of fft and convolve run as written", () => {
  const re = Float64Array.of(1, 0, 0, 0), im = new Float64Array(4);
  fft(re, im);
  assert.deepEqual([...re], [1, 1, 1, 1]);
  assert.deepEqual([...convolve(Float64Array.of(1, 2), Float64Array.of(3, 4))].map((x) => Math.round(x * 1e12) / 1e12), [3, 10, 8]);
});

test("FFT convolutions, single and paired, equal direct convolution (property)", () => {
  const probabilities = (length: number): fc.Arbitrary<Float64Array> =>
    fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: length, maxLength: length }).map((xs) => Float64Array.from(xs));
  const sized = fc.integer({ min: 1, max: 1500 }).chain(probabilities);
  fc.assert(
    fc.property(sized, sized, sized, sized, (a, b, c, d) => {
      const close = (x: Float64Array, y: Float64Array): void => {
        assert.equal(x.length, y.length);
        const scale = Math.max(1, ...y);
        for (let i = 0; i < y.length; i++) assert.ok(Math.abs(x[i]! - y[i]!) <= 1e-10 * scale, `at ${i}: ${x[i]} vs ${y[i]}`);
      };
      close(convolve(a, b), naiveConvolution(a, b));
      const [ab, cd] = convolvePairs(a, b, c, d);
      close(ab, naiveConvolution(a, b));
      close(cd, naiveConvolution(c, d));
      const [aa, cc] = convolvePairs(a, a, c, c);
      close(aa, naiveConvolution(a, a));
      close(cc, naiveConvolution(c, c));
    }),
    { numRuns: 25, seed: 3 },
  );
});

function naiveSelfCompose(pmf: LossPmf, count: number): LossPmf {
  let probs = Float64Array.of(1), lower = 0, infinity = 0;
  for (let k = 0; k < count; k++) {
    const next = new Float64Array(probs.length + pmf.probs.length - 1);
    for (let i = 0; i < probs.length; i++) for (let j = 0; j < pmf.probs.length; j++) next[i + j] = next[i + j]! + probs[i]! * pmf.probs[j]!;
    probs = next; lower += pmf.lower; infinity = infinity + pmf.infinityMass - infinity * pmf.infinityMass;
  }
  return { lower, probs, infinityMass: infinity };
}

test("k-fold self-composition by FFT equals k − 1 direct convolutions on small PMFs", () => {
  const pld = gaussianPld(1, 1, { samplingRate: 0.3, interval: 0.05 });
  for (const count of [2, 3, 5, 8, 13]) {
    const fast = selfComposePld(pld, count, 1e-15);
    for (const [which, slow] of [["remove", naiveSelfCompose(pld.remove, count)], ["add", naiveSelfCompose(pld.add!, count)]] as const) {
      const got = which === "remove" ? fast.remove : fast.add!;
      for (let i = 0; i < slow.probs.length; i++) {
        const index = slow.lower + i - got.lower;
        const value = index >= 0 && index < got.probs.length ? got.probs[index]! : 0;
        assert.ok(Math.abs(value - slow.probs[i]!) < 1e-13, `${which} ×${count} at ${slow.lower + i}: ${value} vs ${slow.probs[i]}`);
      }
      assert.ok(got.infinityMass >= slow.infinityMass && got.infinityMass - slow.infinityMass < 1e-13);
      for (const epsilon of [0, 0.5, 1, 3]) {
        const exact = deltaForEpsilon(slow, epsilon, 0.05);
        const d = deltaForEpsilon(got, epsilon, 0.05);
        assert.ok(d >= exact - 1e-14 && d - exact < 1e-12, `${which} ×${count} δ(${epsilon}): ${d} vs ${exact}`);
      }
    }
  }
});

test("composing one event k times, k events, or selfComposed/composed events gives one ε", () => {
  const step = poissonSampled(0.05, gaussian(1.2));
  const epsilons = [
    (a: PldAccountant) => { for (let i = 0; i < 6; i++) a.compose(step); },
    (a: PldAccountant) => a.compose(step, 6),
    (a: PldAccountant) => a.compose(selfComposed(step, 3), 2),
    (a: PldAccountant) => a.compose(composed(step, step, selfComposed(step, 4))),
  ].map((build) => { const a = new PldAccountant(); build(a); return a.epsilon(1e-6); });
  for (const e of epsilons) assert.ok(Math.abs(e - epsilons[0]!) < 1e-9, `${epsilons.join(", ")}`);
  const interleaved = new PldAccountant();
  interleaved.compose(step, 2);
  interleaved.epsilon(1e-6);
  interleaved.compose(step, 4);
  assert.ok(Math.abs(interleaved.epsilon(1e-6) - epsilons[0]!) < 1e-6);
});

test("more steps never lower ε (property, subsampled Gaussian and mixed mechanisms)", () => {
  const options = { valueDiscretizationInterval: 1e-3 };
  fc.assert(
    fc.property(
      fc.double({ min: 0.001, max: 0.3, noNaN: true }), fc.double({ min: 0.5, max: 4, noNaN: true }),
      fc.integer({ min: 1, max: 400 }), fc.integer({ min: 1, max: 400 }), fc.constantFrom(1e-3, 1e-6, 1e-9),
      (q, sigma, steps, more, delta) => {
        const before = new PldAccountant(options);
        before.compose(poissonSampled(q, gaussian(sigma)), steps);
        const after = new PldAccountant(options);
        after.compose(poissonSampled(q, gaussian(sigma)), steps + more);
        const mixed = new PldAccountant(options);
        mixed.compose(poissonSampled(q, gaussian(sigma)), steps);
        mixed.compose(laplace(sigma * 10));
        assert.ok(after.epsilon(delta) >= before.epsilon(delta) - 1e-9);
        assert.ok(mixed.epsilon(delta) >= before.epsilon(delta) - 1e-9);
      },
    ),
    { numRuns: 15, seed: 20240611 },
  );
});

test("PLD ε never exceeds RDP ε for DP-SGD (property; the PLD's own figure, not capped by RDP)", () => {
  fc.assert(
    fc.property(
      fc.double({ min: 0.001, max: 1, noNaN: true }), fc.double({ min: 0.6, max: 5, noNaN: true }),
      fc.integer({ min: 1, max: 2000 }), fc.constantFrom(1e-5, 1e-8),
      (q, sigma, steps, delta) => {
        const pld = new PldAccountant({ valueDiscretizationInterval: 1e-3, capByRdp: false });
        const rdp = new RdpAccountant();
        pld.compose(poissonSampled(q, gaussian(sigma)), steps);
        rdp.compose(poissonSampled(q, gaussian(sigma)), steps);
        // Slack for the coarse grid; the RDP bound is looser than that by orders of magnitude.
        assert.ok(pld.epsilon(delta) <= rdp.epsilon(delta) + 1e-3, `${pld.epsilon(delta)} > ${rdp.epsilon(delta)}`);
      },
    ),
    { numRuns: 20, seed: 7 },
  );
});

test("pure ε-DP events compose to kε at δ ≈ 0, and GNMax is the Gaussian of sensitivity √2", () => {
  const pure = new PldAccountant();
  pure.compose(exponential(1), 3);
  assert.ok(Math.abs(pure.epsilon(1e-12) - 3) < 1e-6);
  assert.ok(pure.delta(3) < 1e-13);
  assert.equal(pureDpPld(0).remove.probs.length, 1);
  const a = new PldAccountant();
  a.compose(gnmax(4), 10);
  const b = new PldAccountant();
  b.compose(gaussian(4, Math.SQRT2), 10);
  assert.equal(a.epsilon(1e-6), b.epsilon(1e-6));
});

test("time for DP-SGD with 1 000 and 10 000 steps (diagnostic, not asserted)", (t) => {
  for (const steps of [1_000, 10_000]) {
    const started = performance.now();
    const accountant = new PldAccountant();
    accountant.compose(dpSgd(0.01, 1, steps));
    const epsilon = accountant.epsilon(1e-5);
    t.diagnostic(`q=0.01 σ=1 ${steps} steps: ε(1e-5) = ${epsilon.toFixed(4)} in ${(performance.now() - started).toFixed(0)} ms`);
    assert.ok(Number.isFinite(epsilon));
  }
});

// ---------------------------------------------------------------- check, errors

test("check answers Unsupported for what it cannot count, and compose then throws, charging nothing", () => {
  const accountant = new PldAccountant();
  accountant.compose(gaussian(2));
  const before = accountant.epsilon(1e-6);
  const unknown = { kind: "teleport" } as unknown as PrivacyEvent;
  for (const event of [poissonSampled(0.1, gnmax(1)), poissonSampled(0.1, exponential(1)), composed(gaussian(1), poissonSampled(0.1, selfComposed(gaussian(1), 2))), unknown]) {
    const unsupported = accountant.check(event);
    assert.equal(unsupported?.kind, "unsupported", JSON.stringify(event));
    assert.throws(() => accountant.compose(event), (e: unknown) => e instanceof UnsupportedPrivacyEvent && e.code === "UNSUPPORTED_PRIVACY_EVENT");
  }
  assert.equal(accountant.check(composed(gaussian(1), poissonSampled(0.5, laplace(2)), exponential(0.1), gnmax(3))), null);
  assert.equal(accountant.epsilon(1e-6), before);
});

test("malformed numbers are InvalidPrivacyParameter naming the field", () => {
  const accountant = new PldAccountant();
  const invalid = (f: () => unknown, field: string): void =>
    assert.throws(f, (e: unknown) => e instanceof InvalidPrivacyParameter && e.code === "INVALID_PRIVACY_PARAMETER" && e.field === field, field);
  invalid(() => accountant.check(gaussian(-1)), "gaussian.sigma");
  invalid(() => accountant.check(gaussian(Number.NaN)), "gaussian.sigma");
  invalid(() => accountant.check(laplace(1, Infinity)), "laplace.sensitivity");
  invalid(() => accountant.check(poissonSampled(1.5, gaussian(1))), "poissonSampled.samplingRate");
  invalid(() => accountant.check(composed(gaussian(1), selfComposed(gaussian(1), 0))), "composed.events[1].count");
  invalid(() => accountant.check(exponential(Number.NaN)), "exponential.epsilon");
  invalid(() => accountant.compose(gaussian(1), 1.5), "count");
  invalid(() => accountant.epsilon(2), "targetDelta");
  invalid(() => accountant.delta(Number.NaN), "targetEpsilon");
  invalid(() => new PldAccountant({ valueDiscretizationInterval: 0 }), "valueDiscretizationInterval");
  invalid(() => new PldAccountant({ tailMassTruncation: 0.1 }), "tailMassTruncation");
  invalid(() => new PldAccountant({ maxGridPoints: 1000 }), "maxGridPoints");
});
