/**
 * Noise calibration: the smallest noise that makes a mechanism meet an (ε, δ) target. Never
 * returns noise that misses the target: every search keeps its answer on the safe side of an
 * exact (or upper-bound) privacy condition and stops there.
 */
import type { Accountant } from "./events.ts";
import { gaussian, poissonSampled } from "./events.ts";
import { requireParameter } from "./errors.ts";
import { erf, logNormalCdf } from "./normal.ts";
import { RdpAccountant } from "./rdp.ts";

const requireSensitivity = (sensitivity: number): void =>
  requireParameter(Number.isFinite(sensitivity) && sensitivity >= 0, "sensitivity", sensitivity, "must be a finite number ≥ 0 (the query's L2, or for Laplace L1, sensitivity)");
const requireTargetDelta = (delta: number, field = "delta"): void =>
  requireParameter(delta > 0 && delta < 1, field, delta, "must lie in (0, 1); typical targets are below 1/dataset size");

/**
 * P(m − h < Z ≤ m + h) = ∫_{−h}^{h} φ(m + t) dt for a narrow interval (h < ½), to full relative
 * precision, by the series φ(m)·Σ_{n even} 2h·fₙ/(n+1) with fₙ = Heₙ(m)·hⁿ/n!, from
 * e^{xt − t²/2} = Σ Heₙ(x)·tⁿ/n! (probabilists' Hermite polynomials). The recurrence
 * f_{n+1} = (mh·fₙ − h²·f_{n−1})/(n+1) keeps every number bounded, and here mh = −ε/2.
 */
function narrowNormalMass(m: number, h: number): number {
  if (0.5 * m * m > 745) return 0; // φ(m) underflows: the mass is below 1e-300 (and the series could overflow)
  const mh = m * h;
  let fPrevious = 0;
  let f = 1; // f₀
  let sum = 0;
  for (let n = 0; n < 10_000; n++) {
    if (n % 2 === 0) {
      const term = (2 * h * f) / (n + 1);
      sum += term;
      if (n > Math.abs(mh) + 2 && Math.abs(term) <= 1e-17 * sum) break;
    }
    const fNext = (mh * f - h * h * fPrevious) / (n + 1);
    fPrevious = f;
    f = fNext;
  }
  return (Math.exp(-0.5 * m * m) / Math.sqrt(2 * Math.PI)) * sum;
}

/**
 * The exact δ at which the Gaussian mechanism N(0, σ²) on a query of L2 sensitivity Δ is
 * (ε, δ)-DP (Balle & Wang 2018, "Improving the Gaussian Mechanism for Differential Privacy",
 * arXiv:1805.06530, Thm 8): δ = Φ(a) − e^ε·Φ(b) with a = Δ/(2σ) − εσ/Δ, b = −Δ/(2σ) − εσ/Δ.
 * Evaluated so that a tiny δ keeps its relative accuracy: δ = P(b < Z ≤ a) − (e^ε − 1)·Φ(b), the
 * probability through erf, or by its series when σ > Δ makes (b, a] narrow; deep in the tail
 * (a < −1, σ ≤ Δ) as Φ(a)·(1 − e^{ε + log Φ(b) − log Φ(a)}).
 * @example gaussianDelta(1, 1 / 3); // ≈ 0.78760074 (dp_accounting pld/accountant_test)
 */
export function gaussianDelta(epsilon: number, sigma: number, sensitivity = 1): number {
  requireParameter(epsilon >= 0, "epsilon", epsilon, "must be a number ≥ 0");
  requireParameter(sigma >= 0, "sigma", sigma, "must be a number ≥ 0 (the noise standard deviation)");
  requireSensitivity(sensitivity);
  if (sensitivity === 0 || epsilon === Infinity) return 0;
  if (sigma === 0) return 1;
  const ratio = sensitivity / sigma;
  const middle = -epsilon / ratio;
  const a = middle + ratio / 2;
  const b = middle - ratio / 2;
  const logB = logNormalCdf(b);
  if (ratio >= 1 && a < -1) {
    const logA = logNormalCdf(a);
    return Math.max(0, Math.exp(logA) * -Math.expm1(epsilon + logB - logA));
  }
  const between = ratio < 1 ? narrowNormalMass(middle, ratio / 2) : 0.5 * (erf(a * Math.SQRT1_2) - erf(b * Math.SQRT1_2));
  if (epsilon === 0) return between;
  const logExpm1Epsilon = epsilon > 1 ? epsilon + Math.log1p(-Math.exp(-epsilon)) : Math.log(Math.expm1(epsilon));
  return Math.max(0, between - Math.exp(logExpm1Epsilon + logB));
}

