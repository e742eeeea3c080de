/**
 * GNMax, the Gaussian noisy argmax of PATE (Papernot et al., "Scalable Private Learning with
 * PATE", ICLR 2018, Sec. 4.1): each of k hospitals votes for one next token, Gaussian noise
 * N(0, σ²) is added to the count of EVERY token of the vocabulary, and the token with the
 * largest noisy count is released. Pure: no I/O, no clock; randomness only through GnmaxNoise.
 * Never releases anything that is not a function of the noisy histogram alone — `votesForToken`
 * is the raw count, for the caller's own use, and must never reach a user.
 *
 * What is charged. One hospital changing its vote moves one vote between two bins: the
 * histogram's L2 sensitivity is √2, so the noisy histogram is the Gaussian mechanism of RDP
 * α/σ² at every order α (privacy/events.ts `gnmax(σ)`; Papernot et al. 2018, Prop. 8), and whatever
 * is computed from it alone — the argmax, the top two noisy counts, their margin (the API's
 * `confidence_score`), whether the top count reaches a threshold — is post-processing, free.
 * `consensusReached` is therefore `noisyTop ≥ threshold` on the NOISY count (default threshold:
 * the votes of a strict majority, ⌊k/2⌋ + 1). It never gates the release, so no second
 * mechanism runs: this is plain GNMax, not PATE's Confident GNMax (whose noisy screening step
 * would be a second, separately charged Gaussian). A check on the raw votes would leak the vote
 * and is not offered.
 *
 * The exact mechanism, in O(k) rather than O(V). Only the d ≤ k voted bins have a count above 0;
 * the other m = V − d bins carry noise alone, i.i.d. What the release needs from them is their
 * top order statistics, which are sampled exactly by inverse CDF: the largest of m i.i.d.
 * N(0, σ²) has P(Z₍₁₎ ≤ x) = Φ(x/σ)^m, so Z₍₁₎ = σ·Φ⁻¹(U₁^{1/m}); given Z₍ⱼ₎, the remaining m − j
 * are i.i.d. below it, so ln Φ(Z₍ⱼ₊₁₎/σ) = ln Φ(Z₍ⱼ₎/σ) + ln(U)/(m − j) (Rényi's representation).
 * Working with ln Φ keeps U^{1/m} for m = 50,257 from rounding to 1. By symmetry the unvoted
 * bin holding Z₍₁₎ is uniform over the unvoted tokens: if it wins, a uniformly random unvoted
 * token is released. Ignoring unvoted bins would be a different (and for large σ, very
 * different) mechanism from the one charged.
 *
 * The grid. The voted bins get privacy/'s exact discrete Gaussian on g·ℤ, g = 2⁻²⁰
 * (privacy/noise.ts: BigInt arithmetic, node:crypto, no floating-point leak). The unvoted order
 * statistics are continuous Gaussians rounded to the same grid (rounding is monotone, so the
 * rounded order statistics are those of the rounded draws); a rounded Gaussian and the discrete
 * one differ in probability by a relative O(g²/σ²) ≈ 1e-13/σ², the order of noise.ts's own
 * stated margin. Z₍₁₎ depends on the votes only through m, and is a monotone function of a
 * 52-bit uniform evaluated in floating point (AS 241): wherever one step of the uniform moves the
 * quantile by less than g, every grid point is reachable for every m, so its low-order bits say
 * nothing about m; only in far tails (density of Z₍₁₎ below ~2⁻³² per grid step) can a grid
 * point be skipped. Ties (equal noisy counts, possible on a grid) go to a uniformly random one
 * of the tied bins, voted or not — a function of the noisy histogram, hence free.
 */
import { cryptoRandomSource, DEFAULT_NOISE_OPTIONS, gaussianNoise, MIN_SIGMA_STEPS, normalQuantileOfLog } from "../../privacy/index.ts";
import { InvalidSigma, InvalidThreshold, InvalidVocabSize, InvalidVotes } from "./errors.ts";

