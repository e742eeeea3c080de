/**
 * Circuit-breaker transitions as pure functions: state, event and `nowMs` in, new state and
 * decision out; no clock, no timer, no RxJS (`circuit-breaker.ts` brings those). It must never
 * admit a call while open before `retryAtMs`, nor more than `halfOpenProbes` probes per
 * half-open spell.
 *
 *   closed    ── failure or slow-call rate ≥ threshold, over ≥ minimumCalls ──▶ open
 *   open      ── openDurationMs elapsed ─────────────────────────────────────▶ half-open
 *   half-open ── every probe succeeded, slow-call rate below threshold ─────▶ closed (window reset)
 *   half-open ── a probe failed, or the probes were too slow ─────────────────▶ open (a new spell)
 *   any       ── forceOpen / forceClose ──▶ forced-open / forced-closed, until reset ──▶ closed
 *
 * Each state carries an `epoch` that grows with every transition. A permit remembers the epoch
 * that admitted it, so the outcome of a call that outlived its state (a closed-state call that
 * ends after the breaker opened, a probe that ends after another probe failed) is ignored.
 */
import { InvalidArgument } from "../errors.ts";

/** Which calls are judged: the last `size` calls, or the calls of the last `sizeMs`. */
export type BreakerWindow =
  | { readonly kind: "count"; readonly size: number }
  | {
      readonly kind: "time";
      readonly sizeMs: number;
      /**
       * Calls are summed per bucket of this many ms, so the window holds at most
       * ⌈sizeMs / bucketMs⌉ buckets however busy the target is; a call leaves the window between
       * sizeMs − bucketMs and sizeMs after it was made. Default: sizeMs / 100, at least 1 ms.
       */
      readonly bucketMs?: number;
    };

export interface BreakerConfig {
  readonly window: BreakerWindow;
  /** Open when failed calls / calls in the window reaches this; in (0, 1]. */
  readonly failureRateThreshold: number;
  /** Open when slow calls / calls in the window reaches this; in (0, 1]. */
  readonly slowCallRateThreshold: number;
  /** A call that takes longer than this is slow, whether it succeeded or failed. Infinity: never. */
  readonly slowCallDurationMs: number;
  /** No verdict until the window holds this many calls. */
  readonly minimumCalls: number;
  /** How long the breaker stays open before it admits probes. */
  readonly openDurationMs: number;
  /** Trial calls admitted per half-open spell; all must succeed for the breaker to close. */
  readonly halfOpenProbes: number;
}

/**
 * Why these numbers: the last 20 calls, judged from the 10th, so two unlucky failures in a
 * quiet minute do not cut a peer off, while half of them failing does. A call over 10 s is
 * slow (a healthy ask across the federation answers in well under a second, a long generation
 * in a few), and only a window of nothing but slow calls opens the breaker, since a busy peer
 * is still a useful one. 30 s open gives a restarted peer time to come back (supervisor backoff
 * caps at 5 s); 3 probes, not 1, so one lucky call does not close a breaker on a flapping peer.
 */
export const DEFAULT_BREAKER = {
  window: { kind: "count", size: 20 },
  failureRateThreshold: 0.5,
  slowCallRateThreshold: 1,
  slowCallDurationMs: 10_000,
  minimumCalls: 10,
  openDurationMs: 30_000,
  halfOpenProbes: 3,
} as const satisfies BreakerConfig;

export type BreakerStateName = "closed" | "open" | "half-open" | "forced-open" | "forced-closed";

/** Calls summed over one stretch of time; in a count window each call is its own bucket. */
export interface WindowBucket {
  readonly startMs: number;
  readonly calls: number;
  readonly failedCalls: number;
  readonly slowCalls: number;
}

export type BreakerState =
  | { readonly name: "closed"; readonly epoch: number; readonly window: readonly WindowBucket[] }
  | { readonly name: "open"; readonly epoch: number; readonly retryAtMs: number }
  | { readonly name: "half-open"; readonly epoch: number; readonly probesInFlight: number;
      readonly probesSucceeded: number; readonly probesSlow: number }
  | { readonly name: "forced-open" | "forced-closed"; readonly epoch: number };

export const INITIAL_BREAKER_STATE: BreakerState = { name: "closed", epoch: 0, window: [] };

/** The right to make one call; hand it back with its outcome. */
export interface Permit {
  readonly epoch: number;
  /** True for a half-open trial call. */
  readonly probe: boolean;
  readonly startedAtMs: number;
}

