/**
 * A supervisor with OTP semantics. Children start in order and stop in reverse; a child's
 * exit is judged by its restart type, the restart intensity and the strategy; exits are
 * handled one at a time (an RxJS concatMap), so restarts never interleave. When intensity
 * is exceeded the supervisor stops its children and fails itself, escalating to its parent.
 * An operator's restart of one child (restartChild) waits in the same queue.
 */
import { EMPTY, Subject, catchError, concatMap, defer, firstValueFrom, timer, type Subscription } from "rxjs";
import { ActorStopped, RestartIntensityExceeded } from "../errors.ts";
import type { LifecycleEvent } from "../events.ts";
import { describeError } from "../actor/cell.ts";
import { codeOf } from "../actor/local-child.ts";
import { backoffDelayMs } from "./backoff.ts";
import type { ChildExit, ChildFactory, ChildHandle, ChildInfo } from "./child-handle.ts";
import type { ChildSpec, SupervisorChildSpec } from "./child-spec.ts";
import { recordRestart } from "./intensity.ts";
import { STRATEGIES, shouldRestart } from "./strategies.ts";

interface Child {
  spec: ChildSpec;
  handle: ChildHandle;
  running: boolean;
}

/** An exit to judge, or an operator's request queued behind the exits. */
type Job = { child: Child; exit: ChildExit } | { run: () => Promise<void> };

type SupervisorState = "new" | "running" | "stopping" | "stopped" | "failed";

export class Supervisor implements ChildHandle {
  readonly placement = "supervisor" as const;
  private children: Child[] = [];
  private state: SupervisorState = "new";
  private history: number[] = [];
  private restarts = 0;
  private readonly exits = new Subject<Job>();
  /** Operator restarts still queued: failed when the supervisor stops, so nobody waits forever. */
  private readonly pendingRestarts = new Set<(error: Error) => void>();
  private subscription: Subscription | undefined;

  constructor(
    readonly path: string,
    private readonly spec: SupervisorChildSpec,
    private readonly factory: ChildFactory,
    private readonly events: Subject<LifecycleEvent>,
    private readonly onExit: (exit: ChildExit) => void,
    // Monotonic, as OTP's erlang:monotonic_time: a wall clock stepped back (NTP) must not
    // stretch or shrink the window in which restarts are counted.
    private readonly nowMs: () => number = () => performance.now(),
  ) {}

  async start(): Promise<void> {
    this.state = "running";
    this.history = [];
    this.subscription = this.exits
      .pipe(concatMap((job) => defer(() => ("run" in job ? job.run() : this.handleExit(job.child, job.exit))).pipe(
        // A defect while judging an exit must not end the stream (every later exit would be
        // ignored: a zombie supervisor). It is this supervisor's crash, for its parent to judge.
        catchError((error: unknown) => {
          this.onExit({ kind: "crash", reason: `supervisor ${this.path} failed handling an exit: ${describeError(error)}` });
          return EMPTY;
        }),
      )))
      .subscribe();
    this.children = [];
    try {
      for (const spec of this.spec.children) await this.launch(spec);
    } catch (error) {
      // OTP: a child that fails to start fails the supervisor's start; stop what started.
      await this.stopChildren();
      this.subscription.unsubscribe();
      this.state = "failed";
      throw error;
    }
  }

  /** OTP's start_child: appends a child and starts it; a failed start leaves the others alone. */
  startChild(spec: ChildSpec): Promise<ChildHandle> {
    if (this.children.some((c) => c.spec.id === spec.id)) {
      return Promise.reject(new Error(`${this.path} already has a child "${spec.id}"`));
    }
    return this.launch(spec);
  }

  private async launch(spec: ChildSpec): Promise<ChildHandle> {
    const child = { spec, running: false } as Child;
    child.handle = this.factory(spec, this.path, (exit) => this.exits.next({ child, exit }));
    await child.handle.start();
    child.running = true;
    this.children.push(child);
    this.emit({ type: "started", path: child.handle.path, placement: child.handle.placement, restarts: 0 });
    return child.handle;
  }

  /** Stops and removes one child (OTP's terminate_child + delete_child). */
  async stopChild(id: string): Promise<boolean> {
    const index = this.children.findIndex((c) => c.spec.id === id);
    if (index < 0) return false;
    const [child] = this.children.splice(index, 1);
    await this.stopOne(child!, "supervisor");
    return true;
  }

  /**
   * Restarts one running child because an operator asked (halt, then start afresh; a cell
   * keeps its mailbox), then emits "restarted". Not counted against restart intensity:
   * nothing failed. Resolves with the child's description, or undefined when there is no
   * such child; rejects with ActorStopped when the child or this supervisor is not running.
   */
  restartChild(id: string): Promise<ChildInfo | undefined> {
    const child = this.children.find((c) => c.spec.id === id);
    if (child === undefined) return Promise.resolve(undefined);
    if (this.state !== "running") return Promise.reject(new ActorStopped(child.handle.path));
    return new Promise<ChildInfo>((resolve, reject) => {
      this.pendingRestarts.add(reject);
      this.exits.next({
        run: async () => {
          if (!this.pendingRestarts.delete(reject)) return;
          try {
            resolve(await this.restartInPlace(child));
          } catch (error) {
            reject(error);
          }
        },
      });
    });
  }

