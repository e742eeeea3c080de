/**
 * The ShardExecutor's behaviour. Through the BehaviorTestKit (no threads, one message at a time):
 * info, the runtime's access gate for a peer, malformed and impossible steps answered with their
 * typed error, a token from a whole model, a step relayed to the next stage (answered or failed by
 * the test), and a flush defect turned into a crash of the actor. In a worker thread, under a real
 * supervisor:
 *
 * Issue 12 (failure edges): the batch flush runs outside message handling (setImmediate); a throw
 * there used to be an uncaught exception that ended the worker thread. Now it is a supervised
 * crash of the actor: the steps it held are answered EXECUTOR_FAILED, the supervisor restarts the
 * executor in its thread, and the next step is served.
 */
import { after, test } from "node:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import assert from "node:assert/strict";
import { join } from "node:path";
import { firstValueFrom, filter } from "rxjs";
import { ActorSystem, BehaviorTestKit } from "../../../runtime/index.ts";
import {
  initModel, shardExecutor,
  type ExecutorInfoReply, type ShardExecutorMsg, type ShardExecutorOptions, type StepMsg, type StepReply,
} from "../../../actors/shard-executor/index.ts";
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

/** One tiny two-block GPT-2 for the tests below (random weights: only shapes matter), removed after the file. */
let tinyModel: Promise<string> | undefined;
after(() => (tinyModelRoot === undefined ? undefined : rmSync(tinyModelRoot, { recursive: true, force: true })));
let tinyModelRoot: string | undefined;
function tiny(): Promise<string> {
  tinyModel ??= (async () => {
    tinyModelRoot = mkdtempSync(join(tmpdir(), "fedrouter-executor-kit-"));
    const dir = join(tinyModelRoot, "tiny");
    await initModel({ out: dir, layers: 2, dModel: 32, heads: 4, positions: 16, vocab: "gpt2", seed: 5 });
    return dir;
  })();
  return tinyModel;
}

async function startedKit(options: ShardExecutorOptions) {
  const kit = BehaviorTestKit.of(shardExecutor, options, { path: "fed://n/user/stage" });
  assert.deepEqual(await kit.start(), { type: "handled" });
  const replies = kit.inbox<StepReply>();
  const step = (fields: Partial<StepMsg> = {}): StepMsg => ({
    type: "step", sequence: "s-1", position: 0, tokens: [464, 5827], route: [], deadlineMs: Date.now() + 60_000, replyTo: replies.ref, ...fields,
  });
  return { kit, replies, step };
}

test("info describes the stage it loaded (through the BehaviorTestKit)", async () => {
  const { kit } = await startedKit({ modelDir: await tiny(), backend: "cpu", from: 1, to: 2 });
  const info = kit.inbox<ExecutorInfoReply>();
  assert.deepEqual(await kit.run({ type: "info", replyTo: info.ref }), { type: "handled" });
  assert.deepEqual(info.expectMessage(), {
    type: "info", executor: "fed://n/user/stage", node: "n", from: 1, to: 2, layers: 2, dModel: 32, positions: 16, vocabSize: 50_257,
    backend: "cpu", sequences: 0, steps: 0, batches: 0,
  });
  assert.equal(kit.logs.find((l) => l.event === "shard-executor-ready")?.fields?.backend, "cpu");
});

test("a peer may step but not send 'defect', and a user may send nothing: refused by the access gate before receive", async () => {
  const { kit, replies, step } = await startedKit({ modelDir: await tiny(), backend: "cpu" });
  const peer = { kind: "peer", node: "node-b" } as const;
  const defect = await kit.run({ type: "defect" }, { sender: peer });
  assert.equal(defect.type, "forbidden");
  assert.match(String(defect.type === "forbidden" && defect.error.message), /peer:node-b may not send "defect" to fed:\/\/n\/user\/stage/);
  const fromUser = await kit.run(step(), { sender: { kind: "user", user: "u-1", role: "clinician", department: "radiology" } });
  assert.equal(fromUser.type === "forbidden" && fromUser.error.code, "FORBIDDEN");
  replies.expectNoMessage();
  assert.deepEqual(await kit.run(step(), { sender: peer }), { type: "handled" });
  assert.equal((await replies.next()).type, "token", "a peer's step is served");
});

