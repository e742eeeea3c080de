/**
 * The routing strategies as pure functions: filters that no strategy can bypass (breaker,
 * residency, privacy), exact weighted cycles, the power of two choices, peak EWMA, consensus;
 * and the failure classes that decide what a hospital's breaker counts (issue 15).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { choose, NoRoute, RouteStats, STRATEGIES, type Candidate, type StrategyName } from "../../../actors/router/strategies.ts";
import { classifyFailure, STAGE_FAILURE_CLASS } from "../../../actors/router/failures.ts";
import { seededUniform } from "../../../actors/shard-executor/random.ts";
import { InvalidGenerateRequest, PipelineStepFailed, SHARD_EXECUTOR_ERROR_CODES, type ShardExecutorErrorCode } from "../../../actors/shard-executor/index.ts";
import { BreakerOpen } from "../../../runtime/index.ts";
import { InvalidRequestError, UnavailableError } from "../../../actors/router/http/errors.ts";

const nodes = (n: number, extra: (i: number) => Partial<Candidate> = () => ({})): Candidate[] =>
  Array.from({ length: n }, (_, i) => ({ id: `h${i}`, region: i % 2 === 0 ? "eu" : "us", ...extra(i) }));

test("no strategy ever picks a node with an open breaker, outside the request's region, or (privacy-aware) whose budget refuses", () => {
  fc.assert(fc.property(
    fc.array(fc.record({ breakerOpen: fc.boolean(), region: fc.constantFrom("eu", "us"), budgetAdmits: fc.boolean(), weight: fc.integer({ min: 1, max: 5 }) }), { minLength: 1, maxLength: 8 }),
    fc.constantFrom(...STRATEGIES), fc.option(fc.constantFrom("eu", "us"), { nil: undefined }), fc.integer({ min: 1, max: 3 }), fc.integer(),
    (specs, strategy, region, k, seed) => {
      const candidates = specs.map((s, i) => ({ id: `h${i}`, ...s }));
      const stats = new RouteStats();
      const random = seededUniform(seed);
      for (let round = 0; round < 5; round++) {
        let picked: string[];
        try {
          picked = choose(strategy, candidates, { ...(region ? { region } : {}), k }, stats, random);
        } catch (error) {
          assert.ok(error instanceof NoRoute, `only NoRoute is thrown, got ${String(error)}`);
          const usable = candidates.filter((c) => !c.breakerOpen && (!region || c.region === region) && (strategy !== "privacy-aware" || c.budgetAdmits));
          assert.ok(usable.length < (strategy === "consensus" ? k : 1), `NoRoute only when too few are usable (${usable.length})`);
          return;
        }
        assert.equal(picked.length, strategy === "consensus" ? k : 1, "one node, or k for consensus");
        assert.equal(new Set(picked).size, picked.length, "distinct nodes");
        for (const id of picked) {
          const c = candidates.find((x) => x.id === id)!;
          assert.ok(!c.breakerOpen, `${strategy} picked ${id} with an open breaker`);
          assert.ok(!region || c.region === region, `${strategy} picked ${id} outside ${region}`);
          assert.ok(strategy !== "privacy-aware" || c.budgetAdmits, `privacy-aware picked ${id} whose budget refuses`);
          stats.started(id);
        }
      }
    }), { numRuns: 300 });
});

test("weighted: every cycle of Σw picks holds each node exactly its weight, interleaved (smooth WRR)", () => {
  const candidates = nodes(3, (i) => ({ weight: [5, 1, 1][i] }));
  const stats = new RouteStats();
  const picks = Array.from({ length: 14 }, () => choose("weighted", candidates, {}, stats, Math.random)[0]);
  for (const cycle of [picks.slice(0, 7), picks.slice(7)]) {
    assert.deepEqual(["h0", "h1", "h2"].map((id) => cycle.filter((p) => p === id).length), [5, 1, 1]);
  }
  assert.deepEqual(picks.slice(0, 7), ["h0", "h0", "h1", "h0", "h2", "h0", "h0"], "nginx's smooth order for weights 5, 1, 1");
});

test("round-robin takes every eligible node in turn", () => {
  const stats = new RouteStats();
  const picks = Array.from({ length: 6 }, () => choose("round-robin", nodes(3), {}, stats, Math.random)[0]);
  assert.deepEqual(picks, ["h0", "h1", "h2", "h0", "h1", "h2"]);
});

test("least-outstanding (two choices) never picks the busier of its two; with one idle node among busy ones it is chosen far more often", () => {
  const candidates = nodes(4);
  const stats = new RouteStats();
  for (const [id, n] of [["h1", 5], ["h2", 5], ["h3", 5]] as const) for (let i = 0; i < n; i++) stats.started(id);
  const random = seededUniform(3);
  const counts = new Map<string, number>();
  for (let i = 0; i < 4_000; i++) {
    const [id] = choose("least-outstanding", candidates, {}, stats, random);
    counts.set(id!, (counts.get(id!) ?? 0) + 1);
  }
  // h0 is in the pair with probability 1/2 and then always wins: about 2,000 of 4,000.
  const idle = counts.get("h0") ?? 0;
  assert.ok(idle > 1_800 && idle < 2_200, `the idle node wins every pair it is in: ${idle} of 4000`);
});

test("latency: the lowest EWMA × (outstanding + 1); an unmeasured node is tried first; EWMA follows samples with its alpha", () => {
  const candidates = nodes(3);
  const stats = new RouteStats(0.5);
  for (const [id, ms] of [["h0", 100], ["h1", 20], ["h2", 50]] as const) stats.ended(id, ms);
  assert.deepEqual(choose("latency", candidates, {}, stats, Math.random), ["h1"]);
  for (let i = 0; i < 3; i++) stats.started("h1"); // 20 × 4 = 80 > 50 × 1
  assert.deepEqual(choose("latency", candidates, {}, stats, Math.random), ["h2"], "a fast node piling up requests stops looking fast");
  stats.ended("h2", 150);
  assert.equal(stats.ewmaMs("h2"), 100, "50 + 0.5 × (150 − 50)");
  assert.deepEqual(choose("latency", [...candidates, { id: "h9", region: "eu" }], {}, stats, Math.random), ["h9"], "never measured: tried first");
});

test("consensus returns k distinct nodes, least loaded first, within the region; too few is NoRoute naming each exclusion", () => {
  const candidates = nodes(5, (i) => ({ breakerOpen: i === 2 }));
  const stats = new RouteStats();
  stats.started("h0");
  assert.deepEqual(choose("consensus", candidates, { k: 3 }, stats, Math.random), ["h1", "h3", "h4"]);
  assert.throws(() => choose("consensus", candidates, { k: 3, region: "eu" }, stats, Math.random), (e: NoRoute) =>
    e.code === "NO_ROUTE" && e.reasons.h2 === "breaker open" && /region us, the request needs eu/.test(e.reasons.h1!) && e.needed === 3);
  for (const strategy of STRATEGIES as StrategyName[]) assert.throws(() => choose(strategy, [], {}, stats, Math.random), /no nodes known/);
});

const stepFailed = (code: string, generated = 0) => new PipelineStepFailed("seq-1", "fed://h-b/user/node/shard-executor", "h-b", code as ShardExecutorErrorCode, "detail", generated);

test("classifyFailure: the doc example; a prompt past the context and a refused step are the caller's, whatever was generated", () => {
  assert.equal(classifyFailure(new PipelineStepFailed("s", "fed://h-b/user/node/shard-executor", "h-b", "CONTEXT_EXCEEDED", "…", 0)), "caller");
  for (const generated of [0, 1, 57]) {
    assert.equal(classifyFailure(stepFailed("CONTEXT_EXCEEDED", generated)), "caller");
    assert.equal(classifyFailure(stepFailed("INVALID_STEP", generated)), "caller");
  }
  assert.equal(classifyFailure(new InvalidGenerateRequest("prompt", "needs at least one token id")), "caller", "the driver refusing the prompt");
  assert.equal(classifyFailure(new InvalidRequestError("prompt", "encodes to no tokens")), "caller");
});

test("classifyFailure: a hospital's own failures are the peer's, including a stage code this node does not know yet", () => {
  for (const code of ["SEQUENCE_LOST", "TOO_MANY_SEQUENCES", "WRONG_BLOCKS", "STAGE_UNREACHABLE", "DEADLINE_EXCEEDED", "EXECUTOR_FAILED", "SOME_NEWER_CODE"]) {
    assert.equal(classifyFailure(stepFailed(code)), "peer", code);
  }
  assert.equal(classifyFailure(new BreakerOpen("hospital:h-b", Date.now() + 10_000)), "peer");
  assert.equal(classifyFailure(stepFailed("toString")), "peer", "an inherited property name is not a known code");
});

test("classifyFailure: this node's own failures and anything untyped are internal (never counted, never retried)", () => {
  assert.equal(classifyFailure(new InvalidGenerateRequest("session", "has a step in flight: one at a time")), "internal");
  assert.equal(classifyFailure(new InvalidGenerateRequest("route", "is empty")), "internal");
  for (const thrown of [new TypeError("x is undefined"), new Error("boom"), "a string", undefined, null, 42, { code: 7 }]) {
    assert.equal(classifyFailure(thrown), "internal", String(thrown));
  }
  assert.equal(classifyFailure(new UnavailableError("the Accountant did not answer")), "internal");
});

test("every ShardExecutor error code has a class, read from the code alone whatever was generated", () => {
  assert.deepEqual(Object.keys(STAGE_FAILURE_CLASS).sort(), [...SHARD_EXECUTOR_ERROR_CODES].sort());
  fc.assert(fc.property(fc.constantFrom(...SHARD_EXECUTOR_ERROR_CODES), fc.nat(1_024), (code, generated) => {
    assert.equal(classifyFailure(stepFailed(code, generated)), STAGE_FAILURE_CLASS[code]);
  }));
});
