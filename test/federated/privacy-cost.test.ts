import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { maxRounds, roundEvent, trainingEpsilon } from "../../federated/privacy-cost.ts";
import { InvalidTrainingParameter } from "../../federated/errors.ts";
import { gaussian, poissonSampled } from "../../privacy/events.ts";
import { gaussianEpsilon } from "../../privacy/calibration.ts";

test("a round is gaussian(z) when every hospital takes part, poissonSampled(q, gaussian(z)) otherwise", () => {
  assert.deepEqual(roundEvent(1, 1.1), gaussian(1.1, 1));
  assert.deepEqual(roundEvent(0.05, 1.1), poissonSampled(0.05, gaussian(1.1, 1)));
  assert.throws(() => roundEvent(0, 1), (e: unknown) => e instanceof InvalidTrainingParameter && e.field === "samplingRate");
  assert.throws(() => roundEvent(1.2, 1), InvalidTrainingParameter);
  assert.throws(() => roundEvent(1, 0), InvalidTrainingParameter);
});

test("q = 1: R rounds of gaussian(z) are one Gaussian of σ = z/√R, and the PLD ε is its exact Balle–Wang ε; RDP is looser", () => {
  for (const [z, rounds, delta] of [[1, 10, 1e-5], [2, 4, 1e-5], [0.7, 100, 1e-6], [5, 1000, 1e-8]] as const) {
    const result = trainingEpsilon({ q: 1, z, rounds, delta });
    const exact = gaussianEpsilon(delta, z / Math.sqrt(rounds));
    assert.ok(Math.abs(result.pld - exact) <= 1e-9 * exact, `z ${z}, R ${rounds}: PLD ${result.pld} vs Balle–Wang ${exact}`);
    assert.ok(result.rdp.epsilon > result.pld);
    assert.equal(result.epsilon, result.pld);
    assert.equal(result.tightest, "pld");
  }
});

test("Opacus's published RDP figure: q = 0.04, z = 1.5, 2250 rounds, δ = 1e-5 → ε ≈ 7.3291 (accountants_test.test_rdp_accountant); PLD is tighter", () => {
  const result = trainingEpsilon({ q: 0.04, z: 1.5, rounds: 2250, delta: 1e-5 });
  assert.ok(Math.abs(result.rdp.epsilon - 7.32911117143) < 1e-6, `RDP ${result.rdp.epsilon}`);
  assert.ok(result.pld < result.rdp.epsilon && result.pld > 0.5 * result.rdp.epsilon, `PLD ${result.pld}`);
  assert.equal(result.epsilon, result.pld);
});

test("property: PLD ε ≤ RDP ε, and ε grows with the number of rounds", () => {
  fc.assert(fc.property(
    fc.double({ min: 0.01, max: 1, noNaN: true }),
    fc.double({ min: 0.6, max: 4, noNaN: true }),
    fc.integer({ min: 1, max: 200 }),
    (q, z, rounds) => {
      const now = trainingEpsilon({ q, z, rounds, delta: 1e-5 });
      const later = trainingEpsilon({ q, z, rounds: rounds + 10, delta: 1e-5 });
      assert.ok(now.pld <= now.rdp.epsilon * (1 + 1e-9), `q ${q} z ${z} R ${rounds}: PLD ${now.pld} > RDP ${now.rdp.epsilon}`);
      assert.ok(later.epsilon >= now.epsilon);
    },
  ), { numRuns: 6 });
});

test("maxRounds: the most rounds within the budget, the next one over it", () => {
  for (const request of [{ q: 1, z: 2, delta: 1e-5, epsilonBudget: 4.3 }, { q: 0.1, z: 1.2, delta: 1e-5, epsilonBudget: 3 }] as const) {
    const { rounds, epsilon } = maxRounds(request);
    assert.ok(rounds >= 1);
    assert.ok(epsilon <= request.epsilonBudget);
    assert.equal(epsilon, trainingEpsilon({ ...request, rounds }).epsilon);
    assert.ok(trainingEpsilon({ ...request, rounds: rounds + 1 }).epsilon > request.epsilonBudget);
  }
  assert.deepEqual(maxRounds({ q: 1, z: 0.5, delta: 1e-5, epsilonBudget: 0.1 }), { rounds: 0, epsilon: 0 });
  assert.equal(maxRounds({ q: 1, z: 1000, delta: 1e-5, epsilonBudget: 10, roundLimit: 50 }).rounds, 50);
  assert.throws(() => maxRounds({ q: 1, z: 1, delta: 0, epsilonBudget: 1 }), InvalidTrainingParameter);
});
