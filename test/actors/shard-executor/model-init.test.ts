import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { checkModelShape, gpt2TensorShapes, GPT2_SMALL_SHAPE, initModel, InvalidModelShape } from "../../../actors/shard-executor/model-init.ts";
import { loadSafetensors, readSafetensorsIndex } from "../../../actors/shard-executor/safetensors.ts";
import { Gpt2Tokenizer } from "../../../actors/shard-executor/tokenizer.ts";
import { tempDir } from "../../fixtures/node-store.ts";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));

test("the 124M shape has GPT-2 small's published parameter count, 124,439,808 (tied head not stored)", () => {
  const count = gpt2TensorShapes(GPT2_SMALL_SHAPE).reduce((sum, [, shape]) => sum + shape.reduce((a, b) => a * b, 1), 0);
  assert.equal(count, 124_439_808);
  assert.equal(gpt2TensorShapes(GPT2_SMALL_SHAPE).length, 2 + 12 * 12 + 2);
});

test("model init writes a Hugging Face GPT-2 directory: config, tensors with HF names and shapes, GPT-2 init statistics, the tokenizer", async (t) => {
  const out = join(tempDir(t, "fedrouter-model-"), "tiny");
  const shape = { layers: 2, dModel: 64, heads: 4, positions: 32 };
  const { parameters } = await initModel({ out, ...shape, vocab: "gpt2", seed: 7 });
  const config = JSON.parse(readFileSync(join(out, "config.json"), "utf8"));
  assert.deepEqual([config.model_type, config.n_layer, config.n_embd, config.n_head, config.n_positions, config.vocab_size, config.eos_token_id], ["gpt2", 2, 64, 4, 32, 50_257, 50_256]);
  const index = await readSafetensorsIndex(join(out, "model.safetensors"));
  assert.deepEqual([...index.tensors.values()].map((t) => [t.name, t.shape]), gpt2TensorShapes(shape));
  assert.equal([...index.tensors.values()].reduce((s, t) => s + t.shape.reduce((a, b) => a * b, 1), 0), parameters);
  const tensors = await loadSafetensors(join(out, "model.safetensors"), (n) => n.startsWith("h.1.") || n === "wte.weight");
  const std = (x: Float32Array) => Math.sqrt(x.reduce((s, v) => s + v * v, 0) / x.length);
  assert.ok(Math.abs(std(tensors.get("wte.weight")!.data) - 0.02) < 0.0005, "wte ~ N(0, 0.02²)");
  assert.ok(Math.abs(std(tensors.get("h.1.mlp.c_proj.weight")!.data) - 0.01) < 0.0005, "c_proj ~ N(0, (0.02/√4)²)");
  assert.ok(tensors.get("h.1.ln_2.weight")!.data.every((v) => v === 1) && tensors.get("h.1.attn.c_attn.bias")!.data.every((v) => v === 0));
  const tokenizer = await Gpt2Tokenizer.fromDirectory(out);
  assert.deepEqual(tokenizer.encode("Hello world"), [15496, 995]);

  const again = join(tempDir(t, "fedrouter-model-"), "tiny");
  await initModel({ out: again, ...shape, vocab: "gpt2", seed: 7 });
  assert.ok(readFileSync(join(again, "model.safetensors")).equals(readFileSync(join(out, "model.safetensors"))), "same seed, same bytes");
  await assert.rejects(initModel({ out, ...shape, vocab: "gpt2", seed: 8 }), /already holds a model/);
});

test("a shape that cannot be a GPT-2 is InvalidModelShape naming the option; the CLI exits 2 with it", async (t) => {
  assert.throws(() => checkModelShape({ layers: 2, dModel: 65, heads: 4, positions: 8 }), (e: unknown) => e instanceof InvalidModelShape && e.field === "dModel");
  assert.throws(() => checkModelShape({ layers: 0, dModel: 64, heads: 4, positions: 8 }), /layers: 0 must be an integer/);
  const out = join(tempDir(t, "fedrouter-model-cli-"), "m");
  const run = (args: string[]) => new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
    execFile(process.execPath, ["--import", "tsx", "bin/fedrouter.ts", "model", "init", "--out", out, ...args], { cwd: ROOT, timeout: 60_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr })));
  const bad = await run(["--d-model", "65"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--d-model: 65 is not divisible by heads = 4/);
  const ok = await run(["--layers", "1", "--d-model", "32", "--heads", "2", "--positions", "16", "--seed", "3"]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /wrote .*: GPT-2 with 1 layers, d_model 32, 2 heads, [\d,]+ parameters \(seed 3\)/);
});

test("an --out that cannot be made or written is InvalidModelShape naming it (no stack trace from the CLI)", async (t) => {
  const dir = tempDir(t, "fedrouter-model-out-");
  writeFileSync(join(dir, "a-file"), "x");
  const shape = { layers: 1, dModel: 8, heads: 2, positions: 8, vocab: "gpt2" as const, seed: 1 };
  await assert.rejects(initModel({ ...shape, out: join(dir, "a-file", "m") }), (e: unknown) =>
    e instanceof InvalidModelShape && e.field === "out" && /cannot create .*a-file\/m \(ENOTDIR\)/.test(e.message));
  const blocked = join(dir, "blocked");
  mkdirSync(join(blocked, "model.safetensors"), { recursive: true }); // a directory where the weights go
  await assert.rejects(initModel({ ...shape, out: blocked, force: true }), (e: unknown) =>
    e instanceof InvalidModelShape && e.field === "out" && /cannot write the model into .*blocked \(EISDIR at .*model\.safetensors\)/.test(e.message));
  const cli = await new Promise<{ code: number; stderr: string }>((resolve) =>
    execFile(process.execPath, ["--import", "tsx", "bin/fedrouter.ts", "model", "init", "--out", join(dir, "a-file", "m")], { cwd: ROOT, timeout: 60_000 }, (error, _stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stderr })));
  assert.equal(cli.code, 2);
  assert.match(cli.stderr, /^fedrouter model init: --out: cannot create .*a-file\/m \(ENOTDIR\)\n$/);
});
