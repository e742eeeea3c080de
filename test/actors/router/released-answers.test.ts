/**
 * ReleasedAnswers on its own: claims (run, running, replay, mismatch), attempts of an id whose
 * runs released nothing, the count and age bounds, and the slots in a real NodeStore on LMDB
 * read back after the store is reopened.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { openNodeStore } from "../../../runtime/persistence/index.ts";
import { fingerprintOf, nodeStoreSlots, ReleasedAnswers, type Claim, type OutcomeRecord, type OutcomeSlots, type RequestOutcome } from "../../../actors/router/released-answers.ts";
import type { InferenceRequest, InferenceSummary } from "../../../actors/router/http/service.ts";
import { tempDir } from "../../fixtures/node-store.ts";

const SUMMARY: InferenceSummary = { privacyCost: 1.5, remainingBudget: 3, nodeId: "h-a", consensusReached: true, confidenceScore: 0.8, finishReason: "stop", usage: { promptTokens: 3, completionTokens: 2 } };
const answered = (text: string): RequestOutcome => ({ kind: "answered", text, summary: SUMMARY });
const request = (fields: Partial<InferenceRequest> = {}): InferenceRequest => ({ requestId: "q", prompt: "Fever?", maxTokens: 4, requireConsensus: true, priority: 3, department: "radiology", ...fields });
const FP = fingerprintOf(request());

function run(claim: Claim): Extract<Claim, { type: "run" }> {
  assert.equal(claim.type, "run", `expected to run, got ${claim.type}`);
  return claim as Extract<Claim, { type: "run" }>;
}

test("the first claim runs; a twin while it runs is told so and hears when it ends; then the answer is replayed to that user only, and another request under the id is a mismatch", async () => {
  const answers = new ReleasedAnswers();
  const first = run(answers.claim("dr-a", "q", FP));
  assert.equal(first.attempt, 1);
  const twin = answers.claim("dr-a", "q", FP);
  assert.equal(twin.type, "running");
  assert.equal(answers.claim("dr-a", "q", fingerprintOf(request({ prompt: "Cough?" }))).type, "mismatch", "another request under a running id");
  assert.equal(answers.claim("dr-b", "q", FP).type, "run", "another user's id is another request");
  assert.equal(await first.finish(answered("Rest.")), undefined);
  await (twin as Extract<Claim, { type: "running" }>).finished;
  assert.deepEqual(answers.claim("dr-a", "q", FP), { type: "replay", outcome: answered("Rest.") });
  assert.deepEqual(answers.claim("dr-a", "q", fingerprintOf(request({ privacyBudget: 0.001, priority: 5 }))).type, "replay", "privacy_budget and priority do not make another request");
  assert.equal(answers.claim("dr-a", "q", fingerprintOf(request({ maxTokens: 5 }))).type, "mismatch");
  assert.equal(answers.claim("dr-a", "q", fingerprintOf(request({ stop: ["\n"] }))).type, "mismatch", "other stop sequences make another request (issue 14)");
  await assert.rejects(first.finish(null), /finished twice/, "finishing a claim twice is a defect");
});

test("an id whose runs released nothing is claimed again as the next attempt, whatever the request; nothing kept is attempt 1 again", async () => {
  const answers = new ReleasedAnswers();
  await run(answers.claim("dr-a", "q", FP)).finish({ kind: "retryable", attempts: 1 });
  const second = run(answers.claim("dr-a", "q", fingerprintOf(request({ prompt: "Cough?" }))));
  assert.equal(second.attempt, 2);
  await second.finish({ kind: "retryable", attempts: 2 });
  const third = run(answers.claim("dr-a", "q", FP));
  assert.equal(third.attempt, 3);
  await third.finish({ kind: "spent", cost: 0.4 });
  assert.deepEqual(answers.claim("dr-a", "q", FP), { type: "replay", outcome: { kind: "spent", cost: 0.4 } });
  await run(answers.claim("dr-a", "r", FP)).finish(null);
  assert.equal(run(answers.claim("dr-a", "r", FP)).attempt, 1, "refused or failed before reserving: nothing kept");
});

test("bounded: at most `capacity` records, the oldest overwritten first; a record older than ttlMs is not served", async () => {
  let now = 1_000;
  const answers = new ReleasedAnswers(undefined, { capacity: 3, ttlMs: 60_000, nowMs: () => now });
  for (const id of ["a", "b", "c", "d"]) await run(answers.claim("dr-a", id, FP)).finish(answered(id));
  assert.equal(answers.size, 3);
  assert.equal(answers.claim("dr-a", "a", FP).type, "run", "the oldest was overwritten");
  assert.deepEqual(["b", "c", "d"].map((id) => answers.claim("dr-a", id, FP).type), ["replay", "replay", "replay"]);
  now += 60_000;
  assert.equal(answers.claim("dr-a", "b", FP).type, "run", "expired");
  assert.throws(() => new ReleasedAnswers(undefined, { capacity: 0 }), RangeError);
});

test("durable: the records in the node store's LMDB are read back after it is reopened (newest of an id wins, the ring goes on after them); unreadable ones are skipped", async (t) => {
  const dir = tempDir(t, "fedrouter-released-answers-");
  let store = openNodeStore({ path: dir });
  try {
    const answers = new ReleasedAnswers(nodeStoreSlots(store), { capacity: 4 });
    await run(answers.claim("dr-a", "q", FP)).finish({ kind: "retryable", attempts: 1 });
    await run(answers.claim("dr-a", "q", FP)).finish(answered("Rest and fluids."));
    for (const id of ["r", "s"]) await run(answers.claim("dr-b", id, FP)).finish(answered(id));
    store.actor<unknown>("router/released-answers/7", { durability: "sync" }); // a slot with no record
    await store.actor<unknown>("router/released-answers/9", { durability: "sync" }).persist({ state: { v: 2, what: "a later version" } });
  } finally {
    await store.close();
  }
  store = openNodeStore({ path: dir });
  try {
    const answers = new ReleasedAnswers(nodeStoreSlots(store), { capacity: 4 });
    assert.deepEqual(answers.claim("dr-a", "q", FP), { type: "replay", outcome: answered("Rest and fluids.") }, "the answer, not the older retryable record");
    assert.equal(answers.claim("dr-b", "q", FP).type, "run", "never another user's answer");
    assert.equal(answers.size, 3);
    // seq 5 goes to slot 1 (5 % 4), which held dr-a's retryable record (seq 1), not the answer (seq 2).
    await run(answers.claim("dr-c", "t", FP)).finish(answered("t"));
    assert.equal(answers.claim("dr-a", "q", FP).type, "replay");
    const slot1 = store.actor<OutcomeRecord>("router/released-answers/1", { durability: "sync" }).state();
    assert.deepEqual([slot1?.user, slot1?.seq], ["dr-c", 5]);
  } finally {
    await store.close();
  }
});

test("a write that fails leaves the answer served in this process and reports the error; the claim is released either way", async () => {
  const failing: OutcomeSlots = { load: () => [], write: async () => { throw new Error("disk full"); } };
  const answers = new ReleasedAnswers(failing);
  const claim = run(answers.claim("dr-a", "q", FP));
  const error = await claim.finish(answered("Rest."));
  assert.match(String(error), /disk full/);
  assert.equal(answers.claim("dr-a", "q", FP).type, "replay");
});

test("an answer that cost no ε is kept without waiting on the disk: the claim is released and the answer replayed while the write is still pending; one that cost ε waits for it (issue 12: a free single answer paid a synced write)", async () => {
  let pending: (() => void)[] = [];
  const slow: OutcomeSlots = { load: () => [], write: () => new Promise<void>((resolve) => pending.push(resolve)) };
  const answers = new ReleasedAnswers(slow);
  const free: RequestOutcome = { kind: "answered", text: "Rest.", summary: { ...SUMMARY, privacyCost: 0 } };
  const claimFree = run(answers.claim("dr-a", "free", FP));
  let freeDone = false;
  const finishedFree = claimFree.finish(free, { waitForDisk: false }).then((error) => { freeDone = true; return error; });
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(freeDone, true, "a free answer's finish resolves before its write does");
  assert.equal(pending.length, 1, "its write was started");
  assert.deepEqual(answers.claim("dr-a", "free", FP), { type: "replay", outcome: free }, "and it is replayed at once in this process");
  assert.equal(await finishedFree, undefined);

  const claimCharged = run(answers.claim("dr-a", "charged", FP));
  let chargedDone = false;
  const finishedCharged = claimCharged.finish(answered("Rest."), { waitForDisk: true }).then(() => (chargedDone = true));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(chargedDone, false, "an answer that cost ε is not finished before its record is on disk");
  for (const resolve of pending) resolve();
  pending = [];
  await finishedCharged;
  assert.equal(chargedDone, true);
});

test("a free answer's write that fails later is reported through onLateError, and the answer stays served in this process", async () => {
  const failing: OutcomeSlots = { load: () => [], write: async () => { throw new Error("disk full"); } };
  const late: Error[] = [];
  const answers = new ReleasedAnswers(failing);
  const claim = run(answers.claim("dr-a", "q", FP));
  assert.equal(await claim.finish({ kind: "answered", text: "Rest.", summary: { ...SUMMARY, privacyCost: 0 } }, { waitForDisk: false, onLateError: (error) => late.push(error) }), undefined);
  await new Promise((resolve) => setImmediate(resolve));
  assert.match(String(late[0]), /disk full/);
  assert.equal(answers.claim("dr-a", "q", FP).type, "replay");
});
