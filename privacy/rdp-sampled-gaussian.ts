/**
 * log A_α for the Poisson-subsampled Gaussian (Mironov, Talwar & Zhang 2019, "Rényi
 * Differential Privacy of the Sampled Gaussian Mechanism", arXiv:1908.10530, Sec. 3.3), where
 * A_α = E_{z∼N(0,σ²)}[((1−q) + q·e^{(2z−1)/(2σ²)})^α] and the RDP at order α is log(A_α)/(α−1).
 * Also: the one Gaussian a nested composition of Gaussians amounts to, for Poisson sampling.
 * Never rounds toward a smaller A_α than it can justify: a fractional series adds its remainder
 * bound, and one that does not converge returns +∞, which excludes that order from any ε.
 */
import type { PrivacyEvent } from "./events.ts";
import { logErfc } from "./normal.ts";

const LOG_HALF = Math.log(0.5);
/** Past this many terms a fractional series counts as divergent (+∞); 1e-10 needs ≈ 1e10^{1/(α+2)}. */
const MAX_FRACTIONAL_TERMS = 1_000_000;
/** Stop once the remainder bound is below e^{−27} ≈ 2e-12 of A_α − 1… */
const LOG_RELATIVE_REMAINDER = -27;
/** …or below e^{−39} ≈ 1e-17 of A_α, under what a double resolves of A_α ≈ 1 anyway. */
const LOG_ABSOLUTE_REMAINDER = -39;

/** log(e^a + e^b). */
function logAdd(a: number, b: number): number {
  if (a === -Infinity) return b;
  if (b === -Infinity) return a;
  if (a === Infinity || b === Infinity) return Infinity;
  return Math.max(a, b) + Math.log1p(Math.exp(-Math.abs(a - b)));
}

/** log(e^x − 1) for x > 0, without overflow. */
function logExpm1(x: number): number {
  return x > 1 ? x + Math.log1p(-Math.exp(-x)) : Math.log(Math.expm1(x));
}

/**
 * A signed number kept as sign·e^log. Log-space subtraction, as TF Privacy's `_log_sub`, but
 * tracking the sign instead of throwing when a partial sum dips below zero.
 */
interface SignedLog {
  sign: number;
  log: number;
}

function addSigned(acc: SignedLog, sign: number, log: number): void {
  if (log === -Infinity) return;
  if (acc.log === -Infinity) {
    acc.sign = sign;
    acc.log = log;
  } else if (acc.sign === sign) {
    acc.log = logAdd(acc.log, log);
  } else if (acc.log > log) {
    acc.log += Math.log1p(-Math.exp(log - acc.log));
  } else if (log > acc.log) {
    acc.sign = sign;
    acc.log = log + Math.log1p(-Math.exp(acc.log - log));
  } else {
    acc.log = -Infinity;
  }
}

/**
 * Integer α: A_α = Σ_{i=0}^{α} C(α,i)·q^i·(1−q)^{α−i}·e^{(i²−i)/(2σ²)} (MTZ 2019, Sec. 3.3;
 * TF Privacy / Opacus `_compute_log_a_int`). The binomial weights sum to 1, so we sum only the
 * excess A_α − 1 = Σ_{i≥2} C(α,i)·q^i·(1−q)^{α−i}·(e^{(i²−i)/(2σ²)} − 1), every term ≥ 0: equal
 * in exact arithmetic, and it keeps log A_α accurate when A_α ≈ 1 (tiny q). O(α) terms.
 */
function logMomentInteger(q: number, sigma: number, alpha: number): number {
  const logQ = Math.log(q);
  const log1mQ = Math.log1p(-q);
  const twoSigmaSq = 2 * sigma * sigma;
  let logExcess = -Infinity;
  let logBinomial = Math.log(alpha) + Math.log(alpha - 1) - Math.LN2; // C(α, 2)
  for (let i = 2; i <= alpha; i++) {
    const term = logBinomial + i * logQ + (alpha - i) * log1mQ + logExpm1((i * i - i) / twoSigmaSq);
    logExcess = logAdd(logExcess, term);
    logBinomial += Math.log(alpha - i) - Math.log(i + 1); // C(α, i+1) = C(α, i)·(α−i)/(i+1)
  }
  return logAdd(0, logExcess);
}

