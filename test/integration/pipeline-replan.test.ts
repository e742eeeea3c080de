/**
 * The Planner and the executors together: three ShardExecutors in worker threads join the
 * Planner with their measured calibration; its plan is deployed (each executor loads the plan's
 * blocks) and generates; a stage restarted mid-generation fails the generations it held, the
 * failure opens that executor's breaker at the Planner, the Planner re-plans without it, and the
 * new plan, deployed, generates the same greedy continuation.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { lastValueFrom, toArray } from "rxjs";
import { ActorSystem, type ActorRef } from "../../runtime/index.ts";
import { deployPlan, describeExecutor, initModel, Pipeline, PipelineStepFailed, shardExecutor, type RouteStage, type ShardExecutorMsg } from "../../actors/shard-executor/index.ts";
import { planner, PlannerClient, type Plan } from "../../actors/planner/index.ts";
import { tempDir } from "../fixtures/node-store.ts";

async function currentPlan(client: PlannerClient, newerThan = -1): Promise<Plan> {
  for (let i = 0; i < 100; i++) {
    const reply = await client.plan();
    if (reply.type === "plan" && reply.plan.version > newerThan) return reply.plan;
    await new Promise((r) => setTimeout(r, 50));
  }
  return assert.fail(`no plan newer than version ${newerThan}`);
}

test("a stage failure re-plans without the failed executor; the new plan, deployed, generates the same tokens", { timeout: 180_000 }, async (t) => {
  const dir = join(tempDir(t, "fedrouter-replan-"), "tiny");
  await initModel({ out: dir, layers: 4, dModel: 32, heads: 4, positions: 128, vocab: "gpt2", seed: 41 });
  const system = await ActorSystem.start({ node: "h1", logLevel: "error" });
  try {
    const executors = new Map<string, ActorRef<ShardExecutorMsg>>();
    for (const id of ["exec-a", "exec-b", "exec-c"]) executors.set(id, await system.spawn(shardExecutor, { modelDir: dir, backend: "wasm" }, { name: id, placement: "worker" }));
    const client = new PlannerClient(await system.spawn(planner, { blocks: 4 }, { name: "planner" }));
    for (const [id, ref] of executors) {
      const joined = await client.join(await describeExecutor(ref, { id, linkMs: 0.001 }));
      assert.equal(joined.type, "accepted", `${id} joins`);
    }
    const before = await currentPlan(client);
    assert.ok(before.stages.length >= 2, `with a negligible link the plan splits the blocks: ${JSON.stringify(before.stages)}`);
    const lookup = (p: string) => system.ref<ShardExecutorMsg>(p);
    let route: RouteStage[] = await deployPlan(before, lookup);
    const pipeline = new Pipeline({ lookup, route: () => route, onStageFailure: (f) => void client.breaker(f.executor, "open") });
    const prompt = [464, 5827, 338, 2910];
    const expected = (await lastValueFrom(pipeline.generate({ prompt, maxTokens: 8, sampling: { temperature: 0 } }).pipe(toArray()))).map((g) => g.token);

    const victim = before.stages.at(-1)!;
    let restarted = false;
    const outcome = await new Promise<unknown>((resolve) => pipeline.generate({ prompt, maxTokens: 100, sampling: { temperature: 0 } }).subscribe({
      next: (g) => {
        if (g.index === 2 && !restarted) {
          restarted = true;
          void system.restartActor(victim.path);
        }
      },
      error: resolve,
      complete: () => resolve("completed"),
    }));
    assert.ok(outcome instanceof PipelineStepFailed, `the generation fails typed, got ${String(outcome)}`);
    assert.equal(outcome.executor, victim.executor, "naming the executor the plan put there");

    const after = await currentPlan(client, before.version);
    assert.ok(after.stages.every((s) => s.executor !== victim.executor), `the new plan leaves ${victim.executor} out: ${JSON.stringify(after.stages)}`);
    assert.match(after.reason, new RegExp(`breaker open ${victim.executor}`));
    route = await deployPlan(after, lookup);
    const again = (await lastValueFrom(pipeline.generate({ prompt, maxTokens: 8, sampling: { temperature: 0 } }).pipe(toArray()))).map((g) => g.token);
    assert.deepEqual(again, expected, "the re-planned pipeline generates the same greedy continuation");
  } finally {
    await system.stop();
  }
});
