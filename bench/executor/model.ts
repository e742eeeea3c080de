/**
 * The 124M-shaped GPT-2 the executor benchmarks run on: generated on demand by `initModel`
 * (GPT2_SMALL_SHAPE, GPT-2's vocabulary, a fixed seed) into a directory outside the repository
 * and reused while it is valid. Never committed and never half-written: a model is generated
 * into a sibling folder and renamed into place only once complete, so an interrupted run leaves
 * nothing that a later run would take for a model.
 *
 * Where: `$FEDROUTER_BENCH_MODEL_DIR` if set (a non-empty folder there that holds no usable model
 * is an error, never deleted), else `<os.tmpdir()>/fedrouter-bench-models/gpt2-124m-seed-<seed>`
 * (the repository's .gitignore has no cache folder for us, and the weights are about 500 MB).
 */
import { existsSync, readdirSync } from "node:fs";
import { mkdir, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
// Straight from the modules, not the folder's index.ts, which grows as the actor is built.
import { GPT2_SMALL_SHAPE, GPT2_VOCAB_SIZE, gpt2TensorShapes, initModel, type ModelShape } from "../../actors/shard-executor/model-init.ts";
import { readGpt2Config } from "../../actors/shard-executor/model-loader.ts";
import { readSafetensorsIndex } from "../../actors/shard-executor/safetensors.ts";

/** The seed of the benchmark model; part of the folder name, so a change regenerates it. */
export const BENCH_MODEL_SEED = 124;

export const BENCH_MODEL_DIR_ENV = "FEDROUTER_BENCH_MODEL_DIR";

export function benchModelDir(seed = BENCH_MODEL_SEED): string {
  return process.env[BENCH_MODEL_DIR_ENV] ?? join(tmpdir(), "fedrouter-bench-models", `gpt2-124m-seed-${seed}`);
}

/**
 * The directory of the 124M-shaped model, generated first if it is missing or not a complete
 * model of that shape and seed (progress lines go to `log`).
 */
export async function ensureBenchModel(log: (line: string) => void = (line) => process.stdout.write(`${line}\n`)): Promise<string> {
  const dir = benchModelDir();
  const problem = await whyNotUsable(dir, GPT2_SMALL_SHAPE, BENCH_MODEL_SEED);
  if (problem === null) {
    log(`model: reusing ${dir}`);
    return dir;
  }
  if (process.env[BENCH_MODEL_DIR_ENV] !== undefined && existsSync(dir) && readdirSync(dir).length > 0) {
    // Never delete a folder someone named: only our own cache folder is replaced.
    throw new Error(`${BENCH_MODEL_DIR_ENV}=${dir}: ${problem}; empty it or point ${BENCH_MODEL_DIR_ENV} at a new folder, and the model is generated there`);
  }
  log(`model: generating GPT-2 124M-shaped weights (seed ${BENCH_MODEL_SEED}) into ${dir} — ${problem}; about 500 MB, under a minute…`);
  const partial = `${dir}.partial-${process.pid}`;
  await rm(partial, { recursive: true, force: true });
  await mkdir(dirname(dir), { recursive: true });
  const started = performance.now();
  try {
    await initModel({ out: partial, ...GPT2_SMALL_SHAPE, vocab: "gpt2", seed: BENCH_MODEL_SEED, progress: (line) => log(`model:${line.startsWith(" ") ? "" : " "}${line}`) });
    await rm(dir, { recursive: true, force: true });
    await rename(partial, dir);
  } catch (error) {
    await rm(partial, { recursive: true, force: true });
    throw error;
  }
  log(`model: generated in ${((performance.now() - started) / 1_000).toFixed(0)} s`);
  return dir;
}

/** Null when `dir` holds a complete model of this shape and seed, else why not (for the log line). */
async function whyNotUsable(dir: string, shape: ModelShape, seed: number): Promise<string | null> {
  if (!existsSync(join(dir, "config.json"))) return "not generated yet";
  try {
    const config = await readGpt2Config(dir);
    if (config.layers !== shape.layers || config.dModel !== shape.dModel || config.heads !== shape.heads || config.positions !== shape.positions || config.vocabSize !== GPT2_VOCAB_SIZE) {
      return "the folder holds a model of another shape";
    }
    // The index check refuses a truncated file; the generator line names the seed.
    const index = await readSafetensorsIndex(join(dir, "model.safetensors"));
    if (index.metadata.generator !== `fedrouter model init --seed ${seed}`) return `model.safetensors was not made with seed ${seed}`;
    for (const [name, dims] of gpt2TensorShapes(shape)) {
      const t = index.tensors.get(name);
      if (t === undefined || t.dtype !== "F32" || t.shape.join() !== dims.join()) return `model.safetensors lacks ${name} as F32 [${dims.join(", ")}]`;
    }
    return null;
  } catch (error) {
    return `the folder is not a usable model (${(error as Error).message})`;
  }
}