test("malformed and impossible steps are answered with their typed error, naming the problem; the actor does not crash", async () => {
  const { kit, replies, step } = await startedKit({ modelDir: await tiny(), backend: "cpu" });
  const cases: [Partial<StepMsg>, string, RegExp][] = [
    [{ sequence: "has a space" }, "INVALID_STEP", /^sequence: /],
    [{ tokens: [50_257] }, "INVALID_STEP", /outside the vocabulary/],
    [{ tokens: undefined }, "INVALID_STEP", /exactly one of tokens and hidden/],
    [{ position: 15 }, "CONTEXT_EXCEEDED", /17 positions exceed the model's context of 16/],
    [{ blocks: { from: 0, to: 1 } }, "WRONG_BLOCKS", /runs blocks \[0, 2\)/],
  ];
  for (const [fields, code, message] of cases) {
    assert.deepEqual(await kit.run(step(fields)), { type: "handled" }, JSON.stringify(fields));
    const reply = replies.expectMessage();
    assert.equal(reply.type === "step-failed" && reply.code, code, JSON.stringify(reply));
    assert.match(reply.type === "step-failed" ? reply.message : "", message);
  }
  // Checked when its batch runs (after receive, in the flush): a position the stage never cached.
  await kit.run(step({ sequence: "never-seen", position: 3 }));
  const lost = await replies.next();
  assert.equal(lost.type === "step-failed" && lost.code, "SEQUENCE_LOST");
  const unknown = kit.inbox<unknown>();
  await kit.run({ type: "nonsense", replyTo: unknown.ref } as unknown as ShardExecutorMsg);
  assert.deepEqual(unknown.expectMessage(), { type: "rejected", code: "INVALID_STEP", message: 'unknown message type "nonsense"; expected one of step, end, info, calibrate, load, defect' });
  const first = await kit.run(step());
  assert.deepEqual(first, { type: "handled" });
  assert.equal((await replies.next()).type, "token", "still serving");
});

test("a stage that is not last asks the next stage of the route and relays its answer, or STAGE_UNREACHABLE when that ask fails", async () => {
  const { kit, replies, step } = await startedKit({ modelDir: await tiny(), backend: "cpu", from: 0, to: 1 });
  const next = kit.inboxAt<ShardExecutorMsg>("fed://n/user/stage-1");
  await kit.run(step({ route: [{ path: "fed://n/user/stage-1", from: 1, to: 2 }] }));
  const hop = await next.nextAsk<StepReply>();
  assert.equal(hop.msg.type, "step");
  const forwarded = hop.msg as StepMsg;
  assert.deepEqual(forwarded.blocks, { from: 1, to: 2 });
  assert.equal(forwarded.hidden?.dtype, "f32");
  assert.equal(forwarded.hidden?.data.length, 2 * 32, "two positions of d_model 32");
  hop.reply({ type: "token", sequence: "s-1", position: 2, token: 11 });
  assert.deepEqual(await replies.next(), { type: "token", sequence: "s-1", position: 2, token: 11 });

  await kit.run(step({ sequence: "s-2", route: [{ path: "fed://n/user/stage-1" }] }));
  (await next.nextAsk<StepReply>()).fail(new Error("stage-1 stopped"));
  const failed = await replies.next();
  assert.equal(failed.type === "step-failed" && failed.code, "STAGE_UNREACHABLE");
  assert.equal(failed.type === "step-failed" && failed.executor, "fed://n/user/stage-1", "the failure names the stage that did not answer");
});

test("a defect in the flush answers the step EXECUTOR_FAILED and tells the actor 'defect', whose receive is the crash; a restart serves", async () => {
  const { kit, replies, step } = await startedKit({ modelDir: await tiny(), backend: "cpu", failFlushForTest: true });
  assert.deepEqual(await kit.run(step()), { type: "handled" }, "receive only queues the step");
  const failed = await replies.next();
  assert.equal(failed.type === "step-failed" && failed.code, "EXECUTOR_FAILED");
  const defect = await kit.selfInbox.next();
  assert.deepEqual(defect, { type: "defect" });
  const crash = await kit.run(defect);
  assert.equal(crash.type, "crashed");
  assert.match(String(crash.type === "crashed" && crash.error), /a defect after the forward pass \(test\)/);
  assert.ok(kit.logs.some((l) => l.level === "error" && l.event === "flush-failed"));
  assert.deepEqual(await kit.restart(), { type: "handled" });
  await kit.run(step({ sequence: "s-2" }));
  assert.equal((await replies.next()).type, "token", "the restarted behaviour serves");
});
