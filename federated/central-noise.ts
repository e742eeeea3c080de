/**
 * Central noise for DP-FedAvg (McMahan et al. 2018, Algorithm 1): the coordinator adds
 * N(0, σ²), σ = z·C, to every coordinate of the sum of clipped updates, then divides by the
 * expected number of clients. Never adds noise drawn from floating point: the sum is snapped to a
 * grid g·ℤ (g a power of two) and each coordinate gets g·Y, Y an exact discrete Gaussian sample
 * (discrete-gaussian.ts) from node:crypto.
 *
 * What to charge. The output is g·(k + Y), k = round(sum/g): the discrete Gaussian mechanism on
 * the integer vector k, with Y ~ N_ℤ(0, s²) per coordinate, s = σ/g an integer.
 * - Snapping moves each coordinate by at most g/2, so two neighbouring sums (differing by ≤ C in
 *   L2) snap to vectors differing by at most C + g·√d. Unless the caller says the sum is on the
 *   grid already (`sumOnGrid`: secure aggregation sums integers on this grid; every coordinate is
 *   checked), σ is raised to z·(C + g·√d), so that `gaussian(z)` (σ/Δ = z) remains the honest
 *   event to charge. The default grid keeps g·√d ≤ C/1000, so σ grows by at most 0.1%.
 * - s = ⌈σ/g⌉ rounds σ up, never down, so the noise multiplier is at least z.
 * - The multivariate discrete Gaussian with independent coordinates is ρ-zCDP with
 *   ρ = Δ²/(2σ²), exactly the continuous Gaussian's (CKS 2020, Sec. 2–3): the RDP accountant's
 *   charge for gaussian(z) is a proven bound. The PLD accountant counts it as the continuous
 *   Gaussian, which the discrete one approaches as s grows (privacy/noise.ts quantifies the gap
 *   for one coordinate at s ≥ 1024); s ≥ MIN_SIGMA_STEPS = 1024 is required here too.
 * The noisy sum is rounded to float32 at the end: post-processing, it costs no privacy.
 */
import { MIN_SIGMA_STEPS } from "../privacy/noise.ts";
import { InvalidModelUpdate, requireTraining } from "./errors.ts";
import { MAX_SCALE_STEPS, sampleDiscreteGaussian } from "./discrete-gaussian.ts";
import { cryptoRandomWords, type RandomWords } from "./random-words.ts";

export { MIN_SIGMA_STEPS };

/** The default grid keeps g·√d at most C / SNAP_MARGIN. */
export const SNAP_MARGIN = 1000;

export interface CentralNoiseOptions {
  /** The clip norm C each client's update was clipped to (the sum's L2 sensitivity). */
  readonly clipNorm: number;
  /** z = σ/C. */
  readonly noiseMultiplier: number;
  /** Grid step g, a power of two; defaults to `defaultGranularity(C, d)`. */
  readonly granularity?: number;
  /** The sum is on the grid by construction (secure aggregation's integers): no snapping, Δ = C. Checked. */
  readonly sumOnGrid?: boolean;
  /** Defaults to a fresh pooled node:crypto stream. */
  readonly random?: RandomWords;
}

export interface NoisySum {
  /** sum + noise, per coordinate, on the grid, rounded to float32. */
  readonly noisy: Float32Array;
  /** The noise's σ as drawn: g·s ≥ z·Δ. */
  readonly sigma: number;
  /** The grid step g. */
  readonly granularity: number;
  /** s = σ/g, an integer. */
  readonly scaleSteps: number;
  /** The L2 sensitivity σ was calibrated to: C on the grid, C + g·√d otherwise. */
  readonly sensitivity: number;
}

/**
 * The largest power of two g with g·√d ≤ C / SNAP_MARGIN: snapping costs at most 0.1% of σ.
 * @example defaultGranularity(1, 1_000_000); // 2⁻²⁰ (≈ 9.5e-7 ≤ 1e-6)
 */
export function defaultGranularity(clipNorm: number, dimension: number): number {
  requireTraining(Number.isFinite(clipNorm) && clipNorm > 0, "clipNorm", clipNorm, "the clip norm C must be a finite number > 0");
  requireTraining(Number.isSafeInteger(dimension) && dimension >= 1, "dimension", dimension, "must be a positive integer (the number of trainable parameters)");
  return 2 ** Math.floor(Math.log2(clipNorm / (SNAP_MARGIN * Math.sqrt(dimension))));
}

