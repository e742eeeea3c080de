/**
 * Rényi DP accounting (Mironov 2017, arXiv:1702.07476) over a grid of orders, after
 * dp_accounting's `rdp/rdp_privacy_accountant.py` and Opacus's `accountants/analysis/rdp.py`.
 * Never reports an ε below the RDP bound: each mechanism's curve is exact or an upper bound,
 * composition adds curves, and a series that fails to converge counts as +∞ at its order.
 */
import type { Accountant, PrivacyEvent, Unsupported } from "./events.ts";
import { findUnsupported, type SamplingRule } from "./event-check.ts";
import { UnsupportedPrivacyEvent, requireParameter } from "./errors.ts";
import { effectiveNoiseMultiplier, logSubsampledGaussianMoment } from "./rdp-sampled-gaussian.ts";

export { effectiveNoiseMultiplier } from "./rdp-sampled-gaussian.ts";

/**
 * Opacus's `RDPAccountant.DEFAULT_ALPHAS` (`accountants/rdp.py`), also the grid of
 * dp_accounting's tree-aggregation tests: `[1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64))`.
 */
export const DEFAULT_RDP_ORDERS: readonly number[] = Object.freeze([
  ...Array.from({ length: 99 }, (_, k) => 1 + (k + 1) / 10),
  ...Array.from({ length: 52 }, (_, k) => 12 + k),
]);

const requireOrder = (alpha: number, field = "alpha"): void =>
  requireParameter(alpha > 1, field, alpha, "a Rényi order must be > 1 (Infinity allowed); use DEFAULT_RDP_ORDERS");
const requireNonNegative = (value: number, field: string): void =>
  requireParameter(value >= 0, field, value, "must be a number ≥ 0 (not NaN)");
const requireRate = (q: number, field: string): void =>
  requireParameter(q >= 0 && q <= 1, field, q, "a sampling rate must lie in [0, 1] (batch size / dataset size)");
const requireCount = (count: number, field: string): void =>
  requireParameter(Number.isSafeInteger(count) && count >= 1, field, count, "must be a positive integer");

/**
 * RDP of the Gaussian mechanism with noise multiplier z = σ/Δ: α/(2z²) (Mironov 2017, Prop. 7).
 * @example rdpGaussian(2, 3); // 0.375
 */
export function rdpGaussian(sigmaOverSensitivity: number, alpha: number): number {
  requireNonNegative(sigmaOverSensitivity, "sigmaOverSensitivity");
  requireOrder(alpha);
  if (sigmaOverSensitivity === Infinity) return 0;
  return alpha / (2 * sigmaOverSensitivity * sigmaOverSensitivity);
}

/**
 * RDP of the Laplace mechanism with b = scale/Δ (Mironov 2017, Prop. 6): for α > 1,
 * (1/(α−1))·log(α/(2α−1)·e^{(α−1)/b} + (α−1)/(2α−1)·e^{−α/b}), which tends to 1/b as α → ∞.
 * Rearranged as dp_accounting's `_laplace_rdp` does, for stability: ε + log1p((α−1)·expm1((1−2α)ε)/(2α−1))/(α−1).
 * @example rdpLaplace(1, Infinity); // 1
 */
export function rdpLaplace(scaleOverSensitivity: number, alpha: number): number {
  requireNonNegative(scaleOverSensitivity, "scaleOverSensitivity");
  requireOrder(alpha);
  const eps = 1 / scaleOverSensitivity;
  if (eps === 0 || eps === Infinity || alpha === Infinity) return eps;
  const c = Math.expm1(eps * (1 - 2 * alpha)) / (2 * alpha - 1);
  if (alpha >= 1.1) return eps + Math.log1p((alpha - 1) * c) / (alpha - 1);
  // Near α = 1, log(1 + c·x)/x by its Taylor series in v = −c·x ∈ [0, 0.1) (dp_accounting).
  const v = -c * (alpha - 1);
  let sum = 0;
  for (let k = 99; k >= 1; k--) sum = sum * v + 1 / k;
  return eps + c * sum;
}

/**
 * An RDP bound for any ε-DP mechanism (the exponential mechanism, report-noisy-max):
 * min(ε, αε²/2). ε-DP gives (∞, ε)-RDP, hence every order (Mironov 2017, Prop. 3 and the
 * monotonicity of Rényi divergence), and ε²/2-zCDP, i.e. RDP αε²/2 (Bun & Steinke 2016,
 * arXiv:1605.02065, Prop. 3.3).
 * @example rdpPureDp(0.5, 2); // 0.25
 */
