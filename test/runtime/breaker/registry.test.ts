import assert from "node:assert/strict";
import { test } from "node:test";
import { TestScheduler } from "rxjs/testing";
import { BreakerRegistry, DEFAULT_BREAKER, type BreakerStateChange } from "../../../runtime/breaker/index.ts";
import { InvalidArgument } from "../../../runtime/errors.ts";

const virtualTime = () => new TestScheduler((actual, expected) => assert.deepEqual(actual, expected));

test("get hands out one breaker per target", () => {
  const breakers = new BreakerRegistry({ scheduler: virtualTime() });
  assert.equal(breakers.get("fed://a"), breakers.get("fed://a"));
  assert.notEqual(breakers.get("fed://a"), breakers.get("fed://b"));
  assert.equal(breakers.has("fed://c"), false);
});

test("a target's override applies over the registry defaults, and the caller's settings over both", () => {
  const breakers = new BreakerRegistry({
    defaults: { minimumCalls: 5, openDurationMs: 1_000 },
    overrides: { "fed://slow": { openDurationMs: 60_000 } },
    scheduler: virtualTime(),
  });
  assert.deepEqual(breakers.get("fed://a").config, { ...DEFAULT_BREAKER, minimumCalls: 5, openDurationMs: 1_000 });
  assert.deepEqual(breakers.get("fed://slow").config, { ...DEFAULT_BREAKER, minimumCalls: 5, openDurationMs: 60_000 });
  const probing = breakers.get("fed://probing", { halfOpenProbes: 1 });
  assert.deepEqual(probing.config, { ...DEFAULT_BREAKER, minimumCalls: 5, openDurationMs: 1_000, halfOpenProbes: 1 });
});

test("asking for an existing breaker with other settings throws InvalidArgument, the same settings return it", () => {
  const breakers = new BreakerRegistry({ scheduler: virtualTime() });
  const breaker = breakers.get("fed://a", { halfOpenProbes: 1 });
  assert.equal(breakers.get("fed://a", { halfOpenProbes: 1 }), breaker);
  assert.equal(breakers.get("fed://a"), breaker);
  assert.throws(
    () => breakers.get("fed://a", { halfOpenProbes: 2 }),
    (error: unknown) => error instanceof InvalidArgument && error.field === "config",
  );
});

test("a bad override fails when the registry is built, naming the field", () => {
  assert.throws(
    () => new BreakerRegistry({ overrides: { "fed://a": { failureRateThreshold: 2 } } }),
    (error: unknown) => error instanceof InvalidArgument && error.field === "failureRateThreshold",
  );
});

test("changes$ merges the transitions of every breaker, those created later included", () => {
  const scheduler = virtualTime();
  const breakers = new BreakerRegistry({ defaults: { openDurationMs: 5 }, scheduler });
  const seen: string[] = [];
  breakers.changes$.subscribe((change: BreakerStateChange) => seen.push(`${change.atMs} ${change.target} ${change.to}`));
  breakers.get("fed://a").forceOpen();
  scheduler.schedule(() => breakers.get("fed://b").forceClose(), 3);
  scheduler.schedule(() => breakers.get("fed://a").reset(), 4);
  scheduler.flush();
  assert.deepEqual(seen, ["0 fed://a forced-open", "3 fed://b forced-closed", "4 fed://a closed"]);
});

test("snapshot lists every breaker by target", () => {
  const breakers = new BreakerRegistry({ scheduler: virtualTime() });
  breakers.get("fed://b").forceOpen();
  breakers.get("fed://a");
  assert.deepEqual(
    breakers.snapshot().map((snapshot) => [snapshot.target, snapshot.state]),
    [
      ["fed://a", "closed"],
      ["fed://b", "forced-open"],
    ],
  );
});

test("dispose cancels every breaker's timer and completes changes$", () => {
  const scheduler = virtualTime();
  const breakers = new BreakerRegistry({ defaults: { minimumCalls: 1 }, scheduler });
  let completed = false;
  breakers.changes$.subscribe({ complete: () => (completed = true) });
  const breaker = breakers.get("fed://a");
  const admission = breaker.tryAcquire();
  if (admission.type === "permitted") breaker.onError(admission.permit);
  assert.equal(breaker.state, "open");
  assert.equal(scheduler.actions.length, 1);
  breakers.dispose();
  assert.equal(scheduler.actions.length, 0);
  assert.equal(completed, true);
});

test("the BreakerRegistry doc example runs as documented", async () => {
  const breakers = new BreakerRegistry({ defaults: { minimumCalls: 5 }, overrides: { "fed://c": { halfOpenProbes: 1 } } });
  const seen: string[] = [];
  breakers.changes$.subscribe((change) => seen.push(`${change.target} ${change.from} → ${change.to}`));
  await breakers.get("fed://c").execute(() => Promise.resolve("pong"));
  breakers.get("fed://c").forceOpen();
  assert.deepEqual(seen, ["fed://c closed → forced-open"]);
  const [snapshot] = breakers.snapshot();
  assert.equal(snapshot?.target, "fed://c");
  assert.equal(snapshot?.state, "forced-open");
  assert.equal(snapshot?.callsInWindow, 0);
  breakers.dispose();
});
