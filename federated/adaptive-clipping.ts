/**
 * Adaptive clipping (Andrew, Thakkar, McMahan & Ramaswamy 2021, "Differentially Private
 * Learning with Adaptive Clipping", NeurIPS, arXiv:1905.03871): the clip norm C tracks a target
 * quantile γ of the clients' update norms. Each client reports whether its update fit under C;
 * the coordinator adds Gaussian noise to the count and moves C geometrically:
 *   b̃ = (Σᵢ bᵢ + N(0, σ_b²)) / m,   C ← C·exp(−η_C·(b̃ − γ)).
 * Never releases the count without noise, and never leaves the total privacy cost above the one
 * of a single Gaussian with the configured noise multiplier z:
 *
 * Clients send bᵢ − ½ ∈ {−½, +½} (the paper's centring), so the count has sensitivity ½ under
 * adding or removing a client and its noise σ_b is a Gaussian mechanism with multiplier 2σ_b.
 * The update and the count are two Gaussian mechanisms on the same clients; together they cost
 * one Gaussian with z⁻² = z_Δ⁻² + (2σ_b)⁻², so the update's multiplier must be
 *   z_Δ = (z⁻² − (2σ_b)⁻²)^(−1/2)   (the paper's Theorem 1 and Sec. 3),
 * which needs 2σ_b > z, i.e. σ_b > z/2. With centred indicators b̃ = (Σ(bᵢ − ½) + noise)/m + ½, the paper's
 * b̃ whenever the number of participants equals its expectation m (and needing no count of them,
 * which Poisson sampling keeps private). Charge `roundEvent(q, z)` for the pair: it is exactly their cost.
 * The count's noise is drawn with privacy/noise.ts's exact discrete Gaussian (one sample).
 */
import { addGaussianNoise, type NoiseOptions } from "../privacy/noise.ts";
import { requireTraining } from "./errors.ts";

/** The paper's recommended settings: γ = 0.5 (the median), η_C = 0.2, σ_b = m/20. */
export const DEFAULT_ADAPTIVE_CLIPPING = { targetQuantile: 0.5, clipLearningRate: 0.2, countNoiseFraction: 1 / 20 } as const;

export interface AdaptiveClippingConfig {
  /** γ: the fraction of clients whose update should fit under C. */
  readonly targetQuantile?: number;
  /** η_C: the geometric step of C. */
  readonly clipLearningRate?: number;
  /** σ_b, the count's noise; default m/20 (m: expected clients per round). */
  readonly countNoiseStd?: number;
}

/**
 * What a client reports beside its update: +½ if its update fit under C (‖Δ‖ ≤ C), −½ if not.
 * @example clipIndicator(0.8, 1); // 0.5
 */
export function clipIndicator(updateNorm: number, clipNorm: number): 0.5 | -0.5 {
  requireTraining(updateNorm >= 0, "updateNorm", updateNorm, "must be a number ≥ 0 (an L2 norm)");
  requireTraining(Number.isFinite(clipNorm) && clipNorm > 0, "clipNorm", clipNorm, "must be a finite number > 0");
  return updateNorm <= clipNorm ? 0.5 : -0.5;
}

/**
 * z_Δ = (z⁻² − (2σ_b)⁻²)^(−1/2): the update's noise multiplier that, with the count's noise
 * σ_b, keeps the round's cost at one Gaussian of multiplier z (Andrew et al. 2021, Sec. 3).
 * @example updateNoiseMultiplier(1, 5); // (1 − 0.01)^(−1/2) ≈ 1.00504
 */
export function updateNoiseMultiplier(noiseMultiplier: number, countNoiseStd: number): number {
  const z = noiseMultiplier, sb = countNoiseStd;
  requireTraining(Number.isFinite(z) && z > 0, "noiseMultiplier", z, "must be a finite number > 0");
  requireTraining(Number.isFinite(sb) && 2 * sb > z, "countNoiseStd", sb,
    `the count's noise σ_b must exceed z/2 = ${z / 2}, or the count alone would spend the round's whole budget; the paper uses m/20`);
  return 1 / Math.sqrt(z ** -2 - (2 * sb) ** -2);
}

/** σ_b for an expected `expectedClients` per round, as the paper sets it: m/20. */
export function defaultCountNoiseStd(expectedClients: number): number {
  requireTraining(Number.isFinite(expectedClients) && expectedClients > 0, "expectedClients", expectedClients, "must be a number > 0");
  return expectedClients * DEFAULT_ADAPTIVE_CLIPPING.countNoiseFraction;
}

export interface ClipNormStep {
  /** The new clip norm C·exp(−η_C·(b̃ − γ)). */
  readonly clipNorm: number;
  /** b̃: the noisy fraction of clients that fit under the old C (released: it drives C). */
  readonly noisyFraction: number;
}

/**
 * The next clip norm from the (securely aggregated) sum of the clients' indicators bᵢ − ½.
 * @example
 * nextClipNorm({ clipNorm: 1, indicatorSum: 4, expectedClients: 10 }); // b̃ ≈ 0.9 > γ: C shrinks to ≈ e^(−0.08)
 */
export function nextClipNorm(
  input: { readonly clipNorm: number; readonly indicatorSum: number; readonly expectedClients: number },
  config: AdaptiveClippingConfig = {},
  noise: NoiseOptions = {},
): ClipNormStep {
  const { clipNorm: c, indicatorSum, expectedClients: m } = input;
  requireTraining(Number.isFinite(c) && c > 0, "clipNorm", c, "must be a finite number > 0");
  requireTraining(Number.isFinite(m) && m > 0, "expectedClients", m, "must be a number > 0 (q × population)");
  requireTraining(Number.isFinite(indicatorSum) && Number.isInteger(2 * indicatorSum), "indicatorSum", indicatorSum, "must be a sum of ±½ indicators (a multiple of ½)");
  const gamma = config.targetQuantile ?? DEFAULT_ADAPTIVE_CLIPPING.targetQuantile;
  const eta = config.clipLearningRate ?? DEFAULT_ADAPTIVE_CLIPPING.clipLearningRate;
  const sigmaB = config.countNoiseStd ?? defaultCountNoiseStd(m);
  requireTraining(gamma > 0 && gamma < 1, "targetQuantile", gamma, "must lie in (0, 1); the paper uses 0.5");
  requireTraining(Number.isFinite(eta) && eta > 0, "clipLearningRate", eta, "must be a finite number > 0; the paper uses 0.2");
  requireTraining(Number.isFinite(sigmaB) && sigmaB > 0, "countNoiseStd", sigmaB, "must be a finite number > 0");
  // Σ(bᵢ − ½) is on the noise grid (multiples of ½), so the exact sampler adds no snapping error.
  const noisyCentred = addGaussianNoise(indicatorSum, sigmaB, noise);
  const noisyFraction = noisyCentred / m + 0.5;
  return { clipNorm: c * Math.exp(-eta * (noisyFraction - gamma)), noisyFraction };
}
