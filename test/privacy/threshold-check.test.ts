/**
 * The threshold check of PATE's Confident-GNMax as a privacy event: the Gaussian mechanism of
 * sensitivity 1 on the top vote count. RDP α/(2σ²) (the authors' pate_2018 `core.py`,
 * `compute_rdp_data_independent_threshold(σ, orders)` = `rdp_data_independent_gaussian(√2σ, orders)`
 * = orders/(2σ²)), PLD the Gaussian's, checked here against those closed forms.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { composed, gaussian, gnmax, poissonSampled, selfComposed, thresholdCheck } from "../../privacy/events.ts";
import { InvalidPrivacyParameter, UnsupportedPrivacyEvent } from "../../privacy/errors.ts";
import { PldAccountant } from "../../privacy/pld.ts";
import { computeRdp, DEFAULT_RDP_ORDERS, RdpAccountant } from "../../privacy/rdp.ts";
import { exactGaussianEpsilon, gaussianDelta } from "./independent-normal.ts";

const close = (actual: number, expected: number, relative: number, label: string): void =>
  assert.ok(Math.abs(actual - expected) <= relative * Math.abs(expected), `${label}: ${actual} vs ${expected}`);

test("a threshold check's RDP is α/(2σ²): half of GNMax's α/σ² at the same σ", () => {
  for (const sigma of [0.5, 1, 2, 4, 40]) {
    const curve = computeRdp(thresholdCheck(sigma));
    const gnmaxCurve = computeRdp(gnmax(sigma));
    DEFAULT_RDP_ORDERS.forEach((alpha, i) => {
      close(curve[i]!, alpha / (2 * sigma * sigma), 1e-15, `σ ${sigma}, α ${alpha}`);
      close(curve[i]!, gnmaxCurve[i]! / 2, 1e-15, `σ ${sigma}, α ${alpha}: half of GNMax`);
    });
  }
});

test("n checks and m GNMax releases are one Gaussian of μ² = n/σ₁² + 2m/σ₂²: the PLD's ε and δ are its closed form", () => {
  for (const [sigma1, sigma2, n, m] of [[2, 4, 1, 0], [2, 4, 4, 3], [1, 4, 8, 8], [3, 40, 32, 31], [0.5, 2, 100, 100]] as const) {
    const event = composed(selfComposed(thresholdCheck(sigma1), n), ...(m > 0 ? [selfComposed(gnmax(sigma2), m)] : []));
    const pld = new PldAccountant();
    pld.compose(event);
    const sigma = 1 / Math.sqrt(n / sigma1 ** 2 + (2 * m) / sigma2 ** 2);
    for (const delta of [1e-5, 1e-8]) {
      const exact = exactGaussianEpsilon(delta, sigma);
      assert.ok(Math.abs(pld.epsilon(delta) - exact) < 1e-6 * Math.max(1, exact), `σ₁ ${sigma1} σ₂ ${sigma2} ×${n}/${m} δ ${delta}: ${pld.epsilon(delta)} vs ${exact}`);
    }
    close(pld.delta(1), gaussianDelta(1, sigma), 1e-6, `δ(1), ×${n}/${m}`);
    // RDP by hand: n·α/(2σ₁²) + m·α/σ₂², through the accountant's own conversion.
    const rdp = new RdpAccountant();
    rdp.compose(event);
    rdp.rdp.forEach((r, i) => close(r, DEFAULT_RDP_ORDERS[i]! * (n / (2 * sigma1 ** 2) + m / sigma2 ** 2), 1e-14, `RDP α ${DEFAULT_RDP_ORDERS[i]}`));
    assert.ok(pld.epsilon(1e-5) <= rdp.epsilon(1e-5));
  }
});

test("a threshold check is the Gaussian of sensitivity 1, also beside a mechanism the PLD discretises", () => {
  const sampled = poissonSampled(0.05, gaussian(1));
  const a = new PldAccountant({ capByRdp: false });
  a.compose(composed(selfComposed(sampled, 50), selfComposed(thresholdCheck(3), 7)));
  const b = new PldAccountant({ capByRdp: false });
  b.compose(composed(selfComposed(sampled, 50), selfComposed(gaussian(3, 1), 7)));
  assert.equal(a.epsilon(1e-5), b.epsilon(1e-5));
});

test("a threshold check is counted unsampled only, and its σ is validated like any other", () => {
  for (const accountant of [new PldAccountant(), new RdpAccountant()]) {
    assert.equal(accountant.check(thresholdCheck(2)), null);
    assert.equal(accountant.check(poissonSampled(0.1, thresholdCheck(2)))?.kind, "unsupported", "a replace-one vote count is not amplified by Poisson sampling here");
    assert.throws(() => accountant.compose(poissonSampled(0.1, thresholdCheck(2))), UnsupportedPrivacyEvent);
    for (const sigma of [-1, Number.NaN, Infinity]) {
      assert.throws(() => accountant.check(composed(gnmax(1), thresholdCheck(sigma))), (e: unknown) => e instanceof InvalidPrivacyParameter && e.field === "composed.events[1].sigma", String(sigma));
    }
  }
  const blatant = new PldAccountant();
  blatant.compose(thresholdCheck(0));
  assert.equal(blatant.epsilon(1e-5), Infinity, "σ = 0 reveals the top count");
});
