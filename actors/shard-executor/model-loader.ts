/**
 * Loads a Hugging Face GPT-2 directory for one pipeline stage: `config.json`, and from
 * `model.safetensors` only the tensors of the blocks this executor runs (plus the embeddings on
 * the first stage, `ln_f` and the tied head on the last). Never hands out weights whose names or
 * shapes do not match the config: a missing tensor, a wrong shape, a bad config field is an
 * error naming the file and the tensor or field.
 *
 * Checkpoints name tensors `h.0.attn.c_attn.weight` (the official `gpt2` repository) or
 * `transformer.h.0.attn.c_attn.weight` (GPT2LMHeadModel saved by `save_pretrained`); both load.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { FedrouterError, registerErrors } from "../../errors/index.ts";
import { gpt2TensorShapes, type ModelShape } from "./model-init.ts";
import { loadSafetensors, readSafetensorsIndex, SafetensorsError, type LoadedTensor } from "./safetensors.ts";

export interface Gpt2Config extends ModelShape {
  readonly vocabSize: number;
  readonly layerNormEpsilon: number;
  readonly eosTokenId: number;
}

/** The blocks [from, to) of a stage; the first stage embeds, the last applies ln_f and the head. */
export interface StageRange {
  readonly from: number;
  readonly to: number;
}

export interface StageWeights {
  readonly config: Gpt2Config;
  readonly range: StageRange;
  readonly first: boolean;
  readonly last: boolean;
  /** By canonical name (no `transformer.` prefix): `wte.weight`, `h.3.mlp.c_fc.bias`, `ln_f.weight`… */
  readonly tensors: ReadonlyMap<string, LoadedTensor>;
}

/** config.json missing, malformed or not a GPT-2. */
export class ModelConfigError extends FedrouterError {
  readonly code = "BAD_MODEL_CONFIG";
  constructor(readonly file: string, readonly field: string, readonly reason: string) {
    super(`${file}: ${field}: ${reason}`);
  }
}

registerErrors({ BAD_MODEL_CONFIG: (f) => new ModelConfigError(f.string("file"), f.string("field"), f.string("reason")) });

export async function readGpt2Config(dir: string): Promise<Gpt2Config> {
  const file = join(dir, "config.json");
  const text = await readFile(file, "utf8").catch((e: NodeJS.ErrnoException) => {
    throw new ModelConfigError(file, "(file)", `cannot read it (${e.code}); a Hugging Face model directory has config.json`);
  });
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ModelConfigError(file, "(file)", `is not JSON (${(error as Error).message})`);
  }
  if (raw.model_type !== undefined && raw.model_type !== "gpt2") throw new ModelConfigError(file, "model_type", `"${String(raw.model_type)}" is not "gpt2"`);
  const int = (field: string, fallback?: number): number => {
    const v = raw[field] ?? fallback;
    if (!Number.isSafeInteger(v) || (v as number) < 1) throw new ModelConfigError(file, field, `${JSON.stringify(v)} must be a positive integer`);
    return v as number;
  };
  const config: Gpt2Config = {
    layers: int("n_layer"), dModel: int("n_embd"), heads: int("n_head"), positions: int("n_positions", raw.n_ctx as number | undefined),
    vocabSize: int("vocab_size"), eosTokenId: int("eos_token_id", 50_256),
    layerNormEpsilon: typeof raw.layer_norm_epsilon === "number" && raw.layer_norm_epsilon > 0 ? raw.layer_norm_epsilon : 1e-5,
  };
  if (config.dModel % config.heads !== 0) throw new ModelConfigError(file, "n_embd", `${config.dModel} is not divisible by n_head = ${config.heads}`);
  if (raw.activation_function !== undefined && raw.activation_function !== "gelu_new") throw new ModelConfigError(file, "activation_function", `"${String(raw.activation_function)}" is not supported (gelu_new, GPT-2's GELU-tanh)`);
  return config;
}

/**
 * Reads the config and the tensors of blocks [from, to) (default: all blocks).
 * @example
 * const stage = await loadGpt2Stage("models/tiny", { from: 1, to: 2 }); // the last stage of a two-stage pipeline
 */
export async function loadGpt2Stage(dir: string, range?: StageRange): Promise<StageWeights> {
  const config = await readGpt2Config(dir);
  const r = range ?? { from: 0, to: config.layers };
  if (!(Number.isSafeInteger(r.from) && Number.isSafeInteger(r.to) && r.from >= 0 && r.from < r.to && r.to <= config.layers)) {
    throw new RangeError(`blocks [${r.from}, ${r.to}) are not a non-empty range within the model's ${config.layers} blocks`);
  }
  const first = r.from === 0;
  const last = r.to === config.layers;
  const file = join(dir, "model.safetensors");
  const index = await readSafetensorsIndex(file);
  const prefixed = [...index.tensors.keys()].some((n) => n.startsWith("transformer."));
  const canonical = (name: string) => (prefixed ? name.replace(/^transformer\./, "") : name);
  const needed = new Map<string, number[]>();
  for (const [name, shape] of gpt2TensorShapes(config, config.vocabSize)) {
    const block = /^h\.(\d+)\./.exec(name);
    const wanted = block ? Number(block[1]) >= r.from && Number(block[1]) < r.to : name.startsWith("ln_f.") ? last : first || (last && name === "wte.weight"); // the tied head needs wte
    if (wanted) needed.set(name, shape);
  }
  const tensors = await loadSafetensors(file, (name) => needed.has(canonical(name)));
  const byCanonical = new Map<string, LoadedTensor>();
  for (const [name, t] of tensors) byCanonical.set(canonical(name), t);
  for (const [name, shape] of needed) {
    const t = byCanonical.get(name);
    if (t === undefined) throw new SafetensorsError(file, `is missing (needed for blocks [${r.from}, ${r.to})${prefixed ? ', looked for it with the "transformer." prefix' : ""})`, prefixed ? `transformer.${name}` : name);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new SafetensorsError(file, `has shape [${t.shape.join(", ")}], config.json implies [${shape.join(", ")}]`, prefixed ? `transformer.${name}` : name);
    }
    // A NaN or ±∞ weight is a file the header checks cannot catch (a diverged training run, a
    // damaged copy): served, it turns every logit into NaN and every answer into token 0.
    const at = firstNonFinite(t.data);
    if (at >= 0) {
      throw new SafetensorsError(file, `element ${at} of ${t.data.length} is ${t.data[at]}: weights must be finite (a diverged training run or a damaged copy?)`, prefixed ? `transformer.${name}` : name);
    }
  }
  return { config, range: r, first, last, tensors: byCanonical };
}

/** Index of the first NaN or ±∞ in `data`; −1 when every value is finite. */
function firstNonFinite(data: Float32Array): number {
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i]!)) return i;
  return -1;
}
