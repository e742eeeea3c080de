/**
 * Confident-GNMax (confident.ts and the Aggregator's `confident` vote): a token is released only
 * when the noisy top count clears T, never below it (statistically, with fixed votes, on seeded
 * and on the secure noise); a refusal draws no release noise and answers `abstained` with nothing
 * else; bad σ₁ and T are typed answers naming the field; an ensemble ends at its first abstention.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { lastValueFrom, toArray } from "rxjs";
import { ActorSystem } from "../../../runtime/index.ts";
import {
  aggregator, AggregatorClient, confidentArgmax, ensembleGenerate, InvalidSigma, InvalidThreshold, MIN_SIGMA,
  type AggregatorMsg, type EnsembleVote, type GnmaxNoise, type Proposer, type VoteReply,
} from "../../../actors/aggregator/index.ts";
import { normalCdf } from "../../../privacy/index.ts";
import { scriptedNoise, seededNoise } from "./seeded-noise.ts";

/** Seeded noise that records each Gaussian draw with its σ, in order. */
function recorded(seed: number): GnmaxNoise & { draws: { sigma: number; value: number }[] } {
  const inner = seededNoise(seed);
  const draws: { sigma: number; value: number }[] = [];
  return { ...inner, gaussian: (sigma) => { const value = inner.gaussian(sigma); draws.push({ sigma, value }); return value; }, draws };
}

test("the Aggregator never releases an argmax below the threshold: each release's noisy top count cleared T, and they come as often as 1 − Φ((T − top)/σ₁)", () => {
  // Votes [5, 5, 7]: the top count is 2. T = 2.5, σ₁ = 1: P(pass) = 1 − Φ(0.5) ≈ 0.3085.
  const votes = [5, 5, 7], threshold = 2.5, sigma1 = 1, trials = 6_000;
  let releases = 0;
  for (let i = 0; i < trials; i++) {
    const noise = recorded(1_000 + i);
    const outcome = confidentArgmax(votes, { sigma: 2, vocabSize: 50, noise, confident: { threshold, sigma1 } });
    const check = noise.draws[0]!;
    assert.equal(check.sigma, sigma1, "the check's noise is drawn first, with σ₁");
    if (outcome.type === "released") {
      releases++;
      assert.ok(2 + check.value >= threshold, `released with a noisy top count ${2 + check.value} < T ${threshold}`);
      assert.ok(noise.draws.slice(1).every((d) => d.sigma === 2), "the release's noise is GNMax's σ");
    } else {
      assert.ok(2 + check.value < threshold, `abstained with a noisy top count ${2 + check.value} ≥ T`);
      assert.equal(noise.draws.length, 1, "an abstention draws no release noise");
      assert.deepEqual(outcome, { type: "abstained", proposers: 3 });
    }
  }
  const expected = 1 - normalCdf((threshold - 2) / sigma1);
  const sd = Math.sqrt((expected * (1 - expected)) / trials);
  assert.ok(Math.abs(releases / trials - expected) < 4.5 * sd, `release rate ${releases / trials} vs ${expected} ± ${4.5 * sd}`);
});

test("at the threshold exactly the check passes; a hair below it abstains (scripted noise)", () => {
  const opts = { sigma: 1, vocabSize: 10, confident: { threshold: 3, sigma1: 1 } };
  // top count 2, check noise +1: noisy top 3 = T → GNMax runs (3 voted bins' noise, then the unvoted top two).
  const passed = confidentArgmax([4, 4, 6], { ...opts, noise: scriptedNoise({ gaussian: [1, 0.5, 0], uniform: [0.5, 0.5, 0.5] }) });
  assert.equal(passed.type, "released");
  assert.equal(passed.type === "released" && passed.release.token, 4);
  const refused = confidentArgmax([4, 4, 6], { ...opts, noise: scriptedNoise({ gaussian: [1 - 1e-9] }) });
  assert.deepEqual(refused, { type: "abstained", proposers: 3 }, "no further draw: the script holds one value");
});

test("σ₁ and T are checked before any noise is drawn", () => {
  const none = () => scriptedNoise({});
  assert.throws(() => confidentArgmax([1, 1], { sigma: 1, noise: none(), confident: { threshold: 1, sigma1: MIN_SIGMA / 2 } }), InvalidSigma);
  assert.throws(() => confidentArgmax([1, 1], { sigma: 1, noise: none(), confident: { threshold: 1, sigma1: Number.NaN } }), InvalidSigma);
  assert.throws(() => confidentArgmax([1, 1], { sigma: 1, noise: none(), confident: { threshold: -1, sigma1: 1 } }), InvalidThreshold);
  assert.throws(() => confidentArgmax([1, 1], { sigma: 1, noise: none(), confident: { threshold: Infinity, sigma1: 1 } }), InvalidThreshold);
});

async function withAggregator(run: (client: AggregatorClient, ask: (msg: Record<string, unknown>) => Promise<VoteReply>) => Promise<void>): Promise<void> {
  const system = await ActorSystem.start({ node: "h1", logLevel: "silent" });
  try {
    const ref = await system.spawn(aggregator, { minSigma: 0.25 });
    const ask = (msg: Record<string, unknown>) => ref.ask<VoteReply>((replyTo) => ({ ...msg, replyTo }) as unknown as AggregatorMsg, { timeoutMs: 5_000 });
    await run(new AggregatorClient(ref), ask);
  } finally {
    await system.stop();
  }
}

