import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { inspect } from "node:util";
import { InvalidArgument } from "../../../runtime/errors.ts";
import {
  acquire,
  advance,
  DEFAULT_BREAKER,
  forceClose,
  forceOpen,
  INITIAL_BREAKER_STATE,
  measureWindow,
  recordOutcome,
  reset,
  resolveBreakerConfig,
  type BreakerConfig,
  type BreakerState,
  type BreakerTransition,
  type Permit,
} from "../../../runtime/breaker/state-machine.ts";

const tenCalls = resolveBreakerConfig({
  window: { kind: "count", size: 10 },
  minimumCalls: 10,
  failureRateThreshold: 0.5,
  slowCallRateThreshold: 1,
  slowCallDurationMs: 100,
  openDurationMs: 1_000,
  halfOpenProbes: 2,
});

/** Feeds calls at `nowMs`: S succeeds, F fails, L succeeds slowly (over slowCallDurationMs). */
function feed(state: BreakerState, config: BreakerConfig, calls: string, nowMs = 0) {
  const transitions: BreakerTransition[] = [];
  for (const mark of calls) {
    const asked = acquire(state, config, nowMs);
    assert.equal(asked.admission.type, "permitted", `call ${mark} refused in ${state.name}`);
    if (asked.admission.type !== "permitted") break;
    const durationMs = mark === "L" ? config.slowCallDurationMs + 1 : 1;
    const type = mark === "F" ? "failure" : "success";
    const step = recordOutcome(asked.state, config, { type, permit: asked.admission.permit, durationMs }, nowMs);
    if (step.transition) transitions.push(step.transition);
    state = step.state;
  }
  return { state, transitions };
}

function permitOf(step: ReturnType<typeof acquire>): Permit {
  assert.equal(step.admission.type, "permitted");
  return (step.admission as { permit: Permit }).permit;
}

/** Opens `tenCalls` at t = 0, so it turns half-open at t = 1000. */
const openAtZero = () => feed(INITIAL_BREAKER_STATE, tenCalls, "FFFFFFFFFF").state;

describe("thresholds and windows", () => {
  test("a failure rate exactly at the threshold opens the breaker", () => {
    const { state, transitions } = feed(INITIAL_BREAKER_STATE, tenCalls, "SSSSSFFFFF", 7);
    assert.deepEqual(state, { name: "open", epoch: 1, retryAtMs: 1_007 });
    assert.equal(transitions[0]?.reason, "failure-rate");
    assert.equal(transitions[0]?.detail, "failure rate 50% ≥ 50% over 10 calls");
  });

  test("a failure rate one call below the threshold leaves it closed", () => {
    assert.equal(feed(INITIAL_BREAKER_STATE, tenCalls, "SSSSSSFFFF").state.name, "closed");
  });

  test("a threshold of 0.3 is met by exactly 3 failures in 10, despite floating point", () => {
    const config = { ...tenCalls, failureRateThreshold: 0.3 };
    assert.equal(feed(INITIAL_BREAKER_STATE, config, "SSSSSSSFFF").state.name, "open");
    assert.equal(feed(INITIAL_BREAKER_STATE, config, "SSSSSSSSFF").state.name, "closed");
  });

  test("no verdict before minimumCalls, however many of them failed", () => {
    const nine = feed(INITIAL_BREAKER_STATE, tenCalls, "FFFFFFFFF");
    assert.equal(nine.state.name, "closed");
    assert.equal(feed(nine.state, tenCalls, "F").state.name, "open");
  });

  test("a count window judges only the last N calls", () => {
    const config = { ...tenCalls, window: { kind: "count", size: 4 }, minimumCalls: 4 } as const;
    const oneBad = feed(INITIAL_BREAKER_STATE, config, "SSSSF");
    assert.equal(oneBad.state.name, "closed");
    assert.equal(measureWindow(oneBad.state, config, 0).calls, 4);
    // 2 failures of 6 calls overall, but 2 of the last 4.
    assert.equal(feed(oneBad.state, config, "F").state.name, "open");
  });

  test("calls older than a time window fall out of it", () => {
    const config = resolveBreakerConfig({ ...tenCalls, window: { kind: "time", sizeMs: 1_000, bucketMs: 1 }, minimumCalls: 4 });
    const threeFailures = feed(INITIAL_BREAKER_STATE, config, "FFF", 0).state;
    assert.equal(measureWindow(threeFailures, config, 999).calls, 3);
    assert.equal(measureWindow(threeFailures, config, 1_000).calls, 0);
    assert.equal(feed(threeFailures, config, "S", 999).state.name, "open", "3 failures of 4 in the last 1000 ms");
    assert.equal(feed(threeFailures, config, "S", 1_000).state.name, "closed", "1 call in the window, below minimumCalls");
  });

  test("a time window holds one bucket per bucketMs, however many calls it sums", () => {
    const config = resolveBreakerConfig({ ...tenCalls, window: { kind: "time", sizeMs: 1_000 }, minimumCalls: 500 });
    assert.deepEqual(config.window, { kind: "time", sizeMs: 1_000, bucketMs: 10 });
    let state = INITIAL_BREAKER_STATE;
    for (let nowMs = 0; nowMs < 20; nowMs += 1) state = feed(state, config, "SSSSSSSSSF", nowMs).state;
    assert.equal(state.name === "closed" && state.window.length, 2);
    assert.deepEqual(measureWindow(state, config, 19), { calls: 200, failedCalls: 20, slowCalls: 0, failureRate: 0.1, slowCallRate: 0 });
  });

  test("slow calls open the breaker even when every call succeeds", () => {
    const { state, transitions } = feed(INITIAL_BREAKER_STATE, tenCalls, "LLLLLLLLLL");
    assert.equal(state.name, "open");
    assert.equal(transitions[0]?.reason, "slow-call-rate");
  });

  test("one fast call keeps a slow-call threshold of 100% from opening", () => {
    assert.equal(feed(INITIAL_BREAKER_STATE, tenCalls, "LLLLLLLLLS").state.name, "closed");
  });

  test("a call lasting exactly slowCallDurationMs is not slow", () => {
    let state = INITIAL_BREAKER_STATE;
    for (let i = 0; i < 10; i += 1) {
      const asked = acquire(state, tenCalls, 0);
      state = recordOutcome(asked.state, tenCalls, { type: "success", permit: permitOf(asked), durationMs: 100 }, 0).state;
    }
    assert.equal(state.name, "closed");
    assert.equal(measureWindow(state, tenCalls, 0).slowCalls, 0);
  });
});

