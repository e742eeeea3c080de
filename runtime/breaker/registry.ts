/**
 * One circuit breaker per target, created on first use from the registry's defaults, the
 * target's override and the caller's settings, in that order. It never hands out two
 * breakers for one target: every caller of a peer sees the same state.
 */
import { Observable, skip, Subject, Subscription, type SchedulerLike } from "rxjs";
import { InvalidArgument } from "../errors.ts";
import { CircuitBreaker, type BreakerSnapshot, type BreakerStateChange } from "./circuit-breaker.ts";
import { resolveBreakerConfig, type BreakerConfig } from "./state-machine.ts";

export interface BreakerRegistryOptions {
  /** Over `DEFAULT_BREAKER`, for every target. */
  readonly defaults?: Partial<BreakerConfig>;
  /** Per target, over `defaults`: `{ "fed://node-c": { openDurationMs: 120_000 } }`. */
  readonly overrides?: Readonly<Record<string, Partial<BreakerConfig>>>;
  /** Clock and timers of every breaker (default: rxjs `asyncScheduler`). */
  readonly scheduler?: SchedulerLike;
}

/**
 * @example
 * const breakers = new BreakerRegistry({ defaults: { minimumCalls: 5 }, overrides: { "fed://c": { halfOpenProbes: 1 } } });
 * const seen: string[] = [];
 * breakers.changes$.subscribe((change) => seen.push(`${change.target} ${change.from} → ${change.to}`));
 * await breakers.get("fed://c").execute(() => Promise.resolve("pong"));
 * breakers.get("fed://c").forceOpen(); // seen: ["fed://c closed → forced-open"]
 * breakers.snapshot(); // [{ target: "fed://c", state: "forced-open", callsInWindow: 0, … }]
 */
export class BreakerRegistry {
  /** Every transition of every breaker, those created later included (no replay of current states). */
  readonly changes$: Observable<BreakerStateChange>;
  /** `DEFAULT_BREAKER` with the registry's defaults merged in. */
  readonly defaults: BreakerConfig;
  private readonly overrides: ReadonlyMap<string, BreakerConfig>;
  private readonly breakers = new Map<string, CircuitBreaker>();
  private readonly transitions = new Subject<BreakerStateChange>();
  private readonly subscriptions = new Subscription();
  private readonly scheduler: SchedulerLike | undefined;

  /** Validates defaults and every override now, so a bad cluster config fails at startup. */
  constructor(options: BreakerRegistryOptions = {}) {
    this.defaults = resolveBreakerConfig(options.defaults);
    const overrides = Object.entries(options.overrides ?? {});
    this.overrides = new Map(overrides.map(([target, override]) => [target, resolveBreakerConfig(override, this.defaults)]));
    this.scheduler = options.scheduler;
    this.changes$ = this.transitions.asObservable();
  }

  /**
   * The breaker for `target`, created on first use. `config` only shapes a new breaker: asking
   * for an existing one with different settings throws `InvalidArgument` rather than hand back a
   * breaker that does not behave as asked.
   */
  get(target: string, config?: Partial<BreakerConfig>): CircuitBreaker {
    const resolved = config === undefined ? undefined : resolveBreakerConfig(config, this.baseFor(target));
    const existing = this.breakers.get(target);
    if (existing !== undefined) {
      if (resolved !== undefined && JSON.stringify(resolved) !== JSON.stringify(existing.config)) {
        const fix = `give them in overrides["${target}"] instead`;
        throw new InvalidArgument("config", `the breaker for ${target} already exists with other settings; ${fix}`);
      }
      return existing;
    }
    const breaker = new CircuitBreaker(target, resolved ?? this.baseFor(target), this.scheduler);
    this.breakers.set(target, breaker);
    this.subscriptions.add(breaker.state$.pipe(skip(1)).subscribe((change) => this.transitions.next(change)));
    return breaker;
  }

  has(target: string): boolean {
    return this.breakers.has(target);
  }

  /** Every breaker's snapshot, sorted by target. */
  snapshot(): BreakerSnapshot[] {
    return [...this.breakers.keys()].sort().map((target) => this.breakers.get(target)!.snapshot());
  }

  /** Disposes every breaker (cancelling their timers) and completes `changes$`. */
  dispose(): void {
    this.subscriptions.unsubscribe();
    for (const breaker of this.breakers.values()) breaker.dispose();
    this.transitions.complete();
  }

  private baseFor(target: string): BreakerConfig {
    return this.overrides.get(target) ?? this.defaults;
  }
}
