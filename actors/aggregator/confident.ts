/**
 * Confident-GNMax (Papernot, Song, Mironov, Raghunathan, Talwar & Erlingsson, "Scalable Private
 * Learning with PATE", ICLR 2018, Algorithm 1): a noisy threshold check on the top
 * vote count decides whether GNMax runs at all. Never releases an argmax whose noisy top count
 * fell below the threshold, and on a refusal releases nothing but the refusal itself. Pure: no
 * I/O, no clock; randomness only through GnmaxNoise.
 *
 * Algorithm 1: if max_j n_j + N(0, σ₁²) ≥ T, release argmax_j (n_j + N(0, σ₂²)); otherwise ⊥.
 * The check's noise is drawn first, by the same sampler as GNMax's (gnmax.ts), and independently
 * of the release's.
 *
 * What is charged. One hospital changing its vote moves each count by at most 1, hence their
 * maximum by at most 1: the check is the Gaussian mechanism of sensitivity 1 on max_j n_j,
 * privacy/events.ts `thresholdCheck(σ₁)`, RDP α/(2σ₁²) — the authors' own data-independent bound
 * (pate_2018 `core.py`, `compute_rdp_data_independent_threshold`: "stability 1, compared to GNMax,
 * which has stability 2"). Every check made is charged, passed or not; a release is `gnmax(σ₂)`,
 * as for plain GNMax. Only data-independent bounds are charged: the paper's data-dependent
 * analysis would make the charge a function of the votes, and publishing it soundly needs its
 * smooth-sensitivity step, which is not built.
 */
import { checkSigma, checkThreshold, checkVocabSize, checkVotes, DEFAULT_GNMAX, noisyArgmax, secureGnmaxNoise, type GnmaxOptions, type GnmaxResult } from "./gnmax.ts";

/** The threshold check: T in votes, σ₁ the noise on the top count. */
export interface ConfidentThreshold {
  readonly threshold: number;
  readonly sigma1: number;
}

export type ConfidentResult =
  /** The check passed: GNMax's release (with σ₂ = the options' sigma). */
  | { readonly type: "released"; readonly release: GnmaxResult }
  /** The noisy top count fell below T: nothing is released, not even the noisy count. */
  | { readonly type: "abstained"; readonly proposers: number };

/**
 * Algorithm 1 on one vote: the threshold check, then GNMax if it passed (see the module comment).
 * Every input is checked before any noise is drawn; throws InvalidVotes, InvalidSigma (σ or σ₁),
 * InvalidThreshold or InvalidVocabSize.
 * @example confidentArgmax([464, 464, 464], { sigma: 0.1, confident: { threshold: 2, sigma1: 0.1 } }).type; // "released": 3 votes clear T = 2
 * @example confidentArgmax([1, 2, 3], { sigma: 0.1, confident: { threshold: 2.5, sigma1: 0.1 } }).type; // "abstained": a top count of 1
 */
export function confidentArgmax(votes: readonly number[], opts: GnmaxOptions & { readonly confident: ConfidentThreshold }): ConfidentResult {
  checkVocabSize(opts.vocabSize ?? DEFAULT_GNMAX.vocabSize);
  checkVotes(votes, opts.vocabSize ?? DEFAULT_GNMAX.vocabSize);
  checkSigma(opts.sigma);
  const { threshold, sigma1 } = opts.confident;
  checkSigma(sigma1);
  checkThreshold(threshold);
  const noise = opts.noise ?? secureGnmaxNoise;
  const noisyTop = topCount(votes) + noise.gaussian(sigma1);
  if (!(noisyTop >= threshold)) return { type: "abstained", proposers: votes.length };
  return { type: "released", release: noisyArgmax(votes, { ...opts, noise }) };
}

/** max_j n_j: the votes of the most voted token (RAW: never sent anywhere). */
function topCount(votes: readonly number[]): number {
  const counts = new Map<number, number>();
  let top = 0;
  for (const v of votes) {
    const n = (counts.get(v) ?? 0) + 1;
    counts.set(v, n);
    if (n > top) top = n;
  }
  return top;
}
