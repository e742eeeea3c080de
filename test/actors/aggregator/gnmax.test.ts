/**
 * GNMax over a whole vocabulary: unanimous votes win at small σ; the released token follows the
 * exact GNMax distribution (numerical integration, χ²) with seeded and with the secure noise;
 * the O(k) sampling of the unvoted bins matches brute-force noise on every bin (winner, top
 * count, margin, and which unvoted token), and its order statistics have the exact law Φ^m;
 * margins, consensus and tie-breaks on scripted noise; typed errors.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  noisyArgmax, unvotedTop, secureGnmaxNoise, GPT2_VOCAB_SIZE, MAX_PROPOSERS, MIN_SIGMA, MAX_SIGMA,
  InvalidVotes, InvalidSigma, InvalidThreshold, InvalidVocabSize,
} from "../../../actors/aggregator/index.ts";
import { normalCdf } from "../../../privacy/index.ts";
import { chiSquare, ksOneSample, ksTwoSample, scriptedNoise, seededNoise } from "./seeded-noise.ts";

/** P(bin v has the largest of counts[u] + N(0, σ²) over all u): ∫ φ(z) Π_{u≠v} Φ((c_v − c_u)/σ + z) dz, by Simpson. */
function exactWinProbabilities(counts: readonly number[], sigma: number): number[] {
  const steps = 4800, from = -12, to = 12, h = (to - from) / steps;
  return counts.map((cv, v) => {
    let sum = 0;
    for (let s = 0; s <= steps; s++) {
      const z = from + s * h;
      let f = Math.exp(-z * z / 2) / Math.sqrt(2 * Math.PI);
      counts.forEach((cu, u) => { if (u !== v) f *= normalCdf((cv - cu) / sigma + z); });
      sum += f * (s === 0 || s === steps ? 1 : s % 2 === 1 ? 4 : 2);
    }
    return (sum * h) / 3;
  });
}

const histogram = (votes: readonly number[], vocabSize: number) => {
  const counts = new Array<number>(vocabSize).fill(0);
  for (const v of votes) counts[v]!++;
  return counts;
};

test("unanimous votes at a small σ release that token, with consensus and a margin near k", () => {
  for (let i = 0; i < 20; i++) {
    const r = noisyArgmax([464, 464, 464, 464, 464], { sigma: 0.1 });
    assert.equal(r.token, 464, "the unanimous token wins");
    assert.equal(r.consensusReached, true, "5 votes beat the majority threshold 3");
    assert.ok(r.margin > 3 && r.margin < 6, `margin ${r.margin} is about 5 − (noise max of 50,256 bins ≈ 0.4)`);
    assert.equal(r.proposers, 5, "five proposers");
    assert.equal(r.votesForToken, 5, "five raw votes");
    assert.equal(r.threshold, 3, "default threshold ⌊5/2⌋ + 1");
  }
});

test("the released token follows the exact GNMax distribution (seeded noise, χ² on 4 tokens)", () => {
  const votes = [0, 0, 0, 1, 2], vocabSize = 4, sigma = 1.5, n = 20_000;
  const expected = exactWinProbabilities(histogram(votes, vocabSize), sigma);
  assert.ok(Math.abs(expected.reduce((a, b) => a + b, 0) - 1) < 1e-9, `probabilities sum to 1: ${expected}`);
  const noise = seededNoise(7);
  const observed = [0, 0, 0, 0];
  for (let i = 0; i < n; i++) observed[noisyArgmax(votes, { sigma, vocabSize, noise }).token]!++;
  const chi = chiSquare(observed, expected);
  assert.ok(chi < 16.27, `χ² = ${chi} (df 3, p = 0.001 critical 16.27); observed ${observed}, expected ${expected.map((p) => (p * n).toFixed(0))}`);
});

test("the released token follows the exact GNMax distribution with the secure discrete Gaussian (χ² on 4 tokens)", () => {
  const votes = [2, 2, 2, 0, 1], vocabSize = 4, sigma = 1.5, n = 3_000;
  const expected = exactWinProbabilities(histogram(votes, vocabSize), sigma);
  const observed = [0, 0, 0, 0];
  for (let i = 0; i < n; i++) observed[noisyArgmax(votes, { sigma, vocabSize }).token]!++;
  const chi = chiSquare(observed, expected);
  assert.ok(chi < 21.11, `χ² = ${chi} (df 3, p = 1e-4 critical 21.11); observed ${observed}`);
});