describe("open and half-open", () => {
  test("an open breaker refuses every call before retryAtMs, quoting it", () => {
    const step = acquire(openAtZero(), tenCalls, 999);
    assert.deepEqual(step.admission, { type: "refused", retryAtMs: 1_000 });
    assert.equal(step.state.name, "open");
    assert.equal(advance(step.state, tenCalls, 999).transition, null);
  });

  test("a breaker half-open admits exactly halfOpenProbes probes and refuses the next with a retry time", () => {
    const first = acquire(openAtZero(), tenCalls, 1_000);
    assert.equal(first.transition?.to, "half-open");
    assert.equal(permitOf(first).probe, true);
    const second = acquire(first.state, tenCalls, 1_001);
    assert.equal(permitOf(second).probe, true);
    const third = acquire(second.state, tenCalls, 1_002);
    assert.deepEqual(third.admission, { type: "refused", retryAtMs: 2_002 });
    assert.equal(third.state.name, "half-open");
  });

  test("one failed probe reopens the breaker for a new open duration, and the other probe no longer counts", () => {
    const first = acquire(openAtZero(), tenCalls, 1_000);
    const second = acquire(first.state, tenCalls, 1_000);
    const failed = recordOutcome(second.state, tenCalls, { type: "failure", permit: permitOf(first), durationMs: 5 }, 1_005);
    assert.deepEqual(failed.state, { name: "open", epoch: 3, retryAtMs: 2_005 });
    assert.equal(failed.transition?.reason, "probe-failed");
    const late = recordOutcome(failed.state, tenCalls, { type: "success", permit: permitOf(second), durationMs: 9 }, 1_009);
    assert.equal(late.state, failed.state);
  });

  test("all probes succeeding close the breaker with an empty window", () => {
    const first = acquire(openAtZero(), tenCalls, 1_000);
    const second = acquire(first.state, tenCalls, 1_000);
    const one = recordOutcome(second.state, tenCalls, { type: "success", permit: permitOf(first), durationMs: 5 }, 1_005);
    assert.equal(one.state.name, "half-open");
    const both = recordOutcome(one.state, tenCalls, { type: "success", permit: permitOf(second), durationMs: 6 }, 1_006);
    assert.equal(both.transition?.reason, "probes-succeeded");
    assert.deepEqual(both.state, { name: "closed", epoch: 3, window: [] });
  });

  test("probes that all succeed slowly reopen the breaker", () => {
    const first = acquire(openAtZero(), tenCalls, 1_000);
    const second = acquire(first.state, tenCalls, 1_000);
    const one = recordOutcome(second.state, tenCalls, { type: "success", permit: permitOf(first), durationMs: 101 }, 1_101);
    const both = recordOutcome(one.state, tenCalls, { type: "success", permit: permitOf(second), durationMs: 101 }, 1_101);
    assert.equal(both.state.name, "open");
    assert.equal(both.transition?.reason, "probes-slow");
  });

  test("a released probe frees its slot for another", () => {
    const first = acquire(openAtZero(), tenCalls, 1_000);
    const second = acquire(first.state, tenCalls, 1_000);
    const released = recordOutcome(second.state, tenCalls, { type: "released", permit: permitOf(first) }, 1_001);
    assert.equal(acquire(released.state, tenCalls, 1_002).admission.type, "permitted");
  });

  test("the outcome of a call admitted before the breaker opened is not taken for a probe", () => {
    const early = acquire(INITIAL_BREAKER_STATE, tenCalls, 0);
    const opened = feed(early.state, tenCalls, "FFFFFFFFFF").state;
    const probe = acquire(opened, tenCalls, 1_000);
    const stale = recordOutcome(probe.state, tenCalls, { type: "success", permit: permitOf(early), durationMs: 1_000 }, 1_000);
    assert.equal(stale.state, probe.state);
  });
});

