/**
 * Training the demo model in one call: a hospital's SYNTHETIC notes (corpus/synthetic-notes.ts),
 * tokenized with the model's tokenizer, local DP-SGD (local-train.ts), the update applied and
 * written as a new checkpoint, and a greedy continuation of a prompt to show what it learned.
 * For the lead's CLI and for measuring how long the demo takes to train; never touches the input
 * model directory. The update is not clipped here (updateClip ∞): this is one hospital training
 * alone, not a federated round.
 */
import { resolveTensorBackend, type TensorRuntime } from "../../../native-bindings/index.ts";
import { Gpt2Stage } from "../forward.ts";
import { loadGpt2Stage, type StageWeights } from "../model-loader.ts";
import { createSampler } from "../sampling.ts";
import { Gpt2Tokenizer } from "../tokenizer.ts";
import { applyUpdateAndSave } from "./checkpoint.ts";
import { documentSequences } from "./corpus/loader.ts";
import { SYNTHETIC_SPECIALTY_OF, syntheticNotes, type Specialty } from "./corpus/synthetic-notes.ts";
import { requireOption } from "./errors.ts";
import { localTrain, type LocalTrainOptions, type LocalTrainResult } from "./local-train.ts";
import { applyFlatDelta } from "./trainable.ts";

export interface DemoTrainingOptions extends Partial<Omit<LocalTrainOptions, "model" | "corpus">> {
  readonly modelDir: string;
  /** hospital-a, hospital-b or hospital-c (or a specialty). */
  readonly hospital: string;
  /** Where to write the trained checkpoint; none: nothing is written. */
  readonly outDir?: string;
  readonly notes?: number;
  readonly corpusSeed?: number;
  /** Greedy continuation of this prompt after training. */
  readonly prompt?: string;
  readonly sampleTokens?: number;
}

export const DEFAULT_DEMO_TRAINING = {
  steps: 200, notes: 2_000, corpusSeed: 1, exampleClip: 1, noiseMultiplier: 0, sampleTokens: 40,
  part: { kind: "all" }, sampling: { kind: "fixed", size: 8 }, optimizer: { kind: "adam", learningRate: 3e-3 },
} as const;

export interface DemoTrainingResult {
  readonly result: LocalTrainResult;
  readonly wallMs: number;
  readonly msPerStep: number;
  readonly prompt: string;
  /** The prompt's greedy continuation by the trained model. */
  readonly sample: string;
  readonly files?: readonly string[];
}

/**
 * Trains `modelDir` on the hospital's synthetic notes and returns timing and a sample.
 * @example
 * const { msPerStep, sample } = await trainDemoModel({ modelDir: "models/hospital-a", hospital: "hospital-a", steps: 100, outDir: "models/hospital-a-trained" });
 */
export async function trainDemoModel(options: DemoTrainingOptions): Promise<DemoTrainingResult> {
  const o = { ...DEFAULT_DEMO_TRAINING, ...options };
  const specialty: Specialty | undefined = SYNTHETIC_SPECIALTY_OF[o.hospital] ?? (["cardiology", "radiology", "emergency"].includes(o.hospital) ? (o.hospital as Specialty) : undefined);
  requireOption(specialty !== undefined, "hospital", o.hospital, `must be one of ${Object.keys(SYNTHETIC_SPECIALTY_OF).join(", ")} or a specialty`);
  const runtime = o.runtime ?? (await resolveTensorBackend());
  const weights = await loadGpt2Stage(o.modelDir);
  const tokenizer = await Gpt2Tokenizer.fromDirectory(o.modelDir);
  const corpus = syntheticNotes(specialty!, o.notes, o.corpusSeed).flatMap((note) => documentSequences(note, tokenizer, weights.config.positions));
  const started = performance.now();
  const result = await localTrain({ ...o, model: weights, corpus, updateClip: o.updateClip ?? Infinity, runtime });
  const wallMs = performance.now() - started;
  const prompt = o.prompt ?? defaultPrompt(specialty!);
  const trained: StageWeights = { ...weights, tensors: applyFlatDelta(result.spec, weights.tensors, result.update) };
  const sample = greedyContinue(runtime, trained, tokenizer, prompt, o.sampleTokens);
  const files = o.outDir === undefined ? undefined : (await applyUpdateAndSave(o.modelDir, result.spec, result.update, o.outDir, {
    synthetic: true, hospital: o.hospital, steps: result.steps, noiseMultiplier: o.noiseMultiplier, exampleClip: o.exampleClip,
    note: "trained alone on synthetic notes: no federated round, no client-level guarantee",
  }, { force: true })).files;
  return { result, wallMs, msPerStep: wallMs / result.steps, prompt, sample, ...(files ? { files } : {}) };
}

/** The prompt's greedy continuation (up to `maxTokens` new tokens, stopping at <|endoftext|>). */
export function greedyContinue(runtime: TensorRuntime, weights: StageWeights, tokenizer: Gpt2Tokenizer, prompt: string, maxTokens: number): string {
  const model = new Gpt2Stage(runtime, weights);
  const cache = model.createCache();
  try {
    const eot = tokenizer.endOfText;
    const next = createSampler({ temperature: 0 });
    let input = eot === undefined ? tokenizer.encode(prompt) : [eot, ...tokenizer.encode(prompt)];
    const out: number[] = [];
    while (out.length < maxTokens && cache.length + input.length <= weights.config.positions) {
      const logits = model.forward({ tokens: input }, cache);
      const token = next(logits.subarray(logits.length - weights.config.vocabSize));
      if (token === eot) break;
      out.push(token);
      input = [token];
    }
    return tokenizer.decode(out);
  } finally {
    cache.dispose();
    model.dispose();
  }
}

function defaultPrompt(specialty: Specialty): string {
  return specialty === "cardiology" ? "Cardiology clinic note." : specialty === "radiology" ? "Radiology report." : "Emergency department note.";
}
