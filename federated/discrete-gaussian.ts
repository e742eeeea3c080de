/**
 * An exact discrete Gaussian sampler fast enough for every coordinate of a model: N_ℤ(0, s²),
 * P(y) ∝ exp(−y²/(2s²)) on the integers, for an integer scale s. Never computes a probability
 * in floating point: every coin is a comparison of a uniform integer with an exact integer, so
 * the samples follow the analysed distribution exactly and their low bits leak nothing
 * (Mironov, CCS 2012).
 *
 * Why not privacy/noise.ts's `discreteGaussian`. It is the same algorithm (Canonne, Kamath &
 * Steinke, "The Discrete Gaussian for Differential Privacy", NeurIPS 2020, arXiv:2004.00010,
 * Algorithms 1–3) for any rational σ², but in BigInt with a `crypto.randomInt` call per coin:
 * about 25–35 µs a sample on a 2-core machine (test/federated/discrete-gaussian.test.ts prints
 * both; this one takes 0.4–0.6 µs), so 30 s for 10⁶ coordinates and an hour for GPT-2 small's
 * 124M. This version keeps every integer below 2⁵³ so
 * that it runs in double arithmetic, and reads its coins from a pooled CSPRNG (random-words.ts):
 * - the scale is an integer s (σ² = s², not any rational), so the discrete Laplace proposal can
 *   use t = s instead of ⌊σ⌋ + 1 (CKS Algorithm 3 is correct for any t > 0: proposal
 *   ∝ exp(−|y|/t) times acceptance exp(−(|y| − σ²/t)²/(2σ²)) is ∝ exp(−y²/(2σ²))), and then
 *   σ²/t = s, an integer;
 * - the acceptance exponent (|y| − s)²/(2s²) is never formed: with |y| − s = q·s + r,
 *   0 ≤ r < s, it is q²/2 + q·r/s + r²/(2s²), and e^(−a−b−c) is the AND of three independent
 *   coins (CKS Algorithm 1 each); the last, ≤ ½, draws its Bernoulli(γ/k) coins as
 *   Bernoulli(r/s) AND Bernoulli(r/(2sk)), whose denominators stay below 2⁵³ for s ≤ 2³⁶;
 * - a product that would pass 2⁵³ (a loop counter k past 2¹⁶, probability below 1/(2¹⁶ − 1)!)
 *   falls back to BigInt for that coin, so no branch approximates.
 * The one departure from exactness: a proposal whose geometric part v reaches 2¹⁶ (|y| ≥ 2¹⁶·s)
 * is redrawn, so that q², q·r and |y| stay below 2⁵³; that conditions on an event of
 * probability e^(−2¹⁶), i.e. never.
 */
import { requireTraining } from "./errors.ts";
import { uniformBelow, uniformBelowBig, type RandomWords } from "./random-words.ts";

/** The largest scale s (grid steps per σ) the sampler takes: keeps q·r and 2·s·k below 2⁵³. */
export const MAX_SCALE_STEPS = 2 ** 36;

/** Proposals with v ≥ 2¹⁶ are redrawn: below it, q² < 2³², q·r < 2⁵² and |y| < 2⁵³. */
const MAX_GEOMETRIC = 2 ** 16;

/** Bernoulli(n/m) for integers 0 ≤ n ≤ m < 2⁵³; a certain outcome (n = 0 or n = m) draws nothing. */
function coin(random: RandomWords, n: number, m: number): boolean {
  if (n <= 0) return false;
  if (n >= m) return true;
  return uniformBelow(random, m) < n;
}

/** Bernoulli(n/(a·b)), in doubles when a·b < 2⁵³, else in BigInt. */
function coinOverProduct(random: RandomWords, n: number, a: number, b: number): boolean {
  const m = a * b;
  if (Number.isSafeInteger(m)) return coin(random, n, m);
  return n > 0 && uniformBelowBig(random, BigInt(a) * BigInt(b)) < BigInt(n);
}

/**
 * Bernoulli(exp(−n/d)) for integers 0 ≤ n ≤ d (CKS Algorithm 1, γ ≤ 1): K counts successes of
 * Bernoulli(γ/k), k = 1, 2, …, before the first failure; P(K even) = e^(−γ).
 */
