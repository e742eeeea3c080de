/**
 * Tight (ε, δ) accounting on privacy loss distributions (PLDs), after Google's dp_accounting
 * (`pld/privacy_loss_distribution.py`, `pld/privacy_loss_mechanism.py`, `pld/pld_pmf.py`).
 * Never reports an ε below the true one: losses are discretised pessimistically (connect-the-dots,
 * or rounded up), cut tails go to +∞, and ADD and REMOVE neighbours are both tracked.
 *
 * Gaussian and Laplace PLDs use connect-the-dots (Doroshenko et al. 2022, arXiv:2207.04380,
 * Alg. 1; dp_accounting's default for both): the loss L(x) is monotone in the noise x, so each
 * grid loss maps back to an x threshold, the noise CDF gives the true PLD's mass between
 * consecutive grid losses, and that mass is split between the two ends. Composition convolves
 * PMFs by FFT; `count` repetitions raise the spectrum to the power `count` (pld-math.ts).
 */
import type { Accountant, PrivacyEvent, Unsupported } from "./events.ts";
import { findUnsupported, type SamplingRule } from "./event-check.ts";
import { UnsupportedPrivacyEvent, requireParameter } from "./errors.ts";
import {
  BLATANT_PMF, IDENTITY_PMF, MAX_SELF_COMPOSE_POINTS, type LossPmf, type PrivacyLossDistribution, type TooWide, connectTheDots,
  normalCdf, normalQuantileOfLog, pldDelta, pldEpsilon, tryComposePlds, trySelfComposePld,
} from "./pld-math.ts";
import { gaussianDelta, gaussianEpsilon } from "./calibration.ts";
import { nextPowerOfTwo } from "./fft.ts";
import { RdpAccountant } from "./rdp.ts";

export type { PrivacyLossDistribution } from "./pld-math.ts";

export interface PldAccountantOptions {
  /** Width of the privacy-loss grid, in nats: smaller is tighter and slower. */
  readonly valueDiscretizationInterval?: number;
  /** Probability mass each composition may cut from the PMF's tails (it is charged to +∞). */
  readonly tailMassTruncation?: number;
  /** Answer min(PLD, RDP) (default true): both are upper bounds, so the smaller is one too. */
  readonly capByRdp?: boolean;
  /** The most grid points one composition may take (a power of two, 2¹⁰ to MAX_SELF_COMPOSE_POINTS); past it the grid coarsens. */
  readonly maxGridPoints?: number;
}

/** dp_accounting's defaults: grid 1e-4 (PLDAccountant), tails 1e-15 (compose/self_compose); capped by RDP. */
export const DEFAULT_PLD_OPTIONS: Required<PldAccountantOptions> = { valueDiscretizationInterval: 1e-4, tailMassTruncation: 1e-15, capByRdp: true, maxGridPoints: MAX_SELF_COMPOSE_POINTS };

/** ln of the Gaussian tail mass left off the grid, charged to +∞ (dp_accounting's default −50). */
export const GAUSSIAN_LOG_MASS_TRUNCATION_BOUND = -50;

/** Losses beyond ±200 nats are charged to +∞ (above) or rounded up to −200 (below): pessimistic. */
export const MAX_ABS_LOSS = 200;

type Adjacency = "remove" | "add";

/**
 * Additive noise μ on a query of sensitivity Δ, as dp_accounting's AdditiveNoisePrivacyLoss.
 * REMOVE: upper (1−q)μ + qμ(·+Δ) against lower μ; ADD: upper μ against (1−q)μ + qμ(·−Δ).
 */
