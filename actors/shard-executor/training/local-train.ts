/**
 * A hospital's local training for DP-FedAvg: `steps` DP-SGD steps (dp-sgd.ts) on its own token
 * sequences, starting from the global model, and the update Δ = w_local − w_global over the
 * trainable tensors, clipped to L2 norm `updateClip` (the C the coordinator's noise is calibrated
 * to). Never leaks a tensor, on success, on error or on abort; never returns an unclipped update.
 *
 * The optimiser is tfjs's own (`tf.train.sgd`, `tf.train.adam`) on the trainable tf.Variables:
 * Adam on DP-SGD's noisy gradients is post-processing and costs no privacy. The losses it reports
 * are diagnostics computed on the private examples without noise: keep them in the hospital.
 */
import { randomInt } from "node:crypto";
import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import { resolveTensorBackend, type TensorRuntime } from "../../../native-bindings/index.ts";
import { dpSgd, type PrivacyEvent } from "../../../privacy/index.ts";
import { loadGpt2Stage, type StageWeights } from "../model-loader.ts";
import { seededUniform } from "../random.ts";
import { checkSampling, expectedBatchSize, sampleBatch, type BatchSampling } from "./batch-sampling.ts";
import { checkDpSgd, clippedGradientSum, privatiseGradient } from "./dp-sgd.ts";
import { requireOption, TrainingAborted } from "./errors.ts";
import { secureGaussianVector, type GaussianVectorSampler } from "./noise.ts";
import { clipToNorm, type TrainablePart, type TrainableSpec } from "./trainable.ts";
import { TrainingModel } from "./train-forward.ts";

export type OptimizerOptions =
  | { readonly kind: "sgd"; readonly learningRate: number }
  | { readonly kind: "adam"; readonly learningRate: number; readonly beta1?: number; readonly beta2?: number; readonly epsilon?: number };

export interface LocalTrainOptions {
  /** A Hugging Face GPT-2 directory, or its whole-model weights already in memory. */
  readonly model: string | StageWeights;
  /** The hospital's examples: token sequences of 2..positions tokens (corpus/loader.ts makes them). */
  readonly corpus: readonly (readonly number[])[];
  readonly steps: number;
  readonly exampleClip: number;
  readonly noiseMultiplier: number;
  /** L2 bound C on the returned update; Infinity only for local experiments (a federated round needs a finite C). */
  readonly updateClip: number;
  readonly part?: TrainablePart;
  readonly sampling?: BatchSampling;
  readonly optimizer?: OptimizerOptions;
  /** Seed of the batch sampler; default a fresh secret one from node:crypto (tests pass one). */
  readonly seed?: number;
  /** Default secureGaussianVector (exact discrete Gaussian on node:crypto). */
  readonly noise?: GaussianVectorSampler;
  readonly runtime?: TensorRuntime;
  /** After each step: its number (1-based) and the mean loss of its examples (NaN for an empty Poisson batch). */
  readonly onStep?: (step: number, loss: number) => void;
  readonly signal?: AbortSignal;
}

export const DEFAULT_LOCAL_TRAINING = {
  part: { kind: "last", blocks: 1 },
  sampling: { kind: "fixed", size: 8 },
  optimizer: { kind: "adam", learningRate: 1e-3 },
} as const satisfies Partial<LocalTrainOptions>;

export interface LocalTrainResult {
  /** Δ = w_local − w_global over spec's tensors, L2 norm ≤ updateClip. */
  readonly update: Float32Array;
  readonly spec: TrainableSpec;
  /** ‖Δ‖ before clipping. */
  readonly norm: number;
  /** ‖Δ‖ as returned. */
  readonly clippedNorm: number;
  readonly steps: number;
  /** Mean example loss of each step, before its update (diagnostics: not private). */
  readonly losses: readonly number[];
  /** Example-level DP of these steps for the accountant (Poisson sampling with noise only). */
  readonly privacyEvent?: PrivacyEvent;
}

/**
 * Runs local DP-SGD and returns the clipped update.
 * @example
 * const { update, norm } = await localTrain({ model: "models/hospital-a", corpus, steps: 20, exampleClip: 1, noiseMultiplier: 0, updateClip: 1 });
 */
