/**
 * Byzantine-robust aggregation of plaintext updates, for rounds without secure aggregation:
 * coordinate-wise median, coordinate-wise trimmed mean (Yin et al. 2018, "Byzantine-Robust
 * Distributed Learning: Towards Optimal Statistical Rates", ICML), Krum and Multi-Krum (Blanchard
 * et al. 2017, "Machine Learning with Adversaries: Byzantine Tolerant Gradient Descent",
 * NeurIPS). Pure array functions after Flower's `aggregate.py`. Never averages a fraction of
 * Byzantine updates it was told to tolerate: each refuses, with a typed error, a count n too
 * small for its f (Krum: n ≤ 2f + 2; trimmed mean: fewer than one value left; median: n ≤ 2f).
 *
 * These carry no differential privacy on their own; they are for the deployments where the
 * coordinator sees individual updates anyway.
 */
import { checkUpdate, type ParameterVector } from "./clip.ts";
import { TooManyByzantine, requireTraining } from "./errors.ts";

function checkAll(updates: readonly ParameterVector[]): number {
  requireTraining(Array.isArray(updates) && updates.length >= 1, "updates.length", Array.isArray(updates) ? updates.length : Number.NaN, "needs at least one update");
  const d = updates[0] instanceof Float32Array ? updates[0].length : undefined;
  updates.forEach((u, i) => checkUpdate(u, d, `updates[${i}]`));
  return d!;
}

function requireByzantine(byzantine: number): void {
  requireTraining(Number.isSafeInteger(byzantine) && byzantine >= 0, "byzantine", byzantine, "f, the number of Byzantine updates to tolerate, must be an integer ≥ 0");
}

/**
 * Coordinate-wise median (the mean of the two middle values for an even n). Tolerates
 * f < n/2 arbitrary updates; pass `byzantine` to have n > 2f checked.
 * @example coordinateMedian([new Float32Array([1]), new Float32Array([2]), new Float32Array([100])]); // [2]
 */
export function coordinateMedian(updates: readonly ParameterVector[], byzantine = 0): Float32Array {
  const d = checkAll(updates);
  requireByzantine(byzantine);
  const n = updates.length;
  if (n <= 2 * byzantine) throw new TooManyByzantine("coordinateMedian", n, byzantine, 2 * byzantine + 1);
  const column = new Float64Array(n);
  const out = new Float32Array(d);
  const mid = n >> 1;
  for (let j = 0; j < d; j++) {
    for (let i = 0; i < n; i++) column[i] = updates[i]![j]!;
    column.sort();
    out[j] = n % 2 === 1 ? column[mid]! : (column[mid - 1]! + column[mid]!) / 2;
  }
  return out;
}

/**
 * Coordinate-wise β-trimmed mean: per coordinate, drop the ⌊β·n⌋ smallest and ⌊β·n⌋ largest
 * values and average the rest (Yin et al. 2018). Tolerates f ≤ ⌊β·n⌋ Byzantine updates.
 * @example trimmedMean([1, 2, 3, 4, 1000].map((x) => new Float32Array([x])), 0.2); // [3]
 */
export function trimmedMean(updates: readonly ParameterVector[], beta: number): Float32Array {
  const d = checkAll(updates);
  requireTraining(Number.isFinite(beta) && beta >= 0 && beta < 0.5, "beta", beta, "the trimmed fraction per side must lie in [0, 0.5)");
  const n = updates.length;
  const cut = Math.floor(beta * n);
  if (n - 2 * cut < 1) throw new TooManyByzantine("trimmedMean", n, cut, 2 * cut + 1);
  const column = new Float64Array(n);
  const out = new Float32Array(d);
  const kept = n - 2 * cut;
  for (let j = 0; j < d; j++) {
    for (let i = 0; i < n; i++) column[i] = updates[i]![j]!;
    column.sort();
    let sum = 0;
    for (let i = cut; i < n - cut; i++) sum += column[i]!;
    out[j] = sum / kept;
  }
  return out;
}

export interface KrumResult {
  /** Multi-Krum: the mean of the selected updates (Krum: the selected update itself, copied). */
  readonly aggregate: Float32Array;
  /** Indices of the selected updates, best score first. */
  readonly selected: readonly number[];
  /** Each update's score: Σ of squared distances to its n − f − 2 nearest others. */
  readonly scores: readonly number[];
}

/**
 * Multi-Krum (Blanchard et al. 2017, Sec. 4): score each update by the sum of its squared
 * distances to its n − f − 2 nearest neighbours, keep the `select` lowest, average them;
 * `select` = 1 is Krum. Needs n > 2f + 2 (their condition); refuses with TooManyByzantine.
 * O(n²·d) time for the pairwise distances.
 * @example multiKrum(updates, 1, 3); // the mean of the 3 most central of n ≥ 5 updates
 */
export function multiKrum(updates: readonly ParameterVector[], byzantine: number, select = 1): KrumResult {
  const d = checkAll(updates);
  requireByzantine(byzantine);
  const n = updates.length;
  if (n <= 2 * byzantine + 2) throw new TooManyByzantine(select === 1 ? "krum" : "multiKrum", n, byzantine, 2 * byzantine + 3);
  requireTraining(Number.isSafeInteger(select) && select >= 1 && select <= n - byzantine, "select", select, `must be an integer from 1 to n − f = ${n - byzantine}`);
  const distances = Array.from({ length: n }, () => new Float64Array(n));
  for (let a = 0; a < n; a++) {
    for (let b = a + 1; b < n; b++) {
      const ua = updates[a]!, ub = updates[b]!;
      let sum = 0;
      for (let j = 0; j < d; j++) {
        const diff = ua[j]! - ub[j]!;
        sum += diff * diff;
      }
      distances[a]![b] = sum;
      distances[b]![a] = sum;
    }
  }
  const neighbours = n - byzantine - 2;
  const scores = distances.map((row, a) => {
    const others = Float64Array.from(row.filter((_, b) => b !== a)).sort();
    let score = 0;
    for (let k = 0; k < neighbours; k++) score += others[k]!;
    return score;
  });
  // Ties broken by index, so the choice is deterministic.
  const order = scores.map((score, i) => ({ score, i })).sort((x, y) => x.score - y.score || x.i - y.i).map((e) => e.i);
  const selected = order.slice(0, select);
  const aggregate = new Float32Array(d);
  const acc = new Float64Array(d);
  for (const i of selected) {
    const u = updates[i]!;
    for (let j = 0; j < d; j++) acc[j]! += u[j]!;
  }
  for (let j = 0; j < d; j++) aggregate[j] = acc[j]! / selected.length;
  return { aggregate, selected, scores };
}

/**
 * Krum (Blanchard et al. 2017): the single update with the lowest score.
 * @example krum(updates, 1).selected[0]; // index of the most central update
 */
export function krum(updates: readonly ParameterVector[], byzantine: number): KrumResult {
  return multiKrum(updates, byzantine, 1);
}
