/**
 * Noise for releases: exact discrete Laplace and discrete Gaussian samplers (Canonne, Kamath,
 * Steinke, "The Discrete Gaussian for Differential Privacy", NeurIPS 2020, arXiv:2004.00010,
 * Algorithms 1–3) driven by node:crypto. Never computes a probability in floating point: every
 * coin is an exact rational in BigInt arithmetic, so the released distribution is exactly the
 * one analysed, and its low-order bits reveal nothing (Mironov, "On Significance of the Least
 * Significant Bits for Differential Privacy", CCS 2012).
 *
 * Real-valued releases live on a grid g·ℤ, g a power of two: `addGaussianNoise(v, σ)` returns
 * g·(k + Y) with k = round(v/g) and Y ~ N_ℤ(0, (σ/g)²), σ²/g² taken as an exact rational. The
 * output is a function of k + Y alone (the multiplication by g is exact), so it is exactly the
 * discrete Gaussian mechanism on the integer query k:
 * - values on the grid (integers, counts, fixed point with ≤ 20 fractional bits at the default
 *   g = 2⁻²⁰) keep their sensitivity Δ; otherwise snapping can move each coordinate by g/2,
 *   so charge sensitivity Δ + g (Δ + g·√d for d coordinates);
 * - its concentrated DP is ρ = Δ²/(2σ²), the continuous Gaussian's (CKS 2020, Sec. 2), so the
 *   RDP accountant's charge for gaussian(σ, Δ) is a proven bound. Its exact (ε, δ) curve can lie
 *   above the continuous Gaussian's: where δ ≥ 1e-12 by at most a relative 2.5·g²/σ² in
 *   noise.test.ts (~2e-12 for σ = 1 at the default grid), a margin the PLD accountant's charge
 *   for gaussian(σ, Δ) does not include. Hence σ ≥ 1024·g is required (margin ≤ 3e-6); on a
 *   coarse grid the two curves part (by 0.2 in δ at σ = 0.3·g).
 * The discrete Laplace on the grid is ε = Δ/b pure DP, as the continuous one: charge it as
 * exponential(Δ/b), exact, or as laplace(b, Δ), which it approaches as g/b → 0.
 */
import { randomBytes, randomInt } from "node:crypto";
import { requireParameter } from "./errors.ts";

/** Uniform integers: node:crypto in production, a seeded generator in tests. */
export interface RandomSource {
  /** A uniform integer in [0, maxExclusive), maxExclusive ≥ 1. */
  uniformBelow(maxExclusive: bigint): bigint;
}

const RANDOM_INT_LIMIT = 2n ** 48n; // crypto.randomInt needs max − min < 2⁴⁸

/** node:crypto's CSPRNG; above 2⁴⁸, rejection sampling on randomBytes (accepts with p ≥ ½). */
export const cryptoRandomSource: RandomSource = {
  uniformBelow(maxExclusive: bigint): bigint {
    requireParameter(maxExclusive >= 1n, "maxExclusive", Number(maxExclusive), "must be ≥ 1");
    if (maxExclusive < RANDOM_INT_LIMIT) return BigInt(randomInt(Number(maxExclusive)));
    const bits = (maxExclusive - 1n).toString(2).length;
    const bytes = Math.ceil(bits / 8);
    const topMask = (1 << (bits - 8 * (bytes - 1))) - 1;
    for (;;) {
      const buffer = randomBytes(bytes);
      buffer[0] = buffer[0]! & topMask;
      const value = BigInt(`0x${buffer.toString("hex")}`);
      if (value < maxExclusive) return value;
    }
  },
};

/** σ must span at least this many grid steps, so the discrete Gaussian's (ε, δ) stays the continuous one's. */
export const MIN_SIGMA_STEPS = 1024;

/** Defaults: the grid 2⁻²⁰ (exact for values with ≤ 20 fractional bits) and node:crypto. */
export const DEFAULT_NOISE_OPTIONS = { granularity: 2 ** -20, random: cryptoRandomSource } as const;

export interface NoiseOptions {
  /** Grid step g, a power of two; outputs are multiples of it. */
  readonly granularity?: number;
  readonly random?: RandomSource;
}

