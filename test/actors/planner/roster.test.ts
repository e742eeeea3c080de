/**
 * The Planner's roster as plain data: joins, re-joins, leaves and breaker changes; who is
 * eligible for a request (breaker closed, region allowed); chain order; plans cut from it
 * that respect residency; and the typed errors a bad change gets.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { chainOrder, emptyRoster, joinExecutor, leaveExecutor, mayServe, planOf, setBreaker, statusOf, type Roster } from "../../../actors/planner/roster.ts";
import fc from "fast-check";
import { MAX_UNORDERED_EXECUTORS, optimalPartition } from "../../../actors/planner/partition.ts";
import type { ExecutorInfo } from "../../../actors/planner/protocol.ts";

const info = (id: string, extra: Partial<ExecutorInfo> = {}): ExecutorInfo => ({ id, path: `fed://${id}/user/shard`, blockMs: [1, 1, 1, 1], linkMs: 1, ...extra });

function rosterOf(ordered: boolean, ...executors: ExecutorInfo[]): Roster {
  return executors.reduce((r, x) => joinExecutor(r, x).roster, emptyRoster(4, ordered));
}

test("a join adds an executor, a re-join replaces its calibration and keeps its breaker and place", () => {
  let roster = rosterOf(true, info("a"), info("b"));
  roster = setBreaker(roster, "a", "open").roster;
  const rejoin = joinExecutor(roster, info("a", { blockMs: [2, 2, 2, 2] }));
  assert.equal(rejoin.reason, "rejoin a");
  assert.equal(rejoin.changed, true);
  assert.deepEqual(chainOrder(rejoin.roster).map((e) => [e.info.id, e.breaker, e.info.blockMs[0]]), [["a", "open", 2], ["b", "closed", 1]]);
  assert.equal(joinExecutor(roster, info("c")).reason, "join c");
});

test("a breaker change to the state it already has changes nothing; open and half-open exclude, closed re-includes", () => {
  const roster = rosterOf(false, info("a"));
  assert.equal(setBreaker(roster, "a", "closed").changed, false);
  for (const [state, eligible] of [["open", false], ["half-open", false], ["closed", true]] as const) {
    const next = setBreaker(setBreaker(roster, "a", "open").roster, "a", state).roster;
    assert.equal(mayServe(next.entries.get("a")!, undefined), eligible, state);
    assert.deepEqual(statusOf(next).map((s) => [s.breaker, s.eligible]), [[state, eligible]]);
  }
});

test("leave and breaker name executors that joined; others are UNKNOWN_EXECUTOR", () => {
  const roster = rosterOf(false, info("a"));
  assert.throws(() => leaveExecutor(roster, "zz"), { code: "UNKNOWN_EXECUTOR", executor: "zz" });
  assert.throws(() => setBreaker(roster, "zz", "open"), { code: "UNKNOWN_EXECUTOR" });
  const left = leaveExecutor(roster, "a");
  assert.equal(left.reason, "leave a");
  assert.equal(left.roster.entries.size, 0);
});

test("an ordered chain follows ExecutorInfo.order, then join order; unordered rosters list by id", () => {
  const roster = rosterOf(true, info("z"), info("y", { order: 2 }), info("x"), info("w", { order: 1 }));
  assert.deepEqual(chainOrder(roster).map((e) => e.info.id), ["w", "y", "z", "x"]);
  assert.deepEqual(chainOrder({ ...roster, ordered: false }).map((e) => e.info.id), ["w", "x", "y", "z"]);
});

test("a regional plan uses only executors allowed there: listed regions, or none listed (any region)", () => {
  const fast = { blockMs: [1, 1, 1, 1], linkMs: 0 };
  const roster = rosterOf(false, info("eu-1", { ...fast, regions: ["eu"] }), info("us-1", { ...fast, regions: ["us"] }), info("any-1", { blockMs: [3, 3, 3, 3], linkMs: 0 }), info("none-1", { ...fast, regions: [] }));
  const everyone = planOf(roster, 7, "join none-1"); // two of the three fast ones, two blocks each
  assert.equal(everyone.bottleneckMs, 2);
  assert.equal(everyone.region, undefined);
  const eu = planOf(roster, 7, "join none-1", "eu"); // eu-1 runs 3 blocks, the slow any-1 one
  assert.equal(eu.region, "eu");
  assert.equal(eu.version, 7);
  assert.equal(eu.bottleneckMs, 3);
  assert.deepEqual(eu.stages.map((s) => s.executor).sort(), ["any-1", "eu-1"]);
  assert.deepEqual(eu.stages.map((s) => s.path).sort(), eu.stages.map((s) => `fed://${s.executor}/user/shard`).sort());
  const apac = planOf(roster, 7, "join none-1", "apac");
  assert.deepEqual(apac.stages.map((s) => [s.executor, s.from, s.to]), [["any-1", 0, 4]]);
  const closed = setBreaker(roster, "any-1", "open").roster;
  assert.throws(() => planOf(closed, 8, "breaker open any-1", "apac"), { code: "NO_EXECUTORS", region: "apac", message: /region "apac"/ });
  assert.ok(planOf(closed, 8, "breaker open any-1").stages.every((s) => s.executor !== "any-1"), "an open breaker excludes");
});

test("bad changes are typed: a calibration of the wrong length, a bad cost, an executor past the unordered cap", () => {
  const roster = rosterOf(false, info("a"));
  assert.throws(() => joinExecutor(roster, info("b", { blockMs: [1, 1] })), { code: "INVALID_CALIBRATION", field: "blockMs", executor: "b" });
  assert.throws(() => joinExecutor(roster, info("b", { linkMs: { a: -1 } })), { code: "INVALID_CALIBRATION", field: "linkMs.a" });
  assert.throws(() => emptyRoster(0, false), { code: "INVALID_CALIBRATION", field: "blocks" });
  const ids = Array.from({ length: MAX_UNORDERED_EXECUTORS }, (_, i) => `h${i}`);
  const full = rosterOf(false, ...ids.map((id) => info(id)));
  assert.throws(() => joinExecutor(full, info("one-more")), { code: "TOO_MANY_EXECUTORS", count: MAX_UNORDERED_EXECUTORS + 1 });
  assert.equal(joinExecutor(full, info("h0", { linkMs: 2 })).changed, true, "a re-join is not one more");
  assert.equal(rosterOf(true, ...ids.map((id) => info(id)), info("one-more")).entries.size, MAX_UNORDERED_EXECUTORS + 1);
});

test("every regional plan, on random rosters, uses only closed-breaker executors allowed in the region, and is the optimum over them", () => {
  const REGIONS = ["eu", "us", "apac"];
  const executorArb = fc.record({
    regions: fc.option(fc.subarray(REGIONS), { nil: undefined }),
    blockMs: fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 5, maxLength: 5 }),
    linkMs: fc.integer({ min: 0, max: 6 }),
    breaker: fc.constantFrom("closed", "closed", "open", "half-open"),
  });
  fc.assert(
    fc.property(fc.array(executorArb, { minLength: 1, maxLength: 5 }), fc.boolean(), fc.constantFrom(undefined, ...REGIONS), (executors, ordered, region) => {
      let roster = emptyRoster(5, ordered);
      executors.forEach((x, i) => {
        const id = `h${i}`;
        roster = joinExecutor(roster, { id, path: `fed://${id}/user/shard`, blockMs: x.blockMs, linkMs: x.linkMs, ...(x.regions ? { regions: x.regions } : {}) }).roster;
        roster = setBreaker(roster, id, x.breaker as "closed").roster;
      });
      const allowed = chainOrder(roster).filter((e) => e.breaker === "closed" && (region === undefined || e.info.regions === undefined || e.info.regions.includes(region)));
      if (allowed.length === 0) {
        assert.throws(() => planOf(roster, 1, "r", region), { code: "NO_EXECUTORS" });
        return;
      }
      const plan = planOf(roster, 1, "r", region);
      const ids = new Set(allowed.map((e) => e.info.id));
      assert.ok(plan.stages.every((s) => ids.has(s.executor)), `${JSON.stringify(plan.stages)} uses only ${[...ids]}`);
      assert.equal(plan.bottleneckMs, optimalPartition(5, allowed.map((e) => e.info), { ordered }).bottleneckMs);
    }),
    { numRuns: 500 },
  );
});