export type Admission =
  | { readonly type: "permitted"; readonly permit: Permit }
  | { readonly type: "refused"; readonly retryAtMs: number };

/** A permit's end: a finished call, or "released" for one abandoned before it had an outcome. */
export type Outcome =
  | { readonly type: "success" | "failure"; readonly permit: Permit; readonly durationMs: number }
  | { readonly type: "released"; readonly permit: Permit };

export type TransitionReason =
  | "created" | "failure-rate" | "slow-call-rate" | "open-duration-elapsed" | "probe-failed"
  | "probes-slow" | "probes-succeeded" | "forced-open" | "forced-closed" | "reset";

export interface BreakerTransition {
  readonly from: BreakerStateName;
  readonly to: BreakerStateName;
  readonly atMs: number;
  readonly reason: TransitionReason;
  /** For people: "failure rate 60% ≥ 50% over 10 calls". */
  readonly detail: string;
}

export interface Step {
  readonly state: BreakerState;
  readonly transition: BreakerTransition | null;
}

export interface WindowStats {
  readonly calls: number;
  readonly failedCalls: number;
  readonly slowCalls: number;
  /** failedCalls / calls, 0 when there are no calls. */
  readonly failureRate: number;
  readonly slowCallRate: number;
}

/** Merges `overrides` over `base` once, fills in derived defaults and validates the result. */
export function resolveBreakerConfig(
  overrides: Partial<BreakerConfig> = {},
  base: BreakerConfig = DEFAULT_BREAKER,
): BreakerConfig {
  const merged = { ...base, ...overrides };
  const { failureRateThreshold, slowCallRateThreshold, slowCallDurationMs } = merged;
  const { minimumCalls, openDurationMs, halfOpenProbes } = merged;
  const window = resolveWindow(merged.window);
  ensure(isRate(failureRateThreshold), "failureRateThreshold", `${failureRateThreshold} is not a rate in (0, 1]`);
  ensure(isRate(slowCallRateThreshold), "slowCallRateThreshold", `${slowCallRateThreshold} is not a rate in (0, 1]`);
  ensure(slowCallDurationMs > 0, "slowCallDurationMs", `${slowCallDurationMs} is not > 0 ms (Infinity: no call is slow)`);
  ensure(isCount(minimumCalls), "minimumCalls", `${minimumCalls} is not a whole number ≥ 1`);
  const reachable = window.kind !== "count" || minimumCalls <= window.size;
  ensure(reachable, "minimumCalls", `${minimumCalls} exceeds window.size, so the breaker could never open`);
  ensure(isPositiveMs(openDurationMs), "openDurationMs", `${openDurationMs} is not a finite duration > 0 ms`);
  ensure(isCount(halfOpenProbes), "halfOpenProbes", `${halfOpenProbes} is not a whole number ≥ 1`);
  // Field by field, in one order: unknown keys are dropped, and resolved configs compare as JSON.
  const resolved = { window, failureRateThreshold, slowCallRateThreshold, slowCallDurationMs, minimumCalls };
  return Object.freeze({ ...resolved, openDurationMs, halfOpenProbes });
}

function resolveWindow(window: BreakerWindow | undefined): BreakerWindow {
  if (window?.kind === "count") {
    ensure(isCount(window.size), "window.size", `${window.size} is not a whole number ≥ 1`);
    return Object.freeze({ kind: "count", size: window.size });
  }
  if (window?.kind === "time") {
    const { sizeMs, bucketMs = defaultBucketMs(sizeMs) } = window;
    ensure(isPositiveMs(sizeMs), "window.sizeMs", `${sizeMs} is not a finite duration > 0 ms`);
    ensure(isPositiveMs(bucketMs) && bucketMs <= sizeMs, "window.bucketMs", `${bucketMs} is not in (0, window.sizeMs] ms`);
    return Object.freeze({ kind: "time", sizeMs, bucketMs });
  }
  const kind = String((window as { kind?: unknown } | undefined)?.kind);
  throw new InvalidArgument("window.kind", `${kind} is not "count" or "time" (breaker config)`);
}