/** GPT-2's BPE vocabulary. */
export const GPT2_VOCAB_SIZE = 50_257;
/** The most votes one histogram takes (one per hospital). */
export const MAX_PROPOSERS = 64;
export const MAX_VOCAB_SIZE = 1_000_000;
/** The secure sampler needs σ ≥ 1024 grid steps (noise.ts MIN_SIGMA_STEPS at g = 2⁻²⁰): 2⁻¹⁰. */
export const MIN_SIGMA = MIN_SIGMA_STEPS * DEFAULT_NOISE_OPTIONS.granularity;
/** …and σ ≤ 2⁴⁰ grid steps: 2²⁰. */
export const MAX_SIGMA = 2 ** 20;
export const DEFAULT_GNMAX = { vocabSize: GPT2_VOCAB_SIZE } as const;

/** The randomness of one GNMax draw: the secure sampler in production, a seeded one in tests. */
export interface GnmaxNoise {
  /** The grid the Gaussian draws lie on (unvoted order statistics are rounded to it); 0: continuous. */
  readonly granularity: number;
  /** One draw of N(0, σ²) noise (on the grid) for a voted bin. */
  gaussian(sigma: number): number;
  /** A uniform draw from the open interval (0, 1). */
  uniform(): number;
  /** A uniform integer in [0, n), n ≥ 1. */
  indexBelow(n: number): number;
}

const UNIFORM_BITS = 2n ** 52n;

/** privacy/'s discrete Gaussian on 2⁻²⁰·ℤ and node:crypto uniforms. */
export const secureGnmaxNoise: GnmaxNoise = {
  granularity: DEFAULT_NOISE_OPTIONS.granularity,
  gaussian: (sigma) => gaussianNoise(sigma),
  // (j + ½)/2⁵² with j < 2⁵²: exact in a double, never 0 or 1.
  uniform: () => (Number(cryptoRandomSource.uniformBelow(UNIFORM_BITS)) + 0.5) / 2 ** 52,
  indexBelow: (n) => Number(cryptoRandomSource.uniformBelow(BigInt(n))),
};

export interface GnmaxOptions {
  /** Standard deviation of the noise on each count, in votes. */
  readonly sigma: number;
  /** Noisy top count at or above which `consensusReached` (default ⌊k/2⌋ + 1). */
  readonly threshold?: number;
  /** Token ids are 0..vocabSize−1 (default GPT-2's 50,257). */
  readonly vocabSize?: number;
  readonly noise?: GnmaxNoise;
}

export interface GnmaxResult {
  /** The released token: the noisy argmax over the whole vocabulary. */
  readonly token: number;
  readonly noisyTop: number;
  /** The second largest noisy count of the vocabulary (equal to noisyTop on a tie). */
  readonly noisySecond: number;
  /** noisyTop − noisySecond ≥ 0: the API's confidence_score. */
  readonly margin: number;
  /** RAW votes for the released token — not private: never send it to a user. */
  readonly votesForToken: number;
  /** k, the number of votes. */
  readonly proposers: number;
  readonly threshold: number;
  /** noisyTop ≥ threshold (on the noisy count: free post-processing). */
  readonly consensusReached: boolean;
}

/**
 * The noisy argmax of the votes over the whole vocabulary (see the module comment).
 * Throws InvalidVotes, InvalidSigma, InvalidThreshold or InvalidVocabSize on bad input.
 * @example noisyArgmax([464, 464, 464], { sigma: 0.1 }).token; // 464: 3 votes against noise of σ 0.1
 */
