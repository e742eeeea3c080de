/**
 * Numerics under the PLD accountant: the normal CDF in log space, connect-the-dots
 * discretisation, composition of loss PMFs by FFT with tail truncation, and the hockey-stick
 * divergence, for one PMF and for the REMOVE/ADD pair. Never lowers δ(ε): connect-the-dots keeps
 * δ exact on the grid and above the true curve between, and every cut moves mass up (to a larger
 * loss or to +∞); FFT round-off below zero is cleared.
 *
 * After Google's dp_accounting `pld/pld_pmf.py` (DensePLDPmf.compose/self_compose,
 * _truncate_tails, _get_delta_for_epsilon, _get_epsilon_for_delta,
 * create_pmf_pessimistic_connect_dots) and `pld/common.py` (self_convolve).
 */
import { chernoffWindow, convolve, convolvePairs, nextPowerOfTwo, selfConvolveCircular } from "./fft.ts";

// ---------------------------------------------------------------- the standard normal

const LOG_SQRT_2PI = 0.5 * Math.log(2 * Math.PI);
const MILLS_ANCHOR_STEP = 0.25;
const MILLS_ANCHOR_COUNT = 21; // anchors 0, 0.25, …, 5
const MILLS_CONTINUED_FRACTION_FROM = 5.125;

/**
 * Mills ratio R(z) = Φ̄(z)/φ(z) by its Laplace continued fraction 1/(z+1/(z+2/(z+3/(z+…)))),
 * evaluated backwards. Depth 8 + 400/z² reaches full double precision for z ≥ 2 (checked
 * against tabulated Φ̄ to 1e-15 in the tests); it converges slowly below that.
 */
function millsByContinuedFraction(z: number, depth: number): number {
  let t = z;
  for (let n = depth; n >= 1; n--) t = z + n / t;
  return 1 / t;
}

// R at the anchors: R(0) = √(π/2); the others from a deep continued fraction, once.
const millsAnchors = Float64Array.from({ length: MILLS_ANCHOR_COUNT }, (_, j) =>
  j === 0 ? Math.sqrt(Math.PI / 2) : millsByContinuedFraction(j * MILLS_ANCHOR_STEP, 20_000));

/**
 * R(z) for z ≥ 0. Below 5.125: Taylor series around the nearest anchor a (|h| ≤ 1/8), whose
 * derivatives follow from R' = zR − 1: R⁽ⁿ⁺¹⁾(a) = a·R⁽ⁿ⁾(a) + n·R⁽ⁿ⁻¹⁾(a). Rounding in that
 * recurrence grows like e^{a|h|} ≤ e^{0.64}, so the result keeps ~15 significant digits, which
 * 1 − erf(z) would lose in the tail.
 */
function millsRatio(z: number): number {
  if (z >= MILLS_CONTINUED_FRACTION_FROM) return millsByContinuedFraction(z, Math.ceil(8 + 400 / (z * z)));
  const j = Math.round(z / MILLS_ANCHOR_STEP);
  const a = j * MILLS_ANCHOR_STEP;
  const h = z - a;
  let previous = millsAnchors[j]!;
  let current = a * previous - 1;
  let sum = previous;
  let power = 1; // hⁿ/n!
  for (let n = 1; n < 60; n++) {
    power *= h / n;
    const term = current * power;
    sum += term;
    if (Math.abs(term) < 1e-17 * Math.abs(sum)) break;
    const next = a * current + n * previous;
    previous = current;
    current = next;
  }
  return sum;
}

/** Φ(x), with relative accuracy ~1e-15 in the lower tail. */
export function normalCdf(x: number): number {
  if (Number.isNaN(x)) return Number.NaN;
  const z = Math.abs(x);
  const tail = Math.exp(-0.5 * z * z - LOG_SQRT_2PI) * millsRatio(z);
  return x < 0 ? tail : 1 - tail;
}

