/**
 * Pipeline-parallel generation on real ShardExecutor actors in a real ActorSystem: one stage in
 * this thread, two stages in two worker threads (hidden states moved between them), several
 * sequences in flight and batched; a stage restarted mid-generation fails exactly the affected
 * generations with a typed error, and nothing hangs; malformed or unanswerable steps get typed
 * replies.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { firstValueFrom, lastValueFrom, toArray } from "rxjs";
import { ActorSystem, type ActorRef } from "../../../runtime/index.ts";
import {
  initModel, InvalidGenerateRequest, Pipeline, PipelineStepFailed, shardExecutor,
  decodeActivations, encodeActivations,
  type ExecutorInfoReply, type GeneratedToken, type ShardExecutorMsg, type StepReply,
} from "../../../actors/shard-executor/index.ts";
import { tempDir } from "../../fixtures/node-store.ts";
import { greedyContinuation } from "../../fixtures/greedy.ts";

const PROMPTS = [[15496, 995], [464, 5827, 338, 2910, 3833], [50256], [101, 202, 303, 404, 505, 606, 707]];

async function tinyModel(t: { after(fn: () => void): void }, seed: number): Promise<string> {
  const dir = join(tempDir(t, "fedrouter-pipeline-"), "tiny");
  await initModel({ out: dir, layers: 2, dModel: 32, heads: 4, positions: 64, vocab: "gpt2", seed });
  return dir;
}

const greedyReference = greedyContinuation;

/** Blocks [0, 1) and [1, 2) of the tiny model, each in its own worker thread. */
async function twoWorkerStages(system: ActorSystem, dir: string) {
  const s0 = await system.spawn(shardExecutor, { modelDir: dir, from: 0, to: 1, backend: "wasm" }, { name: "stage-0", placement: "worker" });
  const s1 = await system.spawn(shardExecutor, { modelDir: dir, from: 1, to: 2, backend: "wasm" }, { name: "stage-1", placement: "worker" });
  return { s0, s1 };
}

const tokensOf = (generated: GeneratedToken[]) => generated.map((g) => g.token);

