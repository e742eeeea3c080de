/**
 * Putting a trained model in service on a hospital (trainer/install.ts and the trainer's
 * install-chunk/install messages): the trained values written over the model directory, the
 * replaced files kept in previous/, a crash at either side of the model file's rename recovered
 * to a model that loads, a model that does not fit refused before anything changes, a trainer
 * without acceptInstall refusing, and one with it reloading the executor that serves the model.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ActorSystem } from "../../../../runtime/index.ts";
import {
  flattenTrainable, initModel, installTrained, InstallRefused, loadGpt2Stage, shardExecutor, trainableSpec, trainer, TrainerClient, TrainerFailed,
  TRAINER_CHUNK_WORDS, type ShardExecutorMsg, type StepReply, type TrainerReply,
} from "../../../../actors/shard-executor/index.ts";
import { recoverInstall } from "../../../../actors/shard-executor/trainer/install.ts";
import { tempDir } from "../../../fixtures/node-store.ts";

const PART = { kind: "last", blocks: 1, head: false } as const;

async function tinyModel(dir: string): Promise<string> {
  await initModel({ out: dir, layers: 2, dModel: 32, heads: 4, positions: 16, vocab: "gpt2", seed: 7 });
  return dir;
}

async function trainable(dir: string, part: Parameters<typeof trainableSpec>[1] = PART) {
  const model = await loadGpt2Stage(dir);
  const spec = trainableSpec(model.config, part);
  return { spec, flat: flattenTrainable(spec, model.tensors) };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

test("installTrained: the trained values serve from the model directory, the replaced files are in previous/ (a model that loads), the metadata beside them", async (t) => {
  const dir = await tinyModel(join(tempDir(t, "fedrouter-install-"), "model"));
  const { spec, flat: base } = await trainable(dir);
  const trained = base.map((v, i) => v + 0.01 * Math.sin(i));
  const { previous } = await installTrained(dir, spec, base, trained, "train-1", { rounds: 2, epsilon: 3.5, version: 2 });

  const now = await trainable(dir);
  assert.ok(maxAbsDiff(now.flat, trained) < 1e-6, `served weights are the trained ones (max |Δ| ${maxAbsDiff(now.flat, trained)})`);
  const kept = await trainable(previous);
  assert.equal(maxAbsDiff(kept.flat, base), 0, "previous/ holds the replaced model, bit for bit");
  const record = JSON.parse(readFileSync(join(dir, "fedrouter_training.json"), "utf8")) as Record<string, unknown>;
  assert.equal(record.epsilon, 3.5);
  assert.equal(record.version, 2);
  assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith(".")), [], "no staging directory is left");

  // A second install keeps only the model it replaces (the first install's result) in previous/.
  const again = base.map((v) => v - 0.02);
  await installTrained(dir, spec, now.flat, again, "train-2", { rounds: 1 });
  assert.ok(maxAbsDiff((await trainable(previous)).flat, trained) < 1e-6, "previous/ now holds the first install's model");
  assert.equal(JSON.parse(readFileSync(join(previous, "fedrouter_training.json"), "utf8")).epsilon, 3.5, "with its metadata");
});

test("installTrained refuses a model that does not fit, or a non-finite value, before anything changes", async (t) => {
  const dir = await tinyModel(join(tempDir(t, "fedrouter-install-bad-"), "model"));
  const { spec, flat: base } = await trainable(dir);
  const before = readFileSync(join(dir, "model.safetensors"));
  await assert.rejects(installTrained(dir, spec, base, new Float32Array(spec.size - 1), "j", {}), (e: unknown) => e instanceof InstallRefused && e.code === "INSTALL_REFUSED" && /has \d+/.test(e.message));
  const bad = base.slice();
  bad[5] = Number.NaN;
  await assert.rejects(installTrained(dir, spec, base, bad, "j", {}), (e: unknown) => (e as { code?: string }).code === "TRAINING_UPDATE_MISMATCH");
  await assert.rejects(installTrained(dir, spec, base, base, "../escape", {}), InstallRefused);
  assert.deepEqual(readFileSync(join(dir, "model.safetensors")), before, "the served model is untouched");
  assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith(".") || f === "previous"), [], "nothing staged or kept");
});

test("recoverInstall: a crash before the model file's rename is undone, one after it is finished; both leave a model that loads", async (t) => {
  const root = tempDir(t, "fedrouter-install-crash-");
  const dir = await tinyModel(join(root, "model"));
  const { spec, flat: base } = await trainable(dir);
  const trained = base.map((v) => v + 0.05);

  // Before step 3: the staging directory holds a whole model; the served one is the old one.
  const staged = join(dir, ".install-crashed");
  mkdirSync(staged);
  writeFileSync(join(staged, "model.safetensors"), "half-written");
  writeFileSync(join(staged, "fedrouter_training.json"), "{}");
  assert.equal(await recoverInstall(dir), "undone");
  assert.equal(existsSync(staged), false);
  assert.equal(maxAbsDiff((await trainable(dir)).flat, base), 0, "the old model serves");

  // After step 3: the new model file is in service, its metadata still staged.
  await installTrained(dir, spec, base, trained, "first", { job: "first" });
  await installTrained(dir, spec, trained, base, "second", { job: "second" });
  // Rebuild the moment between the rename of the model file and the metadata's: put the second
  // install's metadata back in a staging directory and the first's beside the model.
  mkdirSync(join(dir, ".install-second"));
  renameSync(join(dir, "fedrouter_training.json"), join(dir, ".install-second", "fedrouter_training.json"));
  writeFileSync(join(dir, "fedrouter_training.json"), JSON.stringify({ job: "first" }));
  assert.equal(await recoverInstall(dir), "finished");
  assert.equal(JSON.parse(readFileSync(join(dir, "fedrouter_training.json"), "utf8")).job, "second", "the metadata matches the weights in service");
  assert.ok(maxAbsDiff((await trainable(dir)).flat, base) < 1e-6, "the second install's weights serve");
  assert.equal(await recoverInstall(dir), "none");
});

test("the trainer's install: refused without acceptInstall; with it, the model arrives in chunks, is written, and the executor serving it reloads", { timeout: 120_000 }, async (t) => {
  const root = tempDir(t, "fedrouter-install-actor-");
  const refusing = await tinyModel(join(root, "refusing"));
  const serving = await tinyModel(join(root, "serving"));
  const all = { kind: "all" } as const;
  const system = await ActorSystem.start({ node: "h-a", persistence: { path: join(root, "data") }, logLevel: "error" });
  try {
    const corpus = { kind: "synthetic", specialty: "cardiology", notes: 2, seed: 1 } as const;
    const off = await system.spawn(trainer, { modelDir: refusing, part: all, corpus }, { name: "trainer-off" });
    const executor = await system.spawn(shardExecutor, { modelDir: serving, backend: "wasm" }, { name: "executor" });
    const on = await system.spawn(trainer, { modelDir: serving, part: all, corpus, acceptInstall: true, serving: ["user/executor"] }, { name: "trainer-on" });
    const { spec, flat: base } = await trainable(serving, all);
    const zeros = new Float32Array(spec.size);
    assert.ok(spec.size > 262_144, "the model travels in more than one chunk");

    const before = readFileSync(join(refusing, "model.safetensors"));
    await assert.rejects(new TrainerClient("h-a", off, 30_000, 60_000).install("job-1", 1, zeros, {}),
      (e: unknown) => e instanceof TrainerFailed && e.causeCode === "INSTALL_REFUSED" && /acceptInstall/.test(e.reason));
    assert.deepEqual(readFileSync(join(refusing, "model.safetensors")), before, "the refusing hospital's model is untouched");

    // Greedy decoding: with every weight zero the logits tie, and argmax is token 0; the random model's is not.
    const next = async () => {
      const reply = await executor.ask<StepReply>((replyTo) => ({ type: "step", sequence: `s-${Math.random()}`, position: 0, tokens: [464, 5827], route: [], sampling: { temperature: 0 }, deadlineMs: Date.now() + 20_000, replyTo }) satisfies ShardExecutorMsg, { timeoutMs: 20_000 });
      assert.equal(reply.type, "token", JSON.stringify(reply));
      return reply.type === "token" ? reply.token : -1;
    };
    assert.notEqual(await next(), 0, "the random model's greedy token");
    const client = new TrainerClient("h-a", on, 30_000, 60_000);
    await assert.rejects(client.install("job-2", 1, zeros.subarray(1), {}), (e: unknown) => e instanceof TrainerFailed && e.causeCode === "INSTALL_REFUSED");
    // Chunks are taken in order only, for an install as for a round's global model (one reassembly for both).
    const count = Math.ceil(spec.size / TRAINER_CHUNK_WORDS);
    const second = zeros.subarray(TRAINER_CHUNK_WORDS, 2 * TRAINER_CHUNK_WORDS);
    const outOfOrder = await on.ask<TrainerReply<number>>((replyTo) => ({ type: "install-chunk", job: "job-x", index: 1, count, total: spec.size, data: second, replyTo }));
    assert.deepEqual(outOfOrder.type === "failed" && [outOfOrder.code, /model chunk 1 out of order \(expected 0\)/.test(outOfOrder.message)], ["INSTALL_REFUSED", true], JSON.stringify(outOfOrder));
    const globalOutOfOrder = await on.ask<TrainerReply<number>>((replyTo) => ({ type: "global-chunk", roundId: "r-x", index: 1, count, total: spec.size, data: second, replyTo }));
    assert.ok(globalOutOfOrder.type === "failed" && /global model chunk 1 out of order/.test(globalOutOfOrder.message), JSON.stringify(globalOutOfOrder));
    const report = await client.install("job-2", 3, zeros, { rounds: 3 });
    assert.deepEqual(report.reloaded, [executor.path], `the executor reloaded: ${JSON.stringify(report)}`);
    assert.deepEqual(report.notReloaded, []);
    assert.equal(maxAbsDiff((await trainable(serving, all)).flat, zeros), 0, "the zero model is on disk");
    assert.equal(maxAbsDiff((await trainable(join(serving, "previous"), all)).flat, base), 0, "the random one in previous/");
    assert.equal(await next(), 0, "the executor answers from the installed weights");
    assert.equal(JSON.parse(readFileSync(join(serving, "fedrouter_training.json"), "utf8")).version, 3);
  } finally {
    await system.stop();
  }
});