test("sampling only the top of the unvoted bins matches brute-force noise on all 40 bins", () => {
  const votes = [0, 0, 1], vocabSize = 40, sigma = 1, n = 20_000;
  const fast = seededNoise(11), brute = seededNoise(12);
  const categories = (t: number) => (t === 0 ? 0 : t === 1 ? 1 : 2);
  const fastWins = [0, 0, 0], bruteWins = [0, 0, 0];
  const fastTop: number[] = [], bruteTop: number[] = [], fastMargin: number[] = [], bruteMargin: number[] = [];
  const counts = histogram(votes, vocabSize);
  for (let i = 0; i < n; i++) {
    const r = noisyArgmax(votes, { sigma, vocabSize, noise: fast });
    fastWins[categories(r.token)]!++;
    fastTop.push(r.noisyTop);
    fastMargin.push(r.margin);
    const noisy = counts.map((c) => c + sigma * brute.normal());
    const order = [...noisy.keys()].sort((a, b) => noisy[b]! - noisy[a]!);
    bruteWins[categories(order[0]!)]!++;
    bruteTop.push(noisy[order[0]!]!);
    bruteMargin.push(noisy[order[0]!]! - noisy[order[1]!]!);
  }
  const expected = exactWinProbabilities(counts, sigma);
  const exact = [expected[0]!, expected[1]!, 1 - expected[0]! - expected[1]!];
  for (const [name, wins] of [["fast", fastWins], ["brute force", bruteWins]] as const) {
    const chi = chiSquare(wins, exact);
    assert.ok(chi < 13.82, `${name}: χ² = ${chi} against the exact ${exact} (df 2, p = 0.001 critical 13.82); wins ${wins}`);
  }
  const critical = 1.95 * Math.sqrt(2 / n); // two-sample KS, α = 0.001
  const dTop = ksTwoSample(fastTop, bruteTop), dMargin = ksTwoSample(fastMargin, bruteMargin);
  assert.ok(dTop < critical, `noisy top: KS D = ${dTop} < ${critical}`);
  assert.ok(dMargin < critical, `margin: KS D = ${dMargin} < ${critical}`);
});

test("an unvoted winner is a uniformly random unvoted token, never a voted one", () => {
  const votes = [3, 3, 17, 30], vocabSize = 40, n = 19_000;
  const noise = seededNoise(5);
  const seen = new Array<number>(vocabSize).fill(0);
  for (let i = 0; i < n; i++) {
    const r = noisyArgmax(votes, { sigma: 50, vocabSize, noise }); // noise ≫ votes: nearly uniform winners
    seen[r.token]!++;
  }
  const unvoted = [...seen.keys()].filter((t) => !votes.includes(t));
  const total = unvoted.reduce((s, t) => s + seen[t]!, 0);
  const chi = chiSquare(unvoted.map((t) => seen[t]!), unvoted.map(() => 1 / unvoted.length));
  assert.ok(chi < 65.25, `χ² = ${chi} over the ${unvoted.length} unvoted tokens (df 36, p = 0.001 critical 65.25)`);
  assert.ok(total > n * 0.85, `unvoted tokens win about 37/40 of the time at σ = 50: ${total}/${n}`);
});

test("the unvoted bins' top two order statistics have the exact laws Φ^m and Φ^m + mΦ^(m−1)(1 − Φ)", () => {
  for (const m of [1_000, GPT2_VOCAB_SIZE - 3]) {
    const sigma = 2, n = 5_000, noise = seededNoise(m);
    const first: number[] = [], second: number[] = [];
    for (let i = 0; i < n; i++) {
      const top = unvotedTop(m, sigma, noise);
      assert.equal(top.tiesAtTop, 1, "continuous draws never tie");
      first.push(top.values[0]!);
      second.push(top.values[1]!);
    }
    const F = (x: number) => normalCdf(x / sigma);
    const dFirst = ksOneSample(first, (x) => F(x) ** m);
    const dSecond = ksOneSample(second, (x) => F(x) ** m + m * F(x) ** (m - 1) * (1 - F(x)));
    const critical = 1.95 / Math.sqrt(n);
    assert.ok(dFirst < critical, `m = ${m}: Z(1) KS D = ${dFirst} < ${critical}`);
    assert.ok(dSecond < critical, `m = ${m}: Z(2) KS D = ${dSecond} < ${critical}`);
  }
});

