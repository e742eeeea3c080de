/**
 * Issue 12 (failure edges): the batch flush runs outside message handling (setImmediate); a throw
 * there used to be an uncaught exception that ended the worker thread. Now it is a supervised
 * crash of the actor: the steps it held are answered EXECUTOR_FAILED, the supervisor restarts the
 * executor in its thread, and the next step is served.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { firstValueFrom, filter } from "rxjs";
import { ActorSystem } from "../../../runtime/index.ts";
import { initModel, shardExecutor, type ShardExecutorMsg, type StepReply } from "../../../actors/shard-executor/index.ts";
import { tempDir } from "../../fixtures/node-store.ts";

test("a defect in the batch flush is a supervised crash (EXECUTOR_FAILED to the step, a restart), not a dead worker thread", { timeout: 120_000 }, async (t) => {
  const dir = join(tempDir(t, "fedrouter-executor-defect-"), "tiny");
  await initModel({ out: dir, layers: 1, dModel: 32, heads: 4, positions: 32, vocab: "gpt2", seed: 3 });
  const system = await ActorSystem.start({ node: "n", logLevel: "silent" });
  try {
    const ref = await system.spawn(shardExecutor, { modelDir: dir, backend: "wasm", failFlushForTest: true }, { name: "stage", placement: "worker" });
    const step = (sequence: string) => ref.ask<StepReply>((replyTo) => ({ type: "step", sequence, position: 0, tokens: [464, 5827], route: [], deadlineMs: Date.now() + 20_000, replyTo }) satisfies ShardExecutorMsg, { timeoutMs: 20_000 });
    const restarted = firstValueFrom(system.events$.pipe(filter((e) => e.type === "restarted" && e.path === ref.path)));
    const first = await step("s-1");
    assert.equal(first.type, "step-failed");
    assert.equal(first.type === "step-failed" && first.code, "EXECUTOR_FAILED");
    await restarted;
    const tree = await system.tree();
    const stage = tree.children!.find((c) => c.path === ref.path)!;
    assert.equal(stage.restarts, 1, "the actor was restarted by its supervisor");
    const second = await step("s-2");
    assert.equal(second.type, "token", `the restarted executor serves: ${JSON.stringify(second)}`);
  } finally {
    await system.stop();
  }
});