const requireRational = (numerator: bigint, denominator: bigint, field: string): void => {
  requireParameter(denominator > 0n, `${field} denominator`, Number(denominator), "must be > 0");
  requireParameter(numerator >= 0n, `${field} numerator`, Number(numerator), "must be ≥ 0");
};

/** Bernoulli(exp(−n/d)) for n/d ≤ 1: CKS Algorithm 1, first case (a Taylor-series race). */
function bernoulliExpAtMostOne(numerator: bigint, denominator: bigint, random: RandomSource): boolean {
  let k = 1n;
  // K counts successes of Bernoulli(γ/K) before the first failure; P(K odd) = e^−γ.
  while (random.uniformBelow(denominator * k) < numerator) k += 1n;
  return k % 2n === 1n;
}

/**
 * Bernoulli(exp(−γ)) for an exact rational γ = numerator/denominator ≥ 0 (CKS Algorithm 1):
 * e^−γ = (e^−1)^⌊γ⌋ · e^−(γ−⌊γ⌋), each factor a coin that can stop the product early.
 * @example bernoulliExp(0n, 1n); // true: e⁰ = 1
 */
export function bernoulliExp(numerator: bigint, denominator: bigint, random: RandomSource = cryptoRandomSource): boolean {
  requireRational(numerator, denominator, "γ");
  let remaining = numerator;
  while (remaining > denominator) {
    if (!bernoulliExpAtMostOne(1n, 1n, random)) return false;
    remaining -= denominator;
  }
  return bernoulliExpAtMostOne(remaining, denominator, random);
}

/**
 * Discrete Laplace with scale t/s: P(x) ∝ exp(−|x|·s/t) on ℤ (CKS Algorithm 2): a geometric
 * draw split as U + t·V, divided by s, given a sign (−0 rejected so 0 is not counted twice).
 * @example discreteLaplace(3n); // an integer, |x| ≤ 3 about 63% of the time
 */
export function discreteLaplace(t: bigint, s: bigint = 1n, random: RandomSource = cryptoRandomSource): bigint {
  requireParameter(t >= 1n, "t", Number(t), "the scale numerator must be a positive integer");
  requireParameter(s >= 1n, "s", Number(s), "the scale denominator must be a positive integer");
  for (;;) {
    const u = random.uniformBelow(t);
    if (!bernoulliExp(u, t, random)) continue;
    let v = 0n;
    while (bernoulliExp(1n, 1n, random)) v += 1n;
    const magnitude = (u + t * v) / s; // BigInt division floors non-negative values
    const negative = random.uniformBelow(2n) === 1n;
    if (negative && magnitude === 0n) continue;
    return negative ? -magnitude : magnitude;
  }
}

/** ⌊√n⌋ for n ≥ 0, by Newton's method on BigInt. */
function integerSquareRoot(n: bigint): bigint {
  if (n < 2n) return n;
  let x = 1n << BigInt(Math.ceil(n.toString(2).length / 2));
  for (;;) {
    const next = (x + n / x) / 2n;
    if (next >= x) return x;
    x = next;
  }
}

/**
 * Discrete Gaussian N_ℤ(0, σ²), P(x) ∝ exp(−x²/(2σ²)) on ℤ, with σ² = numerator/denominator
 * exactly (CKS Algorithm 3): a discrete Laplace proposal of scale t = ⌊σ⌋ + 1, accepted with
 * probability exp(−(|Y| − σ²/t)²/(2σ²)) = exp(−(|Y|·t·d − n)²/(2·n·d·t²)), all in BigInt.
 * @example discreteGaussian(4n); // σ = 2
 */
export function discreteGaussian(varianceNumerator: bigint, varianceDenominator: bigint = 1n, random: RandomSource = cryptoRandomSource): bigint {
  requireRational(varianceNumerator, varianceDenominator, "σ²");
  const n = varianceNumerator, d = varianceDenominator;
  if (n === 0n) return 0n;
  const t = integerSquareRoot(n / d) + 1n; // ⌊√(n/d)⌋ = ⌊√⌊n/d⌋⌋
  for (;;) {
    const y = discreteLaplace(t, 1n, random);
    const gap = (y < 0n ? -y : y) * t * d - n;
    if (bernoulliExp(gap * gap, 2n * n * d * t * t, random)) return y;
  }
}