/**
 * The exact ε at which the Gaussian mechanism N(0, σ²) on sensitivity Δ is (ε, δ)-DP: the
 * smallest ε with `gaussianDelta(ε, σ, Δ)` ≤ δ (Balle & Wang 2018, Thm 8), bisected to adjacent
 * doubles and answered from the safe side. δ(ε) falls strictly in ε, so the bracket doubles
 * until it holds the answer. +∞ when no finite ε will do (δ = 0 with σ > 0, or σ = 0 and δ < 1).
 * A composition of Gaussians is one Gaussian (σ/Δ = 1/√Σ(Δᵢ/σᵢ)²; Dong, Roth & Su 2019,
 * arXiv:1905.02383, Cor. 3.3), so this is also their exact composed ε.
 * @example gaussianEpsilon(0.78760074, 1 / 3); // ≈ 1 (dp_accounting pld/accountant_test)
 */
export function gaussianEpsilon(delta: number, sigma: number, sensitivity = 1): number {
  requireParameter(delta >= 0 && delta <= 1, "delta", delta, "must lie in [0, 1]");
  requireParameter(sigma >= 0, "sigma", sigma, "must be a number ≥ 0 (the noise standard deviation)");
  requireSensitivity(sensitivity);
  const meets = (epsilon: number): boolean => gaussianDelta(epsilon, sigma, sensitivity) <= delta;
  if (meets(0)) return 0;
  if (delta === 0 || sigma === 0) return Number.POSITIVE_INFINITY;
  let lo = 0;
  let hi = 1;
  while (!meets(hi)) {
    lo = hi;
    hi *= 2;
    if (hi === Number.POSITIVE_INFINITY) return hi;
  }
  for (;;) {
    const mid = lo + (hi - lo) / 2;
    if (mid <= lo || mid >= hi) return hi;
    if (meets(mid)) hi = mid;
    else lo = mid;
  }
}

/**
 * The smallest σ for which the Gaussian mechanism is (ε, δ)-DP: the analytic Gaussian mechanism
 * of Balle & Wang 2018 (Algorithm 1 solves Thm 8's condition δ(ε; σ) = δ). Their algorithm
 * reparametrises to dodge cancellation; `gaussianDelta` evaluates the condition in log space
 * instead, so we bisect σ directly, to adjacent doubles, and return the side with δ(ε; σ) ≤ δ.
 * Valid for every ε ≥ 0, unlike `classicGaussianSigma`, and never larger than it.
 * @example analyticGaussianSigma(1, 0.78760074); // ≈ 1/3 (dp_accounting test_get_smallest_gaussian_noise)
 */
export function analyticGaussianSigma(epsilon: number, delta: number, sensitivity = 1): number {
  requireParameter(Number.isFinite(epsilon) && epsilon >= 0, "epsilon", epsilon, "must be a finite number ≥ 0");
  requireTargetDelta(delta);
  requireSensitivity(sensitivity);
  if (sensitivity === 0) return 0;
  const meets = (sigma: number): boolean => gaussianDelta(epsilon, sigma, sensitivity) <= delta;
  // δ(ε; σ) falls strictly from 1 (σ → 0) to 0 (σ → ∞): bracket within a factor of two.
  let hi = sensitivity;
  while (!meets(hi)) hi *= 2;
  let lo = hi / 2;
  while (meets(lo)) {
    hi = lo;
    lo /= 2;
  }
  for (;;) {
    const mid = lo + (hi - lo) / 2;
    if (mid <= lo || mid >= hi) return hi;
    if (meets(mid)) hi = mid;
    else lo = mid;
  }
}

/**
 * The classic Gaussian calibration σ = Δ·√(2·ln(1.25/δ))/ε (Dwork & Roth 2014, Thm A.1), kept
 * for comparison. Its proof holds only for 0 < ε < 1, so other ε are refused; it is also looser
 * than `analyticGaussianSigma` wherever it holds.
 * @example classicGaussianSigma(0.5, 1e-5); // ≈ 9.6896
 */
export function classicGaussianSigma(epsilon: number, delta: number, sensitivity = 1): number {
  requireParameter(epsilon > 0 && epsilon < 1, "epsilon", epsilon, "the classic bound (Dwork & Roth 2014, Thm A.1) holds only for 0 < ε < 1; use analyticGaussianSigma");
  requireTargetDelta(delta);
  requireSensitivity(sensitivity);
  return (sensitivity * Math.sqrt(2 * Math.log(1.25 / delta))) / epsilon;
}

