import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  analyticGaussianSigma, classicGaussianSigma, gaussianDelta, gaussianEpsilon, laplaceScale, noiseMultiplierFor,
} from "../../privacy/calibration.ts";
import { RdpAccountant } from "../../privacy/rdp.ts";
import { type Accountant, type PrivacyEvent, gaussian, poissonSampled } from "../../privacy/events.ts";
import { InvalidPrivacyParameter } from "../../privacy/errors.ts";

const rdpEpsilon = (z: number, q: number, steps: number, delta: number): number => {
  const accountant = new RdpAccountant();
  accountant.compose(poissonSampled(q, gaussian(z)), steps);
  return accountant.epsilon(delta);
};

/**
 * δ(ε) = ∫ max(0, p(x) − e^ε·p(x − Δ)) dx for p the N(0, σ²) density, by Simpson's rule: the
 * hockey-stick divergence that Balle & Wang's Thm 8 puts in closed form, computed independently.
 */
function hockeyStickByQuadrature(epsilon: number, sigma: number, sensitivity: number): number {
  const density = (x: number): number => Math.exp(-0.5 * (x / sigma) ** 2) / (sigma * Math.sqrt(2 * Math.PI));
  const f = (x: number): number => Math.max(0, density(x) - Math.exp(epsilon) * density(x - sensitivity));
  // The integrand is positive left of the crossing x* = Δ/2 − εσ²/Δ; integrate there, densely.
  const crossing = sensitivity / 2 - (epsilon * sigma * sigma) / sensitivity;
  const from = crossing - 40 * sigma;
  const n = 200_000;
  const h = (crossing - from) / n;
  let sum = f(from) + f(crossing);
  for (let i = 1; i < n; i++) sum += (i % 2 === 1 ? 4 : 2) * f(from + i * h);
  return (sum * h) / 3;
}

test("gaussianDelta is Balle & Wang's Thm 8, checked against dp_accounting and direct integration", () => {
  // google/differential-privacy python/dp_accounting/dp_accounting/pld/accountant_test.py,
  // test_get_smallest_gaussian_noise: σ = 1/3 is exactly (1, 0.78760074)-DP for Δ = 1.
  assert.ok(Math.abs(gaussianDelta(1, 1 / 3) - 0.78760074) < 5e-9);
  for (const [epsilon, sigma, sensitivity] of [[0.5, 2, 1], [1, 3.7306, 1], [3, 1, 2], [0, 5, 1], [0.1, 0.7, 0.3]] as const) {
    const byQuadrature = hockeyStickByQuadrature(epsilon, sigma, sensitivity);
    assert.ok(Math.abs(gaussianDelta(epsilon, sigma, sensitivity) - byQuadrature) < 1e-10 * Math.max(1, byQuadrature), `(${epsilon}, ${sigma}, ${sensitivity})`);
  }
  assert.equal(gaussianDelta(2000, 2), 0, "δ below the smallest double is 0, not NaN");
  assert.equal(gaussianDelta(50, 1.5), 0);
  assert.ok(Math.abs(gaussianDelta(50, 0.1) - (0.5 - Math.exp(50) * 7.619853024160526e-24)) < 1e-15, "Φ(0) − e^{50}·Φ(−10)");
  assert.equal(gaussianDelta(1, 0), 1);
  assert.equal(gaussianDelta(1, 1, 0), 0);
  // ε = 30, σ = Δ = 1: δ = Φ(−29.5) − e^{30}·Φ(−30.5) ≈ 1e-193, far below what Φ(a) − e^ε·Φ(b) resolves directly.
  const tiny = gaussianDelta(30, 1);
  assert.ok(tiny > 0 && tiny < 1e-150, `${tiny}`);
  assert.ok(Math.abs(tiny / hockeyStickByQuadrature(30, 1, 1) - 1) < 1e-8, "tiny δ keeps its relative accuracy");
});

test("analytic σ matches dp_accounting's get_smallest_gaussian_noise", () => {
  // pld/accountant_test.py test_get_smallest_gaussian_noise (assertAlmostEqual, 7 places): base, and
  // Δ = 6 over 25 queries, i.e. one query of sensitivity 6·√25 = 30.
  assert.ok(Math.abs(analyticGaussianSigma(1, 0.78760074) - 1 / 3) < 5e-8);
  assert.ok(Math.abs(analyticGaussianSigma(1, 0.78760074, 6 * Math.sqrt(25)) - 10) < 5e-7);
});

