/**
 * A circuit breaker for one target (a remote peer, or an actor an operator marked), built on
 * the pure transitions of `state-machine.ts`, with its clock and its one timer on an RxJS
 * scheduler so that tests run in virtual time. It never invokes a call it refused: a refusal
 * is a `BreakerOpen` carrying `retryAtMs`, and the target is left alone.
 */
import { asyncScheduler, BehaviorSubject, Observable } from "rxjs";
import type { MonoTypeOperatorFunction, SchedulerLike, Subscription } from "rxjs";
import { BreakerOpen } from "../errors.ts";
import {
  acquire,
  advance,
  forceClose,
  forceOpen,
  INITIAL_BREAKER_STATE,
  measureWindow,
  recordOutcome,
  reset,
  resolveBreakerConfig,
  type BreakerConfig,
  type BreakerState,
  type BreakerStateName,
  type BreakerTransition,
  type Outcome,
  type Permit,
  type Step,
} from "./state-machine.ts";

/** One transition of one breaker, as `state$` and the registry's `changes$` report it. */
export interface BreakerStateChange extends BreakerTransition {
  readonly target: string;
}

/** Plain data for metrics and the REPL. */
export interface BreakerSnapshot {
  readonly target: string;
  readonly state: BreakerStateName;
  /** Over the calls now judged: the window while closed, the finished probes while half-open. */
  readonly failureRate: number;
  readonly slowCallRate: number;
  readonly callsInWindow: number;
  readonly probesInFlight: number;
  /** When the open breaker admits its first probe; null in every other state. */
  readonly retryAtMs: number | null;
  /** When the breaker entered its current state. */
  readonly sinceMs: number;
}

export type BreakerAdmission =
  | { readonly type: "permitted"; readonly permit: Permit }
  | { readonly type: "refused"; readonly error: BreakerOpen };

/**
 * Guards calls to one target.
 *
 * @example
 * const breaker = new CircuitBreaker("fed://node-b", { openDurationMs: 10_000 });
 * const reply = await breaker.execute(() => Promise.resolve("pong")); // "pong", counted as a success
 * breaker.forceOpen();
 * await breaker.execute(() => Promise.resolve("pong")); // rejects: BreakerOpen, code "BREAKER_OPEN"
 */
export class CircuitBreaker {
  readonly config: BreakerConfig;
  /** The current state on subscription, then every transition. */
  readonly state$: Observable<BreakerStateChange>;
  private current: BreakerState = INITIAL_BREAKER_STATE;
  private readonly changes: BehaviorSubject<BreakerStateChange>;
  private readonly settled = new WeakSet<Permit>();
  private timer: Subscription | null = null;
  private sinceMs: number;
  private disposed = false;

  /** `scheduler` is the clock (`now()`) and runs the open → half-open timer. */
  constructor(
    readonly target: string,
    config?: Partial<BreakerConfig>,
    private readonly scheduler: SchedulerLike = asyncScheduler,
  ) {
    this.config = resolveBreakerConfig(config);
    const created = { target, from: "closed", to: "closed", atMs: scheduler.now(), reason: "created", detail: "" } as const;
    this.sinceMs = created.atMs;
    this.changes = new BehaviorSubject<BreakerStateChange>(created);
    this.state$ = this.changes.asObservable();
  }

  /** Applies a due open → half-open first, so it never reports an open breaker past retryAtMs. */
  get state(): BreakerStateName {
    this.apply(advance(this.current, this.config, this.scheduler.now()));
    return this.current.name;
  }

  /**
   * The low-level API, for callers that are not promise-shaped: ask, make the call, then report
   * it with `onSuccess`, `onError`, or `release` when it was abandoned without an outcome.
   */
  tryAcquire(): BreakerAdmission {
    const step = acquire(this.current, this.config, this.scheduler.now());
    this.apply(step);
    const { admission } = step;
    if (admission.type === "permitted") return admission;
    return { type: "refused", error: new BreakerOpen(this.target, admission.retryAtMs) };
  }

  /** Reports a successful call; the duration defaults to the scheduler's time since `tryAcquire`. */
  onSuccess(permit: Permit, durationMs: number = this.elapsedMs(permit)): void {
    this.settle({ type: "success", permit, durationMs });
  }

  /** Reports a failed call; the duration defaults to the scheduler's time since `tryAcquire`. */
  onError(permit: Permit, durationMs: number = this.elapsedMs(permit)): void {
    this.settle({ type: "failure", permit, durationMs });
  }

  /** Gives a permit back unjudged (the caller gave up); a half-open probe slot frees up. */
  release(permit: Permit): void {
    this.settle({ type: "released", permit });
  }