/**
 * σ, grid and sensitivity for a sum of `dimension` coordinates, without drawing anything: what
 * `addCentralNoise` will use (and what to show an operator before a round).
 * @example centralNoisePlan(1_000_000, { clipNorm: 1, noiseMultiplier: 1 }); // { sigma ≈ 1.001, … }
 */
export function centralNoisePlan(dimension: number, options: Omit<CentralNoiseOptions, "random">): Omit<NoisySum, "noisy"> {
  const { clipNorm: c, noiseMultiplier: z } = options;
  requireTraining(Number.isFinite(c) && c > 0, "clipNorm", c, "the clip norm C must be a finite number > 0");
  requireTraining(Number.isFinite(z) && z > 0, "noiseMultiplier", z, "must be a finite number > 0 (σ = z·C; typical DP-FedAvg values 0.5 to 5)");
  const granularity = options.granularity ?? defaultGranularity(c, dimension);
  const exponent = Math.log2(granularity);
  requireTraining(Number.isInteger(exponent) && exponent >= -1000 && exponent <= 1000, "granularity", granularity, "must be a power of two, e.g. 2 ** -20");
  const sensitivity = options.sumOnGrid === true ? c : c + granularity * Math.sqrt(dimension);
  const scaleSteps = Math.ceil((z * sensitivity) / granularity);
  requireTraining(scaleSteps >= MIN_SIGMA_STEPS, "granularity", granularity, `is too coarse: σ = ${z * sensitivity} spans ${scaleSteps} grid steps, at least ${MIN_SIGMA_STEPS} are needed (use a finer grid)`);
  requireTraining(scaleSteps <= MAX_SCALE_STEPS, "granularity", granularity, `is too fine: σ = ${z * sensitivity} spans ${scaleSteps} grid steps, at most 2³⁶ (use a coarser grid)`);
  return { sigma: scaleSteps * granularity, granularity, scaleSteps, sensitivity };
}

/**
 * sum + N(0, σ²) per coordinate on the grid (see the module comment for σ and what to charge).
 * @example
 * const sum = new Float32Array(1000); // Σ of clipped updates, from secure aggregation
 * const { noisy, sigma } = addCentralNoise(sum, { clipNorm: 1, noiseMultiplier: 1.1 });
 */
export function addCentralNoise(sum: Float32Array | Float64Array, options: CentralNoiseOptions): NoisySum {
  if (!(sum instanceof Float32Array || sum instanceof Float64Array) || sum.length === 0) {
    throw new InvalidModelUpdate("sum", "must be a non-empty Float32Array or Float64Array");
  }
  const plan = centralNoisePlan(sum.length, options);
  const { granularity: g, scaleSteps: s } = plan;
  const random = options.random ?? cryptoRandomWords();
  const onGrid = options.sumOnGrid === true;
  const noisy = new Float32Array(sum.length);
  for (let i = 0; i < sum.length; i++) {
    const units = sum[i]! / g; // exact: g is a power of two
    const k = Math.round(units);
    if (!Number.isSafeInteger(k)) throw new InvalidModelUpdate(`sum[${i}]`, "is NaN, infinite, or beyond 2⁵³ grid steps");
    if (onGrid && k !== units) throw new InvalidModelUpdate(`sum[${i}]`, `is not a multiple of the grid step ${g}, though sumOnGrid was set`);
    noisy[i] = (k + sampleDiscreteGaussian(s, random)) * g;
  }
  return { noisy, ...plan };
}

/**
 * DP-FedAvg's noisy mean update: (sum + noise) / expectedClients, the fixed denominator of
 * McMahan et al. 2018 (the expected number of participants qN, not the number that answered,
 * which would itself leak who took part).
 * @example noisyMeanUpdate(sum, { clipNorm: 1, noiseMultiplier: 1, expectedClients: 20 });
 */
export function noisyMeanUpdate(sum: Float32Array | Float64Array, options: CentralNoiseOptions & { readonly expectedClients: number }): NoisySum & { readonly update: Float32Array } {
  const m = options.expectedClients;
  requireTraining(Number.isFinite(m) && m > 0, "expectedClients", m, "must be a number > 0 (q × population)");
  const noised = addCentralNoise(sum, options);
  const update = new Float32Array(noised.noisy.length);
  for (let i = 0; i < update.length; i++) update[i] = noised.noisy[i]! / m;
  return { ...noised, update };
}
