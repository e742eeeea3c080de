/**
 * The HTTP edge's RouterClient (pure parts, over a fake ref that counts asks): health probes
 * within the cache window share one ask (a flood of probes costs the Router and the Accountant
 * one check per window); a failed ask is a not-ready report, not a throw; the Router's failures
 * come back as the front door's own error classes, fields and status intact.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { ActorRef } from "../../../runtime/index.ts";
import {
  BudgetExceededError, errorFromRouter, failureOf, InProgressError, InvalidRequestError, RouterClient, UnavailableError, type HealthReport, type RouterMsg,
} from "../../../actors/router/index.ts";

function countingRef(answer: () => Promise<HealthReport>): { ref: ActorRef<RouterMsg>; asks: () => number } {
  let asks = 0;
  const ref = {
    path: "fed://test/user/router",
    tell: () => undefined,
    send: async () => undefined,
    ask: async <R>(): Promise<R> => {
      asks++;
      return (await answer()) as R;
    },
  } as ActorRef<RouterMsg>;
  return { ref, asks: () => asks };
}

test("health probes inside the window share one ask; after it, the Router is asked again; 0 disables the cache", async () => {
  const ready: HealthReport = { live: true, ready: true, checks: {} };
  const { ref, asks } = countingRef(async () => ready);
  const client = new RouterClient(ref, { healthCacheMs: 40 });
  const reports = await Promise.all(Array.from({ length: 50 }, () => client.health()));
  assert.ok(reports.every((r) => r.ready));
  assert.equal(asks(), 1, "50 concurrent probes, one ask");
  await new Promise((r) => setTimeout(r, 60)); // past the 40 ms window: the next probe asks again
  await client.health();
  assert.equal(asks(), 2);
  const uncached = new RouterClient(ref, { healthCacheMs: 0 });
  await uncached.health();
  await uncached.health();
  assert.equal(asks(), 4);
});

test("a Router that does not answer makes a not-ready report, never a throw", async () => {
  const { ref } = countingRef(async () => {
    throw new Error("ACTOR_STOPPED");
  });
  const report = await new RouterClient(ref, { healthCacheMs: 0 }).health();
  assert.equal(report.ready, false);
  assert.match(report.checks.router?.detail ?? "", /did not answer/);
});

test("the Router's failures are rebuilt as the front door's classes with their fields", () => {
  const cases = [
    new BudgetExceededError({ remaining: 0.5, needed: 2, scope: "department", resetsAtMs: Date.UTC(2027, 0, 1) }),
    new UnavailableError("no route", 3),
    new InProgressError("q-1", 3_000),
    new InvalidRequestError("prompt", "too long", 413),
  ];
  for (const original of cases) {
    const rebuilt = errorFromRouter(failureOf(original));
    assert.equal(rebuilt.constructor, original.constructor);
    assert.equal(rebuilt.message, original.message);
    assert.deepEqual((rebuilt as typeof original).fields(), original.fields());
    assert.equal((rebuilt as typeof original).statusCode, original.statusCode);
  }
  const defect = errorFromRouter(failureOf(new TypeError("x is undefined")));
  assert.equal(defect.message, "the router failed to handle this request", "a defect says nothing more");
});
