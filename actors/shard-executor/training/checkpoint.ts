/**
 * Writes a trained model: the checkpoint in `modelDir` plus a flat update, as a new Hugging Face
 * GPT-2 directory (config.json, model.safetensors, the tokenizer files) with a
 * `fedrouter_training.json` beside it holding the privacy metadata the caller passes (z, C, q,
 * rounds, ε, δ…). Never writes a model whose update does not fit: a spec made for another shape,
 * a tensor the checkpoint lacks or has in another shape, a delta of the wrong length or with a
 * non-finite value is an UpdateMismatch, and a corrupt checkpoint a SafetensorsError (from the
 * reader), before anything is written. The head stays tied: only `wte` is stored, as in the input.
 *
 * Tensors are written in F32 whatever the input's dtype (a fine-tuning delta is often below
 * F16's resolution), under the checkpoint's own names (`transformer.` prefix kept when present),
 * in the checkpoint's order.
 */
import { copyFile, mkdir, readdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { readGpt2Config } from "../model-loader.ts";
import { loadSafetensors, readSafetensorsIndex, writeSafetensors, type TensorToWrite } from "../safetensors.ts";
import { UpdateMismatch, requireOption } from "./errors.ts";
import { checkDelta, l2Norm, type TrainableSpec } from "./trainable.ts";

/** Files copied unchanged from the input directory when present. */
export const TOKENIZER_FILES = ["vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json"] as const;

/** What the caller knows about the privacy of the update; free-form beyond these fields, JSON only. */
export interface TrainingMetadata {
  readonly noiseMultiplier?: number;
  readonly updateClip?: number;
  readonly samplingRate?: number;
  readonly rounds?: number;
  readonly epsilon?: number;
  readonly delta?: number;
  readonly [field: string]: unknown;
}

export interface SaveOptions {
  /** Replace a model already in outDir. */
  readonly force?: boolean;
}

/**
 * Applies `delta` (spec order) to the checkpoint in `modelDir` and writes the result to `outDir`.
 * @example
 * await applyUpdateAndSave("models/hospital-a", result.spec, result.update, "models/hospital-a-round-1", { noiseMultiplier: 1.1, updateClip: 1, rounds: 1 });
 */
export async function applyUpdateAndSave(modelDir: string, spec: TrainableSpec, delta: Float32Array, outDir: string, metadata: TrainingMetadata, options: SaveOptions = {}): Promise<{ files: string[] }> {
  requireOption(resolve(modelDir) !== resolve(outDir), "outDir", outDir, "must differ from modelDir (the input checkpoint is never overwritten)");
  const json = metadataJson(metadata);
  const config = await readGpt2Config(modelDir);
  for (const field of ["layers", "dModel", "heads", "positions", "vocabSize"] as const) {
    if (spec.model[field] !== config[field]) throw new UpdateMismatch(`spec.model.${field}`, `is ${spec.model[field]}, ${join(modelDir, "config.json")} says ${config[field]}: the update was made for another model`);
  }
  checkDelta(spec, delta);
  const file = join(modelDir, "model.safetensors");
  const index = await readSafetensorsIndex(file);
  const prefixed = [...index.tensors.keys()].some((n) => n.startsWith("transformer."));
  const stored = (name: string) => (prefixed ? `transformer.${name}` : name);
  for (const t of spec.tensors) {
    const info = index.tensors.get(stored(t.name));
    if (info === undefined) throw new UpdateMismatch(t.name, `the update trains it but ${file} has no tensor ${stored(t.name)}`);
    if (info.shape.length !== t.shape.length || info.shape.some((d, i) => d !== t.shape[i])) throw new UpdateMismatch(t.name, `is [${info.shape.join(", ")}] in ${file}, the update's spec says [${t.shape.join(", ")}]`);
  }
  await mkdir(outDir, { recursive: true });
  const existing = await readdir(outDir);
  requireOption(options.force === true || !existing.some((f) => f === "model.safetensors" || f === "config.json"), "outDir", outDir, "already holds a model; pass { force: true } to replace it");

  const tensors = await loadSafetensors(file);
  const byStored = new Map(spec.tensors.map((t) => [stored(t.name), t]));
  const out: Record<string, TensorToWrite> = {};
  for (const info of [...index.tensors.values()].sort((a, b) => a.begin - b.begin)) {
    const loaded = tensors.get(info.name)!;
    const t = byStored.get(info.name);
    const data = t === undefined ? loaded.data : loaded.data.map((v, i) => v + delta[t.offset + i]!);
    out[info.name] = { dtype: "F32", shape: loaded.shape, data };
  }
  await writeSafetensors(join(outDir, "model.safetensors"), out, { ...index.metadata, format: "pt", fedrouter_training: "fedrouter_training.json" });
  const files = ["model.safetensors"];
  for (const name of ["config.json", ...TOKENIZER_FILES]) {
    if (!(await copyFile(join(modelDir, name), join(outDir, name)).then(() => true, () => false))) continue;
    files.push(name);
  }
  const record = { ...json, update: { part: spec.part, tensors: spec.tensors.map((t) => t.name), parameters: spec.size, l2Norm: l2Norm(delta) }, baseModel: resolve(modelDir) };
  await writeFile(join(outDir, "fedrouter_training.json"), JSON.stringify(record, null, 2) + "\n");
  files.push("fedrouter_training.json");
  return { files };
}

/** The metadata as plain JSON; a value JSON cannot hold (NaN, ∞, a function, undefined) is an InvalidTrainingOption. */
function metadataJson(metadata: TrainingMetadata): Record<string, unknown> {
  requireOption(typeof metadata === "object" && metadata !== null && !Array.isArray(metadata), "metadata", typeof metadata, "must be an object");
  const visit = (value: unknown, path: string): void => {
    if (typeof value === "number") requireOption(Number.isFinite(value), path, value, "must be a finite number (JSON has no NaN or ∞)");
    else if (Array.isArray(value)) value.forEach((v, i) => visit(v, `${path}[${i}]`));
    else if (typeof value === "object" && value !== null) for (const [k, v] of Object.entries(value)) visit(v, `${path}.${k}`);
    else requireOption(value === null || typeof value === "string" || typeof value === "boolean", path, typeof value, "must be JSON (number, string, boolean, null, array or object)");
  };
  for (const [k, v] of Object.entries(metadata)) visit(v, `metadata.${k}`);
  return JSON.parse(JSON.stringify(metadata));
}