test("analytic σ satisfies the exact condition at the target, and no smaller σ does", () => {
  fc.assert(
    fc.property(
      // ε = 0 or ε ≥ 1e-6: for 0 < ε ≲ δ, P(b < Z ≤ a) is an interval of width ≈ δ at ≈ −ε/δ, and
      // doubles resolve it to ≈ 1e-16·ε/δ² relative — still private and within 1e-12, not 1e-9-tight.
      fc.oneof(fc.constant(0), fc.double({ min: 1e-6, max: 30, noNaN: true })), fc.double({ min: -15, max: Math.log10(0.5), noNaN: true }),
      fc.double({ min: 0.01, max: 100, noNaN: true }),
      (epsilon, log10Delta, sensitivity) => {
        const delta = 10 ** log10Delta;
        const sigma = analyticGaussianSigma(epsilon, delta, sensitivity);
        const achieved = gaussianDelta(epsilon, sigma, sensitivity);
        assert.ok(achieved <= delta, `δ(ε; σ) = ${achieved} > ${delta}`);
        assert.ok(delta - achieved <= 1e-12, `δ(ε; σ) = ${achieved} is not within 1e-12 of ${delta}`);
        assert.ok(gaussianDelta(epsilon, sigma * (1 - 1e-9), sensitivity) > delta, "a smaller σ would do");
      },
    ),
    { numRuns: 300 },
  );
});

test("analytic σ is smaller than the classic Δ√(2 ln(1.25/δ))/ε wherever the classic bound holds (ε < 1)", () => {
  fc.assert(
    fc.property(fc.double({ min: 1e-3, max: 0.999, noNaN: true }), fc.double({ min: -15, max: -1, noNaN: true }), (epsilon, log10Delta) => {
      const delta = 10 ** log10Delta;
      const classic = classicGaussianSigma(epsilon, delta);
      assert.ok(analyticGaussianSigma(epsilon, delta) < classic);
      assert.ok(gaussianDelta(epsilon, classic) <= delta, "the classic σ is private too, just wasteful");
    }),
  );
  assert.ok(Math.abs(classicGaussianSigma(0.5, 1e-5) - 9.6896) < 1e-4);
  assert.throws(() => classicGaussianSigma(1, 1e-5), (e: unknown) => e instanceof InvalidPrivacyParameter && /0 < ε < 1/.test(e.message));
});

test("the Laplace scale is Δ/ε", () => {
  assert.equal(laplaceScale(0.5, 2), 4);
  assert.equal(laplaceScale(2), 0.5);
  assert.throws(() => laplaceScale(0), InvalidPrivacyParameter);
});

test("noiseMultiplierFor agrees with Opacus's get_noise_multiplier, which stops within 0.01 of the target ε", () => {
  // pytorch/opacus opacus/tests/accountants_test.py: test_get_noise_multiplier_rdp_steps (1.3562, 4 places) and
  // test_get_noise_multiplier_rdp_epochs (1.416, 4 places; 90 epochs at q = 0.04 is 2250 steps). Opacus returns
  // the upper end of a bracket once target − ε ≤ 0.01, so its σ is private but at most 0.01 from tight.
  for (const [steps, opacus] of [[2000, 1.3562], [2250, 1.416]] as const) {
    const z = noiseMultiplierFor({ targetEpsilon: 8, targetDelta: 1e-5, samplingRate: 0.04, steps });
    assert.ok(z <= opacus, `${z} > Opacus's ${opacus}`);
    const theirs = rdpEpsilon(opacus, 0.04, steps, 1e-5);
    assert.ok(theirs <= 8 && theirs >= 8 - 0.01 - 1e-4, `ε at Opacus's σ: ${theirs}`);
  }
});

test("noiseMultiplierFor round-trips: its σ meets the target, 0.1% less noise does not", () => {
  const cases: ReadonlyArray<[epsilon: number, delta: number, q: number, steps: number]> = [
    [1, 1e-5, 0.01, 1000], [8, 1e-5, 0.04, 2000], [0.5, 1e-6, 0.001, 10_000], [3, 1e-5, 1, 1], [10, 1e-8, 0.2, 50],
  ];
  for (const [epsilon, delta, q, steps] of cases) {
    const z = noiseMultiplierFor({ targetEpsilon: epsilon, targetDelta: delta, samplingRate: q, steps });
    assert.ok(rdpEpsilon(z, q, steps, delta) <= epsilon, `(${epsilon}, ${delta}, ${q}, ${steps}): ε(${z}) too big`);
    assert.ok(rdpEpsilon(z * (1 - 1e-3), q, steps, delta) > epsilon, `(${epsilon}, ${delta}, ${q}, ${steps}): ${z} not tight`);
  }
  assert.equal(noiseMultiplierFor({ targetEpsilon: 1, targetDelta: 1e-5, samplingRate: 0, steps: 100 }), 0);
});

