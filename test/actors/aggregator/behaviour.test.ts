/**
 * The Aggregator actor on a real ActorSystem: a vote is answered with one GNMax release drawn
 * inside it (no raw count in the reply); malformed votes get typed `rejected` answers naming the
 * field, and never crash it; σ below its floor is refused; it drives an ensemble through
 * AggregatorClient.voter(); and it works in a worker thread, where every message is msgpack.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { lastValueFrom, toArray } from "rxjs";
import { ActorSystem } from "../../../runtime/index.ts";
import { aggregator, AggregatorClient, ensembleGenerate, VoteRejected, EnsembleUnavailable, MAX_PROPOSERS, type AggregatorMsg, type AggregatorOptions, type Proposer, type VoteReply } from "../../../actors/aggregator/index.ts";

async function withAggregator(options: AggregatorOptions, run: (client: AggregatorClient) => Promise<void>, placement: "local" | "worker" = "local"): Promise<void> {
  const system = await ActorSystem.start({ node: "h1", logLevel: "error" });
  try {
    const ref = await system.spawn(aggregator, options, { placement });
    await run(new AggregatorClient(ref, 10_000));
  } finally {
    await system.stop();
  }
}

const released = (r: VoteReply) => {
  if (r.type !== "released") return assert.fail(`expected a release, got ${JSON.stringify(r)}`);
  return r;
};

for (const placement of ["local", "worker"] as const) {
  test(`a unanimous vote at small σ releases that token with its margin and consensus (${placement})`, async () => {
    await withAggregator({}, async (client) => {
      const r = released(await client.vote({ votes: [464, 464, 464, 464], sigma: 0.1, vocabSize: 50_257 }));
      assert.equal(r.token, 464, "the unanimous token");
      assert.equal(r.consensusReached, true, "4 votes beat 3");
      assert.equal(r.proposers, 4, "four voters");
      assert.ok(r.margin > 2.5 && r.margin < 5, `margin ${r.margin} ≈ 4 − max noise of the others`);
      assert.deepEqual(Object.keys(r).sort(), ["consensusReached", "margin", "proposers", "token", "type"], "nothing else leaves (no raw count)");
    }, placement);
  });
}

test("the noise is drawn in the Aggregator: a split vote at large σ gives varying tokens", async () => {
  await withAggregator({}, async (client) => {
    const tokens = new Set<number>();
    for (let i = 0; i < 30; i++) tokens.add(released(await client.vote({ votes: [1, 2, 3], sigma: 5, vocabSize: 8 })).token);
    assert.ok(tokens.size >= 3, `30 noisy releases over 8 tokens at σ = 5 give several tokens: ${[...tokens]}`);
  });
});

test("malformed votes get typed rejections naming the field, and never crash the Aggregator", async () => {
  const system = await ActorSystem.start({ node: "h1", logLevel: "silent" });
  try {
    const ref = await system.spawn(aggregator, { minSigma: 0.5 });
    const ask = (msg: Record<string, unknown>) => ref.ask<VoteReply>((replyTo) => ({ ...msg, replyTo }) as unknown as AggregatorMsg, { timeoutMs: 5_000 });
    const ok = { type: "vote", votes: [1, 1, 2], sigma: 1, vocabSize: 10 };
    const cases: [Record<string, unknown>, string, string][] = [
      [{ ...ok, votes: [] }, "INVALID_VOTES", "votes"],
      [{ ...ok, votes: new Array(MAX_PROPOSERS + 1).fill(1) }, "INVALID_VOTES", "votes"],
      [{ ...ok, votes: [1, "2"] }, "INVALID_VOTES", "votes.1"],
      [{ ...ok, votes: [1, 2.5] }, "INVALID_VOTES", "votes.1"],
      [{ ...ok, votes: [1, 10] }, "INVALID_VOTES", "votes.1"],
      [{ ...ok, votes: "1,2" }, "INVALID_VOTES", "votes"],
      [{ ...ok, sigma: Number.NaN }, "INVALID_SIGMA", "sigma"],
      [{ ...ok, sigma: "1" }, "INVALID_SIGMA", "sigma"],
      [{ ...ok, sigma: 0.25 }, "INVALID_SIGMA", "sigma"],
      [{ ...ok, sigma: 1e9 }, "INVALID_SIGMA", "sigma"],
      [{ ...ok, threshold: -1 }, "INVALID_THRESHOLD", "threshold"],
      [{ ...ok, vocabSize: 1 }, "INVALID_VOCAB_SIZE", "vocabSize"],
      [{ ...ok, vocabSize: 2_000_000 }, "INVALID_VOCAB_SIZE", "vocabSize"],
      [{ ...ok, vocabSize: undefined }, "INVALID_VOCAB_SIZE", "vocabSize"],
      [{ ...ok, seed: 42 }, "INVALID_REQUEST", ""],
      [{ ...ok, type: "tally" }, "INVALID_REQUEST", "type"],
      [{ votes: [1] }, "INVALID_REQUEST", "type"],
    ];
    for (const [msg, code, field] of cases) {
      const reply = await ask(msg);
      assert.equal(reply.type, "rejected", `${JSON.stringify(msg)} is rejected`);
      if (reply.type !== "rejected") continue;
      assert.equal(reply.code, code, `${JSON.stringify(msg)}: ${reply.message}`);
      assert.equal(reply.field, field, `${JSON.stringify(msg)} names the field`);
    }
    ref.tell({ type: "vote", votes: [1] } as unknown as AggregatorMsg); // no replyTo: a warning
    ref.tell(null as unknown as AggregatorMsg);
    assert.equal(released(await ask(ok)).proposers, 3, "still answering after all of that");
  } finally {
    await system.stop();
  }
});

test("an Aggregator spawned with an impossible σ floor fails to start", async () => {
  const system = await ActorSystem.start({ node: "h1", logLevel: "silent" });
  try {
    await assert.rejects(system.spawn(aggregator, { minSigma: -1 }, { restart: "temporary" }), "minSigma −1 is refused");
  } finally {
    await system.stop();
  }
});

test("an ensemble driven through AggregatorClient.voter() generates, and a rejected vote ends it as ENSEMBLE_UNAVAILABLE", async () => {
  await withAggregator({ minSigma: 0.01 }, async (client) => {
    const proposer = (id: string): Proposer & { prefix: number[]; closed: boolean } => {
      const p = {
        id, prefix: [] as number[], closed: false,
        open: async (prompt: readonly number[]) => { p.prefix.push(...prompt); return (p.prefix.length * 11) % 500; },
        next: async (token: number) => { p.prefix.push(token); return (p.prefix.length * 11) % 500; },
        close: () => { p.closed = true; },
      };
      return p;
    };
    const ps = ["a", "b", "c"].map(proposer);
    const tokens = await lastValueFrom(ensembleGenerate(ps, { prompt: [5], maxTokens: 4, sigma: 0.05, vocabSize: 500 }, client.voter()).pipe(toArray()));
    assert.deepEqual(tokens.map((t) => t.token), [11, 22, 33, 44], "the unanimous continuation");
    assert.ok(tokens.every((t) => t.consensusReached && t.proposers === 3), "consensus of three");
    assert.ok(ps.every((p) => p.closed), "closed");
    // σ below the floor: the Aggregator rejects the first vote; nothing was released.
    const error = await lastValueFrom(ensembleGenerate(["d", "e"].map(proposer), { prompt: [5], maxTokens: 4, sigma: 0.005, vocabSize: 500 }, client.voter())).then(() => null, (e: unknown) => e);
    assert.ok(error instanceof EnsembleUnavailable && error.released === 0, `nothing released: ${String(error)}`);
    assert.match(error.message, /VOTE_REJECTED/, "the rejection's code");
    assert.equal(new VoteRejected("INVALID_SIGMA", "x").code, "VOTE_REJECTED", "the voter's error class");
  });
});