export function bernoulliExpFraction(random: RandomWords, n: number, d: number): boolean {
  if (n === 0) return true;
  let k = 1;
  while (coinOverProduct(random, n, d, k)) k++;
  return k % 2 === 1;
}

/** Bernoulli(exp(−n/d)) for integers n ≥ 0, d ≥ 1 below 2⁵³: e^(−1) ⌊n/d⌋ times, then the fraction. */
export function bernoulliExpRational(random: RandomWords, n: number, d: number): boolean {
  let whole = Math.floor(n / d);
  let rest = n - whole * d;
  // n/d is rounded: correct the quotient so that 0 ≤ rest < d exactly.
  if (rest < 0) { whole -= 1; rest += d; } else if (rest >= d) { whole += 1; rest -= d; }
  for (let i = 0; i < whole; i++) if (!bernoulliExpFraction(random, 1, 1)) return false;
  return bernoulliExpFraction(random, rest, d);
}

/** Bernoulli(exp(−(q·s + r)²/(2s²))) for integers q ≥ 0, 0 ≤ r < s: three independent coins. */
function acceptGaussian(random: RandomWords, q: number, r: number, s: number): boolean {
  if (q > 0) {
    if (!bernoulliExpRational(random, q * q, 2)) return false; // e^(−q²/2)
    if (r > 0 && !bernoulliExpRational(random, q * r, s)) return false; // e^(−q·r/s)
  }
  if (r === 0) return true;
  // e^(−r²/(2s²)), γ ≤ ½: Bernoulli(γ/k) = Bernoulli(r/s) AND Bernoulli(r/(2s·k)).
  let k = 1;
  while (coin(random, r, s) && coinOverProduct(random, r, 2 * s, k)) k++;
  return k % 2 === 1;
}

/**
 * One sample of N_ℤ(0, s²) for an integer 1 ≤ s ≤ MAX_SCALE_STEPS (CKS Algorithms 2 and 3 with
 * t = s; see the module comment).
 * @example sampleDiscreteGaussian(1024, cryptoRandomWords()); // an integer, |y| ≤ 1024 about 68% of the time
 */
export function sampleDiscreteGaussian(s: number, random: RandomWords): number {
  requireTraining(Number.isSafeInteger(s) && s >= 1 && s <= MAX_SCALE_STEPS, "scaleSteps", s, `must be an integer from 1 to 2³⁶ (σ in grid steps)`);
  return sampleUnchecked(s, random);
}

function sampleUnchecked(s: number, random: RandomWords): number {
  for (;;) {
    // Discrete Laplace of scale s (CKS Algorithm 2, with its s = 1): |y| = u + s·v.
    const u = uniformBelow(random, s);
    if (!bernoulliExpFraction(random, u, s)) continue;
    let v = 0;
    while (bernoulliExpFraction(random, 1, 1)) v++;
    if (v >= MAX_GEOMETRIC) continue; // probability e^(−2¹⁶): see the module comment
    const negative = (random.nextWord() & 1) === 1;
    if (negative && u === 0 && v === 0) continue; // −0: 0 must not be counted twice
    const magnitude = u + s * v;
    // Accept with exp(−(|y| − s)²/(2s²)); |y| − s = (v − 1)·s + u, or −(s − u) when v = 0.
    const accepted = v >= 1 ? acceptGaussian(random, v - 1, u, s) : u === 0 ? acceptGaussian(random, 1, 0, s) : acceptGaussian(random, 0, s - u, s);
    if (accepted) return negative ? -magnitude : magnitude;
  }
}

/**
 * Fills `out` with independent samples of N_ℤ(0, s²).
 * @example fillDiscreteGaussian(new Float64Array(4), 3, seededRandomWords("x"));
 */
export function fillDiscreteGaussian(out: Float64Array, s: number, random: RandomWords): Float64Array {
  requireTraining(Number.isSafeInteger(s) && s >= 1 && s <= MAX_SCALE_STEPS, "scaleSteps", s, `must be an integer from 1 to 2³⁶ (σ in grid steps)`);
  for (let i = 0; i < out.length; i++) out[i] = sampleUnchecked(s, random);
  return out;
}
