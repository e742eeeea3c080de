/**
 * Pipeline-parallel generation across hospitals: hospital A (a `fedrouter launch` process) runs
 * block 0, hospital B (another process) block 1, over mTLS gRPC; the test process joins as a
 * third node and drives generations. A's stage asks B's directly, with the hidden states in
 * msgpack frames (f32 and f16). Then B is killed with SIGKILL mid-generation: every generation
 * in flight ends with a typed PipelineStepFailed naming B's stage, and none hangs.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { lastValueFrom, toArray } from "rxjs";
import { launchHospital } from "../../cluster/launch.ts";
import { initModel, Pipeline, PipelineStepFailed, type GeneratedToken } from "../../actors/shard-executor/index.ts";
import { greedyContinuation } from "../fixtures/greedy.ts";
import { testCluster } from "../fixtures/cluster-processes.ts";

const PROMPTS = [[15496, 995], [464, 5827, 338, 2910, 3833], [101, 202, 303]];

test("two hospitals' executors form one pipeline over mTLS; a hospital killed mid-generation fails the generations in flight with a typed error", { timeout: 180_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "fedrouter-pipeline-hosp-"));
  const model = join(dir, "model");
  await initModel({ out: model, layers: 2, dModel: 32, heads: 4, positions: 96, vocab: "gpt2", seed: 31 });
  const cluster = await testCluster(dir, ["h-a", "h-b"], (id) => [{ name: "shard-executor", blocks: id === "h-a" ? { from: 0, to: 1 } : { from: 1, to: 2 }, placement: "worker" }], ["h-c"]);
  writeFileSync(cluster.configFile, JSON.stringify({ ...JSON.parse(readFileSync(cluster.configFile, "utf8")), model: { path: model } }));
  const driver = await launchHospital({ config: cluster.configFile, hospital: "h-c" });
  try {
    await Promise.all([cluster.launch("h-a"), cluster.launch("h-b")]);
    const route = [{ path: "fed://h-a/user/node/shard-executor", executor: "h-a" }, { path: "fed://h-b/user/node/shard-executor", executor: "h-b" }];
    const pipeline = new Pipeline({ lookup: (p) => driver.system.ref(p), route });
    const run = (prompt: readonly number[], n: number, activations: "f32" | "f16" = "f32") =>
      lastValueFrom(pipeline.generate({ prompt, maxTokens: n, sampling: { temperature: 0 }, activations, stepTimeoutMs: 5_000 }).pipe(toArray()));
    // Until both processes are up and linked, and linked steadily: asks that failed while h-b was
    // still starting may have opened h-a's breaker to it, and a half-open breaker admits only a
    // few probes — so wait for several answers in a row before the concurrent part.
    let last: GeneratedToken[] | Error = new Error("not tried");
    for (let i = 0, streak = 0; i < 120 && streak < 5; i++) {
      last = await run(PROMPTS[0]!, 1).catch((e: Error) => e);
      streak = last instanceof Error ? 0 : streak + 1;
      if (last instanceof Error) await new Promise((r) => setTimeout(r, 500));
    }
    if (last instanceof Error) return assert.fail(`the pipeline never answered steadily: ${last.message}`);

    const expected = await Promise.all(PROMPTS.map((p) => greedyContinuation(model, p, 10)));
    const generated = await Promise.all(PROMPTS.map((p) => run(p, 10)));
    generated.forEach((g, i) => assert.deepEqual(g.map((x) => x.token), expected[i], `sequence ${i} across two hospitals equals the whole model in one thread`));
    const half = await run(PROMPTS[1]!, 6, "f16");
    assert.equal(half.length, 6, "float16 hidden states cross the hospital link");

    let killed = false;
    const outcomes = await Promise.all(PROMPTS.map((prompt) => new Promise<unknown>((resolve) => {
      let n = 0;
      pipeline.generate({ prompt, maxTokens: 80, sampling: { temperature: 0 }, stepTimeoutMs: 5_000 }).subscribe({
        next: () => {
          if (++n === 3 && !killed) {
            killed = true;
            cluster.kill("h-b");
          }
        },
        error: resolve,
        complete: () => resolve("completed"),
      });
    })));
    for (const outcome of outcomes) {
      assert.ok(outcome instanceof PipelineStepFailed, `a typed failure, got ${String(outcome)}`);
      assert.equal(outcome.executor, "h-b", `the failure names hospital B's stage: ${outcome.message}`);
      assert.ok(["STAGE_UNREACHABLE", "DEADLINE_EXCEEDED"].includes(outcome.stageCode), `cause ${outcome.stageCode}`);
    }
  } finally {
    await driver.stop();
    await cluster.stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
});
