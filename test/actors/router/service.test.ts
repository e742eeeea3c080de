/**
 * The Router's service on real actors in one node: three "hospitals" (a ShardExecutor each, in
 * worker threads, models of different seeds), the Accountant on a real LMDB directory and the
 * Aggregator. Consensus answers are charged exactly the GNMax cost of the tokens released
 * (checked against the Accountant's own ε of that event); single answers are free; a refused
 * budget generates nothing; a retried request id gets the same answer, not charged twice; a dead hospital
 * fails the request with `unavailable` and charges only what was released.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { ActorSystem, actor, defineActor, supervisor } from "../../../runtime/index.ts";
import { accountant, AccountantClient, gaussian, spendOf } from "../../../actors/accountant/index.ts";
import { aggregator, AggregatorClient, ensembleCharge } from "../../../actors/aggregator/index.ts";
import { Gpt2Tokenizer, initModel, shardExecutor, type ShardExecutorMsg } from "../../../actors/shard-executor/index.ts";
import { RouterService } from "../../../actors/router/service.ts";
import { BudgetExceededError, InProgressError, InvalidRequestError, UnavailableError } from "../../../actors/router/http/errors.ts";
import type { Caller, InferenceRequest } from "../../../actors/router/http/service.ts";
import { nodeStoreSlots, ReleasedAnswers, type OutcomeSlots } from "../../../actors/router/released-answers.ts";
import { tempDir } from "../../fixtures/node-store.ts";
import { DEPARTMENT, startRouterNode, type RouterNode } from "./router-node.ts";

const SIGMA = 2;
const caller: Caller = { userId: "dr-ng", role: "doctor", department: "radiology", issuer: "test" };
const ask = (fields: Partial<InferenceRequest>): InferenceRequest => ({ requestId: `r-${Math.random()}`, prompt: "The patient was", maxTokens: 6, requireConsensus: true, priority: 3, department: "radiology", ...fields });

test("consensus answers cost exactly GNMax × tokens released; single answers are free; refusals generate nothing; retries are charged once; a dead hospital is unavailable", { timeout: 180_000 }, async (t) => {
  const dir = tempDir(t, "fedrouter-router-");
  const models = await Promise.all([1, 2, 3].map(async (seed) => {
    const out = join(dir, `model-${seed}`);
    await initModel({ out, layers: 2, dModel: 32, heads: 4, positions: 64, vocab: "gpt2", seed });
    return out;
  }));
  const system = await ActorSystem.start({ node: "h-a", persistence: { path: join(dir, "lmdb") }, logLevel: "error" });
  try {
    const budgetSpec = actor("accountant", accountant, { ledger: { defaultUserEpsilon: 20, departments: { radiology: { epsilon: 30 } } } });
    await system.startChild(supervisor("privacy", [budgetSpec]));
    const budgets = new AccountantClient(system.refOf(budgetSpec, "privacy"));
    const votes = new AggregatorClient(await system.spawn(aggregator, {}, { name: "aggregator" }));
    const hospitals = await Promise.all(["h-a", "h-b", "h-c"].map(async (id, i) => {
      const ref = await system.spawn(shardExecutor, { modelDir: models[i]!, backend: "wasm" }, { name: `executor-${id}`, placement: "worker" });
      return { id, region: "eu", route: [{ path: ref.path }] };
    }));
    const service = new RouterService({
      nodeId: "h-a", hospitals, lookup: (p) => system.ref(p), accountant: budgets, vote: votes.voter(),
      tokenizer: await Gpt2Tokenizer.fromDirectory(models[0]!), ensemble: { sigma: SIGMA, k: 3 }, stepTimeoutMs: 5_000,
    });

    const before = await service.budget("dr-ng", "radiology");
    const answer = await service.infer(ask({ requestId: "q-1" }), caller);
    const released = answer.usage!.completionTokens;
    assert.ok(released >= 1 && released <= 6, `1..6 tokens released: ${released}`);
    const expected = spendOf([ensembleCharge(SIGMA, released)!], 1e-5);
    assert.ok(Math.abs(answer.privacyCost - expected) < 1e-9, `charged ${answer.privacyCost}, the Accountant's ε of ${released} GNMax votes is ${expected}`);
    const after = await service.budget("dr-ng", "radiology");
    assert.ok(Math.abs(after.consumed - before.consumed - answer.privacyCost) < 1e-9, "the user's budget went down by exactly the committed cost");
    assert.ok(Math.abs(after.department!.consumed - before.department!.consumed - answer.privacyCost) < 1e-9, "so did the department's");
    assert.equal(answer.nodeId, "h-a");
    assert.equal(typeof answer.confidenceScore, "number");

    const again = await service.infer(ask({ requestId: "q-1" }), caller);
    assert.deepEqual([again.response, again.privacyCost, again.replayed], [answer.response, answer.privacyCost, true], "the same request id gets the same answer back");
    assert.ok(Math.abs((await service.budget("dr-ng")).consumed - after.consumed) < 1e-12, "the retry charged nothing");

    const single = await service.infer(ask({ requireConsensus: false }), caller);
    assert.equal(single.privacyCost, 0, "a single model's answer is post-processing of a model with no private training data");
    assert.ok(["h-a", "h-b", "h-c"].includes(single.nodeId), `served by a hospital: ${single.nodeId}`);
    assert.deepEqual([single.consensusReached, single.confidenceScore], [null, null], "a single model's answer took no vote (issue 14)");

    // 20 ε per user: 300 tokens' worst case cannot be reserved.
    const refused = await service.infer(ask({ maxTokens: 300 }), caller).catch((e: unknown) => e);
    assert.ok(refused instanceof BudgetExceededError, `429 privacy_budget_exceeded, got ${String(refused)}`);
    assert.ok(refused.remaining > 0 && refused.remaining < 20, `with what is left: ${refused.remaining}`);
    assert.ok(Math.abs((await service.budget("dr-ng")).consumed - after.consumed) < 1e-12, "a refusal charges nothing");

    const streamed: string[] = [];
    let summary: { privacyCost: number } | undefined;
    for await (const event of service.inferStream(ask({ maxTokens: 4 }), caller)) {
      if (event.type === "text") streamed.push(event.text);
      else summary = event.summary;
    }
    assert.ok(summary !== undefined && summary.privacyCost > 0, "a streamed consensus answer ends with its cost");

    const ensembleMode = new RouterService({
      nodeId: "h-a", hospitals, lookup: (p) => system.ref(p), accountant: budgets, vote: votes.voter(), openAiMode: "ensemble",
      tokenizer: await Gpt2Tokenizer.fromDirectory(models[0]!), ensemble: { sigma: SIGMA, k: 3 }, stepTimeoutMs: 5_000,
    });
    const viaOpenAi = await ensembleMode.infer(ask({ requireConsensus: false, model: "fedrouter", maxTokens: 2 }), caller);
    assert.ok(viaOpenAi.privacyCost > 0, "privacy.mode ensemble: an OpenAI request decodes by ensemble, charged");
    assert.equal((await ensembleMode.infer(ask({ requireConsensus: false, maxTokens: 2 }), caller)).privacyCost, 0, "the native endpoint still follows require_consensus");

    const resident = new RouterService({
      nodeId: "h-a", hospitals: hospitals.map((h) => ({ ...h, region: h.id === "h-c" ? "us" : "eu" })), lookup: (p) => system.ref(p), accountant: budgets,
      vote: votes.voter(), tokenizer: await Gpt2Tokenizer.fromDirectory(models[0]!), ensemble: { sigma: SIGMA, k: 3 }, stepTimeoutMs: 5_000,
    });
    for (let i = 0; i < 4; i++) assert.equal((await resident.infer(ask({ requireConsensus: false, maxTokens: 1, region: "us" }), caller)).nodeId, "h-c", "a request tagged us runs only in the us hospital");
    const whole = await resident.infer(ask({ requireConsensus: false, maxTokens: 12, region: "us", prompt: "Nurse notes: the" }), caller);
    const pieces: string[] = [];
    for await (const event of resident.inferStream(ask({ requireConsensus: false, maxTokens: 12, region: "us", prompt: "Nurse notes: the" }), caller)) if (event.type === "text") pieces.push(event.text);
    assert.equal(pieces.join(""), whole.response, "the streamed pieces join to the same greedy answer");
    assert.ok(pieces.length > 1, `streamed in pieces: ${pieces.length}`);
    const euVote = await resident.infer(ask({ maxTokens: 1, region: "eu" }), caller);
    assert.ok(euVote.privacyCost > 0, "a consensus within eu votes with the eu hospitals");
    // A region no hospital has is the caller's mistake (400: an SDK does not retry it), named with the regions there are.
    for (const consensus of [false, true]) {
      await assert.rejects(resident.infer(ask({ requireConsensus: consensus, region: "mars" }), caller),
        (e: Error) => e instanceof InvalidRequestError && e.field === "region" && e.message === `region: "mars" is not a region of this federation; its regions are eu, us`, "an unknown region: 400 invalid_request naming the known ones");
    }

    await system.stopChild("executor-h-c");
    // A region that exists but whose hospitals cannot answer now is the service's state (503, worth a retry).
    const usDown = await resident.infer(ask({ requireConsensus: false, region: "us" }), caller).catch((e: unknown) => e);
    assert.ok(usDown instanceof UnavailableError, `a known region with no hospital answering: 503, got ${String(usDown)}`);
    for (const h of ["h-a", "h-b"]) await system.stopChild(`executor-${h}`);
    const spentBefore = (await service.budget("dr-ng")).consumed;
    const dead = await service.infer(ask({}), caller).catch((e: unknown) => e);
    assert.ok(dead instanceof UnavailableError, `503 unavailable when every hospital is gone, got ${String(dead)}`);
    assert.ok(Math.abs((await service.budget("dr-ng")).consumed - spentBefore) < 1e-12, "nothing released, nothing charged");
    const metrics = await service.metrics();
    const committed = Number(/fedrouter_privacy_epsilon_committed_total\{department="radiology",kind="consensus"\} ([\d.e+-]+)/.exec(metrics)?.[1]);
    assert.ok(committed >= answer.privacyCost + summary!.privacyCost - 1e-9, `the ε-committed metric counts the answers' costs: ${committed}`);
    assert.match(metrics, /fedrouter_answers_total\{kind="consensus",outcome="unavailable"\} 1/);
    const health = await service.health();
    assert.equal(health.checks.accountant?.ok, true);
  } finally {
    await system.stop();
  }
});

/** A stage that takes every step and never answers: a hung hospital. */
export const silentStage = defineActor<ShardExecutorMsg>(import.meta.url, "silent-stage", () => ({ receive() {} }));

