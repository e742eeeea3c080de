/**
 * One DP-SGD gradient (Abadi et al., "Deep Learning with Differential Privacy", CCS 2016,
 * Algorithm 1): each example's gradient, clipped to L2 norm `exampleClip` over all trainable
 * tensors together, summed, plus N(0, (noiseMultiplier·exampleClip)²) on every coordinate,
 * divided by the expected batch size. Never lets an example contribute more than exampleClip:
 * each gradient's norm is taken in float64 and its clip factor leaves room for float32 rounding.
 *
 * Per-example gradients come from a loop, one `tf.variableGrads` per example inside `tidy`, as
 * Opacus's "microbatches of 1". A vectorised trick (ghost clipping, Li et al. 2021; or per-example
 * weight copies) would need the layer inputs and output gradients of every matmul, which
 * tfjs's tape does not expose; bench/training/dp-sgd.ts measures what the loop costs.
 */
import type { TensorRuntime } from "../../../native-bindings/index.ts";
import { requireOption } from "./errors.ts";
import type { GaussianVectorSampler } from "./noise.ts";
import type { TrainableSpec } from "./trainable.ts";
import type { Tensor, TrainingModel } from "./train-forward.ts";

type Tf = TensorRuntime["tf"];

export interface DpSgdParameters {
  /** Per-example L2 clip norm (Abadi et al.'s C). */
  readonly exampleClip: number;
  /** σ/C: noise of standard deviation noiseMultiplier·exampleClip per coordinate; 0 = clipping only. */
  readonly noiseMultiplier: number;
}

export function checkDpSgd(dp: DpSgdParameters): void {
  requireOption(Number.isFinite(dp.exampleClip) && dp.exampleClip > 0, "exampleClip", dp.exampleClip, "must be a finite number > 0");
  requireOption(Number.isFinite(dp.noiseMultiplier) && dp.noiseMultiplier >= 0, "noiseMultiplier", dp.noiseMultiplier, "must be a finite number ≥ 0 (0: clipping only)");
}

/** One example's loss and gradient (spec order; the caller disposes the tensors). */
function exampleGradient(tf: Tf, model: TrainingModel, tokens: readonly number[]): { loss: number; grads: Tensor[] } {
  model.checkBatch([tokens]);
  const out = tf.tidy(() => {
    const prefix = model.frozenPrefix([tokens]);
    const { value, grads } = tf.variableGrads(() => model.loss([tokens], prefix) as ReturnType<Tf["scalar"]>, model.variables as never);
    return [value, ...model.variables.map((v) => grads[v.name] ?? tf.zerosLike(v))];
  });
  const [value, ...grads] = out;
  const loss = value!.dataSync()[0]!;
  value!.dispose();
  return { loss, grads };
}

/**
 * The L2 norm over all tensors, summed in float64 on the CPU: a float32 sum of squares over
 * millions of coordinates can be off by 10⁻⁵ relative and more, and the clip bound must hold exactly.
 */
function float64Norm(grads: readonly Tensor[]): number {
  let sum = 0;
  for (const g of grads) {
    const data = g.dataSync() as Float32Array;
    for (let i = 0; i < data.length; i++) sum += data[i]! * data[i]!;
  }
  return Math.sqrt(sum);
}

/**
 * The clip factor min(1, C / (‖g‖·(1 + 10⁻⁶))): with ‖g‖ exact in float64, the margin covers the
 * float32 rounding of g·factor (≤ 2⁻²⁴ relative per coordinate), so the clipped norm is ≤ C.
 */
export function clipFactor(norm: number, exampleClip: number): number {
  return norm === 0 ? 1 : Math.min(1, exampleClip / (norm * (1 + 1e-6)));
}

/**
 * One example's clipped gradient, flattened in spec order, with its norm before clipping and its loss.
 * @example clippedExampleGradient(runtime, model, tokens, 1).gradient; // L2 norm ≤ 1
 */
export function clippedExampleGradient(runtime: TensorRuntime, model: TrainingModel, tokens: readonly number[], exampleClip: number): { gradient: Float32Array; norm: number; loss: number } {
  const tf = runtime.tf;
  const { loss, grads } = exampleGradient(tf, model, tokens);
  const norm = float64Norm(grads);
  const factor = clipFactor(norm, exampleClip);
  const flat = tf.tidy(() => tf.concat(grads.map((g) => tf.reshape(tf.mul(g, factor), [-1]))));
  const gradient = flat.dataSync() as Float32Array;
  flat.dispose();
  grads.forEach((g) => g.dispose());
  return { gradient, norm, loss };
}

/**
 * Σ over examples of each clipped gradient, as tensors in spec order (the caller disposes them),
 * with each example's loss and pre-clip norm. No examples: zeros.
 */
export function clippedGradientSum(runtime: TensorRuntime, model: TrainingModel, examples: readonly (readonly number[])[], exampleClip: number): { sum: Tensor[]; losses: number[]; norms: number[] } {
  const tf = runtime.tf;
  let sum: Tensor[] = model.variables.map((v) => tf.zerosLike(v));
  const losses: number[] = [], norms: number[] = [];
  try {
    for (const tokens of examples) {
      const { loss, grads } = exampleGradient(tf, model, tokens);
      const norm = float64Norm(grads);
      const factor = clipFactor(norm, exampleClip);
      const next = tf.tidy(() => grads.map((g, i) => tf.add(sum[i]!, tf.mul(g, factor))));
      [...sum, ...grads].forEach((t) => t.dispose());
      sum = next;
      losses.push(loss);
      norms.push(norm);
    }
  } catch (error) {
    sum.forEach((t) => t.dispose());
    throw error;
  }
  return { sum, losses, norms };
}

/**
 * (sum + N(0, (z·C)²)) / denominator per tensor, new tensors in spec order; `sum` is not disposed.
 * The noise is drawn once for the whole flat vector, so one sampler call serves every tensor.
 */
export function privatiseGradient(runtime: TensorRuntime, spec: TrainableSpec, sum: readonly Tensor[], dp: DpSgdParameters, denominator: number, sampler: GaussianVectorSampler): Tensor[] {
  const tf = runtime.tf;
  requireOption(Number.isFinite(denominator) && denominator > 0, "denominator", denominator, "the expected batch size must be > 0");
  const sigma = dp.noiseMultiplier * dp.exampleClip;
  const noise = sigma > 0 ? sampler(spec.size, sigma) : undefined;
  return tf.tidy(() => spec.tensors.map((t, i) => {
    const noisy = noise === undefined ? sum[i]! : tf.add(sum[i]!, tf.tensor(noise.subarray(t.offset, t.offset + t.size), [...t.shape], "float32"));
    return tf.div(noisy, denominator);
  }));
}