interface AdditiveNoise {
  readonly sensitivity: number;
  /** CDF of μ, which is symmetric: P(X > x) = cdf(−x). */
  cdf(x: number): number;
  /** Unsampled loss, non-increasing in x: REMOVE ln μ(x+Δ)/μ(x), ADD ln μ(x)/μ(x−Δ). */
  loss(x: number, adjacency: Adjacency): number;
  /** Largest x with loss(x) ≥ ℓ: +∞ when every x has, −∞ when none has. */
  inverseLoss(loss: number, adjacency: Adjacency): number;
  /** Outside [low, high] the loss is constant or the upper mass below e^bound. */
  xRange(adjacency: Adjacency): readonly [number, number];
}

/** N(0, σ²): loss Δ(∓Δ/2 − x)/σ² (REMOVE −, ADD +), dp_accounting GaussianPrivacyLoss. */
function gaussianNoise(sigma: number, sensitivity: number, logMassTruncationBound: number): AdditiveNoise {
  const variance = sigma * sigma;
  const centre = (adjacency: Adjacency): number => (adjacency === "remove" ? -0.5 : 0.5) * sensitivity;
  // Each of μ and its shift keeps ½e^bound in each tail (privacy_loss_tail in dp_accounting).
  const tailX = sigma * normalQuantileOfLog(logMassTruncationBound - Math.LN2);
  return {
    sensitivity,
    cdf: (x) => normalCdf(x / sigma),
    loss: (x, adjacency) => (sensitivity * (centre(adjacency) - x)) / variance,
    inverseLoss: (loss, adjacency) => centre(adjacency) - (loss * variance) / sensitivity,
    xRange: (adjacency) => (adjacency === "remove" ? [tailX - sensitivity, -tailX] : [tailX, sensitivity - tailX]),
  };
}

/** Lap(b): loss (|x| − |x+Δ|)/b (REMOVE) or (|x−Δ| − |x|)/b (ADD), in [−Δ/b, Δ/b]. */
function laplaceNoise(scale: number, sensitivity: number): AdditiveNoise {
  return {
    sensitivity,
    cdf: (x) => (x < 0 ? 0.5 * Math.exp(x / scale) : 1 - 0.5 * Math.exp(-x / scale)),
    loss: (x, adjacency) =>
      adjacency === "remove" ? (Math.abs(x) - Math.abs(x + sensitivity)) / scale : (Math.abs(x - sensitivity) - Math.abs(x)) / scale,
    inverseLoss: (loss, adjacency) => {
      const threshold = loss * scale;
      if (threshold > sensitivity) return Number.NEGATIVE_INFINITY;
      if (threshold <= -sensitivity) return Number.POSITIVE_INFINITY;
      return 0.5 * ((adjacency === "remove" ? -sensitivity : sensitivity) - threshold);
    },
    xRange: (adjacency) => (adjacency === "remove" ? [-sensitivity, 0] : [0, sensitivity]),
  };
}

/** ln(1 − q + q·eˣ), stable on both sides of 0. */
function logMixture(q: number, x: number): number {
  return x > 0 ? x + Math.log(q + (1 - q) * Math.exp(-x)) : Math.log1p(q * Math.expm1(x));
}

/** The loss after Poisson subsampling with rate q (dp_accounting AdditiveNoisePrivacyLoss.privacy_loss). */
function sampledLoss(noise: AdditiveNoise, q: number, x: number, adjacency: Adjacency): number {
  const loss = noise.loss(x, adjacency);
  if (q === 1) return loss;
  return adjacency === "remove" ? logMixture(q, loss) : -logMixture(q, -loss);
}

/** x with L(x) ≥ ε ⇔ x ≤ it, L being non-increasing (dp_accounting inverse_privacy_loss). */
function thresholdX(noise: AdditiveNoise, q: number, epsilon: number, adjacency: Adjacency): number {
  let unsampled = epsilon;
  if (q < 1 && adjacency === "remove") {
    if (epsilon <= Math.log1p(-q)) return Number.POSITIVE_INFINITY; // L > ln(1 − q) everywhere
    unsampled = Math.log1p(Math.expm1(epsilon) / q);
  } else if (q < 1) {
    if (epsilon >= -Math.log1p(-q)) return Number.NEGATIVE_INFINITY; // L < −ln(1 − q) everywhere
    unsampled = -Math.log1p(Math.expm1(-epsilon) / q);
  }
  return noise.inverseLoss(unsampled, adjacency);
}