test("a single answer stuck on a hung hospital is hedged on another, served once and charged once (one reservation)", { timeout: 120_000 }, async (t) => {
  const dir = tempDir(t, "fedrouter-hedge-");
  const model = join(dir, "model");
  await initModel({ out: model, layers: 2, dModel: 32, heads: 4, positions: 64, vocab: "gpt2", seed: 7 });
  const system = await ActorSystem.start({ node: "h-a", persistence: { path: join(dir, "lmdb") }, logLevel: "error" });
  try {
    const budgetSpec = actor("accountant", accountant, { ledger: { defaultUserEpsilon: 20, departments: { radiology: { epsilon: 30 } } } });
    await system.startChild(supervisor("privacy", [budgetSpec]));
    const budgets = new AccountantClient(system.refOf(budgetSpec, "privacy"));
    const hung = await system.spawn(silentStage, undefined, { name: "hung" });
    const ok = await system.spawn(shardExecutor, { modelDir: model, backend: "wasm" }, { name: "executor-ok" });
    const declared = gaussian(10, 1); // a model served with a declared per-query cost: the charge is visible
    const service = new RouterService({
      nodeId: "h-a", lookup: (p) => system.ref(p), accountant: budgets, vote: () => { throw new Error("no votes here"); },
      hospitals: [{ id: "h-hung", region: "eu", route: [{ path: hung.path }] }, { id: "h-ok", region: "eu", route: [{ path: ok.path }] }],
      tokenizer: await Gpt2Tokenizer.fromDirectory(model), strategy: "round-robin", hedgeAfterMs: 300, stepTimeoutMs: 20_000, singleQueryCost: declared,
    });
    const started = Date.now();
    const answer = await service.infer(ask({ requireConsensus: false, maxTokens: 3 }), caller); // round-robin: h-hung first
    assert.equal(answer.nodeId, "h-ok", "the hedge on h-ok served it");
    assert.ok(Date.now() - started < 15_000, `long before the hung step's 20 s deadline: ${Date.now() - started} ms`);
    assert.equal(answer.usage!.completionTokens, 3);
    const charged = spendOf([declared], 1e-5);
    assert.ok(Math.abs(answer.privacyCost - charged) < 1e-9, `charged the declared cost once: ${answer.privacyCost} vs ${charged}`);
    assert.ok(Math.abs((await service.budget("dr-ng")).consumed - charged) < 1e-9, "the budget holds one charge, not two");
  } finally {
    await system.stop();
  }
});