export function rdpPureDp(epsilon: number, alpha: number): number {
  requireNonNegative(epsilon, "epsilon");
  requireOrder(alpha);
  return Math.min(epsilon, (alpha * epsilon * epsilon) / 2);
}

/**
 * RDP of the Poisson-subsampled Gaussian mechanism (Mironov, Talwar & Zhang 2019,
 * arXiv:1908.10530): log(A_α)/(α−1), with A_α summed in log space (see rdp-sampled-gaussian.ts).
 * q = 0 gives 0, q = 1 the plain Gaussian; α = ∞ or z = 0 give +∞.
 * @example rdpSubsampledGaussian(0.1, 2, 5); // ≈ 0.0077369685 (TF Privacy: compute_rdp(0.1, 2, 10, 5) = 0.07737)
 */
export function rdpSubsampledGaussian(q: number, noiseMultiplier: number, alpha: number): number {
  requireRate(q, "q");
  requireNonNegative(noiseMultiplier, "noiseMultiplier");
  requireOrder(alpha);
  if (q === 0 || noiseMultiplier === Infinity) return 0;
  if (alpha === Infinity || noiseMultiplier === 0) return Infinity;
  if (q === 1) return alpha / (2 * noiseMultiplier * noiseMultiplier);
  // A_α ≥ 1 in exact arithmetic: a rounding below it reports 0, and a NaN (σ below ~1e-154) +∞.
  const rdp = logSubsampledGaussianMoment(q, noiseMultiplier, alpha) / (alpha - 1);
  return Number.isNaN(rdp) ? Infinity : Math.max(0, rdp);
}

function requireCurve(orders: readonly number[], rdp: ArrayLike<number>): void {
  requireParameter(rdp.length === orders.length && orders.length > 0, "rdp.length", rdp.length, `must equal orders.length (${orders.length}) and be > 0`);
  orders.forEach((alpha, i) => requireOrder(alpha, `orders[${i}]`));
}

/**
 * The smallest ε, over the orders, such that the RDP curve implies (ε, δ)-DP. Uses the
 * conversion of Balle et al. 2020 (arXiv:1905.09982, Thm 21; arXiv:2004.00010, Prop. 12 in v4),
 * ε = rdp + log1p(−1/α) − (log δ + log α)/(α−1), with dp_accounting's `compute_epsilon` edge
 * cases: ε = 0 once δ ≥ √(1 − e^{−rdp}) (the KL bound), orders ≤ 1.01 skipped as unstable, and
 * ε = rdp at α = ∞ (pure DP), which alone serves δ = 0.
 * @example
 * const orders = Array.from({ length: 31 }, (_, i) => i + 2); // 2…32
 * rdpToEpsilon(orders, orders.map(() => 1.1), 1e-5); // { epsilon: ≈1.32783806176, order: 32 } (dp_accounting)
 */
export function rdpToEpsilon(orders: readonly number[], rdp: ArrayLike<number>, delta: number): { epsilon: number; order: number } {
  requireCurve(orders, rdp);
  requireParameter(delta >= 0 && delta < 1, "delta", delta, "must lie in [0, 1); typical targets are below 1/dataset size");
  let best = { epsilon: Infinity, order: orders[0]! };
  for (let i = 0; i < orders.length; i++) {
    const alpha = orders[i]!;
    const r = rdp[i]!;
    let eps: number;
    if (alpha === Infinity) eps = r;
    else if (delta === 0) eps = r === 0 ? 0 : Infinity;
    else if (r <= 0 || delta * delta + Math.expm1(-r) > 0) eps = 0;
    else if (alpha > 1.01) eps = r + Math.log1p(-1 / alpha) - (Math.log(delta) + Math.log(alpha)) / (alpha - 1);
    else eps = Infinity;
    if (eps < best.epsilon) best = { epsilon: eps, order: alpha };
  }
  return { epsilon: Math.max(0, best.epsilon), order: best.order };
}