/** P(a < X ≤ b) from the smaller tails only (tail = cdf(−|x|)), so tail bins keep their digits. */
function massBetween(a: number, tailA: number, b: number, tailB: number): number {
  if (!(b > a)) return 0;
  if (b <= 0) return tailB - tailA;
  if (a >= 0) return tailA - tailB;
  return 1 - tailA - tailB;
}

/**
 * Connect-the-dots PMF of one adjacency. The loss range comes from the noise's x-range (capped
 * at ±MAX_ABS_LOSS); each grid loss maps back to an x threshold, and the bins between
 * consecutive thresholds get their exact upper and lower masses.
 */
function additiveNoisePmf(noise: AdditiveNoise, q: number, adjacency: Adjacency, interval: number): LossPmf {
  const [lowX, highX] = noise.xRange(adjacency);
  const maxIndex = Math.floor(MAX_ABS_LOSS / interval);
  const top = Math.min(maxIndex, Math.ceil(sampledLoss(noise, q, lowX, adjacency) / interval));
  const bottom = Math.min(top, Math.max(-maxIndex, Math.floor(sampledLoss(noise, q, highX, adjacency) / interval)));
  const n = top - bottom + 1;
  // REMOVE: upper (1−q)μ + qμ(·+Δ), lower μ. ADD: upper μ, lower (1−q)μ + qμ(·−Δ).
  const shift = adjacency === "remove" ? noise.sensitivity : -noise.sensitivity;
  const xs = new Float64Array(n + 2);
  const tails = new Float64Array(n + 2);
  const shiftedTails = new Float64Array(n + 2);
  xs[0] = Number.POSITIVE_INFINITY; // slot 0 and n+1 bound the "below" and "top" bins
  xs[n + 1] = Number.NEGATIVE_INFINITY;
  for (let i = 1; i <= n; i++) {
    xs[i] = thresholdX(noise, q, (bottom + i - 1) * interval, adjacency);
    tails[i] = noise.cdf(-Math.abs(xs[i]!));
    shiftedTails[i] = noise.cdf(-Math.abs(xs[i]! + shift));
  }
  const plain = (j: number): number => massBetween(xs[j + 1]!, tails[j + 1]!, xs[j]!, tails[j]!);
  const shifted = (j: number): number => massBetween(xs[j + 1]! + shift, shiftedTails[j + 1]!, xs[j]! + shift, shiftedTails[j]!);
  const mixed = (j: number): number => (q === 1 ? shifted(j) : (1 - q) * plain(j) + q * shifted(j));
  const upperOf = adjacency === "remove" ? mixed : plain;
  const lowerOf = adjacency === "remove" ? plain : mixed;
  const upper = Float64Array.from({ length: n }, (_, i) => upperOf(i + 1));
  const lower = Float64Array.from({ length: n }, (_, i) => lowerOf(i + 1));
  return connectTheDots({ lowerIndex: bottom, belowUpper: upperOf(0), upper, lower }, interval);
}

function additiveNoisePld(noise: AdditiveNoise, q: number, interval: number): PrivacyLossDistribution {
  if (q === 0) return { remove: IDENTITY_PMF, add: null };
  const remove = additiveNoisePmf(noise, q, "remove", interval);
  // Without subsampling the two halves coincide (dp_accounting _pld_for_subsampled_mechanism).
  return { remove, add: q === 1 ? null : additiveNoisePmf(noise, q, "add", interval) };
}