/** Issue 11: idempotency by (user, request id), on real parts (router-node.ts: every vote passes a gate the test holds). */
const retryCaller = (userId: string): Caller => ({ userId, role: "doctor", department: DEPARTMENT, issuer: "test" });
const held = (fields: Partial<InferenceRequest>): InferenceRequest => ({ requestId: "r", prompt: "The patient was", maxTokens: 3, requireConsensus: true, priority: 3, department: DEPARTMENT, ...fields });

async function ledgerOf(node: RouterNode, user: string, requestId: string) {
  const history = await node.accountant.history(user);
  if (history.type !== "history") throw new Error(history.message);
  return history.charges.filter((c) => c.key === `${user}:${requestId}` || c.key.startsWith(`${user}:${requestId}#`)).map((c) => ({ key: c.key, state: c.state }));
}

async function spentBy(node: RouterNode, user: string): Promise<number> {
  const budget = await node.accountant.budget(user, DEPARTMENT);
  if (budget.type !== "budget") throw new Error(budget.message);
  return budget.user.spent;
}

test("a retry of a request still running waits for its answer (charged once), or is 409 in_progress when it may not wait; a retry of an answered one gets it back, streamed as one chunk; another request under the same id is refused", { timeout: 120_000 }, async (t) => {
  const node = await startRouterNode(tempDir(t, "fedrouter-idempotency-"));
  try {
    const waiting = await node.router({ duplicateWaitMs: 60_000 });
    const user = retryCaller("dr-wait");
    node.gate.close();
    const first = waiting.infer(held({ requestId: "q-1", privacyBudget: 10 }), user);
    await node.gate.reached; // reserved, voting on its first token
    const retry = waiting.infer(held({ requestId: "q-1", privacyBudget: 1e-6 }), user); // claims synchronously: it is waiting now
    node.gate.open();
    const [answer, again] = await Promise.all([first, retry]);
    assert.ok(answer.privacyCost > 0 && answer.replayed === undefined);
    assert.deepEqual([again.response, again.privacyCost, again.nodeId, again.replayed], [answer.response, answer.privacyCost, answer.nodeId, true], "the waiting retry got the first's answer");
    assert.deepEqual(await ledgerOf(node, "dr-wait", "q-1"), [{ key: "dr-wait:q-1", state: "committed" }], "one reservation, committed; the retry with a tiny budget released nothing");
    assert.ok(Math.abs((await spentBy(node, "dr-wait")) - answer.privacyCost) < 1e-9);

    const events = [];
    for await (const event of waiting.inferStream(held({ requestId: "q-1" }), user)) events.push(event);
    assert.deepEqual(events.map((e) => e.type), answer.response.length > 0 ? ["text", "done"] : ["done"], "a streamed retry is a single-chunk stream");
    assert.equal(events.filter((e) => e.type === "text").map((e) => (e as { text: string }).text).join(""), answer.response);
    const done = events.at(-1)!;
    assert.ok(done.type === "done" && done.summary.privacyCost === answer.privacyCost && done.summary.replayed === true);

    const other = await waiting.infer(held({ requestId: "q-1", prompt: "Another question" }), user).catch((e: unknown) => e);
    assert.ok(other instanceof InvalidRequestError && other.field === "request_id", `another request under an answered id: invalid_request on request_id, got ${String(other)}`);
    assert.ok(Math.abs((await spentBy(node, "dr-wait")) - answer.privacyCost) < 1e-9, "retries and the refused reuse charged nothing");

    const impatient = await node.router({ duplicateWaitMs: 0 });
    node.gate.close();
    const running = impatient.infer(held({ requestId: "q-2", privacyBudget: 10 }), user);
    await node.gate.reached;
    const refused = await impatient.infer(held({ requestId: "q-2", privacyBudget: 1e-6 }), user).catch((e: unknown) => e);
    const sameIdOtherPrompt = await impatient.infer(held({ requestId: "q-2", prompt: "Another question" }), user).catch((e: unknown) => e);
    node.gate.open();
    assert.ok(refused instanceof InProgressError && refused.statusCode === 409 && refused.requestId === "q-2", `409 in_progress, got ${String(refused)}`);
    assert.ok(sameIdOtherPrompt instanceof InvalidRequestError && sameIdOtherPrompt.field === "request_id", "another request under a running id is refused too");
    const answered = await running;
    assert.deepEqual(await ledgerOf(node, "dr-wait", "q-2"), [{ key: "dr-wait:q-2", state: "committed" }], "the first's charge stands");
    assert.equal((await impatient.infer(held({ requestId: "q-2" }), user)).response, answered.response);
    assert.equal((await impatient.infer(held({ requestId: "q-2" }), retryCaller("dr-other"))).replayed, undefined, "another user's same id is another request");
  } finally {
    await node.stop();
  }
});

