import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { advancedComposition, basicComposition, optimalHomogeneousComposition } from "../../privacy/composition.ts";
import { InvalidPrivacyParameter } from "../../privacy/errors.ts";

test("basic composition sums ε and δ (Dwork & Roth 2014, Thm 3.16)", () => {
  assert.deepEqual(basicComposition([{ epsilon: 0.5, delta: 1e-6 }, { epsilon: 1, delta: 0 }]), { epsilon: 1.5, delta: 1e-6 });
  assert.deepEqual(basicComposition([]), { epsilon: 0, delta: 0 });
  assert.deepEqual(basicComposition([{ epsilon: Infinity, delta: 0.6 }, { epsilon: 1, delta: 0.6 }]), { epsilon: Infinity, delta: 1 });
});

test("advanced composition is Dwork–Rothblum–Vadhan's ε√(2k ln(1/δ′)) + kε(e^ε − 1), with δ = kδ + δ′", () => {
  const { epsilon, delta } = advancedComposition({ epsilon: 0.1, delta: 1e-7 }, 100, 1e-5);
  const expected = 0.1 * Math.sqrt(200 * Math.log(1e5)) + 100 * 0.1 * (Math.exp(0.1) - 1);
  assert.ok(Math.abs(epsilon - expected) < 1e-12);
  assert.ok(Math.abs(epsilon - 5.85023509) < 1e-8); // 4.79852591 + 1.05170918
  assert.ok(Math.abs(delta - (100 * 1e-7 + 1e-5)) < 1e-18);
});

test("advanced composition beats basic for small ε and many runs, and not for large ε", () => {
  assert.ok(advancedComposition({ epsilon: 0.01, delta: 0 }, 10_000, 1e-6).epsilon < 0.01 * 10_000 / 10);
  assert.ok(advancedComposition({ epsilon: 1, delta: 0 }, 10, 1e-6).epsilon > 10);
});

test("optimal composition matches dp_accounting's advanced_composition", () => {
  // google/differential-privacy python/dp_accounting/dp_accounting/pld/accountant_test.py, test_advanced_composition:
  // Kairouz–Oh–Viswanath 2015, Thm 3.3 (assertAlmostEqual, 7 places; None where no ε suffices).
  const cases: ReadonlyArray<[epsilon: number, delta: number, k: number, totalDelta: number, expected: number | null]> = [
    [1, 0, 30, 0, 30], // basic_composition
    [1, 0.001, 30, 0.06, 22], // advantage_over_basic1
    [1, 0.001, 30, 0.1, 20], // advantage_over_basic2
    [1, 0.2, 1, 0.1, null], // total_delta_too_small
    [1, 0.01, 30, 0.26, null], // total_delta_too_small2
  ];
  for (const [epsilon, delta, k, totalDelta, expected] of cases) {
    const total = optimalHomogeneousComposition({ epsilon, delta }, k, totalDelta);
    if (expected === null) assert.equal(total, null);
    else assert.ok(total !== null && Math.abs(total - expected) < 1e-7, `(${epsilon}, ${delta}) × ${k} at ${totalDelta}: ${total}`);
  }
});

test("optimal composition never exceeds basic or advanced composition at the same total δ", () => {
  fc.assert(
    fc.property(
      fc.double({ min: 0.01, max: 2, noNaN: true }), fc.double({ min: 0, max: 1e-3, noNaN: true }),
      fc.integer({ min: 1, max: 80 }), fc.double({ min: 1e-9, max: 0.1, noNaN: true }),
      (epsilon, delta, k, slack) => {
        const advanced = advancedComposition({ epsilon, delta }, k, slack);
        const optimal = optimalHomogeneousComposition({ epsilon, delta }, k, advanced.delta);
        assert.ok(optimal !== null);
        assert.ok(optimal <= advanced.epsilon * (1 + 1e-12));
        assert.ok(optimal <= k * epsilon * (1 + 1e-12));
      },
    ),
    { numRuns: 200 },
  );
});

test("pure DP composes exactly: kε at total δ = 0", () => {
  assert.equal(optimalHomogeneousComposition({ epsilon: 0.3, delta: 0 }, 7, 0), 0.3 * 7);
  assert.equal(optimalHomogeneousComposition({ epsilon: 0, delta: 0 }, 5, 0), 0);
});

test("optimal composition handles thousands of runs without overflow", () => {
  const total = optimalHomogeneousComposition({ epsilon: 0.5, delta: 0 }, 4000, 1e-6);
  assert.ok(total !== null && Number.isFinite(total));
  assert.ok(total < advancedComposition({ epsilon: 0.5, delta: 0 }, 4000, 1e-6).epsilon);
});

test("bad inputs are InvalidPrivacyParameter naming the field", () => {
  const invalid = (run: () => unknown, field: string): void =>
    assert.throws(run, (e: unknown) => e instanceof InvalidPrivacyParameter && e.field === field && e.message.includes(field));
  invalid(() => basicComposition([{ epsilon: -1, delta: 0 }]), "guarantees[0].epsilon");
  invalid(() => basicComposition([{ epsilon: 1, delta: 0 }, { epsilon: 1, delta: 1 }]), "guarantees[1].delta");
  invalid(() => advancedComposition({ epsilon: Number.NaN, delta: 0 }, 3, 1e-5), "guarantee.epsilon");
  invalid(() => advancedComposition({ epsilon: 1, delta: 0 }, 0, 1e-5), "count");
  invalid(() => advancedComposition({ epsilon: 1, delta: 0 }, 2.5, 1e-5), "count");
  invalid(() => advancedComposition({ epsilon: 1, delta: 0 }, 3, 0), "deltaSlack");
  invalid(() => optimalHomogeneousComposition({ epsilon: 1, delta: 0 }, 3, 1.5), "totalDelta");
});

test("the doc examples hold", () => {
  assert.ok(Math.abs(advancedComposition({ epsilon: 0.1, delta: 0 }, 100, 1e-5).epsilon - 5.8502) < 1e-4);
  assert.equal(optimalHomogeneousComposition({ epsilon: 1, delta: 0.001 }, 30, 0.06), 22);
});