/**
 * PLD of the Gaussian mechanism N(0, σ²) on sensitivity Δ, Poisson-subsampled at `samplingRate`
 * (dp_accounting `from_gaussian_mechanism(σ, Δ, sampling_prob=q, use_connect_dots=True)`).
 * @example gaussianPld(1, 1).remove.infinityMass; // ≈ 9e-24: the noise tails beyond e^−50, charged to +∞
 */
export function gaussianPld(sigma: number, sensitivity: number, { samplingRate = 1, interval = 1e-4, logMassTruncationBound = GAUSSIAN_LOG_MASS_TRUNCATION_BOUND } = {}): PrivacyLossDistribution {
  if (sensitivity === 0 || samplingRate === 0) return { remove: IDENTITY_PMF, add: null };
  if (sigma === 0) return { remove: BLATANT_PMF, add: samplingRate === 1 ? null : BLATANT_PMF };
  return additiveNoisePld(gaussianNoise(sigma, sensitivity, logMassTruncationBound), samplingRate, interval);
}

/** PLD of the Laplace mechanism Lap(b) on sensitivity Δ (dp_accounting `from_laplace_mechanism`). */
export function laplacePld(scale: number, sensitivity: number, { samplingRate = 1, interval = 1e-4 } = {}): PrivacyLossDistribution {
  if (sensitivity === 0 || samplingRate === 0) return { remove: IDENTITY_PMF, add: null };
  if (scale === 0) return { remove: BLATANT_PMF, add: samplingRate === 1 ? null : BLATANT_PMF };
  return additiveNoisePld(laplaceNoise(scale, sensitivity), samplingRate, interval);
}

/**
 * PLD dominating every ε-DP mechanism: randomized response on one bit, loss +ε with probability
 * eᵉ/(1+eᵉ) and −ε otherwise (Kairouz, Oh, Viswanath 2015; dp_accounting
 * `from_privacy_parameters` with δ = 0), losses rounded up to the grid.
 */
export function pureDpPld(epsilon: number, interval = 1e-4): PrivacyLossDistribution {
  if (epsilon === 0) return { remove: IDENTITY_PMF, add: null };
  if (epsilon > MAX_ABS_LOSS) return { remove: BLATANT_PMF, add: null };
  const bottom = Math.ceil(-epsilon / interval);
  const probs = new Float64Array(Math.ceil(epsilon / interval) - bottom + 1);
  probs[0] = 1 / (1 + Math.exp(epsilon));
  probs[probs.length - 1] = 1 / (1 + Math.exp(-epsilon));
  return { remove: { lower: bottom, probs, infinityMass: 0 }, add: null };
}

// ---------------------------------------------------------------- the accountant

const requireCount = (value: number, field: string): void =>
  requireParameter(Number.isSafeInteger(value) && value >= 1, field, value, "must be a positive integer");

// Amplification by Poisson sampling is written for additive noise under add/remove
// neighbours (dp_accounting from_gaussian/laplace_mechanism with sampling_prob);
// GNMax's √2 is a replace-one sensitivity.
const pldSampling: SamplingRule = (inner) =>
  inner.kind === "gaussian" || inner.kind === "laplace" ? null : `the PLD accountant samples only gaussian and laplace events, not "${inner.kind}"`;

/**
 * How many times the grid may be coarsened for one answer: each time by the factor the
 * composition's width asks (a power of two, at least 2), so a few suffice for any honest input.
 */
export const MAX_GRID_COARSENINGS = 6;

/** No coarser grid than this (nats): past it the answer is +∞ from the PLD, and RDP's figure stands. */
export const MAX_VALUE_DISCRETIZATION_INTERVAL = 1;

interface Tallied {
  readonly mechanism: PrivacyEvent;
  readonly count: number;
}

/**
 * (Δ/σ)² of an unsampled Gaussian mechanism (GNMax is the Gaussian of Δ = √2, PATE's threshold
 * check the one of Δ = 1), or null for any other mechanism. Its privacy loss is N(μ²/2, μ²)
 * with μ = Δ/σ, so n of them compose into one
 * Gaussian with μ² = Σ μᵢ² (Dong, Roth & Su 2019, arXiv:1905.02383, Cor. 3.3): counted exactly,
 * with no grid at all.
 */