  private async restartInPlace(child: Child): Promise<ChildInfo> {
    if (this.state !== "running" || !child.running || !this.children.includes(child)) throw new ActorStopped(child.handle.path);
    // A supervisor's restart() only starts it again: stop its subtree first. A cell, a worker
    // or a pool restarts in place through restart(), which halts the old behaviour itself.
    if (child.handle.placement === "supervisor") await child.handle.halt(child.spec.shutdownMs);
    try {
      await child.handle.restart();
    } catch (error) {
      this.exits.next({ child, exit: { kind: "crash", reason: `restart failed: ${describeError(error)}`, ...codeOf(error) } });
      throw error;
    }
    const info = await child.handle.describe();
    this.emit({ type: "restarted", path: child.handle.path, restarts: info.restarts, delayMs: 0 });
    return info;
  }

  async restart(): Promise<void> {
    this.restarts++;
    await this.start();
  }

  halt(timeoutMs: number): Promise<void> {
    return this.stop(timeoutMs);
  }

  /**
   * Stops the children in reverse start order, each within its own spec's shutdownMs. The
   * timeout its parent passes is not applied to the subtree as a whole: OTP gives a supervisor
   * child `infinity` for that reason, as cutting a subtree short would leave children running.
   */
  async stop(_timeoutMs?: number): Promise<void> {
    if (this.state === "stopped") return;
    this.state = "stopping";
    this.failPendingRestarts();
    await this.stopChildren();
    this.subscription?.unsubscribe();
    this.state = "stopped";
  }

  get childHandles(): readonly ChildHandle[] {
    return this.children.map((c) => c.handle);
  }

  async describe(): Promise<ChildInfo> {
    return {
      path: this.path,
      placement: "supervisor",
      status: this.state,
      restarts: this.restarts,
      children: await Promise.all(this.children.map((c) => c.handle.describe())),
    };
  }

  private async handleExit(child: Child, exit: ChildExit): Promise<void> {
    if (this.state !== "running" || !child.running || !this.children.includes(child)) return;
    const path = child.handle.path;
    if (exit.kind === "crash") {
      this.emit({ type: "failed", path, reason: exit.reason, ...(exit.code ? { code: exit.code } : {}) });
    }
    if (exit.kind === "crash" && exit.code !== undefined && child.spec.kind === "actor" && child.spec.stopOn.includes(exit.code)) {
      // The child's decider: restarting cannot mend this (its spec's stopOn). Stopped for good,
      // not counted against the intensity, so its siblings keep their restarts.
      await this.stopOne(child, "supervisor");
      return;
    }
    if (!shouldRestart(child.spec.restart, exit.kind)) {
      await this.stopOne(child, exit.kind === "normal" ? "normal" : "supervisor");
      if (child.spec.restart === "temporary") this.children = this.children.filter((c) => c !== child);
      return;
    }
    const { history, verdict } = recordRestart(this.history, this.nowMs(), this.spec.options);
    this.history = history;
    if (verdict === "give-up") {
      const error = new RestartIntensityExceeded(this.path, this.spec.options.intensity, this.spec.options.periodMs);
      this.emit({ type: "escalated", path: this.path, reason: error.message });
      this.state = "failed";
      this.failPendingRestarts();
      await this.stopChildren();
      this.subscription?.unsubscribe();
      this.onExit({ kind: "crash", reason: error.message, code: error.code });
      return;
    }
    const index = this.children.indexOf(child);
    const affected = STRATEGIES[this.spec.options.strategy].affected(index, this.children.length).map((i) => this.children[i]!);
    // OTP stops every affected child in reverse start order — the failed one included, in its
    // place — before starting them again. Alone (one-for-one), the failed child restarts in place.
    for (const sibling of [...affected].reverse()) {
      if (!sibling.running || (sibling === child && affected.length === 1)) continue;
      await sibling.handle.halt(sibling.spec.shutdownMs);
      if (sibling !== child) this.emit({ type: "stopped", path: sibling.handle.path, reason: "supervisor" });
    }
    const delayMs = backoffDelayMs(history.length, this.spec.options.backoff);
    if (delayMs > 0) await firstValueFrom(timer(delayMs));
    if (this.state !== "running") return;
    for (const target of affected) {
      if (target !== child && target.spec.restart === "temporary") {
        await this.stopOne(target, "supervisor");
        this.children = this.children.filter((c) => c !== target);
        continue;
      }
      try {
        if (target === child) await target.handle.restart();
        else await target.handle.start();
        target.running = true;
        this.emit({ type: "restarted", path: target.handle.path, restarts: history.length, delayMs });
      } catch (error) {
        // A restart that fails is one more failure of that child, judged by intensity again.
        this.exits.next({ child: target, exit: { kind: "crash", reason: `restart failed: ${describeError(error)}`, ...codeOf(error) } });
      }
    }
  }

  private async stopOne(child: Child, reason: "normal" | "shutdown" | "supervisor"): Promise<void> {
    if (!child.running) return;
    child.running = false;
    await child.handle.stop(child.spec.shutdownMs);
    this.emit({ type: "stopped", path: child.handle.path, reason });
  }

  private failPendingRestarts(): void {
    for (const reject of this.pendingRestarts) reject(new ActorStopped(this.path));
    this.pendingRestarts.clear();
  }

  /** Reverse start order, each within its own shutdown timeout. */
  private async stopChildren(): Promise<void> {
    for (const child of [...this.children].reverse()) await this.stopOne(child, "shutdown");
  }

  private emit(event: DistributiveOmit<LifecycleEvent, "atMs">): void {
    this.events.next({ ...event, atMs: Date.now() } as LifecycleEvent);
  }
}

type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;