test("the secure noise puts the unvoted order statistics on the sampler's grid", () => {
  const top = unvotedTop(GPT2_VOCAB_SIZE, 3, secureGnmaxNoise);
  const g = secureGnmaxNoise.granularity;
  for (const z of top.values) assert.ok(Number.isInteger(z / g), `${z} is a multiple of ${g}`);
  assert.ok(top.values[0]! > 3 * 2 && top.values[0]! < 3 * 7, `Z(1) = ${top.values[0]} ≈ σ·4.4 for 50,257 bins`);
});

test("margin and consensus come from the noisy counts (scripted noise)", () => {
  // Voted bins 3 (two votes) and 5 (one) get noise +0.25 and −0.5; the unvoted max is tiny: U = 1e-300 → Φ⁻¹(…) ≈ 2.2 → × σ 0.01.
  const noise = () => scriptedNoise({ gaussian: [0.25, -0.5], uniform: [1e-300, 1e-300] });
  const r = noisyArgmax([3, 5, 3], { sigma: 0.01, noise: noise() });
  assert.equal(r.token, 3, "the noisy argmax");
  assert.equal(r.noisyTop, 2.25, "2 votes + 0.25");
  assert.equal(r.noisySecond, 0.5, "1 vote − 0.5");
  assert.equal(r.margin, 1.75, "noisyTop − noisySecond");
  assert.equal(r.consensusReached, true, "2.25 ≥ ⌊3/2⌋ + 1 = 2");
  assert.equal(r.votesForToken, 2, "raw count of the released token");
  assert.equal(noisyArgmax([3, 5, 3], { sigma: 0.01, threshold: 2.5, noise: noise() }).consensusReached, false, "2.25 < 2.5");
  // Consensus follows the noise, not the raw votes: a unanimous vote whose noisy count falls below the threshold.
  const low = noisyArgmax([9, 9, 9], { sigma: 0.01, noise: scriptedNoise({ gaussian: [-1.5], uniform: [1e-300, 1e-300] }) });
  assert.equal(low.token, 9, "still released");
  assert.equal(low.consensusReached, false, "1.5 < 2");
});

test("an unvoted winner skips the voted ids, and ties go to a uniform pick among the tied bins", () => {
  // Voted 0, 1, 5 all pushed far below 0: an unvoted bin wins; the 4th unvoted id (r = 3) is 6.
  const lost = scriptedNoise({ gaussian: [-50, -50, -50], uniform: [0.5, 0.5], indexBelow: [3] });
  const r = noisyArgmax([0, 1, 5], { sigma: 1, vocabSize: 10, noise: lost });
  assert.equal(r.token, 6, "unvoted ids are 2, 3, 4, 6, …");
  assert.deepEqual(lost.indexBounds, [7], "uniform over the 7 unvoted tokens");
  assert.equal(r.votesForToken, 0, "nobody voted for it");
  // Tokens 4 and 8 tie on 1 + 0; the pick (index 1 of 2) takes the second in id order.
  const tie = scriptedNoise({ gaussian: [0, 0], uniform: [1e-300, 1e-300], indexBelow: [1] });
  const t = noisyArgmax([8, 4], { sigma: 0.01, noise: tie });
  assert.equal(t.token, 8, "the pick among the tied");
  assert.deepEqual(tie.indexBounds, [2], "two tied bins");
  assert.equal(t.margin, 0, "a tie has margin 0");
});

test("every vocabulary bin can win: with one bin voted and huge σ, the voted bin wins about 1/V of the time", () => {
  const noise = seededNoise(99), n = 4_000;
  let voted = 0;
  for (let i = 0; i < n; i++) if (noisyArgmax([1], { sigma: 1_000, vocabSize: 8, noise }).token === 1) voted++;
  assert.ok(Math.abs(voted / n - 1 / 8) < 0.025, `voted bin won ${voted}/${n}, expected ≈ 1/8`);
});