describe("manual control", () => {
  test("forceOpen refuses calls past any open duration, until reset", () => {
    const forced = forceOpen(INITIAL_BREAKER_STATE, 0);
    assert.equal(forced.transition?.to, "forced-open");
    assert.deepEqual(acquire(forced.state, tenCalls, 50_000).admission, { type: "refused", retryAtMs: 51_000 });
    assert.equal(advance(forced.state, tenCalls, 50_000).transition, null);
    const back = reset(forced.state, 50_000);
    assert.equal(back.transition?.to, "closed");
    assert.equal(acquire(back.state, tenCalls, 50_000).admission.type, "permitted");
  });

  test("forceClose admits every call and counts none, until reset", () => {
    const forced = forceClose(openAtZero(), 10);
    assert.deepEqual([forced.transition?.from, forced.transition?.to], ["open", "forced-closed"]);
    const after = feed(forced.state, tenCalls, "FFFFFFFFFFFF", 20);
    assert.equal(after.state.name, "forced-closed");
    assert.deepEqual(after.transitions, []);
    assert.equal(reset(after.state, 30).state.name, "closed");
  });

  test("reset empties the window of a closed breaker without reporting a transition", () => {
    const nine = feed(INITIAL_BREAKER_STATE, tenCalls, "FFFFFFFFF").state;
    const cleared = reset(nine, 0);
    assert.equal(cleared.transition, null);
    assert.equal(measureWindow(cleared.state, tenCalls, 0).calls, 0);
    assert.equal(feed(cleared.state, tenCalls, "F").state.name, "closed");
  });
});

describe("configuration", () => {
  test("the defaults are valid and resolve to themselves", () => {
    assert.deepEqual(resolveBreakerConfig(), DEFAULT_BREAKER);
  });

  const bad: [string, Partial<BreakerConfig>][] = [
    ["window.size", { window: { kind: "count", size: 0 } }],
    ["window.size", { window: { kind: "count", size: 2.5 } }],
    ["window.sizeMs", { window: { kind: "time", sizeMs: -1 } }],
    ["window.bucketMs", { window: { kind: "time", sizeMs: 1_000, bucketMs: 2_000 } }],
    ["window.kind", { window: { kind: "sliding" } as never }],
    ["failureRateThreshold", { failureRateThreshold: 1.5 }],
    ["failureRateThreshold", { failureRateThreshold: 0 }],
    ["slowCallRateThreshold", { slowCallRateThreshold: Number.NaN }],
    ["slowCallDurationMs", { slowCallDurationMs: -5 }],
    ["minimumCalls", { minimumCalls: 0 }],
    ["minimumCalls", { minimumCalls: 21 }],
    ["openDurationMs", { openDurationMs: Number.POSITIVE_INFINITY }],
    ["halfOpenProbes", { halfOpenProbes: 0 }],
  ];
  for (const [field, overrides] of bad) {
    test(`${inspect(overrides, { breakLength: Infinity })} throws InvalidArgument naming ${field}`, () => {
      assert.throws(
        () => resolveBreakerConfig(overrides),
        (error: unknown) => error instanceof InvalidArgument && error.field === field && error.message.startsWith(`${field}: `),
      );
    });
  }

  test("slowCallDurationMs may be Infinity, so that no call is ever slow", () => {
    assert.equal(resolveBreakerConfig({ slowCallDurationMs: Number.POSITIVE_INFINITY }).slowCallDurationMs, Number.POSITIVE_INFINITY);
  });
});