function gaussianMuSquared(event: PrivacyEvent): number | null {
  const inner = event.kind === "poissonSampled" && event.samplingRate === 1 ? event.event : event;
  if (inner !== event && inner.kind !== "gaussian") return null; // only Gaussians are sampled here
  const ratio = inner.kind === "gaussian" ? { sigma: inner.sigma, sensitivity: inner.sensitivity }
    : inner.kind === "gnmax" ? { sigma: inner.sigma, sensitivity: Math.SQRT2 }
    : inner.kind === "thresholdCheck" ? { sigma: inner.sigma, sensitivity: 1 }
    : null;
  if (ratio === null) return null;
  if (ratio.sensitivity === 0) return 0;
  return (ratio.sensitivity / ratio.sigma) ** 2; // σ = 0: +∞, blatantly non-private
}

/** Adds a checked event to a multiset of mechanisms (composition commutes, so only counts matter) and unsampled Gaussians to μ². */
function tally(event: PrivacyEvent, count: number, into: { mechanisms: Map<string, Tallied>; muSquared: number }): void {
  if (event.kind === "selfComposed") return tally(event.event, count * event.count, into);
  if (event.kind === "composed") return event.events.forEach((inner) => tally(inner, count, into));
  requireParameter(Number.isSafeInteger(count), "count", count, "the total count of one mechanism must stay below 2⁵³");
  const mu2 = gaussianMuSquared(event);
  if (mu2 !== null) {
    into.muSquared += count * mu2;
    return;
  }
  const key = JSON.stringify(event);
  const total = (into.mechanisms.get(key)?.count ?? 0) + count;
  requireParameter(Number.isSafeInteger(total), "count", total, "the total count of one mechanism must stay below 2⁵³");
  into.mechanisms.set(key, { mechanism: event, count: total });
}

/**
 * (ε, δ) of everything composed so far, from its PLD: tight up to the grid, never optimistic,
 * never above RDP's figure.
 *
 * - `compose` only tallies mechanisms; the first query after it builds each new mechanism's PLD
 *   once, self-composes it `count` times and convolves it into the total, so a ledger replaying
 *   10⁴ single steps costs one self-composition, not 10⁴ convolutions.
 * - Unsampled Gaussians (and GNMax) are not discretised at all: they compose into one Gaussian
 *   (`gaussianMuSquared`), whose δ(ε) is Balle–Wang's closed form (`gaussianDelta`); alone, that
 *   is the exact answer; with other mechanisms, it joins the PLD as one mechanism.
 * - Bounded memory and time whatever the input (issue 14): a composition whose loss spans more
 *   than `maxGridPoints` (MAX_SELF_COMPOSE_POINTS) grid points is not allocated; the grid is coarsened (by the
 *   factor it asks, a power of two) and every mechanism rebuilt on it. A coarser pessimistic grid
 *   is still an upper bound, only a looser one; `interval` says which grid answered. Past
 *   MAX_GRID_COARSENINGS or MAX_VALUE_DISCRETIZATION_INTERVAL the PLD answers +∞.
 * - The answer is min(PLD, RDP) unless `capByRdp` is false: RDP (Mironov 2017) is also a valid
 *   upper bound, so neither a hostile composition nor a coarse grid reports more than it.
 * @example
 * const accountant = new PldAccountant();
 * accountant.compose(gaussian(Math.sqrt(3)), 3);
 * accountant.delta(1); // ≈ 0.126936 (dp_accounting pld_privacy_accountant_test.test_gaussian_basic)
 */
