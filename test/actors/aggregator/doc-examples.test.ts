/**
 * The @example lines of the Aggregator's exported API, run as written (STYLE §6); the actor's
 * and ensembleGenerate's examples run in behaviour.test.ts.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ensembleCharge, ensembleReservation, noisyArgmax } from "../../../actors/aggregator/index.ts";
import { normalQuantileOfLog } from "../../../privacy/index.ts";

test("doc examples: noisyArgmax, normalQuantileOfLog, ensembleReservation, ensembleCharge", () => {
  assert.equal(noisyArgmax([464, 464, 464], { sigma: 0.1 }).token, 464, "noisyArgmax example");
  assert.equal(normalQuantileOfLog(Math.log(0.975)), 1.9599639845400536, "normalQuantileOfLog example");
  assert.deepEqual(ensembleReservation(20, 16), { kind: "selfComposed", event: { kind: "gnmax", sigma: 20 }, count: 16 }, "ensembleReservation example");
  assert.deepEqual(ensembleCharge(20, 3), { kind: "selfComposed", event: { kind: "gnmax", sigma: 20 }, count: 3 }, "ensembleCharge example");
  assert.equal(ensembleCharge(20, 0), null, "ensembleCharge example, none released");
});

test("doc examples: confidentArgmax, confidentReservation, confidentCharge", async () => {
  const { composed, gnmax, selfComposed, thresholdCheck } = await import("../../../privacy/index.ts");
  const { confidentArgmax, confidentCharge, confidentReservation } = await import("../../../actors/aggregator/index.ts");
  assert.equal(confidentArgmax([464, 464, 464], { sigma: 0.1, confident: { threshold: 2, sigma1: 0.1 } }).type, "released", "3 votes clear T = 2");
  assert.equal(confidentArgmax([1, 2, 3], { sigma: 0.1, confident: { threshold: 2.5, sigma1: 0.1 } }).type, "abstained", "a top count of 1");
  assert.deepEqual(confidentReservation(4, 2, 16), composed(selfComposed(thresholdCheck(2), 16), selfComposed(gnmax(4), 16)));
  assert.deepEqual(confidentCharge(4, 2, 1, 0), composed(selfComposed(thresholdCheck(2), 1)));
});
