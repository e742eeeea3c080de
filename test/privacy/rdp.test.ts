import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  DEFAULT_RDP_ORDERS, RdpAccountant, computeRdp, effectiveNoiseMultiplier, rdpGaussian, rdpLaplace, rdpPureDp,
  rdpSubsampledGaussian, rdpToDelta, rdpToEpsilon, epsilonConverter,
} from "../../privacy/rdp.ts";
import { logSubsampledGaussianMoment } from "../../privacy/rdp-sampled-gaussian.ts";
import {
  type PrivacyEvent, composed, dpSgd, exponential, gaussian, gnmax, laplace, poissonSampled, selfComposed,
} from "../../privacy/events.ts";
import { InvalidPrivacyParameter, UnsupportedPrivacyEvent } from "../../privacy/errors.ts";
import { gaussianDelta } from "../../privacy/calibration.ts";

function assertClose(actual: number, expected: number, rel: number, what: string): void {
  const error = expected === actual ? 0 : Math.abs(actual - expected) / Math.abs(expected);
  assert.ok(error <= rel, `${what}: got ${actual}, expected ${expected} (relative error ${error.toExponential(2)} > ${rel})`);
}
const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);
const epsilonOf = (event: PrivacyEvent, delta: number, orders?: readonly number[]): number => {
  const accountant = new RdpAccountant(orders);
  accountant.compose(event);
  return accountant.epsilon(delta);
};

test("DEFAULT_RDP_ORDERS is Opacus's DEFAULT_ALPHAS: 1.1…10.9 by tenths, then 12…63", () => {
  assert.equal(DEFAULT_RDP_ORDERS.length, 151);
  assert.deepEqual(DEFAULT_RDP_ORDERS.slice(0, 3), [1.1, 1.2, 1.3]);
  assert.equal(DEFAULT_RDP_ORDERS[98], 1 + 99 / 10);
  assert.deepEqual(DEFAULT_RDP_ORDERS.slice(99), range(12, 64));
  assert.ok(Object.isFrozen(DEFAULT_RDP_ORDERS));
});

test("the Gaussian's RDP is α/(2σ²), and GNMax (sensitivity √2) is α/σ²", () => {
  // dp_accounting rdp_privacy_accountant_test.test_compute_rdp_gaussian.
  assertClose(computeRdp(gaussian(2.71828), [3.14159])[0]!, 3.14159 / (2 * 2.71828 ** 2), 1e-15, "gaussian");
  assert.equal(rdpGaussian(2, 3), 0.375);
  assertClose(computeRdp(gaussian(6, 3), [5])[0]!, 5 / (2 * 4), 1e-15, "σ/Δ is what counts");
  assertClose(computeRdp(gnmax(2), [7])[0]!, 7 / 4, 1e-15, "gnmax");
  assert.equal(computeRdp(gaussian(1, 0), [2])[0], 0);
  assert.equal(computeRdp(gaussian(0, 1), [2])[0], Infinity);
});

test("q = 1 reduces the sampled Gaussian to the Gaussian, and q = 0 costs nothing", () => {
  // TF Privacy rdp_accountant_test.test_compute_rdp_no_sampling / test_compute_rdp_no_data.
  assertClose(rdpSubsampledGaussian(1, 10, 20), 0.1, 1e-15, "q = 1");
  assert.equal(rdpSubsampledGaussian(0, 10, 20), 0);
  assert.equal(rdpSubsampledGaussian(0, 0, 20), 0);
  // dp_accounting test_compute_rdp_multi_gaussian: q = 1 over a composition of Gaussians.
  const rdp = computeRdp(poissonSampled(1, composed(gaussian(2.71828), gaussian(6.28319))), [3.14159])[0]!;
  assertClose(rdp, 3.14159 / (2 * 2.71828 ** 2) + 3.14159 / (2 * 6.28319 ** 2), 1e-14, "multi-Gaussian");
});

test("k-fold composition adds RDP, however it is spelled (dp_accounting test_rdp_composition)", () => {
  const base = gaussian(3.14159);
  const one = computeRdp(base, [2.71828])[0]!;
  const six = (event: PrivacyEvent, count = 1): number => {
    const accountant = new RdpAccountant([2.71828]);
    accountant.compose(event, count);
    return accountant.rdp[0]!;
  };
  for (const value of [six(base, 6), six(selfComposed(base, 6)), six(selfComposed(base, 2), 3), six(composed(...Array(6).fill(base))),
    six(composed(selfComposed(base, 1), selfComposed(base, 2), selfComposed(base, 3)))]) assertClose(value, 6 * one, 1e-14, "6-fold");
  const other = computeRdp(gaussian(1.61803), [2.71828])[0]!;
  assertClose(six(composed(base, gaussian(1.61803))), one + other, 1e-15, "heterogeneous");
});