export class PldAccountant implements Accountant {
  readonly valueDiscretizationInterval: number;
  readonly tailMassTruncation: number;
  readonly capByRdp: boolean;
  readonly maxGridPoints: number;
  /** Every mechanism composed so far but the unsampled Gaussians, with its count. */
  readonly #mechanisms = new Map<string, Tallied>();
  /** Those of #mechanisms (with the counts) not yet in #total. */
  #pending = new Map<string, Tallied>();
  /** Σ count·(Δ/σ)² of the unsampled Gaussians: together, one Gaussian of σ/Δ = 1/√#muSquared. */
  #muSquared = 0;
  #interval: number;
  /** The PLD of #mechanisms less #pending, on the grid #interval. */
  #total: PrivacyLossDistribution = { remove: IDENTITY_PMF, add: null };
  /** #total with #pending and the Gaussian folded in; null until asked, after every compose. */
  #answer: PrivacyLossDistribution | null = null;
  /** RDP of the same events, or null once one came that RDP cannot count (sampled Laplace). */
  #rdp: RdpAccountant | null = new RdpAccountant();

  constructor(options: PldAccountantOptions = {}) {
    const { valueDiscretizationInterval: interval, tailMassTruncation: tail, capByRdp, maxGridPoints } = { ...DEFAULT_PLD_OPTIONS, ...options };
    requireParameter(interval > 0 && interval <= 1, "valueDiscretizationInterval", interval, "must lie in (0, 1]; dp_accounting uses 1e-4");
    requireParameter(tail > 0 && tail <= 1e-6, "tailMassTruncation", tail, "must lie in (0, 1e-6]; dp_accounting uses 1e-15");
    requireParameter(maxGridPoints >= 2 ** 10 && maxGridPoints <= MAX_SELF_COMPOSE_POINTS && nextPowerOfTwo(maxGridPoints) === maxGridPoints,
      "maxGridPoints", maxGridPoints, `must be a power of two from 2¹⁰ to ${MAX_SELF_COMPOSE_POINTS} (the memory one composition may take)`);
    this.valueDiscretizationInterval = interval;
    this.tailMassTruncation = tail;
    this.capByRdp = capByRdp;
    this.maxGridPoints = maxGridPoints;
    this.#interval = interval;
  }

  /** The grid the last answer used: valueDiscretizationInterval, or coarser when a composition did not fit. */
  get interval(): number {
    return this.#interval;
  }

  check(event: PrivacyEvent): Unsupported | null {
    return findUnsupported(event, pldSampling);
  }

