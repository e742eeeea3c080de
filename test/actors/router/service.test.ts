/**
 * The Router's service on real actors in one node: three "hospitals" (a ShardExecutor each, in
 * worker threads, models of different seeds), the Accountant on a real LMDB directory and the
 * Aggregator. Consensus answers are charged exactly the GNMax cost of the tokens released
 * (checked against the Accountant's own ε of that event); single answers are free; a refused
 * budget generates nothing; a retried request id is not charged twice; a dead hospital
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
import { BudgetExceededError, InvalidRequestError, UnavailableError } from "../../../actors/router/http/errors.ts";
import type { Caller, InferenceRequest } from "../../../actors/router/http/service.ts";
import { tempDir } from "../../fixtures/node-store.ts";

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

    await assert.rejects(service.infer(ask({ requestId: "q-1" }), caller), InvalidRequestError, "the same request id is not admitted (nor charged) twice");
    assert.ok(Math.abs((await service.budget("dr-ng")).consumed - after.consumed) < 1e-12, "the retry charged nothing");

    const single = await service.infer(ask({ requireConsensus: false }), caller);
    assert.equal(single.privacyCost, 0, "a single model's answer is post-processing of a model with no private training data");
    assert.ok(["h-a", "h-b", "h-c"].includes(single.nodeId), `served by a hospital: ${single.nodeId}`);
    assert.equal(single.consensusReached, false);

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
    await assert.rejects(resident.infer(ask({ requireConsensus: false, region: "mars" }), caller), (e: Error) => e instanceof UnavailableError && /region/.test(e.message), "no hospital of the region: unavailable, naming why");

    for (const h of ["h-a", "h-b", "h-c"]) await system.stopChild(`executor-${h}`);
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