test("sampled Gaussian matches TF Privacy's hard-coded values", () => {
  // tensorflow/privacy tensorflow_privacy/privacy/analysis/rdp_accountant_test.py, test_compute_rdp_scalar (places=5).
  assert.ok(Math.abs(10 * rdpSubsampledGaussian(0.1, 2, 5) - 0.07737) < 5e-6);
  // …test_compute_rdp_sequence: compute_rdp(0.01, 2.5, 50, orders), assertSequenceAlmostEqual delta=1e-5.
  const orders = [1.5, 2.5, 5, 50, 100, Infinity];
  const expected = [0.00065, 0.001085, 0.00218075, 0.023846, 167.416307, Infinity];
  const rdp = computeRdp(selfComposed(poissonSampled(0.01, gaussian(2.5)), 50), orders);
  orders.forEach((alpha, i) => assert.ok(rdp[i] === expected[i] || Math.abs(rdp[i]! - expected[i]!) < 1e-5, `α = ${alpha}: ${rdp[i]}`));
});

test("sampled Gaussian matches dp_accounting at integer orders and bounds it from below at fractional ones", () => {
  // google/differential-privacy python/dp_accounting/dp_accounting/rdp/rdp_privacy_accountant_test.py,
  // test_compute_rdp_poisson_subsampled_gaussian (rtol=1e-4). dp_accounting sums |terms| of the fractional
  // series, an upper bound on A_α; we add them with their signs (as TF Privacy and Opacus do), which is
  // exact: 6.5007e-4 at α = 1.5, confirmed by quadrature below, against its 6.7058e-4.
  const orders = [1.5, 2.5, 5, 50, 100, Infinity];
  const expected = [6.70579741e-4, 1.0854871e-3, 2.18075656e-3, 2.38460375e-2, 1.67416308e2, Infinity];
  const rdp = computeRdp(selfComposed(poissonSampled(0.01, gaussian(2.5)), 50), orders);
  for (const i of [2, 3, 4]) assertClose(rdp[i]!, expected[i]!, 5e-9, `α = ${orders[i]}`); // 9 printed digits
  assertClose(rdp[1]!, expected[1]!, 1e-4, "α = 2.5 within dp_accounting's rtol");
  assert.ok(rdp[0]! < expected[0]!, "α = 1.5 below dp_accounting's upper bound");
  assertClose(rdp[0]!, 50 * 1.3001417943760795e-5, 1e-8, "α = 1.5 against quadrature");
  assert.equal(rdp[5], Infinity);
});