/**
 * The exact value of a finite double x ≥ 0 as numerator/denominator (every double is a dyadic
 * rational: mantissa·2^exponent).
 * @example exactRational(0.75); // { numerator: 3n, denominator: 4n }
 */
export function exactRational(x: number): { numerator: bigint; denominator: bigint } {
  requireParameter(Number.isFinite(x) && x >= 0, "x", x, "must be a finite number ≥ 0");
  if (x === 0) return { numerator: 0n, denominator: 1n };
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  const biased = Number((bits >> 52n) & 0x7ffn);
  let mantissa = bits & ((1n << 52n) - 1n);
  let exponent = biased === 0 ? -1074 : biased - 1075;
  if (biased !== 0) mantissa |= 1n << 52n;
  while (exponent < 0 && (mantissa & 1n) === 0n) { mantissa >>= 1n; exponent += 1; }
  return exponent >= 0 ? { numerator: mantissa << BigInt(exponent), denominator: 1n } : { numerator: mantissa, denominator: 1n << BigInt(-exponent) };
}

/** The grid, checked: a power of two (so g·k is exact), fine enough for `spread`, coarse enough that |k + Y| < 2⁵³. */
function gridFor(spread: number, field: string, options: NoiseOptions, minSteps = 1): { granularity: number; random: RandomSource } {
  const { granularity, random } = { ...DEFAULT_NOISE_OPTIONS, ...options };
  requireParameter(Number.isFinite(spread) && spread > 0, field, spread, "must be a finite number > 0");
  const exponent = Math.log2(granularity);
  requireParameter(Number.isInteger(exponent) && exponent >= -1000 && exponent <= 1000, "granularity", granularity, "must be a power of two, e.g. 2 ** -20");
  requireParameter(spread / granularity <= 2 ** 40, "granularity", granularity, `is too fine for ${field} = ${spread}: keep ${field}/granularity ≤ 2⁴⁰`);
  requireParameter(spread / granularity >= minSteps, "granularity", granularity, `is too coarse for ${field} = ${spread}: keep ${field}/granularity ≥ ${minSteps}`);
  return { granularity, random };
}

/** k = round(value/g) as a BigInt: exact, since g is a power of two. */
function snap(value: number, granularity: number): bigint {
  const units = Math.round(value / granularity);
  requireParameter(Number.isSafeInteger(units), "value", value, "must be finite and below 2⁵³ grid steps in magnitude");
  return BigInt(units);
}

const release = (units: bigint, granularity: number): number => Number(units) * granularity;

/**
 * value + discrete Gaussian noise of standard-deviation parameter σ, on the grid (see the module
 * comment for what to charge): g·(round(value/g) + N_ℤ(0, σ²/g²)).
 * @example addGaussianNoise(42, 3); // 42 plus noise of σ = 3, a multiple of 2⁻²⁰
 */
export function addGaussianNoise(value: number, sigma: number, options: NoiseOptions = {}): number {
  const { granularity, random } = gridFor(sigma, "sigma", options, MIN_SIGMA_STEPS);
  const ratio = exactRational(sigma / granularity); // exact: dividing by a power of two
  const noise = discreteGaussian(ratio.numerator * ratio.numerator, ratio.denominator * ratio.denominator, random);
  return release(snap(value, granularity) + noise, granularity);
}

/** Discrete Gaussian noise alone, g·N_ℤ(0, σ²/g²): add it only to values already on the grid. */
export function gaussianNoise(sigma: number, options: NoiseOptions = {}): number {
  return addGaussianNoise(0, sigma, options);
}

/**
 * value + discrete Laplace noise of scale b on the grid: g·(round(value/g) + DLap(b/g)),
 * ε = Δ/b pure DP for values on the grid (Δ + g otherwise).
 * @example addLaplaceNoise(10, 1, { granularity: 1 }); // an integer near 10
 */
export function addLaplaceNoise(value: number, scale: number, options: NoiseOptions = {}): number {
  const { granularity, random } = gridFor(scale, "scale", options);
  const ratio = exactRational(scale / granularity);
  return release(snap(value, granularity) + discreteLaplace(ratio.numerator, ratio.denominator, random), granularity);
}

/** Discrete Laplace noise alone, g·DLap(b/g): add it only to values already on the grid. */
export function laplaceNoise(scale: number, options: NoiseOptions = {}): number {
  return addLaplaceNoise(0, scale, options);
}