test("a request refused, or failed with nothing released, is not kept as answered: its retry runs afresh (a new reservation key); one failed after its output was charged is not run again", { timeout: 120_000 }, async (t) => {
  const node = await startRouterNode(tempDir(t, "fedrouter-idempotency-failed-"));
  try {
    const service = await node.router({ duplicateWaitMs: 0 });
    const user = retryCaller("dr-fail");

    const tooDear = await service.infer(held({ requestId: "q-budget", privacyBudget: 0.001 }), user).catch((e: unknown) => e);
    assert.ok(tooDear instanceof InvalidRequestError && tooDear.field === "privacy_budget", `over its privacy_budget: ${String(tooDear)}`);
    assert.deepEqual(await ledgerOf(node, "dr-fail", "q-budget"), [{ key: "dr-fail:q-budget", state: "released" }], "its own reservation released");
    const afresh = await service.infer(held({ requestId: "q-budget", privacyBudget: 10 }), user);
    assert.ok(afresh.privacyCost > 0 && afresh.replayed === undefined, "the retry ran");
    assert.deepEqual(await ledgerOf(node, "dr-fail", "q-budget"), [{ key: "dr-fail:q-budget", state: "released" }, { key: "dr-fail:q-budget#2", state: "committed" }]);

    const refused = await service.infer(held({ requestId: "q-refused", maxTokens: 300 }), user).catch((e: unknown) => e);
    assert.ok(refused instanceof BudgetExceededError, `429: ${String(refused)}`);
    assert.equal((await service.infer(held({ requestId: "q-refused", maxTokens: 2 }), user)).replayed, undefined, "a refused id runs afresh, even as a smaller request");

    // A vote that fails after the first token was released: that token is charged, and stays so.
    const before = await spentBy(node, "dr-fail");
    node.gate.close();
    const cut = service.infer(held({ requestId: "q-cut", maxTokens: 5 }), user).catch((e: unknown) => e);
    await node.gate.reached; // the first vote waits past the failure switch; the second will fail
    node.gate.failing = true;
    node.gate.open();
    const failure = await cut;
    node.gate.failing = false;
    assert.ok(failure instanceof UnavailableError, `unavailable: ${String(failure)}`);
    assert.deepEqual(await ledgerOf(node, "dr-fail", "q-cut"), [{ key: "dr-fail:q-cut", state: "committed" }], "what was released is committed");
    const charged = (await spentBy(node, "dr-fail")) - before;
    assert.ok(charged > 0);
    const retried = await service.infer(held({ requestId: "q-cut", maxTokens: 5 }), user).catch((e: unknown) => e);
    assert.ok(retried instanceof InvalidRequestError && retried.field === "request_id" && /charge stands/.test(retried.message), `not run again: ${String(retried)}`);
    assert.ok(Math.abs((await spentBy(node, "dr-fail")) - before - charged) < 1e-9, "nor charged again");
  } finally {
    await node.stop();
  }
});

