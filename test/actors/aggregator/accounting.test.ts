/**
 * What an ensemble costs, checked with the Accountant's own maths: the committed ε of n tokens
 * is the ε the Accountant computes for n GNMax releases (α·n/σ² per order, through its RDP→ε
 * conversion, and the tight PLD figure), the reservation covers every commit of at most
 * maxTokens at every Rényi order (what the ledger requires of a commit), and none is charged
 * for nothing.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { ensembleCharge, ensembleReservation, InvalidEnsembleRequest, InvalidSigma, MAX_ENSEMBLE_TOKENS } from "../../../actors/aggregator/index.ts";
import { computeRdp, DEFAULT_RDP_ORDERS, gnmax, PldAccountant, RdpAccountant, rdpToEpsilon, selfComposed } from "../../../privacy/index.ts";
import { spendOf } from "../../../actors/accountant/index.ts";

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
  const { Ledger, DEFAULT_LEDGER_CONFIG } = await import("../../../actors/accountant/index.ts");
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