/**
 * Fractional α: A_α = A₀ + A₁, the integrals over (−∞, z₀] and [z₀, ∞) with
 * z₀ = σ²·log(1/q − 1) + ½, each expanded as a binomial series whose terms carry
 * ½·erfc(·/(√2σ)) (MTZ 2019, Sec. 3.3; TF Privacy / Opacus `_compute_log_a_frac`). The
 * generalised binomial C(α, i) alternates in sign for i > α + 1, and the terms are added with
 * their signs, as TF Privacy and Opacus do: A_α is exact, where dp_accounting's sum of magnitudes
 * is an upper bound (3% above it at α = 1.5 in dp_accounting's own test).
 *
 * Both series decay only polynomially, as i^{−(α+2)}: the exponential factors cancel exactly,
 * which is why dp_accounting's 1000-term cap gives up (returns ∞) at small α for moderate q. So
 * we stop by the alternating-series bound instead: once the signs alternate and both terms
 * shrink, the remainder is at most the last terms, and we stop when they fall below 2e-12 of
 * A_α − 1 (which the RDP is made of, so tiny q keeps its relative accuracy) or below 1e-17 of
 * A_α (huge σ), and add them to the total, so the result is never below A_α.
 */
function logMomentFractional(q: number, sigma: number, alpha: number): number {
  const logQ = Math.log(q);
  const log1mQ = Math.log1p(-q);
  const twoSigmaSq = 2 * sigma * sigma;
  const erfcScale = Math.SQRT2 * sigma;
  const z0 = sigma * sigma * (log1mQ - logQ) + 0.5;
  const a0: SignedLog = { sign: 1, log: -Infinity };
  const a1: SignedLog = { sign: 1, log: -Infinity };
  let coefSign = 1;
  let logCoef = 0; // log |C(α, i)|
  let lastS0 = -Infinity;
  let lastS1 = -Infinity;
  for (let i = 0; i < MAX_FRACTIONAL_TERMS; i++) {
    const j = alpha - i;
    const logS0 = logCoef + i * logQ + j * log1mQ + (i * i - i) / twoSigmaSq + LOG_HALF + logErfc((i - z0) / erfcScale);
    const logS1 = logCoef + j * logQ + i * log1mQ + (j * j - j) / twoSigmaSq + LOG_HALF + logErfc((z0 - j) / erfcScale);
    addSigned(a0, coefSign, logS0);
    addSigned(a1, coefSign, logS1);
    if (i > alpha + 1 && logS0 < lastS0 && logS1 < lastS1) {
      const total: SignedLog = { ...a0 };
      addSigned(total, a1.sign, a1.log);
      if (total.sign < 0) return Infinity;
      const remainder = logAdd(logS0, logS1);
      const logExcess = total.log > 0 ? logExpm1(total.log) : -Infinity; // log(A_α − 1)
      const tolerance = Math.max(logExcess + LOG_RELATIVE_REMAINDER, total.log + LOG_ABSOLUTE_REMAINDER);
      if (remainder < tolerance) return logAdd(total.log, remainder);
    }
    lastS0 = logS0;
    lastS1 = logS1;
    coefSign *= Math.sign(alpha - i);
    logCoef += Math.log(Math.abs(alpha - i)) - Math.log(i + 1);
  }
  return Infinity;
}

/**
 * log A_α for 0 < q < 1, σ > 0 and finite α > 1 (callers handle the edges).
 * @example logSubsampledGaussianMoment(0.1, 2, 5) / 4; // ≈ 0.0077369685
 */
export function logSubsampledGaussianMoment(q: number, sigma: number, alpha: number): number {
  return Number.isInteger(alpha) ? logMomentInteger(q, sigma, alpha) : logMomentFractional(q, sigma, alpha);
}

/**
 * The noise multiplier of the single Gaussian equivalent to a composition of Gaussians,
 * (Σ zᵢ⁻²)^{−1/2} (Mironov, Talwar & Zhang 2019, Sec. 3; dp_accounting's
 * `_effective_gaussian_noise_multiplier`), or null when the event is not built from Gaussians.
 */
export function effectiveNoiseMultiplier(event: PrivacyEvent): number | null {
  const precision = gaussianPrecision(event);
  return precision === null ? null : 1 / Math.sqrt(precision);
}

/** Σ (Δ/σ)², the "precision" that composes additively; null for a non-Gaussian event. */
function gaussianPrecision(event: PrivacyEvent): number | null {
  switch (event.kind) {
    case "gaussian":
      return event.sensitivity === 0 ? 0 : (event.sensitivity / event.sigma) ** 2;
    case "selfComposed": {
      const inner = gaussianPrecision(event.event);
      return inner === null ? null : inner * event.count;
    }
    case "composed": {
      let total = 0;
      for (const inner of event.events) {
        const p = gaussianPrecision(inner);
        if (p === null) return null;
        total += p;
      }
      return total;
    }
    default:
      return null;
  }
}
