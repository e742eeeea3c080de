/**
 * Composition theorems for (ε, δ)-DP guarantees stated directly, without a mechanism to
 * re-derive them from. Never returns a total tighter than its theorem proves: every input is
 * validated and every result is the theorem's bound, or null where the theorem gives none.
 */
import type { EpsilonDelta } from "./events.ts";
import { requireParameter } from "./errors.ts";

function requireGuarantee(g: EpsilonDelta, field: string): void {
  requireParameter(g.epsilon >= 0, `${field}.epsilon`, g.epsilon, "must be a number ≥ 0");
  requireParameter(g.delta >= 0 && g.delta < 1, `${field}.delta`, g.delta, "must lie in [0, 1)");
}
const requireCount = (count: number): void =>
  requireParameter(Number.isSafeInteger(count) && count >= 1, "count", count, "must be a positive integer (the number of runs)");

/**
 * Basic composition: running mechanisms that are (εᵢ, δᵢ)-DP is (Σεᵢ, Σδᵢ)-DP (Dwork, Kenthapadi,
 * McSherry, Mironov & Naor 2006; Dwork & Roth 2014, Thm 3.16). Holds for adaptive composition.
 * @example basicComposition([{ epsilon: 0.5, delta: 1e-6 }, { epsilon: 1, delta: 0 }]); // { epsilon: 1.5, delta: 1e-6 }
 */
export function basicComposition(guarantees: readonly EpsilonDelta[]): EpsilonDelta {
  let epsilon = 0;
  let delta = 0;
  guarantees.forEach((g, i) => {
    requireGuarantee(g, `guarantees[${i}]`);
    epsilon += g.epsilon;
    delta += g.delta;
  });
  return { epsilon, delta: Math.min(delta, 1) };
}

/**
 * Advanced composition (Dwork, Rothblum & Vadhan 2010, "Boosting and Differential Privacy",
 * Thm III.3; Dwork & Roth 2014, Thm 3.20): for every δ′ > 0, the k-fold adaptive composition of
 * an (ε, δ)-DP mechanism is (ε√(2k·ln(1/δ′)) + kε(e^ε − 1), kδ + δ′)-DP. Beats basic composition
 * only for small ε and large k; compare with `basicComposition` and take the smaller.
 * @example advancedComposition({ epsilon: 0.1, delta: 0 }, 100, 1e-5).epsilon; // ≈ 5.8502
 */
export function advancedComposition(guarantee: EpsilonDelta, count: number, deltaSlack: number): EpsilonDelta {
  requireGuarantee(guarantee, "guarantee");
  requireCount(count);
  requireParameter(deltaSlack > 0 && deltaSlack < 1, "deltaSlack", deltaSlack, "δ′ must lie in (0, 1); it is added to the total δ");
  const { epsilon, delta } = guarantee;
  const total = epsilon * Math.sqrt(2 * count * Math.log(1 / deltaSlack)) + count * epsilon * Math.expm1(epsilon);
  return { epsilon: total, delta: Math.min(count * delta + deltaSlack, 1) };
}

/** log C(n, k) for integers 0 ≤ k ≤ n, exact enough for n up to 1e7 (sum of logs). */
function logBinomialTable(n: number, upTo: number): Float64Array {
  const table = new Float64Array(upTo + 1);
  for (let l = 1; l <= upTo; l++) table[l] = table[l - 1]! + Math.log(n - l + 1) - Math.log(l);
  return table;
}

/**
 * The smallest ε_total such that k-fold composition of an (ε, δ)-DP mechanism is
 * (ε_total, totalDelta)-DP, by the optimal composition theorem of Kairouz, Oh & Viswanath 2015
 * ("The Composition Theorem for Differential Privacy", arXiv:1311.0776, Thm 3.3), as
 * dp_accounting's `pld/accountant.advanced_composition` computes it: the first i from ⌊k/2⌋ down
 * with 1 − (1−δ)^k·(1−δᵢ) ≤ totalDelta gives ε(k − 2i), where
 * δᵢ = Σ_{l<i} C(k,l)·(e^{ε(k−l)} − e^{ε(k−2i+l)})/(1+e^ε)^k. Null when no ε_total suffices.
 * Terms are summed in log space, so large k·ε does not overflow; cost O(k·(k/2 − i)).
 * @example optimalHomogeneousComposition({ epsilon: 1, delta: 0.001 }, 30, 0.06); // 22
 */
export function optimalHomogeneousComposition(guarantee: EpsilonDelta, count: number, totalDelta: number): number | null {
  requireGuarantee(guarantee, "guarantee");
  requireCount(count);
  requireParameter(totalDelta >= 0 && totalDelta <= 1, "totalDelta", totalDelta, "must lie in [0, 1]");
  const { epsilon, delta } = guarantee;
  const k = count;
  if (epsilon === Infinity) return totalDelta >= 1 ? 0 : null;
  const logBinomial = logBinomialTable(k, Math.floor(k / 2));
  const logNormaliser = k * (epsilon + Math.log1p(Math.exp(-epsilon))); // k·log(1 + e^ε)
  const logUntouched = k * Math.log1p(-delta); // log (1−δ)^k
  for (let i = Math.floor(k / 2); i >= 0; i--) {
    let deltaI = 0;
    for (let l = 0; l < i; l++) {
      // e^{ε(k−l)} − e^{ε(k−2i+l)} = e^{ε(k−l)}·(1 − e^{2ε(l−i)}), with l < i.
      deltaI += Math.exp(logBinomial[l]! + epsilon * (k - l) - logNormaliser) * -Math.expm1(2 * epsilon * (l - i));
    }
    const failure = -Math.expm1(logUntouched + Math.log1p(-Math.min(deltaI, 1)));
    if (failure <= totalDelta) return epsilon * (k - 2 * i);
  }
  return null;
}