  compose(event: PrivacyEvent, count = 1): void {
    requireCount(count, "count");
    const unsupported = this.check(event);
    if (unsupported !== null) throw new UnsupportedPrivacyEvent(unsupported);
    const tallied = { mechanisms: new Map<string, Tallied>(), muSquared: 0 };
    tally(event, count, tallied); // on a throw, nothing was added
    for (const [key, { mechanism, count: n }] of tallied.mechanisms) {
      const known = this.#mechanisms.get(key)?.count ?? 0;
      requireParameter(Number.isSafeInteger(known + n), "count", known + n, "the total count of one mechanism must stay below 2⁵³");
    }
    if (this.#rdp !== null && this.#rdp.check(event) === null) this.#rdp.compose(event, count);
    else this.#rdp = null;
    for (const [key, { mechanism, count: n }] of tallied.mechanisms) {
      this.#mechanisms.set(key, { mechanism, count: (this.#mechanisms.get(key)?.count ?? 0) + n });
      this.#pending.set(key, { mechanism, count: (this.#pending.get(key)?.count ?? 0) + n });
    }
    this.#muSquared += tallied.muSquared;
    this.#answer = null;
  }

  epsilon(targetDelta: number): number {
    requireParameter(targetDelta >= 0 && targetDelta <= 1, "targetDelta", targetDelta, "must lie in [0, 1]");
    const pld = this.#pld();
    const epsilon = pld !== null ? pldEpsilon(pld, targetDelta, this.#interval) : this.#muSquared === 0 ? 0 : gaussianEpsilon(targetDelta, 1 / Math.sqrt(this.#muSquared));
    return this.capByRdp && this.#rdp !== null && targetDelta < 1 ? Math.min(epsilon, this.#rdp.epsilon(targetDelta)) : epsilon;
  }

  delta(targetEpsilon: number): number {
    requireParameter(targetEpsilon >= 0, "targetEpsilon", targetEpsilon, "must be a number ≥ 0 (Infinity allowed)");
    const pld = this.#pld();
    const delta = pld !== null ? pldDelta(pld, targetEpsilon, this.#interval) : this.#muSquared === 0 ? 0 : gaussianDelta(targetEpsilon, 1 / Math.sqrt(this.#muSquared));
    return this.capByRdp && this.#rdp !== null ? Math.min(delta, this.#rdp.delta(targetEpsilon)) : delta;
  }

  /**
   * The PLD of everything composed, or null when that is only unsampled Gaussians (answered by
   * the closed form). Coarsens the grid, and rebuilds every mechanism on it, while a composition
   * does not fit.
   */
  #pld(): PrivacyLossDistribution | null {
    if (this.#mechanisms.size === 0 && this.#muSquared !== Number.POSITIVE_INFINITY) return null;
    for (let coarsened = 0; this.#answer === null; coarsened++) {
      const built = this.#build();
      if (!("tooWide" in built)) {
        this.#answer = built;
        break;
      }
      const factor = Math.max(2, nextPowerOfTwo(Math.ceil(built.points / this.maxGridPoints)));
      if (coarsened >= MAX_GRID_COARSENINGS || !(this.#interval * factor <= MAX_VALUE_DISCRETIZATION_INTERVAL)) {
        this.#answer = { remove: BLATANT_PMF, add: null }; // sound: RDP, if it can count these events, answers instead
        break;
      }
      this.#interval *= factor;
      this.#total = { remove: IDENTITY_PMF, add: null };
      this.#pending = new Map([...this.#mechanisms].map(([key, { mechanism, count }]) => [key, { mechanism, count }]));
    }
    return this.#answer;
  }

  /** Folds #pending into #total (kept: a later compose starts from it), then the Gaussian in; TooWide when something does not fit. */
  #build(): PrivacyLossDistribution | TooWide {
    const { tailMassTruncation: tail, maxGridPoints: max } = this;
    for (const [key, { mechanism, count }] of this.#pending) {
      const composed = trySelfComposePld(mechanismPld(mechanism, this.#interval), count, tail, max);
      if ("tooWide" in composed) return composed;
      const total = tryComposePlds(this.#total, composed, tail, max);
      if ("tooWide" in total) return total;
      this.#total = total;
      this.#pending.delete(key);
    }
    if (this.#muSquared === 0) return this.#total;
    return tryComposePlds(this.#total, gaussianPld(1 / Math.sqrt(this.#muSquared), 1, { interval: this.#interval }), tail, max);
  }
}

/** PLD of one mechanism: a checked event that is neither selfComposed nor composed. */
function mechanismPld(event: PrivacyEvent, interval: number): PrivacyLossDistribution {
  const samplingRate = event.kind === "poissonSampled" ? event.samplingRate : 1;
  const inner = event.kind === "poissonSampled" ? event.event : event;
  switch (inner.kind) {
    case "gaussian": return gaussianPld(inner.sigma, inner.sensitivity, { samplingRate, interval });
    case "gnmax": return gaussianPld(inner.sigma, Math.SQRT2, { samplingRate, interval });
    case "thresholdCheck": return gaussianPld(inner.sigma, 1, { samplingRate, interval });
    case "laplace": return laplacePld(inner.scale, inner.sensitivity, { samplingRate, interval });
    case "exponential": return pureDpPld(inner.epsilon, interval);
    default: throw new TypeError(`mechanismPld: "${inner.kind}" is not a mechanism`);
  }
}