test("sampled Gaussian matches high-precision values to 1e-8 relative (1e-6 where doubles cannot do better)", () => {
  // RDP = log(A_α)/(α−1), with A_α computed in mpmath 1.3.0 at 40 digits: the exact binomial sum for integer α,
  // mpmath.quad of ∫N(z; 0, σ²)·((1−q) + q·e^{(2z−1)/(2σ²)})^α dz for fractional α, as dp_accounting's
  // test_compute_log_a_equals_mp does.
  const table: ReadonlyArray<[q: number, sigma: number, alpha: number, rdp: number]> = [
    [0.1, 2, 5, 0.0077369684897958652], [0.01, 2.5, 5, 4.3615131246157617e-5], [0.04, 1.5, 4, 0.0018853400644457797],
    [0.001, 1, 2, 1.7182803522145154e-6], [1e-6, 1, 27, 3.3728889634032684e-11],
    [0.01, 2.5, 1.5, 1.3001417943760795e-5], [0.01, 2.5, 2.5, 2.1708361138362486e-5], [0.04, 1.5, 3.9, 0.0018332021995838586],
    [0.1, 10, 1.5, 7.5338320097291014e-5], [0.5, 10, 2.5, 0.0031406722202802183], [0.04, 10, 1.2, 9.6450965478297355e-6],
    [0.01, 1, 2.5, 0.00021757533228188046], [0.99, 10, 1.1, 0.0053906060482384138], [1e-4, 1, 1.5, 1.2885373907673299e-8],
    [0.1, 100, 20.5, 1.0252214593881178e-5], [0.2, 0.8, 7.3, 3.8384673642196331], [0.001, 0.6, 12.5, 9.8526814600581094],
  ];
  for (const [q, sigma, alpha, rdp] of table) assertClose(rdpSubsampledGaussian(q, sigma, alpha), rdp, 1e-8, `(${q}, ${sigma}, ${alpha})`);
  // dp_accounting test_compute_log_a_equals_mp's parameters (its rtol is 1e-4), log A_α from mpmath as above.
  const logA: ReadonlyArray<[number, number, number, number, number]> = [
    [1e-7, 0.1, 1.01, 4.0034123225263986e-8, 1e-6], [1e-6, 0.1, 256, 3260463.2292971608, 1e-14],
    [1e-5, 0.1, 256.1, 3263607.0397884213, 1e-12], [1e-6, 1, 27, 8.7695113048484979e-10, 1e-12],
    [1e-4, 1, 1.5, 6.4426869538366497e-9, 1e-8], [1e-3, 1, 2, 1.7182803522145154e-6, 1e-12],
    [0.01, 10, 20, 0.00019129699912842963, 1e-12], [0.1, 100, 20.5, 0.00019991818458068296, 1e-10],
    [0.99, 0.1, 256, 3263997.4271140211, 1e-14], [0.999, 100, 256.1, 3.2601080379731127, 1e-13],
  ];
  for (const [q, sigma, alpha, expected, rel] of logA) assertClose(logSubsampledGaussianMoment(q, sigma, alpha), expected, rel, `log A(${q}, ${sigma}, ${alpha})`);
});

test("ε matches Opacus: accountants_test.test_rdp_accountant and the analysis/rdp.py doctest", () => {
  // pytorch/opacus opacus/tests/accountants_test.py, test_rdp_accountant: assertAlmostEqual(ε, 7.32911117143), 7 places.
  const accountant = new RdpAccountant();
  accountant.compose(poissonSampled(0.04, gaussian(1.5)), Math.trunc(90 / 0.04));
  assert.ok(Math.abs(accountant.epsilon(1e-5) - 7.32911117143) < 1e-9, `${accountant.epsilon(1e-5)}`);
  assert.equal(accountant.privacySpent(1e-5).order, 3.9);
  // opacus/accountants/analysis/rdp.py module doctest: (1e-5, 1.0, 10) and (1e-4, 3.0, 4) over orders 2…32 → (0.336, 23).
  const doctest = new RdpAccountant(range(2, 33));
  doctest.compose(selfComposed(poissonSampled(1e-5, gaussian(1)), 10));
  doctest.compose(selfComposed(poissonSampled(1e-4, gaussian(3)), 4));
  const spent = doctest.privacySpent(1e-5);
  assert.ok(Math.abs(spent.epsilon - 0.336) < 5e-4, `${spent.epsilon}`);
  assert.equal(spent.order, 23);
});

test("RDP → (ε, δ) matches dp_accounting's compute_epsilon / compute_delta", () => {
  // dp_accounting test_compute_epsilon_delta_pure_dp (also TF Privacy test_get_privacy_spent_check_target_delta).
  const orders = range(2, 33);
  const flat = orders.map(() => 1.1);
  const spent = rdpToEpsilon(orders, flat, 1e-5);
  assert.ok(Math.abs(spent.epsilon - 1.32783806176) < 1e-10);
  assert.equal(spent.order, 32);
  const back = rdpToDelta(orders, flat, 1.32783806176);
  assert.ok(Math.abs(back.delta - 1e-5) < 1e-14);
  assert.equal(back.order, 32);
  // test_compute_epsilon_delta_gaussian: σ = 4.530877117 is exactly (1, 1e-6)-DP over orders 0.001·i
  // (we start at i = 1001: orders must exceed 1 here, and dp_accounting skips α ≤ 1.01 anyway).
  const fine = range(1001, 100000).map((i) => 0.001 * i);
  const rdp = fine.map((alpha) => rdpSubsampledGaussian(1, 4.530877117, alpha));
  assert.ok(Math.abs(rdpToEpsilon(fine, rdp, 1e-6).epsilon - 1) < 5e-8);
  assert.ok(Math.abs(rdpToDelta(fine, rdp, 1).delta - 1e-6) < 5e-8);
});