/**
 * The Laplace scale b = Δ/ε that makes the Laplace mechanism ε-DP for a query of L1 sensitivity Δ
 * (Dwork, McSherry, Nissim & Smith 2006; Dwork & Roth 2014, Thm 3.6).
 * @example laplaceScale(0.5, 2); // 4
 */
export function laplaceScale(epsilon: number, sensitivity = 1): number {
  requireParameter(Number.isFinite(epsilon) && epsilon > 0, "epsilon", epsilon, "must be a finite number > 0");
  requireSensitivity(sensitivity);
  return sensitivity / epsilon;
}

export interface NoiseMultiplierRequest {
  readonly targetEpsilon: number;
  readonly targetDelta: number;
  /** Poisson sampling rate q: batch size / dataset size. */
  readonly samplingRate: number;
  /** Number of DP-SGD steps. */
  readonly steps: number;
  /** A fresh, empty accountant per call (default: an RdpAccountant over DEFAULT_RDP_ORDERS). */
  readonly accountant?: () => Accountant;
  /** Stop once the bracket's upper end is within this factor of its lower end. */
  readonly relativeTolerance?: number;
}

/** Defaults of `noiseMultiplierFor`; the search never looks above maxNoiseMultiplier (Opacus: MAX_SIGMA = 1e6). */
export const DEFAULT_NOISE_SEARCH = { relativeTolerance: 1e-9, maxNoiseMultiplier: 1e6, minNoiseMultiplier: 1e-6 } as const;

/**
 * The smallest noise multiplier z = σ/Δ such that `steps` steps of the Poisson-subsampled
 * Gaussian with rate q are (targetEpsilon, targetDelta)-DP under the given accountant — Opacus's
 * `get_noise_multiplier` and dp_accounting's `mechanism_calibration`, by bisection on z (ε falls
 * as z grows). Returns the upper end of the final bracket, whose ε is ≤ targetEpsilon.
 * @example noiseMultiplierFor({ targetEpsilon: 8, targetDelta: 1e-5, samplingRate: 0.04, steps: 2000 }); // ≈ 1.3561 (Opacus: 1.3562 at its 0.01 tolerance)
 */
export function noiseMultiplierFor(request: NoiseMultiplierRequest): number {
  const { targetEpsilon, targetDelta, samplingRate, steps } = request;
  const makeAccountant = request.accountant ?? (() => new RdpAccountant());
  const tolerance = request.relativeTolerance ?? DEFAULT_NOISE_SEARCH.relativeTolerance;
  requireParameter(Number.isFinite(targetEpsilon) && targetEpsilon > 0, "targetEpsilon", targetEpsilon, "must be a finite number > 0");
  requireTargetDelta(targetDelta, "targetDelta");
  requireParameter(samplingRate >= 0 && samplingRate <= 1, "samplingRate", samplingRate, "must lie in [0, 1] (batch size / dataset size)");
  requireParameter(Number.isSafeInteger(steps) && steps >= 1, "steps", steps, "must be a positive integer");
  requireParameter(tolerance > 0 && tolerance < 1, "relativeTolerance", tolerance, "must lie in (0, 1)");
  if (samplingRate === 0) return 0;
  const meets = (z: number): boolean => {
    const accountant = makeAccountant();
    accountant.compose(poissonSampled(samplingRate, gaussian(z, 1)), steps);
    return accountant.epsilon(targetDelta) <= targetEpsilon;
  };
  let lo = 1;
  let hi = 1;
  while (!meets(hi)) {
    lo = hi;
    hi *= 2;
    requireParameter(hi <= DEFAULT_NOISE_SEARCH.maxNoiseMultiplier, "targetEpsilon", targetEpsilon,
      `is out of reach below noise multiplier ${DEFAULT_NOISE_SEARCH.maxNoiseMultiplier}; raise targetEpsilon or targetDelta, or lower steps or samplingRate`);
  }
  if (lo === hi) {
    // z = 1 already meets the target: halve until it does not (or the noise is negligible).
    while (meets(lo)) {
      hi = lo;
      lo /= 2;
      if (lo < DEFAULT_NOISE_SEARCH.minNoiseMultiplier) return hi;
    }
  }
  while (hi > lo * (1 + tolerance)) {
    const mid = lo + (hi - lo) / 2;
    if (meets(mid)) hi = mid;
    else lo = mid;
  }
  return hi;
}