/**
 * The smallest δ, over the orders, such that the RDP curve implies (ε, δ)-DP (dp_accounting's
 * `compute_delta`): min of the KL bound √(1 − e^{−rdp}) and, for α > 1.01,
 * exp((α−1)(rdp − ε + log1p(−1/α)) − log α) (Balle et al. 2020, Prop. 12 in v4).
 * @example
 * const orders = Array.from({ length: 31 }, (_, i) => i + 2); // 2…32
 * rdpToDelta(orders, orders.map(() => 1.1), 1.32783806176); // { delta: ≈1e-5, order: 32 }
 */
export function rdpToDelta(orders: readonly number[], rdp: ArrayLike<number>, epsilon: number): { delta: number; order: number } {
  requireCurve(orders, rdp);
  requireNonNegative(epsilon, "epsilon");
  let best = { logDelta: Infinity, order: orders[0]! };
  for (let i = 0; i < orders.length; i++) {
    const alpha = orders[i]!;
    const r = rdp[i]!;
    let logDelta = r <= 0 ? -Infinity : 0.5 * Math.log1p(-Math.exp(-r));
    if (alpha === Infinity) logDelta = r <= epsilon ? -Infinity : logDelta;
    else if (alpha > 1.01) logDelta = Math.min(logDelta, (alpha - 1) * (r - epsilon + Math.log1p(-1 / alpha)) - Math.log(alpha));
    if (logDelta < best.logDelta) best = { logDelta, order: alpha };
  }
  return { delta: Math.min(Math.exp(best.logDelta), 1), order: best.order };
}

/** Poisson sampling amplifies only Gaussians here (Mironov–Talwar–Zhang 2019). */
const rdpSampling: SamplingRule = (inner) =>
  effectiveNoiseMultiplier(inner) !== null ? null : `the RDP accountant amplifies only Gaussian mechanisms by Poisson sampling, not "${inner.kind}"`;

/** The RDP curve of a checked event over `orders`; composition adds curves (Mironov 2017, Prop. 1). */
function curveOf(event: PrivacyEvent, orders: readonly number[]): Float64Array {
  const perOrder = (f: (alpha: number) => number): Float64Array => Float64Array.from(orders, f);
  switch (event.kind) {
    case "gaussian": {
      const z = event.sensitivity === 0 ? Infinity : event.sigma / event.sensitivity;
      return perOrder((alpha) => rdpGaussian(z, alpha));
    }
    case "laplace": {
      const b = event.sensitivity === 0 ? Infinity : event.scale / event.sensitivity;
      return perOrder((alpha) => rdpLaplace(b, alpha));
    }
    case "exponential":
      return perOrder((alpha) => rdpPureDp(event.epsilon, alpha));
    case "gnmax": // a Gaussian on a histogram of L2 sensitivity √2: 2α/(2σ²)
      return perOrder((alpha) => rdpGaussian(event.sigma / Math.SQRT2, alpha));
    case "thresholdCheck": // a Gaussian on the top count, of sensitivity 1: α/(2σ²)
      return perOrder((alpha) => rdpGaussian(event.sigma, alpha));
    case "poissonSampled": {
      const z = effectiveNoiseMultiplier(event.event)!;
      return perOrder((alpha) => rdpSubsampledGaussian(event.samplingRate, z, alpha));
    }
    case "selfComposed":
      return curveOf(event.event, orders).map((r) => r * event.count);
    case "composed": {
      const total = new Float64Array(orders.length);
      for (const inner of event.events) curveOf(inner, orders).forEach((r, i) => (total[i]! += r));
      return total;
    }
  }
}

/**
 * The RDP curve of an event over `orders`: throws UnsupportedPrivacyEvent or InvalidPrivacyParameter.
 * @example computeRdp(gaussian(2), [3]); // Float64Array [0.375]
 */
export function computeRdp(event: PrivacyEvent, orders: readonly number[] = DEFAULT_RDP_ORDERS): Float64Array {
  orders.forEach((alpha, i) => requireOrder(alpha, `orders[${i}]`));
  const unsupported = findUnsupported(event, rdpSampling);
  if (unsupported !== null) throw new UnsupportedPrivacyEvent(unsupported);
  return curveOf(event, orders);
}

/**
 * An accountant that keeps one RDP value per order and converts to (ε, δ) on demand.
 * @example
 * const accountant = new RdpAccountant();
 * accountant.compose(poissonSampled(0.04, gaussian(1.5)), 2250);
 * accountant.epsilon(1e-5); // ≈ 7.32911117143 (Opacus accountants_test.test_rdp_accountant)
 */