/** ln Φ(x), finite down to x ≈ −1e150 (no underflow of Φ itself). */
export function logNormalCdf(x: number): number {
  if (Number.isNaN(x)) return Number.NaN;
  if (x === Number.NEGATIVE_INFINITY) return Number.NEGATIVE_INFINITY;
  if (x === Number.POSITIVE_INFINITY) return 0;
  const z = Math.abs(x);
  if (x < 0) return -0.5 * z * z - LOG_SQRT_2PI + Math.log(millsRatio(z));
  return Math.log1p(-Math.exp(-0.5 * z * z - LOG_SQRT_2PI) * millsRatio(z));
}

/** The x ≤ 0 with ln Φ(x) = logProbability (≤ ln ½), by bisection: called once per mechanism. */
export function normalQuantileOfLog(logProbability: number): number {
  let low = -1;
  while (logNormalCdf(low) > logProbability) low *= 2;
  let high = 0;
  for (let i = 0; i < 200 && high - low > 1e-15 * Math.abs(low); i++) {
    const mid = (low + high) / 2;
    if (logNormalCdf(mid) > logProbability) high = mid;
    else low = mid;
  }
  return (low + high) / 2;
}

// ---------------------------------------------------------------- PMFs on the loss grid

/**
 * A privacy loss distribution on the grid `interval`·ℤ: `probs[i]` is the mass at loss
 * (lower + i)·interval, and `infinityMass` the mass at +∞ (outcomes only one side can produce,
 * plus every tail we cut).
 */
export interface LossPmf {
  readonly lower: number;
  readonly probs: Float64Array;
  readonly infinityMass: number;
}

/** The PLD of a mechanism that reveals nothing: all mass at loss 0. */
export const IDENTITY_PMF: LossPmf = { lower: 0, probs: Float64Array.of(1), infinityMass: 0 };

/** The PLD of a mechanism that reveals everything: all mass at +∞. */
export const BLATANT_PMF: LossPmf = { lower: 0, probs: new Float64Array(0), infinityMass: 1 };

/**
 * The true PLD's mass between grid losses ε_i = (lowerIndex + i)·interval: `upper[i]` and
 * `lower[i]` are P(ε_i ≤ L < ε_{i+1}) under the upper and the lower distribution (the last
 * entry: L ≥ ε_{n−1}), `belowUpper` is P_upper(L < ε_0).
 */
export interface LossBins {
  readonly lowerIndex: number;
  readonly belowUpper: number;
  readonly upper: Float64Array;
  readonly lower: Float64Array;
}

/**
 * Pessimistic connect-the-dots PMF (Doroshenko, Ghazi, Kamath, Kumar, Manurangsi, "Connect the
 * Dots", arXiv:2207.04380, Algorithm 1; dp_accounting `create_pmf_pessimistic_connect_dots`).
 * Each loss ℓ in [ε_i, ε_{i+1}) splits between the two ends so that the mass and E[e^−L] are
 * kept, which leaves δ exact at every grid point and, between them, a chord above the true
 * curve (δ is convex in eᵉ). Losses below ε_0 move up to ε_0; above ε_{n−1}, the share
 * δ(ε_{n−1}) goes to +∞. Working from bin masses (P_lower(bin) = E_upper[e^−L; bin]) instead of
 * second differences of δ keeps each mass's rounding relative to the mass itself: the
 * differences of δ ≈ 1 − eᵉ leave ~1e-12 of noise in every bin, which would never truncate.
 */
