/**
 * What an ensemble costs, checked with the Accountant's own maths: the committed ε of n tokens
 * is the ε the Accountant computes for n GNMax releases (α·n/σ² per order, through its RDP→ε
 * conversion, and the tight PLD figure), the reservation covers every commit of at most
 * maxTokens at every Rényi order (what the ledger requires of a commit), and none is charged
 * for nothing. Confident-GNMax likewise: n threshold checks and m releases cost the Accountant
 * exactly the formula (one Gaussian of μ² = n/σ₁² + 2m/σ₂², and RDP n·α/(2σ₁²) + m·α/σ₂²), and a
 * check that refused the first token still costs one check.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  confidentCharge, confidentReservation, ensembleCharge, ensembleReservation, InvalidEnsembleRequest, InvalidSigma, MAX_ENSEMBLE_TOKENS,
} from "../../../actors/aggregator/index.ts";
import { composed, computeRdp, DEFAULT_RDP_ORDERS, gnmax, PldAccountant, RdpAccountant, rdpToEpsilon, selfComposed, thresholdCheck } from "../../../privacy/index.ts";
import { DEFAULT_LEDGER_CONFIG, Ledger, spendOf } from "../../../actors/accountant/index.ts";
import { exactGaussianEpsilon } from "../../privacy/independent-normal.ts";

const delta = 1e-5;

test("the reservation is maxTokens GNMax releases and the charge the released ones; none released charges nothing", () => {
  assert.deepEqual(ensembleReservation(20, 16), selfComposed(gnmax(20), 16), "reserve the worst case");
  assert.deepEqual(ensembleCharge(20, 3), selfComposed(gnmax(20), 3), "commit what was released");
  assert.equal(ensembleCharge(20, 0), null, "nothing released: release the reservation instead");
});

test("the committed ε equals the Accountant's ε for n GNMax releases: RDP n·α/σ², and the tight PLD figure", () => {
  for (const [sigma, n] of [[10, 1], [20, 16], [40, 64], [5, 3]] as const) {
    const event = ensembleCharge(sigma, n)!;
    const byHand = rdpToEpsilon(DEFAULT_RDP_ORDERS, DEFAULT_RDP_ORDERS.map((alpha) => (n * alpha) / (sigma * sigma)), delta).epsilon;
    const rdp = new RdpAccountant();
    rdp.compose(event);
    const rdpEpsilon = rdp.epsilon(delta);
    assert.ok(Math.abs(rdpEpsilon - byHand) <= 1e-12 * byHand, `σ ${sigma}, ${n} tokens: RDP ε ${rdpEpsilon} = ${byHand} (α·n/σ² by hand)`);
    const pld = new PldAccountant();
    pld.compose(event);
    const tight = pld.epsilon(delta);
    assert.ok(tight <= rdpEpsilon, `σ ${sigma}, ${n} tokens: PLD ε ${tight} ≤ RDP ε ${rdpEpsilon}`);
    assert.equal(spendOf([event], delta), Math.min(rdpEpsilon, tight), `σ ${sigma}, ${n} tokens: what the ledger charges`);
    // The same as n separate per-token commits would cost.
    const perToken = spendOf(Array.from({ length: n }, () => gnmax(sigma)), delta, { tight: null });
    assert.ok(Math.abs(perToken - rdpEpsilon) <= 1e-12 * rdpEpsilon, `n one-token events cost ${perToken}, the composed event ${rdpEpsilon}`);
  }
});

test("the reservation covers every commit of at most maxTokens at every Rényi order, and in ε", () => {
  fc.assert(fc.property(fc.double({ min: 1, max: 100, noNaN: true }), fc.integer({ min: 1, max: 256 }), fc.nat(), (sigma, maxTokens, r) => {
    const released = r % (maxTokens + 1);
    const reserved = computeRdp(ensembleReservation(sigma, maxTokens));
    const charge = ensembleCharge(sigma, released);
    if (charge === null) return released === 0;
    const actual = computeRdp(charge);
    return actual.every((a, i) => a <= reserved[i]!) && spendOf([charge], delta, { tight: null }) <= spendOf([ensembleReservation(sigma, maxTokens)], delta, { tight: null });
  }), { numRuns: 200 });
});

test("bad σ and token counts are typed errors", () => {
  assert.throws(() => ensembleReservation(0, 4), InvalidSigma, "σ 0");
  assert.throws(() => ensembleReservation(Number.NaN, 4), InvalidSigma, "σ NaN");
  assert.throws(() => ensembleReservation(2, 0), (e: unknown) => e instanceof InvalidEnsembleRequest && e.field === "maxTokens", "0 max tokens");
  assert.throws(() => ensembleReservation(2, MAX_ENSEMBLE_TOKENS + 1), InvalidEnsembleRequest, "too many tokens");
  assert.throws(() => ensembleReservation(2, 1.5), InvalidEnsembleRequest, "fractional tokens");
  assert.throws(() => ensembleCharge(2, -1), (e: unknown) => e instanceof InvalidEnsembleRequest && e.code === "INVALID_ENSEMBLE_REQUEST" && e.field === "released", "negative released");
});

test("the Accountant's ledger takes the reservation, accepts the commit of the released tokens, and charges its ε", async () => {
  const ledger = new Ledger(DEFAULT_LEDGER_CONFIG);
  const nowMs = Date.parse("2026-12-02T10:00:00Z");
  const decision = ledger.reserve({ key: "req-1", user: "u-17", department: "emergency", event: ensembleReservation(8, 32), nowMs });
  if (decision.type !== "reserved") return assert.fail(`reserved: ${JSON.stringify(decision)}`);
  const settled = ledger.commit({ id: decision.charge.id, actual: ensembleCharge(8, 5)!, nowMs });
  const expected = spendOf([selfComposed(gnmax(8), 5)], DEFAULT_LEDGER_CONFIG.delta);
  assert.ok(Math.abs(settled.cost - expected) <= 1e-12 * expected, `committed ε ${settled.cost} = the Accountant's ε for 5 GNMax(8) releases ${expected}`);
  const spent = ledger.budget("u-17", "emergency", nowMs);
  assert.ok(Math.abs(spent.user.spent - expected) <= 1e-12 * expected, `the user's spend is exactly that: ${spent.user.spent}`);
  assert.ok(Math.abs(spent.department!.spent - expected) <= 1e-12 * expected, `and the department's: ${spent.department!.spent}`);
});

// ---------------------------------------------------------------- Confident-GNMax (issue 14)

test("Confident-GNMax reserves a check and a release per token, and commits the checks made and the releases made", () => {
  assert.deepEqual(confidentReservation(4, 2, 16), composed(selfComposed(thresholdCheck(2), 16), selfComposed(gnmax(4), 16)));
  assert.deepEqual(confidentCharge(4, 2, 5, 4), composed(selfComposed(thresholdCheck(2), 5), selfComposed(gnmax(4), 4)), "four released, the fifth refused");
  assert.deepEqual(confidentCharge(4, 2, 1, 0), composed(selfComposed(thresholdCheck(2), 1)), "refused at the first token: one check");
  assert.equal(confidentCharge(4, 2, 0, 0), null, "nothing checked: release the reservation");
  assert.throws(() => confidentCharge(4, 2, 2, 3), (e: unknown) => e instanceof InvalidEnsembleRequest && e.field === "released", "a release without its check");
  assert.throws(() => confidentReservation(4, 0, 16), InvalidSigma, "σ₁ 0");
});

test("the Accountant charges n checks and m releases exactly its formula: one Gaussian of μ² = n/σ₁² + 2m/σ₂²", () => {
  const nowMs = Date.parse("2026-12-02T10:00:00Z");
  for (const [sigma, sigma1, maxTokens, checks, released] of [[4, 2, 8, 8, 8], [4, 2, 8, 5, 4], [4, 1, 4, 3, 2], [40, 20, 64, 33, 32], [4, 2, 8, 1, 0]] as const) {
    const ledger = new Ledger({ ...DEFAULT_LEDGER_CONFIG, defaultUserEpsilon: 100, departments: { emergency: { epsilon: 100 } } });
    const decision = ledger.reserve({ key: "req-1", user: "u-17", department: "emergency", event: confidentReservation(sigma, sigma1, maxTokens), nowMs });
    if (decision.type !== "reserved") return assert.fail(`reserved: ${JSON.stringify(decision)}`);
    const settled = ledger.commit({ id: decision.charge.id, actual: confidentCharge(sigma, sigma1, checks, released)!, nowMs });
    const formula = exactGaussianEpsilon(DEFAULT_LEDGER_CONFIG.delta, 1 / Math.sqrt(checks / sigma1 ** 2 + (2 * released) / sigma ** 2));
    assert.ok(Math.abs(settled.cost - formula) < 1e-6 * Math.max(1, formula), `σ ${sigma} σ₁ ${sigma1}: ${checks} checks, ${released} releases cost ${settled.cost}, the formula ${formula}`);
    const byHand = rdpToEpsilon(DEFAULT_RDP_ORDERS, DEFAULT_RDP_ORDERS.map((alpha) => alpha * (checks / (2 * sigma1 ** 2) + released / sigma ** 2)), DEFAULT_LEDGER_CONFIG.delta).epsilon;
    const rdp = new RdpAccountant();
    rdp.compose(confidentCharge(sigma, sigma1, checks, released)!);
    assert.ok(Math.abs(rdp.epsilon(DEFAULT_LEDGER_CONFIG.delta) - byHand) <= 1e-12 * byHand, "RDP n·α/(2σ₁²) + m·α/σ₂², by hand");
    assert.ok(settled.cost <= byHand, "the tight figure is at most RDP's");
    const spent = ledger.budget("u-17", "emergency", nowMs);
    assert.ok(Math.abs(spent.user.spent - settled.cost) <= 1e-12 * settled.cost, `the user's spend is the charge: ${spent.user.spent}`);
  }
});

test("an answer refused at its first token costs exactly one threshold check, and is charged, not released", () => {
  const nowMs = Date.parse("2026-12-02T10:00:00Z");
  const ledger = new Ledger({ ...DEFAULT_LEDGER_CONFIG, defaultUserEpsilon: 100, departments: { emergency: { epsilon: 100 } } });
  const decision = ledger.reserve({ key: "req-1", user: "u-17", department: "emergency", event: confidentReservation(4, 2, 16), nowMs });
  if (decision.type !== "reserved") return assert.fail(`reserved: ${JSON.stringify(decision)}`);
  const settled = ledger.commit({ id: decision.charge.id, actual: confidentCharge(4, 2, 1, 0)!, nowMs });
  const oneCheck = exactGaussianEpsilon(DEFAULT_LEDGER_CONFIG.delta, 2); // the Gaussian of σ₁ = 2 on a count of sensitivity 1
  assert.ok(settled.cost > 0 && Math.abs(settled.cost - oneCheck) < 1e-6, `one check costs ${settled.cost}, the formula ${oneCheck}`);
  const release = spendOf([gnmax(2 * Math.SQRT2)], DEFAULT_LEDGER_CONFIG.delta);
  assert.ok(Math.abs(settled.cost - release) < 1e-9, `a check at σ₁ costs what a GNMax release at √2·σ₁ does (sensitivity 1 against √2): ${settled.cost} vs ${release}`);
});

test("the Confident-GNMax reservation covers every commit of at most maxTokens checks and releases, at every Rényi order", () => {
  fc.assert(fc.property(fc.double({ min: 1, max: 100, noNaN: true }), fc.double({ min: 0.5, max: 50, noNaN: true }), fc.integer({ min: 1, max: 256 }), fc.nat(), fc.boolean(), (sigma, sigma1, maxTokens, r, abstained) => {
    const released = r % (maxTokens + (abstained ? 0 : 1));
    const checks = released + (abstained ? 1 : 0);
    const reserved = computeRdp(confidentReservation(sigma, sigma1, maxTokens));
    const charge = confidentCharge(sigma, sigma1, checks, released);
    if (charge === null) return checks === 0;
    return computeRdp(charge).every((a, i) => a <= reserved[i]!);
  }), { numRuns: 200 });
});
