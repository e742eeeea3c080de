/**
 * DP ensemble decoding with plain-object proposers: each is fed the released token, never its
 * own proposal; dropouts continue while minProposers remain and otherwise end with
 * ENSEMBLE_UNAVAILABLE saying how many tokens were released; stop tokens end after being
 * emitted; unsubscribing stops after the token in flight; every proposer is closed exactly once.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { firstValueFrom, lastValueFrom, take, toArray, type Observable } from "rxjs";
import {
  ensembleGenerate, noisyArgmax, EnsembleUnavailable, InvalidEnsembleRequest, InvalidSigma,
  type EnsembleToken, type EnsembleVote, type Proposer,
} from "../../../actors/aggregator/index.ts";
import { seededNoise } from "./seeded-noise.ts";

interface FakeProposer extends Proposer {
  /** The prefix this proposer has been fed: prompt, then released tokens. */
  readonly prefix: number[];
  readonly proposals: number[];
  closed: number;
}

/** A proposer whose model is `model(prefix)`; `fail(step)` makes it reject at that step (0: open). */
function fake(id: string, model: (prefix: readonly number[]) => number, fail?: (step: number) => "reject" | "throw" | "hang" | "garbage" | undefined): FakeProposer {
  const p: FakeProposer = {
    id, prefix: [], proposals: [], closed: 0,
    open: async (prompt) => {
      p.prefix.push(...prompt);
      return answer(0);
    },
    next: async (token) => {
      p.prefix.push(token);
      return answer(p.proposals.length);
    },
    close: () => void p.closed++,
  };
  const answer = (step: number): Promise<number> | number => {
    const how = fail?.(step);
    if (how === "reject") return Promise.reject(Object.assign(new Error("stage down"), { code: "STAGE_UNREACHABLE" }));
    if (how === "throw") throw new Error("boom");
    if (how === "hang") return new Promise<number>(() => {});
    if (how === "garbage") return -3;
    const t = model(p.prefix);
    p.proposals.push(t);
    return t;
  };
  return p;
}

