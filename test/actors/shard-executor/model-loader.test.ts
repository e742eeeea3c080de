import { test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { initModel } from "../../../actors/shard-executor/model-init.ts";
import { loadGpt2Stage, ModelConfigError } from "../../../actors/shard-executor/model-loader.ts";
import { loadSafetensors, SafetensorsError, writeSafetensors } from "../../../actors/shard-executor/safetensors.ts";
import { tempDir } from "../../fixtures/node-store.ts";

const SHAPE = { layers: 2, dModel: 32, heads: 2, positions: 16 };

async function tinyModel(t: { after(fn: () => void): void }): Promise<string> {
  const dir = join(tempDir(t, "fedrouter-loader-"), "tiny");
  await initModel({ out: dir, ...SHAPE, vocab: "gpt2", seed: 11 });
  return dir;
}

/** A copy of `dir` whose model.safetensors is rewritten by `edit` (names, dtypes, tensors). */
async function variant(t: { after(fn: () => void): void }, dir: string, edit: (name: string) => { name: string; dtype?: "F32" | "F16" | "BF16" } | null): Promise<string> {
  const out = join(tempDir(t, "fedrouter-loader-v-"), "m");
  cpSync(dir, out, { recursive: true });
  const tensors = await loadSafetensors(join(dir, "model.safetensors"));
  const rewritten: Record<string, { dtype: "F32" | "F16" | "BF16"; shape: readonly number[]; data: Float32Array }> = {};
  for (const [name, tensor] of tensors) {
    const e = edit(name);
    if (e !== null) rewritten[e.name] = { dtype: e.dtype ?? "F32", shape: tensor.shape, data: tensor.data };
  }
  await writeSafetensors(join(out, "model.safetensors"), rewritten);
  return out;
}

test("a stage loads only its blocks: the first embeds, the last has ln_f and the tied head (wte)", async (t) => {
  const dir = await tinyModel(t);
  const first = await loadGpt2Stage(dir, { from: 0, to: 1 });
  assert.equal(first.first && !first.last, true);
  const names = (s: typeof first) => [...s.tensors.keys()].sort();
  assert.deepEqual(names(first).filter((n) => !n.startsWith("h.0.")), ["wpe.weight", "wte.weight"]);
  assert.equal(names(first).filter((n) => n.startsWith("h.")).length, 12);
  const last = await loadGpt2Stage(dir, { from: 1, to: 2 });
  assert.deepEqual(names(last).filter((n) => !n.startsWith("h.1.")), ["ln_f.bias", "ln_f.weight", "wte.weight"]);
  const whole = await loadGpt2Stage(dir);
  assert.equal(whole.tensors.size, 2 + 2 * 12 + 2);
  assert.deepEqual(whole.config, { ...SHAPE, vocabSize: 50_257, eosTokenId: 50_256, layerNormEpsilon: 1e-5 });
  await assert.rejects(loadGpt2Stage(dir, { from: 1, to: 3 }), /blocks \[1, 3\) are not a non-empty range within the model's 2 blocks/);
});

test("checkpoints with the transformer. prefix and in F16 load to the same weights (F16 to its precision)", async (t) => {
  const dir = await tinyModel(t);
  const reference = await loadGpt2Stage(dir);
  const prefixed = await loadGpt2Stage(await variant(t, dir, (name) => ({ name: `transformer.${name}` })));
  assert.deepEqual([...prefixed.tensors.keys()].sort(), [...reference.tensors.keys()].sort());
  assert.deepEqual(prefixed.tensors.get("h.1.attn.c_attn.weight")!.data, reference.tensors.get("h.1.attn.c_attn.weight")!.data);
  const half = await loadGpt2Stage(await variant(t, dir, (name) => ({ name, dtype: "F16" })));
  const a = half.tensors.get("h.0.mlp.c_fc.weight")!.data, b = reference.tensors.get("h.0.mlp.c_fc.weight")!.data;
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= Math.abs(b[i]!) * 2 ** -11 + 2 ** -24, `F16 ${b[i]} → ${a[i]}`);
});

test("a missing tensor, a wrong shape or a bad config.json is an error naming the file and the tensor or field", async (t) => {
  const dir = await tinyModel(t);
  const missing = await variant(t, dir, (name) => (name === "h.1.ln_2.bias" ? null : { name }));
  await assert.rejects(loadGpt2Stage(missing, { from: 1, to: 2 }), (e: unknown) => e instanceof SafetensorsError && /model\.safetensors: tensor "h\.1\.ln_2\.bias": is missing/.test(e.message));
  assert.equal((await loadGpt2Stage(missing, { from: 0, to: 1 })).tensors.size, 14, "a stage that does not need the tensor still loads");

  const wrong = join(tempDir(t, "fedrouter-loader-w-"), "m");
  cpSync(dir, wrong, { recursive: true });
  writeFileSync(join(wrong, "config.json"), JSON.stringify({ model_type: "gpt2", n_layer: 2, n_embd: 16, n_head: 2, n_positions: 16, vocab_size: 50_257 }));
  await assert.rejects(loadGpt2Stage(wrong), /tensor "wte\.weight": has shape \[50257, 32\], config\.json implies \[50257, 16\]/);
  writeFileSync(join(wrong, "config.json"), JSON.stringify({ model_type: "gpt2", n_layer: 2, n_embd: 33, n_head: 2, n_positions: 16, vocab_size: 50_257 }));
  await assert.rejects(loadGpt2Stage(wrong), (e: unknown) => e instanceof ModelConfigError && /config\.json: n_embd: 33 is not divisible by n_head = 2/.test(e.message));
  writeFileSync(join(wrong, "config.json"), JSON.stringify({ model_type: "llama", n_layer: 2 }));
  await assert.rejects(loadGpt2Stage(wrong), /model_type: "llama" is not "gpt2"/);
  writeFileSync(join(wrong, "config.json"), JSON.stringify({ model_type: "gpt2", n_layer: -1 }));
  await assert.rejects(loadGpt2Stage(wrong), /n_layer: -1 must be a positive integer/);
  await assert.rejects(loadGpt2Stage(join(wrong, "nowhere")), /config\.json: \(file\): cannot read it \(ENOENT\)/);
});

test("a weight that is NaN or ±∞ (F32, or an F16 with an all-ones exponent) is refused naming the tensor and the element; a stage without that tensor loads", async (t) => {
  const dir = await tinyModel(t);
  /** A copy of `dir` whose tensor `target` has `value` at element 5, stored as `dtype`. */
  const poisoned = async (target: string, value: number, dtype: "F32" | "F16" = "F32"): Promise<string> => {
    const out = join(tempDir(t, "fedrouter-loader-nan-"), "m");
    cpSync(dir, out, { recursive: true });
    const tensors = await loadSafetensors(join(dir, "model.safetensors"));
    const rewritten: Record<string, { dtype: "F32" | "F16"; shape: readonly number[]; data: Float32Array }> = {};
    for (const [name, tensor] of tensors) {
      const data = Float32Array.from(tensor.data);
      if (name === target) data[5] = value;
      rewritten[name] = { dtype, shape: tensor.shape, data };
    }
    await writeSafetensors(join(out, "model.safetensors"), rewritten);
    return out;
  };
  const nan = await poisoned("h.1.attn.c_attn.weight", Number.NaN);
  await assert.rejects(loadGpt2Stage(nan, { from: 1, to: 2 }), (e: unknown) =>
    e instanceof SafetensorsError && e.tensor === "h.1.attn.c_attn.weight" && /element 5 of 3072 is NaN: weights must be finite/.test(e.message));
  const first = await loadGpt2Stage(nan, { from: 0, to: 1 }); // blocks [0, 1) never read h.1
  assert.equal(first.tensors.has("h.1.attn.c_attn.weight"), false);
  await assert.rejects(loadGpt2Stage(await poisoned("wte.weight", Number.POSITIVE_INFINITY)), (e: unknown) =>
    e instanceof SafetensorsError && e.tensor === "wte.weight" && /element 5 of \d+ is Infinity/.test(e.message));
  await assert.rejects(loadGpt2Stage(await poisoned("ln_f.bias", Number.NEGATIVE_INFINITY, "F16")), (e: unknown) =>
    e instanceof SafetensorsError && e.tensor === "ln_f.bias" && /element 5 of 32 is -Infinity/.test(e.message));
});