test("with the secure noise: a top count far below T always abstains, replying nothing but that; the release rate matches 1 − Φ((T − top)/σ₁)", async () => {
  await withAggregator(async (client) => {
    for (let i = 0; i < 200; i++) {
      // Top count 1, T = 4, σ₁ = 0.5: P(pass) = 1 − Φ(6) ≈ 1e-9.
      const reply = await client.vote({ votes: [1, 2, 3], sigma: 1, vocabSize: 50_257, confident: { threshold: 4, sigma1: 0.5 } });
      assert.deepEqual(reply, { type: "abstained", proposers: 3 }, "no token, no count, no margin");
    }
    let releases = 0;
    const trials = 400;
    for (let i = 0; i < trials; i++) {
      const reply = await client.vote({ votes: [5, 5, 7], sigma: 0.5, vocabSize: 50, confident: { threshold: 2.5, sigma1: 1 } });
      if (reply.type === "released") releases++;
      else assert.equal(reply.type, "abstained");
    }
    const expected = 1 - normalCdf(0.5);
    assert.ok(Math.abs(releases / trials - expected) < 4.5 * Math.sqrt((expected * (1 - expected)) / trials), `secure release rate ${releases / trials} vs ${expected}`);
  });
});

test("malformed confident fields are typed rejections naming the field; σ₁ below the Aggregator's floor is refused", async () => {
  await withAggregator(async (_client, ask) => {
    const ok = { type: "vote", votes: [1, 1, 2], sigma: 1, vocabSize: 10 };
    const cases: [unknown, string, string][] = [
      [{ threshold: -1, sigma1: 1 }, "INVALID_THRESHOLD", "confident.threshold"],
      [{ threshold: Number.NaN, sigma1: 1 }, "INVALID_THRESHOLD", "confident.threshold"],
      [{ threshold: 2, sigma1: Number.NaN }, "INVALID_SIGMA", "confident.sigma1"],
      [{ threshold: 2, sigma1: 1e9 }, "INVALID_SIGMA", "confident.sigma1"],
      [{ threshold: 2 }, "INVALID_SIGMA", "confident.sigma1"],
      [{ threshold: 2, sigma1: 0.1 }, "INVALID_SIGMA", "confident.sigma1"], // below the floor of 0.25
      [{ threshold: 2, sigma1: 1, t: 2 }, "INVALID_REQUEST", "confident"],
      [3, "INVALID_REQUEST", "confident"],
    ];
    for (const [confident, code, field] of cases) {
      const reply = await ask({ ...ok, confident });
      assert.equal(reply.type, "rejected", JSON.stringify(confident));
      if (reply.type !== "rejected") continue;
      assert.equal(reply.code, code, `${JSON.stringify(confident)}: ${reply.message}`);
      assert.equal(reply.field, field, JSON.stringify(confident));
    }
  });
});

function proposer(id: string, next: (prefix: readonly number[]) => number): Proposer & { closed: boolean } {
  const prefix: number[] = [];
  const p = {
    id, closed: false,
    open: async (prompt: readonly number[]) => { prefix.push(...prompt); return next(prefix); },
    next: async (token: number) => { prefix.push(token); return next(prefix); },
    close: () => { p.closed = true; },
  };
  return p;
}

test("an ensemble ends at its first abstention, which is its last item; one at the first token is the only item", async () => {
  let votes = 0;
  const abstainAt = (n: number): EnsembleVote => (ballots, params) => {
    assert.deepEqual(params.confident, { threshold: 2, sigma1: 1 }, "the vote is asked for Confident-GNMax");
    return votes++ === n ? { abstained: true } : { token: ballots[0]!, margin: 1, consensusReached: true };
  };
  const request = { prompt: [5], maxTokens: 6, sigma: 1, vocabSize: 100, confident: { threshold: 2, sigma1: 1 } };
  const ps = ["a", "b", "c"].map((id) => proposer(id, (prefix) => prefix.length));
  const steps = await lastValueFrom(ensembleGenerate(ps, request, abstainAt(2)).pipe(toArray()));
  assert.deepEqual(steps, [
    { index: 0, token: 1, margin: 1, consensusReached: true, proposers: 3 },
    { index: 1, token: 2, margin: 1, consensusReached: true, proposers: 3 },
    { abstained: true, index: 2, proposers: 3 },
  ]);
  assert.ok(ps.every((p) => p.closed), "every proposer closed");
  votes = 0;
  const first = await lastValueFrom(ensembleGenerate(["d", "e"].map((id) => proposer(id, () => 7)), request, abstainAt(0)).pipe(toArray()));
  assert.deepEqual(first, [{ abstained: true, index: 0, proposers: 2 }]);
});

test("through AggregatorClient.voter(): unanimous votes clear T and generate; split ones abstain at once", async () => {
  await withAggregator(async (client) => {
    // T = 2, σ₁ = 0.25: a top count of 3 passes with P = Φ(4) ≈ 0.99997, a top count of 1 with P ≈ 3e-5.
    const request = { prompt: [5], maxTokens: 3, sigma: 0.3, vocabSize: 500, confident: { threshold: 2, sigma1: 0.25 } };
    const unanimous = await lastValueFrom(ensembleGenerate(["a", "b", "c"].map((id) => proposer(id, (prefix) => prefix.length * 11)), request, client.voter()).pipe(toArray()));
    assert.deepEqual(unanimous.map((s) => ("token" in s ? s.token : "abstained")), [11, 22, 33]);
    const split = await lastValueFrom(ensembleGenerate(["a", "b", "c"].map((id, i) => proposer(id, () => i)), request, client.voter()).pipe(toArray()));
    assert.deepEqual(split, [{ abstained: true, index: 0, proposers: 3 }]);
  });
});