test("a stream its consumer leaves commits what was released (no reservation left open), and its retry is not run again", { timeout: 120_000 }, async (t) => {
  const node = await startRouterNode(tempDir(t, "fedrouter-idempotency-left-"));
  try {
    const service = await node.router({ duplicateWaitMs: 0 });
    const user = retryCaller("dr-left");
    for await (const event of service.inferStream(held({ requestId: "q-left", maxTokens: 16 }), user)) {
      if (event.type === "text") break; // return(): the client went away
    }
    assert.deepEqual(await ledgerOf(node, "dr-left", "q-left"), [{ key: "dr-left:q-left", state: "committed" }]);
    assert.ok((await spentBy(node, "dr-left")) > 0);
    const retried = await service.infer(held({ requestId: "q-left", maxTokens: 16 }), user).catch((e: unknown) => e);
    assert.ok(retried instanceof InvalidRequestError && retried.field === "request_id", `${String(retried)}`);
  } finally {
    await node.stop();
  }
});

test("a kept answer survives a restart of the node: the retry gets it from LMDB and is charged nothing; without it, the Accountant's duplicate is never settled", { timeout: 120_000 }, async (t) => {
  const dir = tempDir(t, "fedrouter-idempotency-restart-");
  const user = retryCaller("dr-restart");
  let node = await startRouterNode(dir);
  let answer: Awaited<ReturnType<RouterService["infer"]>>;
  try {
    const service = await node.router({ answers: new ReleasedAnswers(nodeStoreSlots(node.store)) });
    answer = await service.infer(held({ requestId: "q-kept" }), user);
    await (await node.router()).infer(held({ requestId: "q-lost" }), user); // kept in that router's memory only
  } finally {
    await node.stop();
  }
  node = await startRouterNode(dir);
  try {
    const spent = await spentBy(node, "dr-restart");
    const service = await node.router({ answers: new ReleasedAnswers(nodeStoreSlots(node.store)) });
    const again = await service.infer(held({ requestId: "q-kept", privacyBudget: 1e-6 }), user);
    assert.deepEqual([again.response, again.privacyCost, again.replayed], [answer.response, answer.privacyCost, true]);
    const lost = await service.infer(held({ requestId: "q-lost" }), user).catch((e: unknown) => e);
    assert.ok(lost instanceof InvalidRequestError && lost.field === "request_id" && /admitted before/.test(lost.message), `the Accountant's duplicate: refused, ${String(lost)}`);
    assert.deepEqual((await ledgerOf(node, "dr-restart", "q-lost")).map((c) => c.state), ["committed"], "and left as it was");
    assert.ok(Math.abs((await spentBy(node, "dr-restart")) - spent) < 1e-12, "nothing charged after the restart");
  } finally {
    await node.stop();
  }
});

