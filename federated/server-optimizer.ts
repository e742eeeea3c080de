/**
 * Server optimisers for federated rounds (Reddi et al. 2021, "Adaptive Federated Optimization",
 * ICLR, arXiv:2003.00295, Algorithm 2): the round's noisy mean update Δ is treated as a
 * pseudo-gradient and the global weights move by w ← w + step(Δ). FedAvg (with optional server
 * momentum, FedAvgM: Hsu et al. 2019, arXiv:1909.06335), FedAdam and FedYogi. Never holds state
 * outside the plain `ServerOptimizerState` object (Float32Arrays and numbers), so a coordinator
 * persists it as it is and resumes exactly.
 *
 * Algorithm 2, per coordinate, with Δ the mean update:
 *   m ← β₁·m + (1 − β₁)·Δ
 *   FedAdam: v ← β₂·v + (1 − β₂)·Δ²
 *   FedYogi: v ← v − (1 − β₂)·Δ²·sign(v − Δ²)
 *   w ← w + η·m / (√v + τ)
 * with no bias correction, as in the paper, and v starting at τ² (its input "v₋₁ ≥ τ²"; Flower's
 * FedYogi starts at 0, set `initialV: 0` for that). FedAvg: m ← β·m + Δ (β = 0: m = Δ), w ← w + η·m,
 * which is plain FedAvg at η = 1, β = 0.
 */
import { checkUpdate, type ParameterVector } from "./clip.ts";
import { requireTraining } from "./errors.ts";

export type ServerOptimizer =
  | { readonly kind: "fedavg"; readonly learningRate: number; readonly momentum?: number }
  | { readonly kind: "fedadam" | "fedyogi"; readonly learningRate: number; readonly beta1?: number; readonly beta2?: number; readonly tau?: number; readonly initialV?: number };

/** Reddi et al.'s usual settings: β₁ 0.9, β₂ 0.99, τ 10⁻³; FedAvg's momentum 0 (plain FedAvg). */
export const DEFAULT_SERVER_OPTIMIZER = { momentum: 0, beta1: 0.9, beta2: 0.99, tau: 1e-3 } as const;

/** Everything an optimiser carries between rounds: plain data, persisted as it is. */
export interface ServerOptimizerState {
  readonly kind: ServerOptimizer["kind"];
  /** Rounds applied so far. */
  step: number;
  /** First moment (FedAvg: the momentum buffer); empty for FedAvg without momentum. */
  m: Float32Array;
  /** Second moment; empty for FedAvg. */
  v: Float32Array;
}

interface Resolved {
  readonly kind: ServerOptimizer["kind"];
  readonly learningRate: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly tau: number;
  readonly initialV: number;
}

function resolve(optimizer: ServerOptimizer): Resolved {
  const eta = optimizer.learningRate;
  requireTraining(Number.isFinite(eta) && eta > 0, "learningRate", eta, "the server learning rate η must be a finite number > 0 (FedAvg: 1)");
  const unit = (value: number, field: string) =>
    requireTraining(Number.isFinite(value) && value >= 0 && value < 1, field, value, "must lie in [0, 1)");
  if (optimizer.kind === "fedavg") {
    const momentum = optimizer.momentum ?? DEFAULT_SERVER_OPTIMIZER.momentum;
    unit(momentum, "momentum");
    return { kind: "fedavg", learningRate: eta, beta1: momentum, beta2: 0, tau: 0, initialV: 0 };
  }
  requireTraining(optimizer.kind === "fedadam" || optimizer.kind === "fedyogi", "kind", Number.NaN, `"${String((optimizer as { kind: unknown }).kind)}" is not fedavg, fedadam or fedyogi`);
  const beta1 = optimizer.beta1 ?? DEFAULT_SERVER_OPTIMIZER.beta1;
  const beta2 = optimizer.beta2 ?? DEFAULT_SERVER_OPTIMIZER.beta2;
  const tau = optimizer.tau ?? DEFAULT_SERVER_OPTIMIZER.tau;
  unit(beta1, "beta1");
  unit(beta2, "beta2");
  requireTraining(Number.isFinite(tau) && tau > 0, "tau", tau, "the adaptivity τ must be a finite number > 0 (Reddi et al. use 10⁻³)");
  const initialV = optimizer.initialV ?? tau * tau;
  requireTraining(Number.isFinite(initialV) && initialV >= 0, "initialV", initialV, "must be a finite number ≥ 0 (default τ²)");
  return { kind: optimizer.kind, learningRate: eta, beta1, beta2, tau, initialV };
}

/**
 * The state of a fresh optimiser for `dimension` parameters.
 * @example initialOptimizerState({ kind: "fedadam", learningRate: 0.01 }, 3); // m = [0,0,0], v = [τ², τ², τ²]
 */
export function initialOptimizerState(optimizer: ServerOptimizer, dimension: number): ServerOptimizerState {
  const o = resolve(optimizer);
  requireTraining(Number.isSafeInteger(dimension) && dimension >= 1, "dimension", dimension, "must be a positive integer (the number of trainable parameters)");
  const usesMomentum = o.kind !== "fedavg" || o.beta1 > 0;
  return {
    kind: o.kind,
    step: 0,
    m: new Float32Array(usesMomentum ? dimension : 0),
    v: o.kind === "fedavg" ? new Float32Array(0) : new Float32Array(dimension).fill(o.initialV),
  };
}

/**
 * One server step, in place: `weights` and `state` are updated (the caller persists both after).
 * Moments are computed in float64 per coordinate and stored as float32.
 * @example
 * const weights = new Float32Array([1, 1]);
 * const state = initialOptimizerState({ kind: "fedavg", learningRate: 1 }, 2);
 * applyServerStep({ kind: "fedavg", learningRate: 1 }, state, weights, new Float32Array([0.5, -0.5])); // weights = [1.5, 0.5]
 */
export function applyServerStep(optimizer: ServerOptimizer, state: ServerOptimizerState, weights: ParameterVector, update: ParameterVector): void {
  const o = resolve(optimizer);
  requireTraining(state.kind === o.kind, "state.kind", Number.NaN, `the state is a ${state.kind} state, the optimiser is ${o.kind}`);
  checkUpdate(weights, undefined, "weights");
  checkUpdate(update, weights.length, "update");
  const d = weights.length;
  const { m, v } = state;
  const eta = o.learningRate;
  if (o.kind === "fedavg") {
    if (o.beta1 === 0) {
      for (let i = 0; i < d; i++) weights[i]! += eta * update[i]!;
    } else {
      requireTraining(m.length === d, "state.m.length", m.length, `must equal the model's ${d} parameters`);
      for (let i = 0; i < d; i++) {
        const mi = o.beta1 * m[i]! + update[i]!;
        m[i] = mi;
        weights[i]! += eta * mi;
      }
    }
  } else {
    requireTraining(m.length === d && v.length === d, "state.m.length", m.length, `m and v must both have the model's ${d} parameters`);
    const { beta1: b1, beta2: b2, tau } = o;
    const yogi = o.kind === "fedyogi";
    for (let i = 0; i < d; i++) {
      const g = update[i]!;
      const g2 = g * g;
      const mi = b1 * m[i]! + (1 - b1) * g;
      const vPrev = v[i]!;
      const vi = yogi ? vPrev - (1 - b2) * g2 * Math.sign(vPrev - g2) : b2 * vPrev + (1 - b2) * g2;
      m[i] = mi;
      v[i] = vi;
      weights[i]! += (eta * mi) / (Math.sqrt(Math.max(vi, 0)) + tau);
    }
  }
  state.step += 1;
}
