import { test } from "node:test";
import assert from "node:assert/strict";
import { advanceRound, planRound, recoveryDecision, type RoundPlan, type RoundRecord } from "../../federated/round-state.ts";
import { InvalidRoundTransition } from "../../federated/errors.ts";
import { roundEvent } from "../../federated/privacy-cost.ts";

const NOW = 1_700_000_000_000;
const PLAN: RoundPlan = { roundId: "r-1", participants: ["a", "b", "c"], quorum: 2, deadlineMs: NOW + 60_000, cost: roundEvent(1, 1.1) };
const refused = (action: string) => (e: unknown) => e instanceof InvalidRoundTransition && e.action === action && e.code === "INVALID_ROUND_TRANSITION";
const SHA = "ab".repeat(32);

function aggregated(): RoundRecord {
  let r = advanceRound(planRound(PLAN, 3, NOW), { type: "collect" }, NOW);
  r = advanceRound(r, { type: "submit", clientId: "a" }, NOW + 1);
  r = advanceRound(r, { type: "submit", clientId: "c" }, NOW + 2);
  return advanceRound(r, { type: "aggregate", aggregateSha256: SHA }, NOW + 3);
}

test("a round goes planned → collecting → aggregated → applied, keeping ids, base version and result", () => {
  const planned = planRound(PLAN, 3, NOW);
  assert.equal(planned.status, "planned");
  assert.equal(planned.baseVersion, 3);
  const r = aggregated();
  assert.equal(r.status, "aggregated");
  assert.deepEqual(r.submissions, ["a", "c"]);
  assert.equal(r.aggregateSha256, SHA);
  const applied = advanceRound(r, { type: "applied", resultVersion: 4 }, NOW + 4);
  assert.equal(applied.status, "applied");
  assert.equal(applied.resultVersion, 4);
});

test("refused transitions: below quorum, a stranger, a second submission, after the deadline, a wrong result version, anything after final", () => {
  const collecting = advanceRound(planRound(PLAN, 0, NOW), { type: "collect" }, NOW);
  const one = advanceRound(collecting, { type: "submit", clientId: "a" }, NOW);
  assert.throws(() => advanceRound(one, { type: "aggregate", aggregateSha256: SHA }, NOW), refused("aggregate"));
  assert.throws(() => advanceRound(one, { type: "submit", clientId: "z" }, NOW), refused("submit"));
  assert.throws(() => advanceRound(one, { type: "submit", clientId: "a" }, NOW), refused("submit"));
  assert.throws(() => advanceRound(one, { type: "submit", clientId: "b" }, PLAN.deadlineMs + 1), refused("submit"));
  assert.throws(() => advanceRound(one, { type: "applied", resultVersion: 1 }, NOW), refused("applied"));
  assert.throws(() => advanceRound(aggregated(), { type: "applied", resultVersion: 9 }, NOW), refused("applied"));
  const applied = advanceRound(aggregated(), { type: "applied", resultVersion: 4 }, NOW);
  assert.throws(() => advanceRound(applied, { type: "applied", resultVersion: 4 }, NOW), refused("applied"));
  assert.throws(() => advanceRound(applied, { type: "abandon", reason: "x" }, NOW), refused("abandon"));
  const abandoned = advanceRound(one, { type: "abandon", reason: "quorum missed" }, NOW);
  assert.equal(abandoned.abandonReason, "quorum missed");
  assert.throws(() => advanceRound(abandoned, { type: "collect" }, NOW), refused("collect"));
});

test("plans that cannot run are refused: a bad id, no participants, duplicates, quorum out of range, a past deadline", () => {
  for (const bad of [{ roundId: "../x" }, { roundId: "" }, { participants: [] }, { participants: ["a", "a"] }, { quorum: 0 }, { quorum: 4 }, { deadlineMs: NOW }]) {
    assert.throws(() => planRound({ ...PLAN, ...bad } as RoundPlan, 0, NOW), refused("plan"), JSON.stringify(bad));
  }
});

test("recovery: mark applied when the model names the round, resume an apply, abandon what cannot resume", () => {
  const r = aggregated(); // base version 3
  assert.deepEqual(recoveryDecision(r, { version: 4, producedBy: "r-1" }, NOW, true), { type: "markApplied", resultVersion: 4 });
  assert.deepEqual(recoveryDecision(r, { version: 4, producedBy: "r-1" }, NOW, false), { type: "markApplied", resultVersion: 4 }, "even with the aggregate dropped");
  assert.deepEqual(recoveryDecision(r, { version: 3, producedBy: "r-0" }, NOW, true), { type: "resumeApply" });
  assert.equal(recoveryDecision(r, { version: 3, producedBy: "r-0" }, NOW, false).type, "abandon");
  assert.equal(recoveryDecision(r, { version: 5, producedBy: "r-2" }, NOW, true).type, "abandon");
  const collecting = advanceRound(planRound(PLAN, 3, NOW), { type: "collect" }, NOW);
  assert.equal(recoveryDecision(collecting, { version: 3, producedBy: null }, NOW, false).type, "abandon");
  const planned = planRound(PLAN, 3, NOW);
  assert.equal(recoveryDecision(planned, { version: 3, producedBy: null }, NOW + 1, false).type, "resume");
  assert.equal(recoveryDecision(planned, { version: 3, producedBy: null }, PLAN.deadlineMs, false).type, "abandon");
  assert.equal(recoveryDecision(advanceRound(r, { type: "applied", resultVersion: 4 }, NOW), { version: 4, producedBy: "r-1" }, NOW, false).type, "none");
});

test("adaptive clipping: a plan records its C and an aggregate the next C; neither may be non-finite or ≤ 0", () => {
  const planned = planRound({ ...PLAN, clipNorm: 0.8 }, 0, NOW);
  assert.equal(planned.clipNorm, 0.8);
  assert.equal("clipNorm" in planRound(PLAN, 0, NOW), false, "absent when not given");
  assert.throws(() => planRound({ ...PLAN, clipNorm: 0 }, 0, NOW), refused("plan"));
  let r = advanceRound(planned, { type: "collect" }, NOW + 1);
  for (const id of ["a", "b"]) r = advanceRound(r, { type: "submit", clientId: id }, NOW + 2);
  assert.throws(() => advanceRound(r, { type: "aggregate", aggregateSha256: SHA, nextClipNorm: Number.NaN }, NOW + 3), refused("aggregate"));
  assert.equal(advanceRound(r, { type: "aggregate", aggregateSha256: SHA, nextClipNorm: 0.7 }, NOW + 3).nextClipNorm, 0.7);
});