test("a free single answer is not held up by the answer store's disk write; a consensus answer (ε charged) is not done before its record is written (issue 12)", { timeout: 120_000 }, async (t) => {
  const node = await startRouterNode(tempDir(t, "fedrouter-free-answers-"));
  try {
    const writes: (() => void)[] = [];
    const slow: OutcomeSlots = { load: () => [], write: () => new Promise<void>((resolve) => writes.push(resolve)) };
    const service = await node.router({ answers: new ReleasedAnswers(slow) });
    const user = retryCaller("dr-free");
    const heldUp = new Promise<never>((_, reject) => setTimeout(() => reject(new Error("the free answer waited for its record's write")), 10_000).unref());
    const single = await Promise.race([service.infer(ask({ requestId: "q-free", requireConsensus: false, maxTokens: 2, department: DEPARTMENT }), user), heldUp]);
    assert.equal(single.privacyCost, 0);
    assert.equal(writes.length, 1, "its record's write was started and is still pending");
    assert.equal((await service.infer(ask({ requestId: "q-free", requireConsensus: false, maxTokens: 2, department: DEPARTMENT }), user)).replayed, true, "and the answer is served again from memory");
    let done = false;
    const consensus = service.infer(ask({ requestId: "q-charged", maxTokens: 2, department: DEPARTMENT }), user).then((answer) => ((done = true), answer));
    while (writes.length < 2) await new Promise((resolve) => setTimeout(resolve, 5));
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(done, false, "a charged answer waits for its record");
    writes[1]!();
    assert.ok((await consensus).privacyCost > 0);
    writes[0]!();
  } finally {
    await node.stop();
  }
});
