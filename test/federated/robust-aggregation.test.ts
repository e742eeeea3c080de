/**
 * Byzantine robustness: 13 honest updates (a common mean plus noise uniform in ±0.1 per
 * coordinate, from a fixed seed) and f = 3 Byzantine ones of three kinds. Each aggregator must
 * land within a stated tolerance of the honest mean, where the plain mean does not.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { coordinateMedian, krum, multiKrum, trimmedMean } from "../../federated/robust-aggregation.ts";
import { TooManyByzantine, InvalidTrainingParameter, InvalidModelUpdate } from "../../federated/errors.ts";
import { seededRandomWords } from "../../federated/random-words.ts";

const D = 200, HONEST = 13, F = 3;

function population(seed: string): { honest: Float32Array[]; honestMean: Float64Array } {
  const words = seededRandomWords(seed);
  const uniform = () => words.nextWord() / 2 ** 32;
  const centre = Float64Array.from({ length: D }, () => uniform() * 2 - 1);
  const honest = Array.from({ length: HONEST }, () => Float32Array.from(centre, (c) => c + (uniform() - 0.5) * 0.2));
  const honestMean = new Float64Array(D);
  for (const u of honest) u.forEach((v, j) => (honestMean[j]! += v / HONEST));
  return { honest, honestMean };
}

const ATTACKS: Record<string, (honestMean: Float64Array, k: number) => Float32Array> = {
  "huge values": (_, k) => Float32Array.from({ length: D }, (_, j) => ((j + k) % 2 === 0 ? 1e6 : -1e6)),
  "sign-flipped": (mean) => Float32Array.from(mean, (v) => -10 * v),
  "colluding identical outliers": (mean) => Float32Array.from(mean, (v) => v + 5),
};

const maxDistance = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let worst = 0;
  for (let j = 0; j < a.length; j++) worst = Math.max(worst, Math.abs(a[j]! - b[j]!));
  return worst;
};

/**
 * Tolerances (max over coordinates of |aggregate − honest mean|), with honest values within ±0.1
 * of their centre: the median and the trimmed mean of a set with f outliers lie within the honest
 * values' range, so within 0.2 of their mean; Krum picks an honest update (within 0.2);
 * Multi-Krum averages honest ones only.
 */
const TOLERANCE = 0.2;

for (const [attack, make] of Object.entries(ATTACKS)) {
  test(`with f = ${F} Byzantine updates (${attack}), median, trimmed mean, Krum and Multi-Krum stay within ${TOLERANCE} of the honest mean; the plain mean does not`, () => {
    const { honest, honestMean } = population(`pop-${attack}`);
    const byzantine = Array.from({ length: F }, (_, k) => make(honestMean, k));
    const updates = [...honest.slice(0, 5), ...byzantine, ...honest.slice(5)]; // the attackers sit among the honest
    const plain = new Float64Array(D);
    for (const u of updates) u.forEach((v, j) => (plain[j]! += v / updates.length));
    assert.ok(maxDistance(plain, honestMean) > 3 * TOLERANCE, "the attack moves the plain mean");
    assert.ok(maxDistance(coordinateMedian(updates, F), honestMean) <= TOLERANCE, "median");
    assert.ok(maxDistance(trimmedMean(updates, F / updates.length), honestMean) <= TOLERANCE, "trimmed mean");
    const k = krum(updates, F);
    assert.ok(maxDistance(k.aggregate, honestMean) <= TOLERANCE, "krum");
    assert.ok(k.selected[0]! < 5 || k.selected[0]! >= 5 + F, "Krum selects an honest update");
    const mk = multiKrum(updates, F, updates.length - F - 2);
    assert.ok(mk.selected.every((i) => i < 5 || i >= 5 + F), `Multi-Krum selects honest updates only: ${mk.selected}`);
    assert.ok(maxDistance(mk.aggregate, honestMean) <= TOLERANCE, "multi-krum");
  });
}

test("Krum refuses n ≤ 2f + 2 with TooManyByzantine naming n, f and the minimum", () => {
  const updates = Array.from({ length: 8 }, (_, i) => new Float32Array([i]));
  assert.throws(() => krum(updates, 3), (e: unknown) => e instanceof TooManyByzantine && e.updates === 8 && e.byzantine === 3 && e.minUpdates === 9 && e.code === "TOO_MANY_BYZANTINE");
  assert.doesNotThrow(() => krum([...updates, new Float32Array([8])], 3));
  assert.throws(() => multiKrum(updates.slice(0, 4), 1), TooManyByzantine);
  assert.throws(() => coordinateMedian(updates.slice(0, 4), 2), TooManyByzantine);
});

test("median of an even count averages the middle pair; trimmed mean drops ⌊βn⌋ per side", () => {
  const updates = [1, 2, 3, 100].map((x) => new Float32Array([x, -x]));
  assert.deepEqual([...coordinateMedian(updates)], [2.5, -2.5]);
  assert.deepEqual([...trimmedMean(updates, 0.25)], [2.5, -2.5]);
  assert.deepEqual([...trimmedMean(updates, 0)], [26.5, -26.5]);
});

test("bad inputs: no updates, mismatched lengths, β ≥ ½, a negative f, a NaN coordinate", () => {
  assert.throws(() => coordinateMedian([]), InvalidTrainingParameter);
  assert.throws(() => trimmedMean([new Float32Array(2), new Float32Array(3)], 0.1), InvalidModelUpdate);
  assert.throws(() => trimmedMean([new Float32Array(2)], 0.5), InvalidTrainingParameter);
  assert.throws(() => krum([new Float32Array(1)], -1), InvalidTrainingParameter);
  assert.throws(() => krum(Array.from({ length: 5 }, () => new Float32Array([Number.NaN])), 1), InvalidModelUpdate);
});