export function connectTheDots(bins: LossBins, interval: number): LossPmf {
  const { upper, lower } = bins;
  const n = upper.length;
  const probs = new Float64Array(n);
  probs[0] = bins.belowUpper;
  const keep = -Math.expm1(-interval); // 1 − e^−d
  for (let i = 0; i < n - 1; i++) {
    const u = Math.max(0, upper[i]!);
    const scaledLower = Math.exp((bins.lowerIndex + i) * interval) * Math.max(0, lower[i]!);
    const up = Math.min(u, Math.max(0, (u - scaledLower) / keep)); // to ε_{i+1}; rounding only ever moves mass up
    probs[i] = probs[i]! + (u - up);
    probs[i + 1] = up;
  }
  const topUpper = Math.max(0, upper[n - 1]!);
  const topScaledLower = Math.exp((bins.lowerIndex + n - 1) * interval) * Math.max(0, lower[n - 1]!);
  const infinityMass = Math.min(topUpper, Math.max(0, topUpper - topScaledLower)); // δ(ε_{n−1})
  probs[n - 1] = probs[n - 1]! + (topUpper - infinityMass);
  return { lower: bins.lowerIndex, probs, infinityMass };
}

/**
 * Cuts the longest prefix and suffix each holding at most tailMass/2 (dp_accounting
 * `_truncate_tails`, pessimistic branch): the left tail joins the first kept loss (a larger
 * loss), the right tail joins +∞. FFT round-off below zero is cleared first: negative mass
 * would be optimistic.
 */
export function truncateTails(lower: number, probs: Float64Array, infinityMass: number, tailMass: number): LossPmf {
  for (let i = 0; i < probs.length; i++) if (!(probs[i]! > 0)) probs[i] = 0;
  if (probs.length === 0) return { lower, probs, infinityMass };
  const budget = tailMass / 2;
  let left = 0, leftMass = 0;
  while (left < probs.length - 1 && leftMass + probs[left]! <= budget) leftMass += probs[left++]!;
  let right = probs.length, rightMass = 0;
  while (right - 1 > left && rightMass + probs[right - 1]! <= budget) rightMass += probs[--right]!;
  const kept = probs.slice(left, right);
  kept[0] = kept[0]! + leftMass;
  return { lower: lower + left, probs: kept, infinityMass: Math.min(1, infinityMass + rightMass) };
}

const composedInfinity = (a: number, b: number): number => a + b - a * b;

/** PLD of running two mechanisms: losses add, so the PMFs convolve. */
export function composePmfs(a: LossPmf, b: LossPmf, tailMass: number): LossPmf {
  if (a.probs.length === 0 || b.probs.length === 0) return BLATANT_PMF;
  return truncateTails(a.lower + b.lower, convolve(a.probs, b.probs), composedInfinity(a.infinityMass, b.infinityMass), tailMass);
}

/** [a1 ∘ b1, a2 ∘ b2] sharing FFTs (the REMOVE and ADD halves of one composition). */
export function composePmfPairs(a1: LossPmf, b1: LossPmf, a2: LossPmf, b2: LossPmf, tailMass: number): [LossPmf, LossPmf] {
  if ([a1, b1, a2, b2].some((p) => p.probs.length === 0)) return [composePmfs(a1, b1, tailMass), composePmfs(a2, b2, tailMass)];
  const [p1, p2] = convolvePairs(a1.probs, b1.probs, a2.probs, b2.probs);
  return [
    truncateTails(a1.lower + b1.lower, p1, composedInfinity(a1.infinityMass, b1.infinityMass), tailMass),
    truncateTails(a2.lower + b2.lower, p2, composedInfinity(a2.infinityMass, b2.infinityMass), tailMass),
  ];
}

/** Largest FFT window of a self-composition (4 arrays of this many float64: 64 MiB). */
export const MAX_SELF_COMPOSE_POINTS = 2 ** 21;

/** A composition that would need more grid points than allowed, and how many: coarsen the grid and try again. */
export interface TooWide {
  readonly tooWide: true;
  readonly points: number;
}

/**
 * `count`-fold composition of each PMF (one, or the REMOVE and ADD halves together) with
 * itself: the spectrum raised to `count` by repeated squaring, one forward and one inverse FFT
 * on a window fixed in advance by the Chernoff bound (dp_accounting `DensePLDPmf.self_compose`).
 * Mass outside the window, whether it wrapped around or was dropped, is at most tailMass and is
 * charged to +∞; the result then gets the usual tail truncation. A window wider than `maxPoints`
 * is not allocated: the answer is TooWide, with the points it would take (the accountant then
 * coarsens its grid, pld.ts).
 */
