/**
 * applyUpdateAndSave: the written checkpoint loads with model-loader.ts and holds exactly the
 * base weights plus the delta (tied head kept, prefixed names kept), with its tokenizer and the
 * privacy metadata; a mismatched or corrupt input is a typed error and writes nothing.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { initModel } from "../../../../actors/shard-executor/model-init.ts";
import { loadGpt2Stage } from "../../../../actors/shard-executor/model-loader.ts";
import { loadSafetensors, readSafetensorsIndex, SafetensorsError, writeSafetensors } from "../../../../actors/shard-executor/safetensors.ts";
import { Gpt2Tokenizer } from "../../../../actors/shard-executor/tokenizer.ts";
import { applyUpdateAndSave } from "../../../../actors/shard-executor/training/checkpoint.ts";
import { applyFlatDelta, trainableSpec } from "../../../../actors/shard-executor/training/trainable.ts";
import { InvalidTrainingOption, UpdateMismatch } from "../../../../actors/shard-executor/training/errors.ts";
import { tempDir } from "../../../fixtures/node-store.ts";

const SHAPE = { layers: 2, dModel: 16, heads: 2, positions: 8 };

async function base(t: { after(fn: () => void): void }) {
  const root = tempDir(t, "fedrouter-checkpoint-");
  const dir = join(root, "base");
  await initModel({ out: dir, ...SHAPE, vocab: "gpt2", seed: 2 });
  return { root, dir, weights: await loadGpt2Stage(dir) };
}

test("a saved update loads with model-loader.ts as exactly base + delta, tied, with tokenizer and metadata", { timeout: 30_000 }, async (t) => {
  const { root, dir, weights } = await base(t);
  for (const part of [{ kind: "last", blocks: 1 }, { kind: "all" }] as const) {
    const spec = trainableSpec(weights.config, part);
    const delta = Float32Array.from({ length: spec.size }, (_, i) => Math.sin(i) * 1e-3);
    const out = join(root, `trained-${part.kind}`);
    const metadata = { noiseMultiplier: 1.1, updateClip: 1, samplingRate: 0.5, rounds: 3, epsilon: 2.5, delta: 1e-5, accountant: "pld" };
    const { files } = await applyUpdateAndSave(dir, spec, delta, out, metadata);
    assert.deepEqual(files.sort(), ["config.json", "fedrouter_training.json", "merges.txt", "model.safetensors", "vocab.json"]);
    const loaded = await loadGpt2Stage(out);
    const expected = applyFlatDelta(spec, weights.tensors, delta);
    assert.deepEqual([...loaded.tensors.keys()].sort(), [...expected.keys()].sort());
    for (const [name, t2] of expected) assert.deepEqual(loaded.tensors.get(name)!.data, t2.data, name);
    const index = await readSafetensorsIndex(join(out, "model.safetensors"));
    assert.ok(!index.tensors.has("lm_head.weight"), "the head stays tied to wte: no separate head tensor");
    const record = JSON.parse(await readFile(join(out, "fedrouter_training.json"), "utf8"));
    assert.deepEqual({ ...record, update: undefined, baseModel: undefined }, { ...metadata, update: undefined, baseModel: undefined });
    assert.equal(record.update.parameters, spec.size);
    assert.equal((await Gpt2Tokenizer.fromDirectory(out)).encode("Echo normal.").length > 0, true);
  }
});

test("a checkpoint with transformer.-prefixed names keeps them", { timeout: 30_000 }, async (t) => {
  const { root, dir, weights } = await base(t);
  const prefixedDir = join(root, "prefixed");
  await initModel({ out: prefixedDir, ...SHAPE, vocab: "gpt2", seed: 2 });
  const tensors = await loadSafetensors(join(dir, "model.safetensors"));
  await writeSafetensors(join(prefixedDir, "model.safetensors"), Object.fromEntries([...tensors].map(([n, t2]) => [`transformer.${n}`, t2])));
  const spec = trainableSpec(weights.config, { kind: "last", blocks: 1, head: false });
  const delta = new Float32Array(spec.size).fill(0.25);
  await applyUpdateAndSave(prefixedDir, spec, delta, join(root, "out"), {});
  const index = await readSafetensorsIndex(join(root, "out", "model.safetensors"));
  assert.ok([...index.tensors.keys()].every((n) => n.startsWith("transformer.")));
  const loaded = await loadGpt2Stage(join(root, "out"));
  assert.deepEqual(loaded.tensors.get("ln_f.bias")!.data, new Float32Array(SHAPE.dModel).fill(0.25));
});

test("a mismatched update or a corrupt checkpoint is a typed error and writes nothing", { timeout: 30_000 }, async (t) => {
  const { root, dir, weights } = await base(t);
  const spec = trainableSpec(weights.config, { kind: "last", blocks: 1 });
  const good = new Float32Array(spec.size);
  const out = join(root, "out");
  const other = trainableSpec({ ...weights.config, dModel: 32, heads: 2 }, { kind: "last", blocks: 1 });
  await assert.rejects(applyUpdateAndSave(dir, spec, good.subarray(1), out, {}), (e: unknown) => e instanceof UpdateMismatch && e.field === "delta");
  await assert.rejects(applyUpdateAndSave(dir, spec, Float32Array.from(good).fill(Number.NaN, 3, 4), out, {}), (e: unknown) => e instanceof UpdateMismatch && /value 3 is NaN/.test(e.message));
  await assert.rejects(applyUpdateAndSave(dir, other, new Float32Array(other.size), out, {}), (e: unknown) => e instanceof UpdateMismatch && e.field === "spec.model.dModel");
  await assert.rejects(applyUpdateAndSave(dir, spec, good, dir, {}), (e: unknown) => e instanceof InvalidTrainingOption && e.field === "outDir");
  await assert.rejects(applyUpdateAndSave(dir, spec, good, out, { epsilon: Number.POSITIVE_INFINITY }), (e: unknown) => e instanceof InvalidTrainingOption && e.field === "metadata.epsilon");
  const bytes = await readFile(join(dir, "model.safetensors"));
  await writeFile(join(dir, "model.safetensors"), bytes.subarray(0, bytes.length - 100));
  await assert.rejects(applyUpdateAndSave(dir, spec, good, out, {}), (e: unknown) => e instanceof SafetensorsError && e.code === "BAD_WEIGHTS_FILE");
  assert.equal(existsSync(out), false, "nothing was written");
  await writeFile(join(dir, "model.safetensors"), bytes);
  await applyUpdateAndSave(dir, spec, good, out, {});
  await assert.rejects(applyUpdateAndSave(dir, spec, good, out, {}), (e: unknown) => e instanceof InvalidTrainingOption && /already holds a model/.test(e.message));
  await applyUpdateAndSave(dir, spec, good, out, {}, { force: true });
});