  /**
   * Runs `call` if admitted and counts how it ends; rejects with `BreakerOpen` without calling it
   * otherwise. `isFailure` judges a rejection (default: every one counts): one it does not count —
   * the caller's own mistake, say — gives the permit back unjudged and is rethrown as it is.
   */
  async execute<T>(call: () => Promise<T>, opts: { isFailure?: (error: unknown) => boolean } = {}): Promise<T> {
    const admission = this.tryAcquire();
    if (admission.type === "refused") throw admission.error;
    const { permit } = admission;
    let value: T;
    try {
      value = await call();
    } catch (error) {
      if (opts.isFailure === undefined || opts.isFailure(error)) this.onError(permit);
      else this.release(permit);
      throw error;
    }
    this.onSuccess(permit);
    return value;
  }

  /**
   * Guards each subscription to the source: refused, it errors at once with `BreakerOpen`
   * without subscribing; admitted, the first value or completion is a success (its duration is
   * the time to it), an error a failure, and unsubscribing before either releases the permit.
   */
  operator<T>(): MonoTypeOperatorFunction<T> {
    return (source) =>
      new Observable<T>((subscriber) => {
        const admission = this.tryAcquire();
        if (admission.type === "refused") {
          subscriber.error(admission.error);
          return undefined;
        }
        const { permit } = admission;
        const inner = source.subscribe({
          next: (value) => {
            this.onSuccess(permit);
            subscriber.next(value);
          },
          error: (error: unknown) => {
            this.onError(permit);
            subscriber.error(error);
          },
          complete: () => {
            this.onSuccess(permit);
            subscriber.complete();
          },
        });
        return () => {
          inner.unsubscribe();
          this.release(permit); // a no-op once the permit was settled
        };
      });
  }

  /** Opens the breaker until `reset()`, whatever the calls do. */
  forceOpen(): void {
    this.apply(forceOpen(this.current, this.scheduler.now()));
  }

  /** Closes the breaker until `reset()`: every call is admitted and none is counted. */
  forceClose(): void {
    this.apply(forceClose(this.current, this.scheduler.now()));
  }

  /** Back to closed with an empty window. */
  reset(): void {
    this.apply(reset(this.current, this.scheduler.now()));
  }

  snapshot(): BreakerSnapshot {
    const state = this.state;
    const stats = measureWindow(this.current, this.config, this.scheduler.now());
    return {
      target: this.target,
      state,
      failureRate: stats.failureRate,
      slowCallRate: stats.slowCallRate,
      callsInWindow: stats.calls,
      probesInFlight: this.current.name === "half-open" ? this.current.probesInFlight : 0,
      retryAtMs: this.current.name === "open" ? this.current.retryAtMs : null,
      sinceMs: this.sinceMs,
    };
  }

  /** Cancels the half-open timer and completes `state$`; the breaker still answers afterwards. */
  dispose(): void {
    this.timer?.unsubscribe();
    this.timer = null;
    this.disposed = true;
    this.changes.complete();
  }

  private settle(outcome: Outcome): void {
    if (this.settled.has(outcome.permit)) return; // each permit counts once
    this.settled.add(outcome.permit);
    this.apply(recordOutcome(this.current, this.config, outcome, this.scheduler.now()));
  }

  private elapsedMs(permit: Permit): number {
    return this.scheduler.now() - permit.startedAtMs;
  }

  private apply(step: Step): void {
    this.current = step.state;
    if (step.transition === null) return;
    this.sinceMs = step.transition.atMs;
    this.timer?.unsubscribe();
    this.timer = null;
    this.armHalfOpenTimer();
    this.changes.next({ target: this.target, ...step.transition });
  }

  /** So that `state$` reports half-open at `retryAtMs`, not only when the next call arrives. */
  private armHalfOpenTimer(): void {
    const state = this.current;
    if (state.name !== "open" || this.disposed) return;
    this.timer = this.scheduler.schedule(() => {
      this.timer = null;
      this.apply(advance(this.current, this.config, this.scheduler.now()));
      // A host timer may fire a millisecond before Date.now() reaches retryAtMs: wait the rest.
      if (this.timer === null) this.armHalfOpenTimer();
    }, Math.max(1, state.retryAtMs - this.scheduler.now()));
  }
}

/** `source.pipe(withBreaker(breaker))`: the same as `breaker.operator()`. */
export function withBreaker<T>(breaker: CircuitBreaker): MonoTypeOperatorFunction<T> {
  return breaker.operator<T>();
}