/** Asks to make a call. Applies a due open → half-open first, so a late caller becomes a probe. */
export function acquire(state: BreakerState, config: BreakerConfig, nowMs: number): Step & { admission: Admission } {
  const due = advance(state, config, nowMs);
  const current = due.state;
  const { epoch } = current;
  const permit = (probe: boolean): Admission => ({ type: "permitted", permit: { epoch, probe, startedAtMs: nowMs } });
  // Forced open, or every probe slot taken: no retry is scheduled, so the hint is one open
  // duration away, the wait that a failing probe would impose.
  const retryAtMs = current.name === "open" ? current.retryAtMs : nowMs + config.openDurationMs;
  const refused: Admission = { type: "refused", retryAtMs };
  switch (current.name) {
    case "closed":
    case "forced-closed":
      return { ...due, admission: permit(false) };
    case "open":
    case "forced-open":
      return { ...due, admission: refused };
    case "half-open": {
      const { probesInFlight, probesSucceeded } = current;
      if (probesInFlight + probesSucceeded >= config.halfOpenProbes) return { ...due, admission: refused };
      const state = { ...current, probesInFlight: probesInFlight + 1 };
      return { state, transition: due.transition, admission: permit(true) };
    }
  }
}

/** Moves an open breaker to half-open once `retryAtMs` has come; otherwise changes nothing. */
export function advance(state: BreakerState, config: BreakerConfig, nowMs: number): Step {
  if (state.name !== "open" || nowMs < state.retryAtMs) return { state, transition: null };
  const halfOpen: HalfOpen = { name: "half-open", epoch: state.epoch + 1, probesInFlight: 0, probesSucceeded: 0, probesSlow: 0 };
  const detail = `open for ${config.openDurationMs} ms; admitting ${config.halfOpenProbes} probe(s)`;
  return enter(state, halfOpen, nowMs, "open-duration-elapsed", detail);
}

/** Counts a permit's outcome; one from an earlier epoch, or while forced, is ignored. */
export function recordOutcome(state: BreakerState, config: BreakerConfig, outcome: Outcome, nowMs: number): Step {
  const unchanged: Step = { state, transition: null };
  if (outcome.permit.epoch !== state.epoch) return unchanged;
  if (state.name === "half-open") return judgeProbe(state, config, outcome, nowMs);
  if (state.name !== "closed" || outcome.type === "released") return unchanged;
  const slow = outcome.durationMs > config.slowCallDurationMs;
  const window = addCall(state.window, config.window, outcome.type === "failure", slow, nowMs);
  const { calls, failureRate, slowCallRate } = summarize(window);
  const over = (rate: number, threshold: number) => `${percent(rate)} ≥ ${percent(threshold)} over ${calls} calls`;
  if (calls >= config.minimumCalls && failureRate >= config.failureRateThreshold) {
    const detail = `failure rate ${over(failureRate, config.failureRateThreshold)}`;
    return openBreaker(state, config, nowMs, "failure-rate", detail);
  }
  if (calls >= config.minimumCalls && slowCallRate >= config.slowCallRateThreshold) {
    const detail = `slow-call rate ${over(slowCallRate, config.slowCallRateThreshold)} (> ${config.slowCallDurationMs} ms)`;
    return openBreaker(state, config, nowMs, "slow-call-rate", detail);
  }
  return { state: { ...state, window }, transition: null };
}

/** Pins the breaker open until `reset`. */
export function forceOpen(state: BreakerState, nowMs: number): Step {
  if (state.name === "forced-open") return { state, transition: null };
  return enter(state, { name: "forced-open", epoch: state.epoch + 1 }, nowMs, "forced-open", "forced open");
}

/** Pins the breaker closed until `reset`: every call is admitted and none is counted. */
export function forceClose(state: BreakerState, nowMs: number): Step {
  if (state.name === "forced-closed") return { state, transition: null };
  return enter(state, { name: "forced-closed", epoch: state.epoch + 1 }, nowMs, "forced-closed", "forced closed");
}

/** Back to closed with an empty window, from any state; reports no transition when already closed. */
export function reset(state: BreakerState, nowMs: number): Step {
  const closed: BreakerState = { name: "closed", epoch: state.epoch + 1, window: [] };
  if (state.name === "closed") return { state: closed, transition: null };
  return enter(state, closed, nowMs, "reset", "reset");
}

/** The calls now judged: the window while closed, the finished probes while half-open, else none. */
export function measureWindow(state: BreakerState, config: BreakerConfig, nowMs: number): WindowStats {
  if (state.name === "closed") return summarize(liveBuckets(state.window, config.window, nowMs));
  if (state.name === "half-open") return stats(state.probesSucceeded, 0, state.probesSlow);
  return stats(0, 0, 0);
}