export function trySelfComposePmfs(pmfs: readonly LossPmf[], count: number, tailMass: number, maxPoints = MAX_SELF_COMPOSE_POINTS): LossPmf[] | TooWide {
  if (count === 0) return pmfs.map(() => IDENTITY_PMF);
  if (pmfs.some((p) => p.probs.length === 0)) {
    // A blatant half stays blatant; the other half is composed alone.
    const halves = pmfs.map((p) => (p.probs.length === 0 ? [BLATANT_PMF] : trySelfComposePmfs([p], count, tailMass, maxPoints)));
    const tooWide = halves.find((h): h is TooWide => "tooWide" in h);
    return tooWide ?? halves.map((h) => (h as LossPmf[])[0]!);
  }
  const bases = pmfs.map((p) => truncateTails(p.lower, p.probs.slice(), p.infinityMass, tailMass));
  if (count === 1) return bases;
  const windows = bases.map((p) => chernoffWindow(p.probs, count, tailMass));
  const points = Math.max(...windows.map(([low, high]) => high - low + 1), ...bases.map((p) => p.probs.length));
  if (!(points <= maxPoints)) return { tooWide: true, points };
  const size = nextPowerOfTwo(points);
  const circular = selfConvolveCircular(bases[0]!.probs, bases[1]?.probs ?? null, count, size);
  return bases.map((pmf, which) => {
    const [low, high] = windows[which]!;
    const wrapped = circular[which]!;
    const probs = new Float64Array(high - low + 1);
    for (let j = 0; j < probs.length; j++) probs[j] = wrapped[(low + j) % size]!;
    const infinityMass = Math.min(1, tailMass - Math.expm1(count * Math.log1p(-pmf.infinityMass)));
    return truncateTails(count * pmf.lower + low, probs, infinityMass, tailMass);
  });
}

/**
 * `trySelfComposePmfs` that answers a window wider than MAX_SELF_COMPOSE_POINTS (a loss spanning
 * hundreds of nats at the 1e-4 grid) with the blatantly non-private PLD: valid, pessimistic,
 * and never gigabytes — a self-composition of 2⁵⁰ steps must not crash.
 */
export function selfComposePmfs(pmfs: readonly LossPmf[], count: number, tailMass: number): LossPmf[] {
  const composed = trySelfComposePmfs(pmfs, count, tailMass);
  return "tooWide" in composed ? pmfs.map(() => BLATANT_PMF) : composed;
}

/**
 * The ε-hockey-stick divergence δ(ε) = P∞ + Σ_{ℓ > ε} p_ℓ·(1 − e^{ε−ℓ})
 * (dp_accounting `_get_delta_for_epsilon`).
 */
export function deltaForEpsilon(pmf: LossPmf, epsilon: number, interval: number): number {
  let delta = pmf.infinityMass;
  if (epsilon === Number.POSITIVE_INFINITY) return delta;
  for (let i = pmf.probs.length - 1; i >= 0; i--) {
    const loss = (pmf.lower + i) * interval;
    if (loss <= epsilon) break;
    delta += pmf.probs[i]! * -Math.expm1(epsilon - loss);
  }
  return Math.min(1, Math.max(0, delta));
}

/**
 * Smallest ε ≥ 0 with δ(ε) ≤ targetDelta, +∞ when the mass at +∞ alone exceeds it
 * (dp_accounting `_get_epsilon_for_delta`): walking down from the largest loss, δ(ε) =
 * upper − eᵉ·lower on each gap between grid losses, solved for ε in closed form.
 */