test("bad votes, σ, thresholds and vocabularies are typed errors with stable codes", () => {
  const bad: [() => unknown, new (...a: never[]) => Error, string][] = [
    [() => noisyArgmax([], { sigma: 1 }), InvalidVotes, "INVALID_VOTES"],
    [() => noisyArgmax([1.5], { sigma: 1 }), InvalidVotes, "INVALID_VOTES"],
    [() => noisyArgmax([-1], { sigma: 1 }), InvalidVotes, "INVALID_VOTES"],
    [() => noisyArgmax([10], { sigma: 1, vocabSize: 10 }), InvalidVotes, "INVALID_VOTES"],
    [() => noisyArgmax(new Array(MAX_PROPOSERS + 1).fill(1), { sigma: 1 }), InvalidVotes, "INVALID_VOTES"],
    [() => noisyArgmax(["1" as unknown as number], { sigma: 1 }), InvalidVotes, "INVALID_VOTES"],
    [() => noisyArgmax([1], { sigma: Number.NaN }), InvalidSigma, "INVALID_SIGMA"],
    [() => noisyArgmax([1], { sigma: 0 }), InvalidSigma, "INVALID_SIGMA"],
    [() => noisyArgmax([1], { sigma: -2 }), InvalidSigma, "INVALID_SIGMA"],
    [() => noisyArgmax([1], { sigma: Infinity }), InvalidSigma, "INVALID_SIGMA"],
    [() => noisyArgmax([1], { sigma: MIN_SIGMA / 2 }), InvalidSigma, "INVALID_SIGMA"],
    [() => noisyArgmax([1], { sigma: MAX_SIGMA * 2 }), InvalidSigma, "INVALID_SIGMA"],
    [() => noisyArgmax([1], { sigma: 1, threshold: Number.NaN }), InvalidThreshold, "INVALID_THRESHOLD"],
    [() => noisyArgmax([1], { sigma: 1, threshold: -1 }), InvalidThreshold, "INVALID_THRESHOLD"],
    [() => noisyArgmax([0], { sigma: 1, vocabSize: 1 }), InvalidVocabSize, "INVALID_VOCAB_SIZE"],
    [() => noisyArgmax([0], { sigma: 1, vocabSize: 2.5 }), InvalidVocabSize, "INVALID_VOCAB_SIZE"],
    [() => noisyArgmax([0], { sigma: 1, vocabSize: 2_000_000 }), InvalidVocabSize, "INVALID_VOCAB_SIZE"],
  ];
  for (const [run, Class, code] of bad) {
    assert.throws(run, (e: unknown) => e instanceof Class && (e as { code?: string }).code === code && !/\b464\b/.test((e as Error).message), `${code} from ${run}`);
  }
  assert.match(String((() => { try { noisyArgmax([7, 99], { sigma: 1, vocabSize: 50 }); } catch (e) { return (e as Error).message; } })()), /votes\.1 is invalid: must be a token id, a whole number from 0 to 49/);
});

test("properties: a token of the vocabulary, margin = top − second ≥ 0, consensus iff the noisy top reaches the threshold (also with every bin voted)", () => {
  fc.assert(fc.property(fc.integer({ min: 2, max: 300 }), fc.array(fc.nat(), { minLength: 1, maxLength: MAX_PROPOSERS }), fc.double({ min: 0.01, max: 100, noNaN: true }),
    fc.option(fc.double({ min: 0, max: 70, noNaN: true }), { nil: undefined }), fc.integer(), (vocabSize, raw, sigma, threshold, seed) => {
      const votes = raw.map((v) => v % vocabSize);
      const r = noisyArgmax(votes, { sigma, vocabSize, noise: seededNoise(seed), ...(threshold === undefined ? {} : { threshold }) });
      const counted = votes.filter((v) => v === r.token).length;
      return Number.isInteger(r.token) && r.token >= 0 && r.token < vocabSize && r.margin >= 0 && r.margin === r.noisyTop - r.noisySecond
        && r.consensusReached === (r.noisyTop >= r.threshold) && r.votesForToken === counted && r.proposers === votes.length
        && r.threshold === (threshold ?? Math.floor(votes.length / 2) + 1);
    }), { numRuns: 500 });
  const full = noisyArgmax([0, 1, 1], { sigma: 0.01, vocabSize: 2, noise: seededNoise(1) });
  assert.equal(full.token, 1, "no unvoted bin: the larger count wins");
  assert.ok(Math.abs(full.margin - 1) < 0.1, `margin ≈ 2 − 1: ${full.margin}`);
});