type HalfOpen = BreakerState & { name: "half-open" };

function judgeProbe(state: HalfOpen, config: BreakerConfig, outcome: Outcome, nowMs: number): Step {
  const probesInFlight = state.probesInFlight - 1;
  if (outcome.type === "released") return { state: { ...state, probesInFlight }, transition: null };
  if (outcome.type === "failure") return openBreaker(state, config, nowMs, "probe-failed", "a half-open probe failed");
  const probesSucceeded = state.probesSucceeded + 1;
  const probesSlow = state.probesSlow + (outcome.durationMs > config.slowCallDurationMs ? 1 : 0);
  if (probesSucceeded < config.halfOpenProbes) {
    return { state: { ...state, probesInFlight, probesSucceeded, probesSlow }, transition: null };
  }
  if (probesSlow / probesSucceeded >= config.slowCallRateThreshold) {
    const detail = `${probesSlow} of ${probesSucceeded} probes slower than ${config.slowCallDurationMs} ms`;
    return openBreaker(state, config, nowMs, "probes-slow", detail);
  }
  const closed = { name: "closed", epoch: state.epoch + 1, window: [] } as const;
  return enter(state, closed, nowMs, "probes-succeeded", `all ${probesSucceeded} probes succeeded`);
}

function openBreaker(state: BreakerState, config: BreakerConfig, nowMs: number, reason: TransitionReason, detail: string) {
  const open = { name: "open", epoch: state.epoch + 1, retryAtMs: nowMs + config.openDurationMs } as const;
  return enter(state, open, nowMs, reason, detail);
}

function enter(from: BreakerState, to: BreakerState, atMs: number, reason: TransitionReason, detail: string): Step {
  return { state: to, transition: { from: from.name, to: to.name, atMs, reason, detail } };
}

function addCall(window: readonly WindowBucket[], shape: BreakerWindow, failed: boolean, slow: boolean, nowMs: number) {
  const call = { startMs: nowMs, calls: 1, failedCalls: failed ? 1 : 0, slowCalls: slow ? 1 : 0 };
  if (shape.kind === "count") return [...window.slice(Math.max(0, window.length - shape.size + 1)), call];
  const live = liveBuckets(window, shape, nowMs);
  const bucketMs = shape.bucketMs ?? defaultBucketMs(shape.sizeMs);
  const startMs = Math.floor(nowMs / bucketMs) * bucketMs;
  const last = live.at(-1);
  if (last?.startMs !== startMs) return [...live, { ...call, startMs }];
  const sum = { startMs, calls: last.calls + 1, failedCalls: last.failedCalls + call.failedCalls };
  return [...live.slice(0, -1), { ...sum, slowCalls: last.slowCalls + call.slowCalls }];
}

function liveBuckets(window: readonly WindowBucket[], shape: BreakerWindow, nowMs: number): readonly WindowBucket[] {
  if (shape.kind === "count") return window;
  return window.filter((bucket) => nowMs - bucket.startMs < shape.sizeMs);
}

/** 100 buckets per window: 1 % resolution, and a bounded cost per call however busy the target. */
function defaultBucketMs(sizeMs: number): number {
  return Math.max(1, Math.ceil(sizeMs / 100));
}

function summarize(window: readonly WindowBucket[]): WindowStats {
  const sum = (key: "calls" | "failedCalls" | "slowCalls") => window.reduce((total, bucket) => total + bucket[key], 0);
  return stats(sum("calls"), sum("failedCalls"), sum("slowCalls"));
}

// Rates by division, not `failed >= threshold * calls`: 0.3 * 10 is 3.0000000000000004 in
// binary floating point, while 3 / 10 rounds to exactly the double written as 0.3.
function stats(calls: number, failedCalls: number, slowCalls: number): WindowStats {
  const rate = (count: number) => (calls === 0 ? 0 : count / calls);
  return { calls, failedCalls, slowCalls, failureRate: rate(failedCalls), slowCallRate: rate(slowCalls) };
}

function percent(rate: number): string {
  return `${Math.round(rate * 1000) / 10}%`;
}

const isCount = (value: number) => Number.isInteger(value) && value >= 1;
const isPositiveMs = (value: number) => Number.isFinite(value) && value > 0;
const isRate = (value: number) => value > 0 && value <= 1;

function ensure(ok: boolean, field: string, reason: string): void {
  if (!ok) throw new InvalidArgument(field, `${reason} (breaker config)`);
}
