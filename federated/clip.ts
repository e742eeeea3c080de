/**
 * L2 clipping of a client's model update (DP-FedAvg, McMahan et al. 2018, Algorithm 1,
 * `ClipFn`): Δ·min(1, C/‖Δ‖). The bound C is what makes one hospital's influence on the sum
 * at most C, the sensitivity the central noise is calibrated to. Never returns a clipped update
 * whose norm exceeds C: the factor is shrunk until the float32 copy's own norm is within it.
 */
import { InvalidModelUpdate, requireTraining } from "./errors.ts";

/** A model update or the global parameters: one float32 per trainable parameter. */
export type ParameterVector = Float32Array;

/**
 * Throws InvalidModelUpdate unless `update` is a Float32Array of `expectedLength` (when given)
 * whose every coordinate is finite. Names the first bad coordinate's index, never its value.
 * @example checkUpdate(new Float32Array([1, 2]), 2); // passes
 */
export function checkUpdate(update: unknown, expectedLength?: number, field = "update"): asserts update is ParameterVector {
  if (!(update instanceof Float32Array)) throw new InvalidModelUpdate(field, "must be a Float32Array (one float32 per trainable parameter)");
  if (expectedLength !== undefined && update.length !== expectedLength) {
    throw new InvalidModelUpdate(field, `has ${update.length} coordinates, the model has ${expectedLength}`);
  }
  if (update.length === 0) throw new InvalidModelUpdate(field, "is empty");
  for (let i = 0; i < update.length; i++) {
    // v − v is 0 for a finite v and NaN for NaN and ±∞: one comparison per coordinate.
    const v = update[i]!;
    if (v - v !== 0) throw new InvalidModelUpdate(`${field}[${i}]`, "is NaN or infinite");
  }
}

/**
 * ‖v‖₂, accumulated in float64: a float32 coordinate squares to at most ~1.2e77, so no square
 * and no sum of 10⁹ of them can overflow a double.
 * @example l2Norm(new Float32Array([3, 4])); // 5
 */
export function l2Norm(vector: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < vector.length; i++) {
    const v = vector[i]!;
    sum += v * v;
  }
  return Math.sqrt(sum);
}

export interface ClipResult {
  /** A new Float32Array: the update times `factor`. */
  readonly clipped: ParameterVector;
  /** ‖update‖₂ before clipping. */
  readonly norm: number;
  /** min(1, C/norm), possibly nudged down so that ‖clipped‖₂ ≤ C holds in float32. */
  readonly factor: number;
}

/**
 * The update scaled to L2 norm at most `clipNorm` (a copy; the input is untouched).
 * @example
 * const { clipped, norm, factor } = clip(new Float32Array([3, 4]), 1);
 * // norm 5, factor 0.2, clipped ≈ [0.6, 0.8]
 */
export function clip(update: ParameterVector, clipNorm: number): ClipResult {
  requireTraining(Number.isFinite(clipNorm) && clipNorm > 0, "clipNorm", clipNorm, "the clip norm C must be a finite number > 0");
  checkUpdate(update);
  const norm = l2Norm(update);
  let factor = norm <= clipNorm ? 1 : clipNorm / norm;
  const clipped = new Float32Array(update.length);
  for (;;) {
    for (let i = 0; i < update.length; i++) clipped[i] = update[i]! * factor;
    // Rounding each coordinate to float32 can lift the norm a few ulps above C: shrink and redo.
    if (factor === 1 || l2Norm(clipped) <= clipNorm) return { clipped, norm, factor };
    factor *= 1 - 2 ** -20;
  }
}

/**
 * Adds `update` into `sum` in place (float64 accumulator), after `checkUpdate`.
 * @example const sum = new Float64Array(2); addInto(sum, new Float32Array([1, 2])); // sum = [1, 2]
 */
export function addInto(sum: Float64Array, update: ParameterVector): Float64Array {
  checkUpdate(update, sum.length);
  for (let i = 0; i < sum.length; i++) sum[i]! += update[i]!;
  return sum;
}