export function epsilonForDelta(pmf: LossPmf, targetDelta: number, interval: number): number {
  if (pmf.infinityMass > targetDelta) return Number.POSITIVE_INFINITY;
  let upper = pmf.infinityMass;
  let lower = 0;
  for (let i = pmf.probs.length - 1; i >= 0; i--) {
    const loss = (pmf.lower + i) * interval;
    if (upper > targetDelta && lower > 0 && Math.log((upper - targetDelta) / lower) >= loss) break;
    const p = pmf.probs[i]!;
    upper += p;
    lower += Math.exp(-loss) * p;
    if (upper >= targetDelta && lower === 0) return Math.max(0, loss); // e^{−loss} underflowed
  }
  if (upper <= lower + targetDelta) return 0;
  return Math.max(0, Math.log((upper - targetDelta) / lower));
}

// ---------------------------------------------------------------- PLDs: both neighbour directions

/** One mechanism's PLD under add/remove-one neighbours; `add` is null when it equals `remove`. */
export interface PrivacyLossDistribution {
  readonly remove: LossPmf;
  readonly add: LossPmf | null;
}

/** Runs both mechanisms: the REMOVE halves compose together, and the ADD halves. */
export function composePlds(a: PrivacyLossDistribution, b: PrivacyLossDistribution, tailMass: number): PrivacyLossDistribution {
  if (a.add === null && b.add === null) return { remove: composePmfs(a.remove, b.remove, tailMass), add: null };
  const [remove, add] = composePmfPairs(a.remove, b.remove, a.add ?? a.remove, b.add ?? b.remove, tailMass);
  return { remove, add };
}

/** `count` runs of one mechanism: its spectrum raised to `count` (selfComposePmfs). */
export function selfComposePld(pld: PrivacyLossDistribution, count: number, tailMass: number): PrivacyLossDistribution {
  const composed = trySelfComposePld(pld, count, tailMass);
  return "tooWide" in composed ? { remove: BLATANT_PMF, add: pld.add === null ? null : BLATANT_PMF } : composed;
}

/** `count` runs of one mechanism, or TooWide when its window exceeds `maxPoints` (trySelfComposePmfs). */
export function trySelfComposePld(pld: PrivacyLossDistribution, count: number, tailMass: number, maxPoints = MAX_SELF_COMPOSE_POINTS): PrivacyLossDistribution | TooWide {
  const composed = trySelfComposePmfs(pld.add === null ? [pld.remove] : [pld.remove, pld.add], count, tailMass, maxPoints);
  if ("tooWide" in composed) return composed;
  return { remove: composed[0]!, add: pld.add === null ? null : composed[1]! };
}

/** Both mechanisms run, or TooWide when the linear convolution would exceed `maxPoints` (composePlds). */
export function tryComposePlds(a: PrivacyLossDistribution, b: PrivacyLossDistribution, tailMass: number, maxPoints = MAX_SELF_COMPOSE_POINTS): PrivacyLossDistribution | TooWide {
  const halves = (p: PrivacyLossDistribution) => [p.remove, p.add ?? p.remove];
  const points = Math.max(...halves(a).map((h, i) => h.probs.length + halves(b)[i]!.probs.length - 1));
  return points <= maxPoints ? composePlds(a, b, tailMass) : { tooWide: true, points };
}

/** ε at targetDelta: the worse of the two neighbour directions (dp_accounting get_epsilon_for_delta). */
export function pldEpsilon(pld: PrivacyLossDistribution, targetDelta: number, interval: number): number {
  const remove = epsilonForDelta(pld.remove, targetDelta, interval);
  return pld.add === null ? remove : Math.max(remove, epsilonForDelta(pld.add, targetDelta, interval));
}

/** δ at targetEpsilon: the worse of the two neighbour directions. */
export function pldDelta(pld: PrivacyLossDistribution, targetEpsilon: number, interval: number): number {
  const remove = deltaForEpsilon(pld.remove, targetEpsilon, interval);
  return pld.add === null ? remove : Math.max(remove, deltaForEpsilon(pld.add, targetEpsilon, interval));
}