export class RdpAccountant implements Accountant {
  readonly orders: readonly number[];
  readonly #rdp: Float64Array;

  constructor(orders: readonly number[] = DEFAULT_RDP_ORDERS) {
    requireParameter(orders.length > 0, "orders.length", orders.length, "needs at least one order; use DEFAULT_RDP_ORDERS");
    orders.forEach((alpha, i) => requireOrder(alpha, `orders[${i}]`));
    this.orders = Object.freeze([...orders]);
    this.#rdp = new Float64Array(orders.length);
  }

  /** Unsupported for what RDP cannot count; throws InvalidPrivacyParameter on a malformed number. Changes nothing. */
  check(event: PrivacyEvent): Unsupported | null {
    return findUnsupported(event, rdpSampling);
  }

  /** Adds `count` copies of the event; the curve is computed once, then scaled. All or nothing. */
  compose(event: PrivacyEvent, count = 1): void {
    requireCount(count, "count");
    const curve = computeRdp(event, this.orders);
    curve.forEach((r, i) => (this.#rdp[i]! += r * count));
  }

  epsilon(targetDelta: number): number {
    return rdpToEpsilon(this.orders, this.#rdp, targetDelta).epsilon;
  }

  delta(targetEpsilon: number): number {
    return rdpToDelta(this.orders, this.#rdp, targetEpsilon).delta;
  }

  /** ε at `targetDelta` and the order that achieves it (an extreme order hints the grid is too narrow). */
  privacySpent(targetDelta: number): { epsilon: number; order: number } {
    return rdpToEpsilon(this.orders, this.#rdp, targetDelta);
  }

  /** The accumulated RDP, one value per order. */
  get rdp(): readonly number[] {
    return Array.from(this.#rdp);
  }
}

/**
 * `rdpToEpsilon` for one fixed grid and δ, for hot paths (the ledger converts a scope's
 * curve on every reserve): the per-order constants log1p(−1/α) and (log δ + log α)/(α−1) are
 * computed once, so a conversion is two adds and one compare per order. Same edge cases,
 * same result as `rdpToEpsilon(orders, rdp, delta).epsilon` (a test checks they agree).
 * @example
 * const toEpsilon = epsilonConverter(DEFAULT_RDP_ORDERS, 1e-5);
 * toEpsilon(computeRdp(gaussian(2))); // = rdpToEpsilon(DEFAULT_RDP_ORDERS, …, 1e-5).epsilon
 */
export function epsilonConverter(orders: readonly number[], delta: number): (rdp: ArrayLike<number>) => number {
  requireCurve(orders, orders);
  requireParameter(delta >= 0 && delta < 1, "delta", delta, "must lie in [0, 1); typical targets are below 1/dataset size");
  const n = orders.length;
  // Kept as two terms, added in rdpToEpsilon's order, so that rounding agrees bit for bit.
  const usable = (alpha: number) => alpha !== Infinity && delta !== 0 && alpha > 1.01;
  const logTerm = Float64Array.from(orders, (alpha) => (usable(alpha) ? Math.log1p(-1 / alpha) : 0));
  const deltaTerm = Float64Array.from(orders, (alpha) => (usable(alpha) ? (Math.log(delta) + Math.log(alpha)) / (alpha - 1) : alpha === Infinity ? 0 : -Infinity));
  const isPure = orders.map((alpha) => alpha === Infinity);
  const deltaSquared = delta * delta;
  // Above this rdp the KL test δ² + expm1(−rdp) > 0 is surely false (twice the root of its
  // boundary, so rounding cannot matter): expm1 runs only on the tiny values it can decide.
  const klCutoff = -2 * Math.log1p(-deltaSquared);
  return (rdp) => {
    if (rdp.length !== n) requireCurve(orders, rdp);
    let best = Infinity;
    for (let i = 0; i < n; i++) {
      const r = rdp[i]!;
      let eps: number;
      if (isPure[i]) eps = r;
      else if (delta === 0) eps = r === 0 ? 0 : Infinity;
      else if (r <= 0 || (r < klCutoff && deltaSquared + Math.expm1(-r) > 0)) eps = 0;
      else eps = r + logTerm[i]! - deltaTerm[i]!;
      if (eps < best) best = eps;
    }
    return Math.max(0, best);
  };
}