test("one executor in this thread streams the greedy continuation; seeded sampling is reproducible; a stop token ends the stream", { timeout: 120_000 }, async (t) => {
  const dir = await tinyModel(t, 21);
  const system = await ActorSystem.start({ node: "h1", logLevel: "error" });
  try {
    const stage = await system.spawn(shardExecutor, { modelDir: dir, backend: "wasm" }, { name: "whole" });
    const pipeline = new Pipeline({ lookup: (p) => system.ref(p), route: [{ path: stage.path }] });
    const expected = await greedyReference(dir, PROMPTS[1]!, 8);
    const streamed = await lastValueFrom(pipeline.generate({ prompt: PROMPTS[1]!, maxTokens: 8, sampling: { temperature: 0 } }).pipe(toArray()));
    assert.deepEqual(tokensOf(streamed), expected, "greedy through the actor equals the direct forward pass");
    assert.deepEqual(streamed.map((g) => g.index), [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.deepEqual(streamed.map((g) => g.position), [5, 6, 7, 8, 9, 10, 11, 12], "each token's position in the sequence");

    const sampled = (seed: number) => lastValueFrom(pipeline.generate({ prompt: PROMPTS[0]!, maxTokens: 6, sampling: { temperature: 1, topK: 40, seed } }).pipe(toArray()));
    assert.deepEqual(tokensOf(await sampled(7)), tokensOf(await sampled(7)), "the same seed, the same tokens");

    const stopAt = expected[2]!;
    const stopped = await lastValueFrom(pipeline.generate({ prompt: PROMPTS[1]!, maxTokens: 8, sampling: { temperature: 0 }, stopTokens: [stopAt] }).pipe(toArray()));
    assert.deepEqual(tokensOf(stopped), expected.slice(0, expected.indexOf(stopAt) + 1), "the stop token is emitted, then the stream completes");

    // A session fed a token of the caller's choosing (as an ensemble feeds the released one).
    const session = pipeline.session({ sampling: { temperature: 0 } });
    assert.equal(await session.open(PROMPTS[1]!), expected[0], "open: the first greedy token");
    const forced = 777;
    assert.equal(await session.next(forced), (await greedyReference(dir, [...PROMPTS[1]!, forced], 1))[0], "next(token) continues after the token given, not the one sampled");
    assert.equal(session.position, PROMPTS[1]!.length + 1);
    await assert.rejects(session.open([1]), /open already/);
    session.close();
    await assert.rejects(session.next(1), /closed/);
    await assert.rejects(firstValueFrom(pipeline.generate({ prompt: [], maxTokens: 4 })), InvalidGenerateRequest);
    await assert.rejects(firstValueFrom(pipeline.generate({ prompt: [1], maxTokens: 0 })), /maxTokens/);
    const info = await stage.ask<ExecutorInfoReply>((replyTo) => ({ type: "info", replyTo }));
    assert.equal(info.sequences, 0, "finished generations free their caches on the stage");
  } finally {
    await system.stop();
  }
});

test("two stages in two worker threads, four sequences in flight: each gets its own greedy continuation, steps are batched, f16 activations work", { timeout: 180_000 }, async (t) => {
  const dir = await tinyModel(t, 22);
  const system = await ActorSystem.start({ node: "h1", logLevel: "error" });
  try {
    const { s0, s1 } = await twoWorkerStages(system, dir);
    const pipeline = new Pipeline({ lookup: (p) => system.ref(p), route: [{ path: s0.path, from: 0, to: 1 }, { path: s1.path, from: 1, to: 2 }] });
    const expected = await Promise.all(PROMPTS.map((p) => greedyReference(dir, p, 12)));
    const generated = await Promise.all(PROMPTS.map((prompt, i) =>
      lastValueFrom(pipeline.generate({ sequence: `seq-${i}`, prompt, maxTokens: 12, sampling: { temperature: 0 } }).pipe(toArray()))));
    generated.forEach((g, i) => {
      assert.deepEqual(tokensOf(g), expected[i], `sequence ${i} through two worker stages`);
      assert.ok(g.every((x) => x.sequence === `seq-${i}`), `sequence ${i}'s tokens carry its id`);
    });
    const info = await s1.ask<ExecutorInfoReply>((replyTo) => ({ type: "info", replyTo }));
    assert.deepEqual([info.from, info.to, info.layers, info.backend], [1, 2, 2, "wasm"]);
    assert.equal(info.steps, 4 * 12, "the last stage ran every step of every sequence");
    assert.ok(info.batches < info.steps, `steps of sequences in flight share forward passes (${info.steps} steps in ${info.batches} batches)`);

    const half = await lastValueFrom(pipeline.generate({ prompt: PROMPTS[3]!, maxTokens: 5, sampling: { temperature: 0 }, activations: "f16" }).pipe(toArray()));
    assert.equal(half.length, 5, "a generation with float16 hidden states between the threads completes");
  } finally {
    await system.stop();
  }
});

test("float16 activations round-trip within half precision", () => {
  const values = Float32Array.from({ length: 1_000 }, (_, i) => Math.sin(i) * 10 ** ((i % 7) - 3));
  const back = decodeActivations(encodeActivations(values, "f16"));
  values.forEach((v, i) => assert.ok(Math.abs(back[i]! - v) <= Math.abs(v) * 2 ** -11 + 6e-8, `value ${i}: ${v} came back as ${back[i]}`));
  assert.equal(decodeActivations(encodeActivations(values, "f32")), values, "f32 travels as it is");
});

test("a stage restarted mid-generation fails exactly the generations it held, with a typed error naming it; none hangs; new generations run again", { timeout: 180_000 }, async (t) => {
  const dir = await tinyModel(t, 23);
  const system = await ActorSystem.start({ node: "h1", logLevel: "error" });
  try {
    const { s0, s1 } = await twoWorkerStages(system, dir);
    const failures: PipelineStepFailed[] = [];
    const pipeline = new Pipeline({
      lookup: (p) => system.ref(p),
      route: [{ path: s0.path, executor: "exec-0" }, { path: s1.path, executor: "exec-1" }],
      onStageFailure: (f) => failures.push(f),
    });
    let restarted = false;
    const runs = PROMPTS.slice(0, 3).map((prompt) => {
      const seen: number[] = [];
      const done = new Promise<Error | "completed">((resolve) => pipeline.generate({ prompt, maxTokens: 60 - prompt.length, sampling: { temperature: 0 } }).subscribe({
        next: (g) => {
          seen.push(g.token);
          if (seen.length === 4 && !restarted) {
            restarted = true;
            void system.restartActor(s1.path);
          }
        },
        error: (e: Error) => resolve(e),
        complete: () => resolve("completed"),
      }));
      return { seen, done };
    });
    const outcomes = await Promise.all(runs.map((r) => r.done));
    for (const [i, outcome] of outcomes.entries()) {
      assert.ok(outcome instanceof PipelineStepFailed, `generation ${i} ends with PipelineStepFailed, got ${String(outcome)}`);
      assert.equal(outcome.stage, s1.path, "the failure names the restarted stage");
      assert.equal(outcome.executor, "exec-1", "and its Planner id");
      assert.ok(["SEQUENCE_LOST", "STAGE_UNREACHABLE"].includes(outcome.stageCode), `a typed cause: ${outcome.stageCode}`);
      assert.equal(outcome.generated, runs[i]!.seen.length, "it says how many tokens arrived before");
    }
    assert.equal(failures.length, 3, "onStageFailure once per failed generation (the Planner's re-plan trigger)");
    const again = await lastValueFrom(pipeline.generate({ prompt: PROMPTS[0]!, maxTokens: 3, sampling: { temperature: 0 } }).pipe(toArray()));
    assert.deepEqual(tokensOf(again), await greedyReference(dir, PROMPTS[0]!, 3), "the restarted stage serves new generations");
  } finally {
    await system.stop();
  }
});

test("malformed, misrouted and unanswerable steps get typed step-failed replies; calibrate and load answer", { timeout: 120_000 }, async (t) => {
  const dir = await tinyModel(t, 24);
  const system = await ActorSystem.start({ node: "h1", logLevel: "error" });
  try {
    const s0 = await system.spawn(shardExecutor, { modelDir: dir, from: 0, to: 1, backend: "wasm", maxSequences: 2 }, { name: "stage-0" });
    const step = (fields: Record<string, unknown>) =>
      s0.ask<StepReply>((replyTo) => ({ type: "step", sequence: "s", position: 0, tokens: [1], route: [{ path: "fed://h1/user/nowhere" }], deadlineMs: Date.now() + 2_000, replyTo, ...fields } as ShardExecutorMsg), { timeoutMs: 5_000 });
    const codeOf = async (fields: Record<string, unknown>) => {
      const reply = await step(fields);
      return reply.type === "step-failed" ? reply.code : `answered ${reply.type}`;
    };
    assert.equal(await codeOf({ position: -1 }), "INVALID_STEP");
    assert.equal(await codeOf({ tokens: undefined }), "INVALID_STEP", "neither tokens nor hidden");
    assert.equal(await codeOf({ tokens: ["a"] }), "INVALID_STEP");
    assert.equal(await codeOf({ tokens: [50_257] }), "INVALID_STEP", "outside the vocabulary");
    assert.equal(await codeOf({ hidden: { dtype: "f32", data: new Float32Array(32) }, tokens: undefined }), "INVALID_STEP", "the first stage takes tokens");
    assert.equal(await codeOf({ route: [] }), "INVALID_STEP", "a stage that is not last needs the rest of the route");
    assert.equal(await codeOf({ blocks: { from: 0, to: 2 } }), "WRONG_BLOCKS");
    assert.equal(await codeOf({ position: 5 }), "SEQUENCE_LOST", "a position the stage never cached");
    assert.equal(await codeOf({ tokens: Array.from({ length: 65 }, () => 1) }), "CONTEXT_EXCEEDED");
    assert.equal(await codeOf({ deadlineMs: Date.now() - 1 }), "DEADLINE_EXCEEDED");
    const unreachable = await step({});
    assert.equal(unreachable.type === "step-failed" && unreachable.code, "STAGE_UNREACHABLE", "the next stage does not exist");
    assert.equal(unreachable.type === "step-failed" && unreachable.executor, "fed://h1/user/nowhere", "the failure names the next stage, not this one");
    assert.equal(await codeOf({ sequence: "s2" }), "STAGE_UNREACHABLE");
    assert.equal(await codeOf({ sequence: "s3" }), "TOO_MANY_SEQUENCES", "two caches held (s, s2): a third is refused");

    const calibration = await s0.ask<{ type: string; blockMs?: number }>((replyTo) => ({ type: "calibrate", tokens: 4, replyTo }));
    assert.equal(calibration.type, "calibration");
    assert.ok(calibration.blockMs! > 0, `a measured per-block time: ${calibration.blockMs}`);
    const loaded = await s0.ask<{ type: string; from?: number; to?: number }>((replyTo) => ({ type: "load", from: 0, to: 2, replyTo }));
    assert.deepEqual([loaded.type, loaded.from, loaded.to], ["loaded", 0, 2]);
    const info = await s0.ask<ExecutorInfoReply>((replyTo) => ({ type: "info", replyTo }));
    assert.equal(info.sequences, 0, "a new block range drops every cache");
    const rejected = await s0.ask<{ type: string; message?: string }>((replyTo) => ({ type: "load", from: 1, to: 9, replyTo }));
    assert.equal(rejected.type, "rejected");
    assert.match(rejected.message!, /within the model's 2 blocks/);
    const token = await step({ route: [] });
    assert.equal(token.type, "token", "after a refused load the stage still runs its range (now the whole model)");
    const unknownRef = system.ref<unknown>(s0.path) as ActorRef<unknown>;
    unknownRef.tell({ type: "explode" }); // no replyTo: logged, not a crash
    const still = await s0.ask<ExecutorInfoReply>((replyTo) => ({ type: "info", replyTo }));
    assert.equal(still.type, "info", "an unknown message does not crash the stage");
  } finally {
    await system.stop();
  }
});