test("ε and δ from RDP round-trip across q, σ and δ (dp_accounting test_epsilon_delta_consistency)", () => {
  const orders = range(2, 50);
  for (const q of [0, 0.01, 0.1, 0.8, 1]) {
    for (const z of [0, 0.1, 1, 10, 100]) {
      const accountant = new RdpAccountant(orders);
      accountant.compose(poissonSampled(q, gaussian(z)));
      for (const delta of [0.99, 0.9, 0.1, 0.01, 1e-3, 1e-5, 1e-9, 1e-12]) {
        const epsilon = accountant.epsilon(delta);
        const delta2 = accountant.delta(epsilon);
        if (epsilon === Infinity) assert.equal(delta2, 1);
        else if (epsilon === 0) assert.ok(delta2 <= delta);
        else assert.ok(Math.abs(delta - delta2) < 5e-8, `q=${q} z=${z} δ=${delta}: ${delta2}`);
      }
    }
  }
});

test("RDP's δ for the Gaussian lies between Balle–Wang's exact δ and the standard bound (dp_accounting test_delta_bounds_gaussian)", () => {
  const orders = range(11, 505).map((x) => 0.1 * x);
  const rdp = orders.map((alpha) => rdpSubsampledGaussian(1, 1, alpha));
  for (const epsilon of range(0, 500).map((x) => 0.1 * x)) {
    const { delta } = rdpToDelta(orders, rdp, epsilon);
    const exact = gaussianDelta(epsilon, 1); // Balle & Wang 2018, Thm 8, as the test computes it with erfc

    assert.ok(exact <= delta + 1e-300, `ε = ${epsilon}`);
    const standard = epsilon >= 0.5 ? Math.exp(-0.5 * (epsilon - 0.5) ** 2) : 1;
    assert.ok(delta <= standard + 1e-300, `ε = ${epsilon}`);
  }
});

test("edge cases: no sampling costs nothing, no noise costs everything (dp_accounting)", () => {
  for (const event of [poissonSampled(0, gaussian(1)), poissonSampled(0, gaussian(0))]) {
    const accountant = new RdpAccountant([3.14159]); // test_zero_poisson_sample
    accountant.compose(event);
    assert.equal(accountant.epsilon(1e-10), 0);
    assert.equal(accountant.delta(1e-10), 0);
  }
  assert.equal(epsilonOf(gaussian(0), 0.1, [3.14159]), Infinity); // test_epsilon_non_private_gaussian
  assert.equal(new RdpAccountant().epsilon(0), 0);
  assert.equal(epsilonOf(gaussian(1), 0), Infinity);
  assert.equal(epsilonOf(exponential(0.7), 0, [2, Infinity]), 0.7, "pure DP at δ = 0 from α = ∞");
});

test("Laplace: pure DP at large order, KL below min(ε, ε²/2), stable across α = 1.1 (dp_accounting test_laplace)", () => {
  for (const [eps, count] of [[0.01, 1], [1, 1], [100, 1], [1, 100]] as const) {
    const accountant = new RdpAccountant([1 + 1e-6, 1.1 - 1e-6, 1.1 + 1e-6, 1e10]);
    accountant.compose(laplace(1 / eps), count);
    assertClose(accountant.epsilon(1e-10), eps * count, 1e-7, `ε = ${eps} × ${count}`);
    assert.ok(accountant.rdp[0]! <= Math.min(eps, (eps * eps) / 2) * count);
    assert.ok(Math.abs(accountant.rdp[1]! - accountant.rdp[2]!) < 5e-4);
  }
  // Mironov 2017, Prop. 6 as printed, at orders where it is well conditioned.
  for (const [b, alpha] of [[2, 3], [0.5, 7.5], [10, 1.5]] as const) {
    const direct = Math.log((alpha / (2 * alpha - 1)) * Math.exp((alpha - 1) / b) + ((alpha - 1) / (2 * alpha - 1)) * Math.exp(-alpha / b)) / (alpha - 1);
    assertClose(rdpLaplace(b, alpha), direct, 1e-13, `Laplace b=${b} α=${alpha}`);
  }
  assert.equal(rdpLaplace(1, Infinity), 1);
});

test("an ε-DP selection costs min(ε, αε²/2) at every order", () => {
  assert.equal(rdpPureDp(0.5, 2), 0.25);
  assert.equal(rdpPureDp(0.5, 10), 0.5);
  assert.deepEqual(Array.from(computeRdp(exponential(2), [1.5, Infinity])), [2, 2]);
});