test("noiseMultiplierFor takes any accountant, e.g. a PLD accountant later", () => {
  // A stand-in whose ε is steps·q/z, so the answer is known in closed form.
  const composedEvents: PrivacyEvent[] = [];
  const stub = (): Accountant => {
    let spent = 0;
    return {
      check: () => null,
      compose: (event, count = 1) => {
        composedEvents.push(event);
        if (event.kind === "poissonSampled" && event.event.kind === "gaussian") spent += (count * event.samplingRate) / event.event.sigma;
      },
      epsilon: () => spent,
      delta: () => 0,
    };
  };
  const z = noiseMultiplierFor({ targetEpsilon: 2, targetDelta: 1e-5, samplingRate: 0.1, steps: 100, accountant: stub });
  assert.ok(Math.abs(z - 5) < 1e-8);
  assert.ok(composedEvents.length > 10);
});

test("bad requests are InvalidPrivacyParameter naming the field and the fix", () => {
  const request = { targetEpsilon: 1, targetDelta: 1e-5, samplingRate: 0.01, steps: 100 };
  const invalid = (run: () => unknown, field: string): void =>
    assert.throws(run, (e: unknown) => e instanceof InvalidPrivacyParameter && e.field === field && e.message.includes(field));
  invalid(() => noiseMultiplierFor({ ...request, targetEpsilon: 0 }), "targetEpsilon");
  invalid(() => noiseMultiplierFor({ ...request, targetDelta: 1 }), "targetDelta");
  invalid(() => noiseMultiplierFor({ ...request, samplingRate: 1.2 }), "samplingRate");
  invalid(() => noiseMultiplierFor({ ...request, steps: 0 }), "steps");
  invalid(() => noiseMultiplierFor({ ...request, samplingRate: 1, steps: 10_000, targetEpsilon: 1e-6 }), "targetEpsilon");
  invalid(() => analyticGaussianSigma(1, 0), "delta");
  invalid(() => analyticGaussianSigma(-1, 1e-5), "epsilon");
  invalid(() => analyticGaussianSigma(1, 1e-5, Number.NaN), "sensitivity");
  invalid(() => gaussianDelta(1, -2), "sigma");
});

test("the doc examples hold", () => {
  assert.ok(Math.abs(gaussianDelta(1, 1 / 3) - 0.78760074) < 1e-8);
  assert.ok(Math.abs(analyticGaussianSigma(1, 0.78760074) - 1 / 3) < 1e-8);
  assert.ok(Math.abs(gaussianEpsilon(0.78760074, 1 / 3) - 1) < 1e-7);
  const z = noiseMultiplierFor({ targetEpsilon: 8, targetDelta: 1e-5, samplingRate: 0.04, steps: 2000 });
  assert.ok(Math.abs(z - 1.3561) < 1e-4);
});

test("gaussianEpsilon inverts gaussianDelta from the safe side, for small and huge ε (issue 14)", () => {
  for (const [delta, sigma, sensitivity] of [[1e-5, 1, 1], [1e-5, 0.08, 1], [1e-8, 10, 6], [0.3, 0.5, 2], [1e-5, 1 / Math.sqrt(2 ** 51), 1]] as const) {
    const epsilon = gaussianEpsilon(delta, sigma, sensitivity);
    assert.ok(gaussianDelta(epsilon, sigma, sensitivity) <= delta, `δ(${epsilon}) ≤ ${delta}`);
    const below = epsilon * (1 - 1e-12);
    assert.ok(gaussianDelta(below, sigma, sensitivity) > delta, `σ ${sigma}: ε a hair lower, ${below}, misses δ ${delta}`);
  }
  // q = 1, σ = 0.8, 100 steps is one Gaussian of σ 0.08: ε 130.577 at δ = 1e-5 (the figure).
  assert.ok(Math.abs(gaussianEpsilon(1e-5, 0.08) - 130.577) < 1e-3);
  assert.equal(gaussianEpsilon(0, 1), Infinity, "no finite ε gives δ = 0");
  assert.equal(gaussianEpsilon(0.5, 0), Infinity, "σ = 0 reveals everything");
  assert.equal(gaussianEpsilon(1, 0), 0);
  assert.equal(gaussianEpsilon(1e-5, 1, 0), 0, "sensitivity 0 reveals nothing");
  assert.throws(() => gaussianEpsilon(1.5, 1), (e: unknown) => e instanceof InvalidPrivacyParameter && e.field === "delta");
});
