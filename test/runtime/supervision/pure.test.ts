import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { recordRestart } from "../../../runtime/supervision/intensity.ts";
import { oneForAll, oneForOne, restForOne, shouldRestart } from "../../../runtime/supervision/strategies.ts";
import { backoffDelayMs } from "../../../runtime/supervision/backoff.ts";

test("intensity allows exactly `intensity` restarts within the period, then gives up", () => {
  const policy = { intensity: 3, periodMs: 1_000 };
  let history: number[] = [];
  const verdicts = [0, 100, 200, 300].map((t) => {
    const r = recordRestart(history, t, policy);
    history = r.history;
    return r.verdict;
  });
  assert.deepEqual(verdicts, ["restart", "restart", "restart", "give-up"]);
});

test("restarts older than the period no longer count; one exactly a period ago still does (OTP's inclusive bound)", () => {
  const policy = { intensity: 1, periodMs: 1_000 };
  const first = recordRestart([], 0, policy);
  assert.equal(recordRestart(first.history, 1_000, policy).verdict, "give-up", "0 and 1,000 are within one period of 1,000 ms");
  const second = recordRestart(first.history, 1_001, policy);
  assert.equal(second.verdict, "restart");
  assert.deepEqual(second.history, [1_001]);
  assert.equal(recordRestart(second.history, 1_500, policy).verdict, "give-up");
});

test("intensity 0 gives up on the first failure, as OTP does", () => {
  assert.equal(recordRestart([], 5, { intensity: 0, periodMs: 10 }).verdict, "give-up");
});

test("one-for-one restarts only the failed child", () => {
  assert.deepEqual(oneForOne.affected(1, 4), [1]);
});

test("one-for-all restarts every child, in start order", () => {
  assert.deepEqual(oneForAll.affected(2, 4), [0, 1, 2, 3]);
});

test("rest-for-one restarts the failed child and those started after it", () => {
  assert.deepEqual(restForOne.affected(1, 4), [1, 2, 3]);
  assert.deepEqual(restForOne.affected(3, 4), [3]);
});

test("restart types follow OTP: permanent always, transient on crash, temporary never", () => {
  assert.equal(shouldRestart("permanent", "normal"), true);
  assert.equal(shouldRestart("permanent", "crash"), true);
  assert.equal(shouldRestart("transient", "normal"), false);
  assert.equal(shouldRestart("transient", "crash"), true);
  assert.equal(shouldRestart("temporary", "crash"), false);
});

test("backoff doubles per attempt, is capped, and stays within the jitter band", () => {
  const policy = { minMs: 100, maxMs: 1_000, jitter: 0.2 };
  assert.equal(backoffDelayMs(1, policy, 0.5), 100);
  assert.equal(backoffDelayMs(2, policy, 0.5), 200);
  assert.equal(backoffDelayMs(10, policy, 0.5), 1_000);
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 30 }), fc.double({ min: 0, max: 0.999999, noNaN: true }), (attempt, r) => {
      const base = Math.min(1_000, 100 * 2 ** (attempt - 1));
      const d = backoffDelayMs(attempt, policy, r);
      return d >= Math.floor(base * 0.8) && d <= Math.ceil(base * 1.2);
    }),
  );
});
