/**
 * The Router as an actor in a real node tree (user/node/{accountant,aggregator,planner,executor,router}),
 * asked by the HTTP edge's RouterClient as a verified user: answers are charged to that user;
 * a stream the consumer leaves is cancelled and settled; a sender that is not a user is refused
 * by the runtime; the route comes from the hospital's Planner (join → routed, leave → out of
 * routing and not ready); a restarted Router answers again and replays a kept answer.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { ActorSystem, Forbidden, actor, supervisor } from "../../../runtime/index.ts";
import { accountant, AccountantClient } from "../../../actors/accountant/index.ts";
import { aggregator } from "../../../actors/aggregator/index.ts";
import { planner, PlannerClient } from "../../../actors/planner/index.ts";
import { describeExecutor, initModel, shardExecutor, type ShardExecutorMsg } from "../../../actors/shard-executor/index.ts";
import { InvalidRequestError, router, RouterClient, UnavailableError, type InferenceRequest, type Principal, type RouterMsg } from "../../../actors/router/index.ts";
import { tempDir } from "../../fixtures/node-store.ts";

/** Polls `check` (each poll a round trip to the actors) until it holds; fails after `timeoutMs`. */
async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) assert.fail(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const caller: Principal = { userId: "dr-ng", role: "doctor", department: "radiology" };
const ask = (fields: Partial<InferenceRequest>): InferenceRequest => ({ requestId: `r-${Math.random()}`, prompt: "The patient was", maxTokens: 4, requireConsensus: true, priority: 3, department: "radiology", ...fields });

test("the Router actor answers as the caller, streams, follows its Planner, and survives a restart", { timeout: 180_000 }, async (t) => {
  const dir = tempDir(t, "fedrouter-router-actor-");
  const modelDir = join(dir, "model");
  await initModel({ out: modelDir, layers: 2, dModel: 32, heads: 4, positions: 64, vocab: "gpt2", seed: 5 });
  const system = await ActorSystem.start({ node: "h-a", persistence: { path: join(dir, "lmdb") }, logLevel: "error" });
  try {
    const path = (name: string) => system.pathOf("node", name);
    await system.startChild(supervisor("node", [
      actor("accountant", accountant, { ledger: { defaultUserEpsilon: 20, departments: { radiology: { epsilon: 30 } } } }),
      actor("aggregator", aggregator, {}),
      actor("planner", planner, { blocks: 2 }),
      actor("shard-executor", shardExecutor, { modelDir, backend: "wasm" }),
      actor("router", router, { hospitals: [{ id: "h-a", region: "eu", planner: path("planner") }], modelDir, accountant: path("accountant"), aggregator: path("aggregator"), ensemble: { sigma: 2, k: 1 } }),
    ]));
    const ref = system.ref<RouterMsg>(path("router"));
    const client = new RouterClient(ref, { healthCacheMs: 0 }); // every health check here must see the change just made
    const plans = new PlannerClient(system.ref(path("planner")));

    // No executor has joined the Planner: the hospital has no route, so nothing is ready.
    const cold = await client.health();
    assert.equal(cold.ready, false);
    assert.equal(cold.checks["route:h-a"]?.ok, false, JSON.stringify(cold.checks));
    await assert.rejects(client.infer(ask({}), caller), (e: unknown) => e instanceof UnavailableError);

    // The executor joins: the Planner publishes a one-stage plan and the Router routes to it.
    const executor = system.ref<ShardExecutorMsg>(path("shard-executor"));
    assert.equal((await plans.join(await describeExecutor(executor, { id: "h-a", regions: ["eu"], linkMs: 0 }))).type, "accepted");
    await eventually(async () => (await client.status()).hospitals[0]!.stages === 1, "the plan reaches the Router");
    assert.equal((await client.status()).hospitals[0]!.stages, 1, "the Planner's plan became the hospital's route");
    assert.equal((await client.health()).ready, true);

    // An answer is charged to the user the edge speaks for.
    const budgets = new AccountantClient(system.ref(path("accountant")));
    const answer = await client.infer(ask({ requestId: "q-1" }), caller);
    assert.ok(answer.privacyCost > 0);
    const spent = await budgets.budget("dr-ng");
    assert.equal(spent.type, "budget");
    if (spent.type === "budget") assert.ok(Math.abs(spent.user.spent - answer.privacyCost) < 1e-9, "dr-ng was charged, nobody else");

    // This node's code without a user is refused by the runtime before the Router sees it.
    await assert.rejects(ref.ask((replyTo) => ({ type: "infer", request: ask({}), replyTo }), { timeoutMs: 5_000 }), (e: unknown) => e instanceof Forbidden);

    // A stream the consumer leaves after its first event: cancelled, and nothing stays open.
    const stream = client.inferStream(ask({ requestId: "s-1", maxTokens: 16 }), caller)[Symbol.asyncIterator]();
    const first = await stream.next();
    assert.equal(first.done, false);
    await stream.return?.(undefined);
    await eventually(async () => (await client.status()).streams === 0, "the cancelled stream is closed");
    await eventually(async () => (await client.status()).running === 0, "its admission slot is given back");

    // Config changes as messages: the limit of concurrent answers is applied; a field nothing can honour is refused, not ignored.
    const admin: Principal = { userId: "ops", role: "admin", department: "radiology" };
    const applied = await client.updateConfig({ performance: { maxConcurrentRequests: 8 }, routing: { strategy: "latency" } }, admin);
    assert.deepEqual([applied.performance?.maxConcurrentRequests, applied.routing?.strategy], [8, "latency"]);
    assert.deepEqual([(await client.status()).maxConcurrent, (await client.status()).strategy], [8, "latency"]);
    await assert.rejects(client.updateConfig({ privacy: { delta: 1e-6 } }, admin), (e: unknown) => e instanceof InvalidRequestError && /^privacy\.delta: cannot be changed at run time/.test(e.message));
    await assert.rejects(client.updateConfig({ routing: { strategy: "privacy-aware" } }, admin), (e: unknown) => e instanceof InvalidRequestError && /routing\.strategy/.test(e.message));

    // The executor leaves: the plan is withdrawn, the hospital leaves routing.
    await plans.leave("h-a");
    await eventually(async () => (await client.status()).hospitals[0]!.stages === 0, "the withdrawal reaches the Router");
    const gone = await client.health();
    assert.equal(gone.ready, false);
    assert.match(gone.checks["route:h-a"]?.detail ?? "", /withdrew/);

    // Rejoin, restart the Router: it follows the Planner again and replays the kept answer of q-1.
    await plans.join(await describeExecutor(executor, { id: "h-a", regions: ["eu"], linkMs: 0 }));
    await system.restartActor(path("router"));
    await eventually(async () => (await client.status().then((s) => s.hospitals[0]!.stages, () => 0)) === 1, "the restarted Router follows the Planner again");
    const again = await client.infer(ask({ requestId: "q-1" }), caller);
    assert.equal(again.replayed, true);
    assert.equal(again.response, answer.response);
  } finally {
    await system.stop();
  }
});