test("the effective noise multiplier of nested Gaussians is (Σ z⁻²)^{−1/2} (dp_accounting)", () => {
  const sigmas = [0.3, 0.7, 0.2, 0.9];
  const event = composed(gaussian(sigmas[0]!), selfComposed(gaussian(sigmas[1]!), 3), composed(gaussian(sigmas[2]!), gaussian(sigmas[3]!)));
  const expected = [...sigmas, sigmas[1]!, sigmas[1]!].reduce((sum, s) => sum + s ** -2, 0) ** -0.5;
  assertClose(effectiveNoiseMultiplier(event)!, expected, 1e-15, "effective σ");
  assert.equal(effectiveNoiseMultiplier(composed(gaussian(1), laplace(1))), null);
});

test("Poisson sampling of anything but Gaussians is Unsupported: check says so, compose throws and changes nothing", () => {
  const accountant = new RdpAccountant();
  accountant.compose(gaussian(3));
  const before = accountant.rdp;
  for (const inner of [laplace(1), gnmax(2), exponential(1), poissonSampled(0.5, gaussian(1)), composed(gaussian(1), laplace(1))]) {
    const event = composed(gaussian(1), poissonSampled(0.1, inner));
    const unsupported = accountant.check(event);
    assert.equal(unsupported?.kind, "unsupported");
    assert.equal(unsupported?.event.kind, "poissonSampled");
    assert.throws(() => accountant.compose(event), (e: unknown) => e instanceof UnsupportedPrivacyEvent && e.code === "UNSUPPORTED_PRIVACY_EVENT");
  }
  const alien = { kind: "randomizedResponse", p: 0.5 } as unknown as PrivacyEvent;
  assert.match(accountant.check(alien)?.reason ?? "", /unknown event kind/);
  assert.deepEqual(accountant.rdp, before);
  assert.equal(accountant.check(poissonSampled(0.1, selfComposed(gaussian(1), 3))), null);
});

test("bad numbers are InvalidPrivacyParameter naming field, value and fix", () => {
  const accountant = new RdpAccountant();
  const invalid = (run: () => unknown, field: string): void =>
    assert.throws(run, (e: unknown) => e instanceof InvalidPrivacyParameter && e.code === "INVALID_PRIVACY_PARAMETER" && e.field === field && e.message.includes(field));
  invalid(() => accountant.compose(gaussian(-1)), "gaussian.sigma");
  invalid(() => accountant.compose(gaussian(Number.NaN)), "gaussian.sigma");
  invalid(() => accountant.check(poissonSampled(1.5, gaussian(1))), "poissonSampled.samplingRate");
  invalid(() => accountant.compose(selfComposed(gaussian(1), 0)), "selfComposed.count");
  invalid(() => accountant.compose(gaussian(1), 2.5), "count");
  invalid(() => accountant.compose(gaussian(1), -1), "count");
  invalid(() => accountant.epsilon(1), "delta");
  invalid(() => accountant.epsilon(-1e-5), "delta");
  invalid(() => accountant.delta(-0.1), "epsilon");
  invalid(() => new RdpAccountant([2, 1]), "orders[1]");
  invalid(() => rdpSubsampledGaussian(0.1, -2, 3), "noiseMultiplier");
  invalid(() => rdpToEpsilon([2, 3], [0.1], 1e-5), "rdp.length");
  assert.deepEqual(accountant.rdp, new Array(DEFAULT_RDP_ORDERS.length).fill(0));
});

test("10,000 DP-SGD steps are one step's curve times 10,000", () => {
  const oneStep = computeRdp(poissonSampled(0.01, gaussian(1.1)));
  const accountant = new RdpAccountant();
  accountant.compose(dpSgd(0.01, 1.1, 10_000));
  accountant.rdp.forEach((r, i) => assert.equal(r, oneStep[i]! * 10_000));
  const viaCount = new RdpAccountant();
  viaCount.compose(poissonSampled(0.01, gaussian(1.1)), 10_000);
  assert.deepEqual(viaCount.rdp, accountant.rdp);
});

const orders = [1.5, 2, 3.5, 8, 20, 48];
const rate = fc.double({ min: 1e-5, max: 1, noNaN: true });
const noise = fc.double({ min: 0.4, max: 20, noNaN: true });

