import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { catchError, map, mergeMap, of, type Observable, type SchedulerLike } from "rxjs";
import { TestScheduler } from "rxjs/testing";
import { CircuitBreaker, withBreaker } from "../../../runtime/breaker/index.ts";
import { BreakerOpen } from "../../../runtime/errors.ts";

/** Two calls decide; one failure of two opens it for 10 ms; one probe closes it; > 5 ms is slow. */
const quick = {
  window: { kind: "count", size: 4 },
  minimumCalls: 2,
  failureRateThreshold: 0.5,
  slowCallRateThreshold: 1,
  slowCallDurationMs: 5,
  openDurationMs: 10,
  halfOpenProbes: 1,
} as const;

const virtualTime = () => new TestScheduler((actual, expected) => assert.deepEqual(actual, expected));
const states = { c: "closed", o: "open", h: "half-open", f: "forced-open" } as const;

describe("CircuitBreaker in virtual time", () => {
  test("state$ goes closed → open at the failure, half-open after openDurationMs, closed after the probe", () => {
    const scheduler = virtualTime();
    scheduler.run(({ cold, hot, expectObservable }) => {
      const breaker = new CircuitBreaker("fed://b", quick, scheduler);
      const calls = { f: cold<string>("-#", undefined, "peer down"), s: cold("-a|") };
      const requests = hot<Observable<string>>("f-f 13ms s", calls);
      const results = requests.pipe(mergeMap((call) => call.pipe(breaker.operator(), catchError(() => of("x")))));
      expectObservable(results).toBe(" -x-x 13ms a");
      expectObservable(breaker.state$.pipe(map((change) => change.to))).toBe("c--o 9ms h 3ms c", states);
      expectObservable(breaker.state$.pipe(map((change) => change.reason))).toBe("a--b 9ms c 3ms d", {
        a: "created",
        b: "failure-rate",
        c: "open-duration-elapsed",
        d: "probes-succeeded",
      });
    });
  });

  test("while open, the operator errors at once with BreakerOpen and never subscribes to the source", () => {
    const scheduler = virtualTime();
    scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const breaker = new CircuitBreaker("fed://b", quick, scheduler);
      const failing = cold("#", undefined, "peer down");
      expectObservable(failing.pipe(breaker.operator()), "^").toBe("#", undefined, "peer down");
      expectObservable(failing.pipe(withBreaker(breaker)), "-^").toBe("-#", undefined, "peer down");
      const source = cold("-a|");
      expectObservable(source.pipe(breaker.operator()), "-----^").toBe("-----#", undefined, new BreakerOpen("fed://b", 11));
      // At retryAtMs the same source goes through as the probe.
      expectObservable(source.pipe(breaker.operator()), "-----------^").toBe("------------a|");
      expectSubscriptions(source.subscriptions).toBe("-----------^-!");
    });
  });

  test("calls slower than slowCallDurationMs in virtual time open the breaker though they succeed", () => {
    const scheduler = virtualTime();
    scheduler.run(({ cold, hot, expectObservable }) => {
      const breaker = new CircuitBreaker("fed://b", quick, scheduler);
      const slow = cold("------a|"); // first value after 6 ms: slow
      const requests = hot<Observable<string>>("ss", { s: slow });
      expectObservable(requests.pipe(mergeMap((call) => call.pipe(breaker.operator())))).toBe("------aa");
      expectObservable(breaker.state$.pipe(map((change) => `${change.to} ${change.reason}`))).toBe("a 6ms b 9ms c", {
        a: "closed created",
        b: "open slow-call-rate",
        c: "half-open open-duration-elapsed",
      });
    });
  });

  test("a call that takes exactly slowCallDurationMs of virtual time is not slow", () => {
    const scheduler = virtualTime();
    scheduler.run(({ cold, hot, expectObservable, flush }) => {
      const breaker = new CircuitBreaker("fed://b", quick, scheduler);
      const requests = hot<Observable<string>>("ss", { s: cold("-----a|") });
      expectObservable(requests.pipe(mergeMap((call) => call.pipe(breaker.operator())))).toBe("-----aa");
      flush();
      assert.deepEqual(breaker.snapshot(), {
        target: "fed://b",
        state: "closed",
        failureRate: 0,
        slowCallRate: 0,
        callsInWindow: 2,
        probesInFlight: 0,
        retryAtMs: null,
        sinceMs: 0,
      });
    });
  });

  test("an unsubscribed probe gives its slot back to the next caller", () => {
    const scheduler = virtualTime();
    scheduler.run(({ cold, expectObservable }) => {
      const breaker = new CircuitBreaker("fed://b", quick, scheduler);
      const failing = cold("#");
      expectObservable(failing.pipe(breaker.operator()), "^").toBe("#");
      expectObservable(failing.pipe(breaker.operator()), "-^").toBe("-#"); // opens at 1, retry at 11
      const abandoned = cold("----a|");
      expectObservable(abandoned.pipe(breaker.operator()), "-----------^-!").toBe("");
      expectObservable(cold("a|").pipe(breaker.operator()), "--------------^").toBe("--------------a|");
      expectObservable(breaker.state$.pipe(map((change) => change.to))).toBe("co 9ms h--c", states);
    });
  });

  test("state$ reports half-open at retryAtMs even when the host timer fires early", () => {
    const scheduler = virtualTime();
    const early = {
      now: () => scheduler.now(),
      schedule: (work: () => void, delay = 0) => scheduler.schedule(work, Math.max(1, delay - 3)),
    } as SchedulerLike;
    scheduler.run(({ expectObservable }) => {
      const breaker = new CircuitBreaker("fed://b", quick, early);
      breaker.onError(admitted(breaker));
      breaker.onError(admitted(breaker));
      expectObservable(breaker.state$.pipe(map((change) => change.to))).toBe("o 9ms h", states);
    });
  });
});

