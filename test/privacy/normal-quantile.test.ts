/**
 * Φ⁻¹ from a log probability (AS 241) against normal.ts's independent Φ (Cody's erf):
 * round trips in the centre, both tails and for p = U^{1/m} close to 1, where 1 − p would
 * lose every digit.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { normalQuantileOfLog } from "../../privacy/normal-quantile.ts";
import { logNormalCdf, normalCdf } from "../../privacy/normal.ts";

test("published quantiles: Φ⁻¹(0.975) = 1.959963984540054, Φ⁻¹(½) = 0, Φ⁻¹(1e-10) = −6.361340902404056", () => {
  assert.ok(Math.abs(normalQuantileOfLog(Math.log(0.975)) - 1.959963984540054) < 1e-14, "97.5%");
  assert.equal(normalQuantileOfLog(Math.log(0.5)), 0, "median");
  assert.ok(Math.abs(normalQuantileOfLog(Math.log(1e-10)) + 6.361340902404056) < 1e-13, "1e-10");
  assert.equal(normalQuantileOfLog(0), Infinity, "p = 1");
  assert.equal(normalQuantileOfLog(-Infinity), -Infinity, "p = 0");
  assert.ok(Number.isNaN(normalQuantileOfLog(0.1)), "log p > 0 is not a probability");
});

test("Φ(Φ⁻¹(p)) = p to 1e-13 relative, from p = e^-700 to p = 1 − 1e-15 (upper tail checked on 1 − p)", () => {
  fc.assert(fc.property(fc.double({ min: -700, max: -1e-15, noNaN: true }), (logP) => {
    const x = normalQuantileOfLog(logP);
    if (logP < Math.log(0.5)) {
      const back = logNormalCdf(x);
      return Math.abs(back - logP) <= 1e-13 * Math.max(1, Math.abs(logP));
    }
    const tail = -Math.expm1(logP); // 1 − p, computed without cancellation
    const backTail = normalCdf(-x);
    return Math.abs(backTail - tail) <= 1e-12 * tail;
  }), { numRuns: 2_000 });
});

test("the quantile is monotone", () => {
  let previous = -Infinity;
  for (let logP = -50; logP < 0; logP += 0.01) {
    const x = normalQuantileOfLog(logP);
    assert.ok(x >= previous, `Φ⁻¹ rises at log p = ${logP}`);
    previous = x;
  }
});