/** The plain majority (smallest id on ties), margin = top − second count: a deterministic stand-in for the Aggregator. */
const majority: EnsembleVote = (votes) => {
  const counts = new Map<number, number>();
  for (const v of votes) counts.set(v, (counts.get(v) ?? 0) + 1);
  const order = [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  return { token: order[0]![0], margin: order[0]![1] - (order[1]?.[1] ?? 0), consensusReached: order[0]![1] > votes.length / 2 };
};

const request = { prompt: [1, 2], maxTokens: 5, sigma: 2, vocabSize: 1_000 };
const all = <T>(o: Observable<T>) => lastValueFrom(o.pipe(toArray()));

test("every proposer is fed the released token, not its own proposal", async () => {
  const a = fake("a", (prefix) => 100 + prefix.length), b = fake("b", (prefix) => 100 + prefix.length), c = fake("c", () => 7);
  const tokens = await all(ensembleGenerate([a, b, c], request, majority));
  assert.deepEqual(tokens.map((t) => t.token), [102, 103, 104, 105, 106], "the majority's continuation");
  assert.deepEqual(tokens.map((t) => t.index), [0, 1, 2, 3, 4], "indices");
  assert.ok(tokens.every((t) => t.proposers === 3 && t.margin === 1 && t.consensusReached), `3 voters, 2 vs 1: ${JSON.stringify(tokens)}`);
  assert.deepEqual(c.prefix, [1, 2, 102, 103, 104, 105], "the dissenter continues from the released prefix (no next after the last token)");
  assert.deepEqual(c.proposals, [7, 7, 7, 7, 7], "it kept proposing its own token");
  assert.deepEqual([a.closed, b.closed, c.closed], [1, 1, 1], "each closed once");
});

test("with GNMax as the vote, unanimous proposers at small σ generate their continuation", async () => {
  const noise = seededNoise(3);
  const vote: EnsembleVote = (votes, params) => noisyArgmax(votes, { ...params, noise });
  const ps = ["x", "y", "z"].map((id) => fake(id, (prefix) => (prefix.at(-1)! * 7 + 3) % 1_000));
  const tokens = await all(ensembleGenerate(ps, { ...request, sigma: 0.05 }, vote));
  assert.deepEqual(tokens.map((t) => t.token), [17, 122, 857, 2, 17], "x ↦ 7x + 3 mod 1000 from 2");
  assert.ok(tokens.every((t) => t.consensusReached && t.margin > 2), "unanimous: consensus, margin ≈ 3");
});

test("a stop token ends the stream after being emitted", async () => {
  const ps = ["a", "b"].map((id) => fake(id, (prefix) => (prefix.length === 4 ? 999 : 10 + prefix.length)));
  const tokens = await all(ensembleGenerate(ps, { ...request, maxTokens: 20, stopTokens: [999] }, majority));
  assert.deepEqual(tokens.map((t) => t.token), [12, 13, 999], "stop token included, nothing after");
  assert.ok(ps.every((p) => p.closed === 1 && p.proposals.length === 3), "closed once, no proposal after the stop");
});

test("a proposer that fails is dropped and closed; the vote goes on with the rest while minProposers remain", async () => {
  const a = fake("a", () => 5), b = fake("b", () => 5), c = fake("c", () => 6, (step) => (step === 2 ? "reject" : undefined));
  const d = fake("d", () => 6, (step) => (step === 3 ? "throw" : undefined));
  const tokens = await all(ensembleGenerate([a, b, c, d], { ...request, minProposers: 2 }, majority));
  assert.deepEqual(tokens.map((t) => t.proposers), [4, 4, 3, 2, 2], "c drops at token 2, d at token 3");
  assert.deepEqual(tokens.map((t) => t.token), [5, 5, 5, 5, 5], "smallest on ties, then the majority");
  assert.deepEqual([a.closed, b.closed, c.closed, d.closed], [1, 1, 1, 1], "dropped proposers closed once, at the drop; the rest at the end");
  assert.equal(c.prefix.length, 4, "c got nothing after it failed");
});

test("below minProposers (default: all) the stream errors with ENSEMBLE_UNAVAILABLE and the number released", async () => {
  const a = fake("a", () => 5), b = fake("b", () => 5, (step) => (step === 2 ? "reject" : undefined));
  const seen: EnsembleToken[] = [];
  const error = await new Promise<unknown>((resolve) => {
    ensembleGenerate([a, b], request, majority).subscribe({ next: (t) => seen.push(t), error: resolve, complete: () => resolve(null) });
  });
  assert.ok(error instanceof EnsembleUnavailable, `typed error: ${String(error)}`);
  assert.equal(error.code, "ENSEMBLE_UNAVAILABLE", "stable code");
  assert.equal(error.released, 2, "two tokens left the system: commit exactly those");
  assert.equal(seen.length, error.released, "released counts what the subscriber got");
  assert.deepEqual([error.proposers, error.minProposers], [1, 2], "one left, two needed");
  assert.match(error.message, /b \(STAGE_UNREACHABLE\) failed on token 2/, "names the proposer and its code");
  assert.doesNotMatch(error.message, /\b5\b/, "never a token in the message");
  assert.deepEqual([a.closed, b.closed], [1, 1], "both closed");
});

test("a proposer that hangs or proposes garbage is dropped after proposeTimeoutMs", async () => {
  const a = fake("a", () => 5), b = fake("b", () => 5), c = fake("c", () => 5, (step) => (step === 1 ? "hang" : undefined));
  const d = fake("d", () => 5, (step) => (step === 0 ? "garbage" : undefined));
  const started = Date.now();
  const tokens = await all(ensembleGenerate([a, b, c, d], { ...request, maxTokens: 3, minProposers: 2, proposeTimeoutMs: 50 }, majority));
  assert.deepEqual(tokens.map((t) => t.proposers), [3, 2, 2], "d out at once, c after its timeout");
  assert.ok(Date.now() - started < 5_000, "the hang did not stall the ensemble");
  assert.deepEqual([c.closed, d.closed], [1, 1], "both closed");
});

test("a failing vote ends the stream with ENSEMBLE_UNAVAILABLE after the released tokens", async () => {
  let calls = 0;
  const vote: EnsembleVote = (votes, params) => {
    if (++calls === 3) throw Object.assign(new Error("x"), { code: "ASK_TIMEOUT" });
    return majority(votes, params);
  };
  const ps = ["a", "b"].map((id) => fake(id, () => 4));
  const error = await all(ensembleGenerate(ps, request, vote)).then(() => null, (e: unknown) => e);
  assert.ok(error instanceof EnsembleUnavailable && error.released === 2, `2 released before the failed vote: ${String(error)}`);
  assert.match(error.message, /vote on token 2 failed \(ASK_TIMEOUT\)/, "names the failure");
  assert.ok(ps.every((p) => p.closed === 1), "closed");
});

test("unsubscribing stops after the token in flight and closes every proposer", async () => {
  const ps = ["a", "b"].map((id) => fake(id, (prefix) => prefix.length));
  // Resolves once every proposer was closed: the generation closes them when it ends, and nothing
  // of it is left to run after that, so a second close or a later proposal would already show.
  const closed = Promise.all(ps.map((p) => new Promise<void>((resolve) => {
    const close = p.close;
    p.close = () => {
      close();
      resolve();
    };
  })));
  const first = await firstValueFrom(ensembleGenerate(ps, { ...request, maxTokens: 100 }, majority).pipe(take(2), toArray()));
  assert.deepEqual(first.map((t) => t.token), [2, 3], "two tokens taken");
  await closed;
  assert.ok(ps.every((p) => p.closed === 1), `closed once: ${ps.map((p) => p.closed)}`);
  assert.ok(ps.every((p) => p.proposals.length <= 3), `at most the token in flight after unsubscribing: ${ps.map((p) => p.proposals.length)}`);
});

test("an invalid request errors with a typed error and closes the proposers; a second subscription is refused", async () => {
  const cases: [Parameters<typeof ensembleGenerate>[1], string][] = [
    [{ ...request, maxTokens: 0 }, "INVALID_ENSEMBLE_REQUEST"],
    [{ ...request, sigma: -1 }, "INVALID_SIGMA"],
    [{ ...request, prompt: [] }, "INVALID_ENSEMBLE_REQUEST"],
    [{ ...request, prompt: [1_000] }, "INVALID_ENSEMBLE_REQUEST"],
    [{ ...request, minProposers: 3 }, "INVALID_ENSEMBLE_REQUEST"],
    [{ ...request, stopTokens: [-1] }, "INVALID_ENSEMBLE_REQUEST"],
    [{ ...request, threshold: Number.NaN }, "INVALID_THRESHOLD"],
    [{ ...request, vocabSize: 1 }, "INVALID_VOCAB_SIZE"],
    [{ ...request, proposeTimeoutMs: 0 }, "INVALID_ENSEMBLE_REQUEST"],
  ];
  for (const [bad, code] of cases) {
    const ps = ["a", "b"].map((id) => fake(id, () => 1));
    const error = await all(ensembleGenerate(ps, bad, majority)).then(() => null, (e: unknown) => e);
    assert.equal((error as { code?: string } | null)?.code, code, `${JSON.stringify(bad)} → ${code}`);
    assert.ok(ps.every((p) => p.closed === 1 && p.prefix.length === 0), "closed, never opened");
  }
  const dup = await all(ensembleGenerate([fake("a", () => 1), fake("a", () => 1)], request, majority)).then(() => null, (e: unknown) => e);
  assert.ok(dup instanceof InvalidEnsembleRequest && dup.field === "proposers", "duplicate ids refused");
  const once = ensembleGenerate(["a", "b"].map((id) => fake(id, () => 1)), request, majority);
  await all(once);
  const again = await all(once).then(() => null, (e: unknown) => e);
  assert.ok(again instanceof InvalidEnsembleRequest && again.field === "subscribe", "single use");
  assert.ok(!(again instanceof InvalidSigma), "not a σ error");
});