export function noisyArgmax(votes: readonly number[], opts: GnmaxOptions): GnmaxResult {
  const vocabSize = opts.vocabSize ?? DEFAULT_GNMAX.vocabSize;
  checkVocabSize(vocabSize);
  checkVotes(votes, vocabSize);
  checkSigma(opts.sigma);
  const threshold = opts.threshold ?? Math.floor(votes.length / 2) + 1;
  checkThreshold(threshold);
  const { sigma } = opts;
  const noise = opts.noise ?? secureGnmaxNoise;

  const counts = new Map<number, number>();
  for (const v of votes) counts.set(v, (counts.get(v) ?? 0) + 1);
  const voted = [...counts.keys()].sort((a, b) => a - b);
  const noisy = voted.map((t) => counts.get(t)! + noise.gaussian(sigma));
  const unvoted = vocabSize - voted.length;
  const top = unvotedTop(unvoted, sigma, noise);

  let noisyTop = top.values.length > 0 ? top.values[0]! : -Infinity;
  for (const y of noisy) if (y > noisyTop) noisyTop = y;
  const tiedVoted = voted.filter((_, i) => noisy[i] === noisyTop);
  const tiedUnvoted = top.values[0] === noisyTop ? top.tiesAtTop : 0;
  const tied = tiedVoted.length + tiedUnvoted;
  const pick = tied === 1 ? 0 : noise.indexBelow(tied);
  const token = pick < tiedVoted.length ? tiedVoted[pick]! : unvotedToken(voted, noise.indexBelow(unvoted));

  // The two largest of the multiset (voted noisy counts, Z₍₁₎, Z₍₂₎): nothing below Z₍₂₎ can be second.
  const [first, second] = [...noisy, ...top.values].sort((a, b) => b - a);
  const noisySecond = second!;
  return {
    token, noisyTop: first!, noisySecond, margin: first! - noisySecond,
    votesForToken: counts.get(token) ?? 0, proposers: votes.length, threshold, consensusReached: noisyTop >= threshold,
  };
}

/**
 * The top order statistics of m i.i.d. N(0, σ²) on the grid, largest first: Z₍₁₎, then down to
 * the first value below it (so `values` holds Z₍₁₎ and Z₍₂₎ whenever m ≥ 2), with the number of
 * draws tied with Z₍₁₎. Exported for its statistical test against brute force.
 */
export function unvotedTop(m: number, sigma: number, noise: GnmaxNoise): { values: number[]; tiesAtTop: number } {
  const values: number[] = [];
  let logCdf = 0;
  for (let j = 0; j < m; j++) {
    logCdf += Math.log(noise.uniform()) / (m - j);
    const z = snap(sigma * normalQuantileOfLog(logCdf), noise.granularity);
    values.push(z);
    if (z < values[0]!) break;
  }
  return { values, tiesAtTop: values.filter((z) => z === values[0]).length };
}

function snap(x: number, granularity: number): number {
  return granularity > 0 ? Math.round(x / granularity) * granularity : x;
}

/** The r-th smallest token id not in `voted` (sorted, distinct). */
function unvotedToken(voted: readonly number[], r: number): number {
  let id = r;
  for (const v of voted) {
    if (v > id) break;
    id++;
  }
  return id;
}

/** Throws InvalidVotes unless votes is 1..MAX_PROPOSERS token ids of the vocabulary. */
export function checkVotes(votes: readonly number[], vocabSize: number): void {
  if (!Array.isArray(votes)) throw new InvalidVotes("votes", "must be an array of token ids");
  if (votes.length === 0) throw new InvalidVotes("votes", "is empty: at least one hospital must vote");
  if (votes.length > MAX_PROPOSERS) throw new InvalidVotes("votes", `has ${votes.length} votes; at most ${MAX_PROPOSERS} (one per hospital)`);
  votes.forEach((v, i) => {
    if (!Number.isInteger(v) || v < 0 || v >= vocabSize) throw new InvalidVotes(`votes.${i}`, `must be a token id, a whole number from 0 to ${vocabSize - 1}`);
  });
}

export function checkSigma(sigma: number): void {
  if (typeof sigma !== "number" || !Number.isFinite(sigma) || sigma < MIN_SIGMA || sigma > MAX_SIGMA) {
    throw new InvalidSigma(sigma, `must be a finite number of votes from ${MIN_SIGMA} to ${MAX_SIGMA} (the secure sampler's range); typical GNMax values are 1 to 50`);
  }
}

export function checkThreshold(threshold: number): void {
  if (typeof threshold !== "number" || !Number.isFinite(threshold) || threshold < 0) {
    throw new InvalidThreshold(threshold, "must be a finite number of votes ≥ 0, e.g. ⌊k/2⌋ + 1 for a majority of k hospitals");
  }
}

export function checkVocabSize(vocabSize: number): void {
  if (!Number.isInteger(vocabSize) || vocabSize < 2 || vocabSize > MAX_VOCAB_SIZE) {
    throw new InvalidVocabSize(vocabSize, `must be a whole number from 2 to ${MAX_VOCAB_SIZE} (GPT-2: ${GPT2_VOCAB_SIZE})`);
  }
}