describe("CircuitBreaker promise and low-level API", () => {
  test("execute runs an admitted call and counts its outcome", async () => {
    const breaker = new CircuitBreaker("fed://b", quick, virtualTime());
    assert.equal(await breaker.execute(() => Promise.resolve("pong")), "pong");
    await assert.rejects(breaker.execute(() => Promise.reject(new Error("peer down"))), /peer down/);
    assert.equal(breaker.state, "open");
  });

  test("execute with isFailure: a rejection it does not count is rethrown and leaves the breaker as it was", async () => {
    const breaker = new CircuitBreaker("fed://b", quick, virtualTime());
    const mine = Object.assign(new Error("prompt too long"), { code: "CONTEXT_EXCEEDED" });
    const isFailure = (error: unknown) => (error as { code?: string }).code !== "CONTEXT_EXCEEDED";
    for (let i = 0; i < 20; i++) await assert.rejects(breaker.execute(() => Promise.reject(mine), { isFailure }), /prompt too long/);
    assert.equal(breaker.state, "closed", "the caller's mistakes are not the peer's failures");
    assert.equal(await breaker.execute(() => Promise.resolve("pong"), { isFailure }), "pong");
    await assert.rejects(breaker.execute(() => Promise.reject(new Error("peer down")), { isFailure }), /peer down/);
    assert.equal(breaker.state, "open", "a counted failure still opens it");
  });

  test("execute refuses with BreakerOpen and never invokes the call while open", async () => {
    const breaker = new CircuitBreaker("fed://b", quick, virtualTime());
    breaker.forceOpen();
    let invoked = false;
    const call = () => {
      invoked = true;
      return Promise.resolve(1);
    };
    await assert.rejects(breaker.execute(call), (error: unknown) => error instanceof BreakerOpen && error.retryAtMs === 10);
    assert.equal(invoked, false);
  });

  test("execute counts a call that throws before returning a promise as a failure", async () => {
    const breaker = new CircuitBreaker("fed://b", quick, virtualTime());
    const throwing = (): Promise<never> => {
      throw new Error("no socket");
    };
    await assert.rejects(breaker.execute(throwing), /no socket/);
    assert.equal(breaker.snapshot().failureRate, 1);
  });

  test("a permit reported twice is counted once", () => {
    const breaker = new CircuitBreaker("fed://b", quick, virtualTime());
    const permit = admitted(breaker);
    breaker.onError(permit);
    breaker.onError(permit);
    breaker.onSuccess(permit);
    assert.equal(breaker.snapshot().callsInWindow, 1);
  });

  test("onSuccess measures the duration on the scheduler's clock when none is given", () => {
    const scheduler = virtualTime();
    const breaker = new CircuitBreaker("fed://b", quick, scheduler);
    const first = admitted(breaker);
    const second = admitted(breaker);
    scheduler.schedule(() => {
      breaker.onSuccess(first);
      breaker.onSuccess(second);
    }, 6);
    scheduler.maxFrames = 10; // stop before the half-open timer at 16
    scheduler.flush();
    assert.equal(breaker.state, "open");
    assert.equal(breaker.snapshot().retryAtMs, 16);
  });

  test("dispose cancels the half-open timer and completes state$", () => {
    const scheduler = virtualTime();
    const breaker = new CircuitBreaker("fed://b", quick, scheduler);
    let completed = false;
    breaker.state$.subscribe({ complete: () => (completed = true) });
    breaker.onError(admitted(breaker));
    breaker.onError(admitted(breaker));
    assert.equal(scheduler.actions.length, 1);
    breaker.dispose();
    assert.equal(scheduler.actions.length, 0);
    assert.equal(completed, true);
  });

  test("the CircuitBreaker doc example runs as documented", async () => {
    const breaker = new CircuitBreaker("fed://node-b", { openDurationMs: 10_000 });
    const reply = await breaker.execute(() => Promise.resolve("pong"));
    assert.equal(reply, "pong");
    breaker.forceOpen();
    await assert.rejects(breaker.execute(() => Promise.resolve("pong")), { code: "BREAKER_OPEN" });
    breaker.dispose();
  });
});

function admitted(breaker: CircuitBreaker) {
  const admission = breaker.tryAcquire();
  if (admission.type !== "permitted") throw admission.error;
  return admission.permit;
}
