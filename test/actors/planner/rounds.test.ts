/**
 * Round selection for federated training (issue 13): who takes part, who is left out and why, a
 * round refused before anyone trains when its quorum cannot be met, Poisson sampling at rate q,
 * bad requests named by field — as pure logic and through the Planner actor.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { ActorSystem } from "../../../runtime/index.ts";
import { InvalidRoundRequest, planner, PlannerClient, selectRound, type RoundCandidate, type RoundSelectionRequest } from "../../../actors/planner/index.ts";

const candidates: RoundCandidate[] = [
  { hospital: "hospital-c", available: true, remainingEpsilon: 3 },
  { hospital: "hospital-a", available: true, remainingEpsilon: 1 },
  { hospital: "hospital-b", available: false, remainingEpsilon: 9 },
  { hospital: "hospital-d", available: true, remainingEpsilon: 0.2 },
];

test("available hospitals with at least the round's ε left take part; the others are left out with their reason", () => {
  const selection = selectRound({ round: "r-1", candidates, quorum: 2, roundEpsilon: 0.5 });
  assert.equal(selection.type, "selected");
  assert.ok(selection.type === "selected");
  assert.deepEqual(selection.participants, ["hospital-a", "hospital-c"]);
  assert.deepEqual(selection.excluded.map((e) => [e.hospital, e.reason]), [["hospital-b", "unavailable"], ["hospital-d", "budget"]]);
  assert.equal(selection.samplingRate, 1);
  assert.match(selection.excluded[1]!.message, /ε 0\.2 .* costs ε 0\.5/);
});

test("a round whose quorum cannot be met is refused, naming who was left out and why", () => {
  const selection = selectRound({ round: "r-2", candidates, quorum: 3, roundEpsilon: 0.5 });
  assert.equal(selection.type, "refused");
  assert.ok(selection.type === "refused");
  assert.equal(selection.code, "QUORUM_NOT_MET");
  assert.match(selection.message, /needs 3 hospitals and 2 can take part; left out: hospital-b \(unavailable\), hospital-d \(budget\)/);
  // Budget alone can refuse it: a round dearer than anyone's remaining ε.
  assert.equal(selectRound({ round: "r-3", candidates, quorum: 1, roundEpsilon: 10 }).type, "refused");
});

test("property: participants are exactly the eligible hospitals drawn, every candidate is either in or left out once, and a quorum is met or refused", () => {
  const candidate = fc.record({ hospital: fc.constantFrom("a", "b", "c", "d", "e", "f", "g"), available: fc.boolean(), remainingEpsilon: fc.double({ min: 0, max: 5, noNaN: true }) });
  fc.assert(fc.property(
    fc.uniqueArray(candidate, { selector: (c) => c.hospital, minLength: 1, maxLength: 7 }),
    fc.integer({ min: 1, max: 7 }), fc.double({ min: 0.01, max: 4, noNaN: true }), fc.double({ min: 0.05, max: 1, noNaN: true }), fc.array(fc.double({ min: 0, max: 0.999999, noNaN: true }), { minLength: 7, maxLength: 7 }),
    (cands, quorum, roundEpsilon, q, draws) => {
      let i = 0;
      const s = selectRound({ round: "r", candidates: cands, quorum, roundEpsilon, samplingRate: q }, () => draws[i++ % draws.length]!);
      const inOrOut = [...(s.type === "selected" ? s.participants : []), ...s.excluded.map((e) => e.hospital)];
      if (s.type === "selected") {
        assert.equal(inOrOut.length, cands.length);
        assert.ok(s.participants.length >= quorum);
        for (const h of s.participants) {
          const c = cands.find((x) => x.hospital === h)!;
          assert.ok(c.available && c.remainingEpsilon >= roundEpsilon);
        }
      } else assert.equal(s.code, "QUORUM_NOT_MET");
      for (const e of s.excluded) {
        const c = cands.find((x) => x.hospital === e.hospital)!;
        assert.equal(e.reason, !c.available ? "unavailable" : c.remainingEpsilon < roundEpsilon ? "budget" : "not-sampled");
      }
    },
  ), { numRuns: 200 });
});

test("with a sampling rate q each eligible hospital joins with probability q (node:crypto draws; binomial bound, false failure < 1e-6)", () => {
  const many: RoundCandidate[] = Array.from({ length: 500 }, (_, i) => ({ hospital: `h-${i}`, available: true, remainingEpsilon: 1 }));
  const selection = selectRound({ round: "r-q", candidates: many, quorum: 1, roundEpsilon: 0.1, samplingRate: 0.3 });
  assert.ok(selection.type === "selected");
  // n = 500, q = 0.3: mean 150, sd ≈ 10.25; |X − 150| > 5.5 sd has probability < 1e-7.
  assert.ok(Math.abs(selection.participants.length - 150) < 5.5 * Math.sqrt(500 * 0.3 * 0.7), `${selection.participants.length} joined`);
  assert.ok(selection.excluded.every((e) => e.reason === "not-sampled"));
});

test("a malformed request is an InvalidRoundRequest naming the field", () => {
  const good: RoundSelectionRequest = { round: "r", candidates, quorum: 1, roundEpsilon: 0.5 };
  const cases: [Partial<RoundSelectionRequest> | Record<string, unknown>, RegExp][] = [
    [{ round: "" }, /round/],
    [{ candidates: [] }, /candidates/],
    [{ candidates: [candidates[0]!, candidates[0]!] }, /candidates\[1\]\.hospital: .*listed twice/],
    [{ candidates: [{ hospital: "x", available: true, remainingEpsilon: -1 }] }, /remainingEpsilon/],
    [{ quorum: 0 }, /quorum/],
    [{ roundEpsilon: -0.5 }, /roundEpsilon/],
    [{ roundEpsilon: Number.POSITIVE_INFINITY }, /roundEpsilon/],
    [{ samplingRate: 1.5 }, /samplingRate/],
    [{ samplingRate: 0 }, /samplingRate/],
  ];
  for (const [change, field] of cases) {
    assert.throws(() => selectRound({ ...good, ...change } as RoundSelectionRequest), (e: unknown) => e instanceof InvalidRoundRequest && e.code === "INVALID_ROUND_REQUEST" && field.test(e.message), JSON.stringify(change));
  }
});

test("through the Planner actor: select-round answers selected or refused, and a bad request is rejected with the field", async () => {
  const system = await ActorSystem.start({ node: "h1", logLevel: "silent" });
  try {
    const client = new PlannerClient(await system.spawn(planner, { blocks: 2 }));
    const selected = await client.selectRound({ round: "r-1", candidates, quorum: 2, roundEpsilon: 0.5 });
    assert.equal(selected.type, "selected");
    assert.deepEqual(selected.type === "selected" ? selected.participants : [], ["hospital-a", "hospital-c"]);
    const refused = await client.selectRound({ round: "r-2", candidates, quorum: 4, roundEpsilon: 0.5 });
    assert.equal(refused.type, "refused");
    const rejected = await client.selectRound({ round: "r-3", candidates, quorum: 0, roundEpsilon: 0.5 });
    assert.deepEqual(rejected.type === "rejected" ? [rejected.code, rejected.field] : [], ["INVALID_REQUEST", "request.quorum"]);
  } finally {
    await system.stop();
  }
});