test("ε never falls with more steps, a larger sampling rate or less noise", () => {
  fc.assert(
    fc.property(rate, rate, noise, noise, fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 0, max: 5000 }), (q1, q2, z1, z2, steps, extra) => {
      const [qLo, qHi] = q1 <= q2 ? [q1, q2] : [q2, q1];
      const [zLo, zHi] = z1 <= z2 ? [z1, z2] : [z2, z1];
      const eps = (q: number, z: number, n: number): number => epsilonOf(dpSgd(q, z, n), 1e-5, orders);
      // 1e-12 of slack: q a few ulps below 1 moves ε by rounding only.
      const base = eps(qLo, zHi, steps) * (1 - 1e-12);
      assert.ok(eps(qLo, zHi, steps + extra) >= base);
      assert.ok(eps(qHi, zHi, steps) >= base);
      assert.ok(eps(qLo, zLo, steps) >= base);
    }),
    { numRuns: 60 },
  );
});

test("RDP is non-negative and non-decreasing in α, and never above the unsampled Gaussian", () => {
  fc.assert(
    fc.property(rate, noise, (q, z) => {
      const rdp = computeRdp(poissonSampled(q, gaussian(z)));
      rdp.forEach((r, i) => {
        assert.ok(r >= 0);
        assert.ok(r <= rdpGaussian(z, DEFAULT_RDP_ORDERS[i]!) * (1 + 1e-9));
        // A_α ≈ 1 + tiny at fractional orders is resolved only to ~1e-16 in doubles, hence the absolute slack.
        if (i > 0) assert.ok(r >= rdp[i - 1]! * (1 - 1e-9) - 1e-15, `q=${q} z=${z} α=${DEFAULT_RDP_ORDERS[i]}`);
      });
    }),
    { numRuns: 40 },
  );
});

test("ε from RDP is ≥ 0 and non-increasing in δ", () => {
  fc.assert(
    fc.property(rate, noise, fc.integer({ min: 1, max: 10_000 }), fc.double({ min: 1e-12, max: 0.5, noNaN: true }), fc.double({ min: 1e-12, max: 0.5, noNaN: true }), (q, z, steps, d1, d2) => {
      const accountant = new RdpAccountant(orders);
      accountant.compose(poissonSampled(q, gaussian(z)), steps);
      const [dLo, dHi] = d1 <= d2 ? [d1, d2] : [d2, d1];
      assert.ok(accountant.epsilon(dHi) >= 0);
      assert.ok(accountant.epsilon(dLo) >= accountant.epsilon(dHi));
    }),
    { numRuns: 60 },
  );
});

test("the doc examples hold", () => {
  assertClose(rdpSubsampledGaussian(0.1, 2, 5), 0.0077369685, 1e-8, "rdpSubsampledGaussian");
  assertClose(logSubsampledGaussianMoment(0.1, 2, 5) / 4, 0.0077369685, 1e-8, "logSubsampledGaussianMoment");
  assert.equal(rdpLaplace(1, Infinity), 1);
  assert.deepEqual(Array.from(computeRdp(gaussian(2), [3])), [0.375]);
  const accountant = new RdpAccountant();
  accountant.compose(poissonSampled(0.04, gaussian(1.5)), 2250);
  assertClose(accountant.epsilon(1e-5), 7.32911117143, 1e-10, "RdpAccountant example");
});

test("property: epsilonConverter equals rdpToEpsilon on random curves, orders and δ (incl. δ = 0, pure orders, tiny rdp)", () => {
  const curve = fc.double({ min: 0, max: 50, noNaN: true }).chain((scale) =>
    fc.array(fc.oneof(fc.double({ min: 0, max: scale, noNaN: true }), fc.constantFrom(0, 1e-12, 1e-10, Infinity)), { minLength: 3, maxLength: 3 }));
  fc.assert(
    fc.property(fc.constantFrom<readonly number[]>(DEFAULT_RDP_ORDERS, [1.005, 1.5, 2, 8, Infinity]), fc.constantFrom(0, 1e-12, 1e-5, 0.3, 0.99), curve, (orders, delta, base) => {
      const rdp = Float64Array.from(orders, (_, i) => base[i % 3]! * (1 + i / orders.length));
      assert.equal(epsilonConverter(orders, delta)(rdp), rdpToEpsilon(orders, rdp, delta).epsilon);
    }),
    { numRuns: 300 },
  );
});