export async function localTrain(options: LocalTrainOptions): Promise<LocalTrainResult> {
  const part = options.part ?? DEFAULT_LOCAL_TRAINING.part;
  const sampling = options.sampling ?? DEFAULT_LOCAL_TRAINING.sampling;
  const optimizerOptions: OptimizerOptions = options.optimizer ?? DEFAULT_LOCAL_TRAINING.optimizer;
  const dp = { exampleClip: options.exampleClip, noiseMultiplier: options.noiseMultiplier };
  checkDpSgd(dp);
  requireOption(Number.isSafeInteger(options.steps) && options.steps >= 1, "steps", options.steps, "must be a whole number ≥ 1");
  requireOption(options.updateClip > 0 && !Number.isNaN(options.updateClip), "updateClip", options.updateClip, "must be a number > 0 (Infinity: no clipping, local experiments only)");
  requireOption(options.corpus.length >= 1, "corpus", options.corpus.length, "needs at least one sequence");
  checkSampling(sampling, options.corpus.length);
  checkOptimizer(optimizerOptions);
  if (options.signal?.aborted) throw new TrainingAborted(0, String(options.signal.reason ?? "aborted"));

  const runtime = options.runtime ?? (await resolveTensorBackend());
  const tf = runtime.tf;
  const weights = typeof options.model === "string" ? await loadGpt2Stage(options.model) : options.model;
  const model = new TrainingModel(runtime, weights, part);
  const optimizer = optimizerOptions.kind === "sgd"
    ? tf.train.sgd(optimizerOptions.learningRate)
    : tf.train.adam(optimizerOptions.learningRate, optimizerOptions.beta1 ?? 0.9, optimizerOptions.beta2 ?? 0.999, optimizerOptions.epsilon ?? 1e-8);
  try {
    for (const seq of options.corpus) model.checkBatch([seq]);
    const start = model.parameters();
    const uniform = seededUniform(options.seed ?? randomInt(2 ** 32 - 1));
    const denominator = expectedBatchSize(sampling, options.corpus.length);
    const sampler = options.noise ?? secureGaussianVector;
    const losses: number[] = [];
    for (let step = 1; step <= options.steps; step++) {
      if (options.signal?.aborted) throw new TrainingAborted(step - 1, String(options.signal.reason ?? "aborted"));
      const batch = sampleBatch(sampling, options.corpus.length, uniform).map((i) => options.corpus[i]!);
      const { sum, losses: exampleLosses } = clippedGradientSum(runtime, model, batch, dp.exampleClip);
      const noisy = privatiseGradient(runtime, model.spec, sum, dp, denominator, sampler);
      sum.forEach((t) => t.dispose());
      optimizer.applyGradients(model.variables.map((v, i) => ({ name: v.name, tensor: noisy[i]! })));
      noisy.forEach((t) => t.dispose());
      const loss = exampleLosses.length ? exampleLosses.reduce((a, b) => a + b, 0) / exampleLosses.length : Number.NaN;
      losses.push(loss);
      options.onStep?.(step, loss);
      await yieldToEventLoop(); // lets an abort (or anything else queued) run between steps
    }
    const end = model.parameters();
    const delta = end.map((v, i) => v - start[i]!);
    const { clipped, norm, clippedNorm } = clipToNorm(delta, options.updateClip);
    const privacyEvent = sampling.kind === "poisson" && dp.noiseMultiplier > 0 ? dpSgd(sampling.rate, dp.noiseMultiplier, options.steps) : undefined;
    return { update: clipped, spec: model.spec, norm, clippedNorm, steps: options.steps, losses, ...(privacyEvent ? { privacyEvent } : {}) };
  } finally {
    optimizer.dispose();
    model.dispose();
  }
}

function checkOptimizer(o: OptimizerOptions): void {
  requireOption(o.kind === "sgd" || o.kind === "adam", "optimizer.kind", (o as { kind?: unknown }).kind, 'must be "sgd" or "adam"');
  requireOption(Number.isFinite(o.learningRate) && o.learningRate > 0, "optimizer.learningRate", o.learningRate, "must be a finite number > 0");
  if (o.kind === "adam") {
    for (const [field, v] of [["beta1", o.beta1], ["beta2", o.beta2]] as const) {
      requireOption(v === undefined || (v >= 0 && v < 1), `optimizer.${field}`, v, "must be in [0, 1)");
    }
    requireOption(o.epsilon === undefined || o.epsilon > 0, "optimizer.epsilon", o.epsilon, "must be > 0");
  }
}
