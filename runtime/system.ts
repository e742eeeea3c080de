/**
 * The actor system of one node: the main thread's fabric and router, the root supervisor
 * ("user" guardian), lifecycle events, dead letters, metrics and breakers. Everything an
 * embedding service touches goes through here; it knows nothing about the domain built on it.
 */
import { ReplaySubject, Subject, type Observable } from "rxjs";
import type { ActorDefinition, ActorRef } from "./actor/behavior.ts";
import { LocalChild } from "./actor/local-child.ts";
import { ActorCell } from "./actor/cell.ts";
import { formatPath, isValidName, parsePath } from "./actor/path.ts";
import { BreakerRegistry, type BreakerRegistryOptions } from "./breaker/index.ts";
import { ActorNotFound, InvalidArgument, SystemStopped } from "./errors.ts";
import type { DeadLetter, LifecycleEvent } from "./events.ts";
import { Fabric } from "./internal/fabric.ts";
import { Router } from "./internal/router.ts";
import { createLogger, type LogLevel, type Logger } from "./log.ts";
import { SystemMetrics, type ActorSample } from "./metrics/system-metrics.ts";
import { actor, supervisor, type ActorChildOptions, type ActorChildSpec, type ChildSpec, type SupervisorOptions } from "./supervision/child-spec.ts";
import type { ChildExit, ChildHandle, ChildInfo } from "./supervision/child-handle.ts";
import { Supervisor } from "./supervision/supervisor.ts";
import { PoolChild } from "./threads/pool-child.ts";
import { WorkerChild } from "./threads/worker-child.ts";
import { RemoteTransport, checkRemoteOptions, type RemoteOptions } from "./remote/transport.ts";
import type { CellReport } from "./threads/notifications.ts";

export interface ActorSystemOptions {
  /** The node name in every path: fed://<node>/… */
  node?: string;
  /** Directory of the node's LMDB environment; persistent actors need it. */
  persistence?: { path: string };
  /** Options of the root ("user") supervisor. */
  supervision?: Partial<SupervisorOptions>;
  maxFrameBytes?: number;
  logLevel?: LogLevel;
  /** Defaults and per-target overrides of circuit breakers (peers are `fed://<node>`). */
  breakers?: BreakerRegistryOptions;
  /** Listen for and connect to other nodes over gRPC (see runtime/remote). */
  remote?: RemoteOptions;
}

/** The root guardian tolerates more than a leaf supervisor: it is the last line before the node fails. */
export const DEFAULT_ROOT_SUPERVISION = { strategy: "one-for-one", intensity: 10, periodMs: 10_000 } as const;

/** Forbidden-message log lines per second, at most (runtime/system.ts). */
const FORBIDDEN_LOG_PER_SECOND = 20;

export class ActorSystem {
  readonly node: string;
  readonly events$: Observable<LifecycleEvent>;
  readonly deadLetters$: Observable<DeadLetter>;
  readonly metrics: SystemMetrics;
  readonly breakers: BreakerRegistry;
  readonly log: Logger;
  /** The node's durable store (a NodeStore) when persistence is configured. */
  readonly store: unknown;
  private readonly events = new Subject<LifecycleEvent>();
  private readonly fabric: Fabric;
  private readonly router: Router;
  private readonly root: Supervisor;
  private readonly actors = new Map<string, LocalChild | WorkerChild | PoolChild>();
  private readonly workerReports = new Map<string, CellReport>();
  private workerSeq = 0;
  private refreshing: Promise<void> | undefined;
  /** The federation transport, when started with `remote`. */
  transport: RemoteTransport | undefined;
  private stopped = false;
  private readonly terminatedSubject = new ReplaySubject<{ reason: string }>(1);
  /**
   * Emits once if the node stops by itself: its root supervisor gave up (restart intensity
   * exceeded at the top). By then the system is stopped; a launcher exits with the reason, and
   * whatever supervises the process starts it again.
   */
  readonly terminated$: Observable<{ readonly reason: string }> = this.terminatedSubject.asObservable();

  private constructor(private readonly opts: ActorSystemOptions, store: unknown) {
    this.node = opts.node ?? "local";
    if (!isValidName(this.node)) throw new InvalidArgument("node", `"${this.node}" must match [A-Za-z0-9][A-Za-z0-9._-]*`);
    this.store = store;
    this.breakers = new BreakerRegistry(opts.breakers);
    this.log = createLogger({ node: this.node }, opts.logLevel);
    this.fabric = new Fabric(this.node, "main", store);
    this.router = new Router(this.fabric);
    this.events$ = this.events.asObservable();
    this.deadLetters$ = this.fabric.deadLetters$.asObservable();
    this.metrics = new SystemMetrics(this.node, {
      refresh: () => this.refreshWorkerReports(),
      actors: () => this.samples(),
      breakers: () => this.breakers.snapshot().map((b) => ({ target: b.target, state: breakerStateValue(b.state) })),
    });
    this.fabric.deadLetters$.subscribe((letter) => this.metrics.deadLetter(letter.reason));
    // A refused sender is a security event: logged with who, what and where (never the payload),
    // at most FORBIDDEN_LOG_PER_SECOND lines a second, then one line with how many were not logged
    // (a flood must not flood the log; the metric counts every one).
    let window = { startMs: 0, logged: 0, suppressed: 0 };
    this.fabric.deadLetters$.subscribe((letter) => {
      if (letter.reason !== "forbidden") return;
      if (letter.atMs - window.startMs >= 1_000) {
        if (window.suppressed > 0) this.log.warn("forbidden-suppressed", { count: window.suppressed });
        window = { startMs: letter.atMs, logged: 0, suppressed: 0 };
      }
      if (window.logged++ < FORBIDDEN_LOG_PER_SECOND) {
        this.log.warn("forbidden", { to: letter.to, ...(letter.messageType ? { messageType: letter.messageType } : {}), sender: letter.sender ?? `local:${this.node}`, detail: letter.detail });
      } else window.suppressed++;
    });
    this.events.subscribe((e) => {
      if (e.type === "failed") this.log.warn("actor-failed", { path: e.path, reason: e.reason, ...(e.code ? { code: e.code } : {}) });
      else if (e.type === "escalated") this.log.error("supervisor-escalated", { path: e.path, reason: e.reason });
      else if (e.type === "restarted") this.log.info("actor-restarted", { path: e.path, restarts: e.restarts, delayMs: e.delayMs });
    });
    const rootSpec = supervisor("user", [], { ...DEFAULT_ROOT_SUPERVISION, ...opts.supervision });
    this.root = new Supervisor(formatPath(this.node, "user"), rootSpec, (spec, parent, onExit) => this.createChild(spec, parent, onExit), this.events, (exit) => {
      // OTP: when the top supervisor gives up, the node stops. A node whose root no longer
      // restarts anything would keep accepting work it cannot keep.
      const reason = exit.kind === "crash" ? exit.reason : "normal";
      this.log.error("root-supervisor-failed", { reason });
      void this.stop().finally(() => this.terminatedSubject.next({ reason }));
    });
  }

  /** Starts a system; with `persistence`, opens the node's LMDB environment first. */
  static async start(opts: ActorSystemOptions = {}): Promise<ActorSystem> {
    const store = opts.persistence !== undefined
      ? (await import("./persistence/index.ts")).openNodeStore({ path: opts.persistence.path })
      : undefined;
    const system = new ActorSystem(opts, store);
    await system.root.start();
    if (opts.remote !== undefined) {
      checkRemoteOptions(opts.remote);
      system.transport = new RemoteTransport(system.node, system.router, system.breakers, system.log, opts.remote);
      const known = new Set(opts.remote.peers.map((p) => p.id));
      system.transport.refusals$.subscribe((r) => system.metrics.peerRefused(known.has(r.peer) ? r.peer : "unknown"));
      try {
        await system.transport.start();
      } catch (error) {
        await system.stop();
        throw error;
      }
    }
    return system;
  }

  /** Spawns an actor under the root supervisor and returns its ref. */
  async spawn<M, A>(definition: ActorDefinition<M, A>, args: A, opts: ActorChildOptions & { name?: string } = {}): Promise<ActorRef<M>> {
    const spec = actor(opts.name ?? definition.id, definition, args, opts);
    const handle = await this.startChild(spec);
    return this.ref<M>(handle.path);
  }

  /** Starts a child (an actor or a whole supervisor tree) under the root supervisor. */
  startChild(spec: ChildSpec): Promise<ChildHandle> {
    if (this.stopped) return Promise.reject(new SystemStopped(this.node));
    return this.root.startChild(spec);
  }

  /** Stops and removes a child of the root supervisor. */
  stopChild(id: string): Promise<boolean> {
    return this.root.stopChild(id);
  }

  /**
   * Restarts one running actor (or a whole subtree) of this node under its own supervisor,
   * as an operator asks; a "restarted" event follows. Throws ActorNotFound for a path that
   * names no child here, ActorStopped when it (or its supervisor) is not running.
   */
  async restartActor(path: string): Promise<ChildInfo> {
    const { node, segments } = parsePath(path);
    if (node !== this.node || segments[0] !== "user") throw new ActorNotFound(path);
    if (segments.length === 1) throw new InvalidArgument("path", `${path} is the root guardian; restart its children instead`);
    let parent: Supervisor = this.root;
    for (let depth = 2; depth < segments.length; depth++) {
      const supervisorPath = formatPath(node, ...segments.slice(0, depth));
      const next = parent.childHandles.find((h) => h.path === supervisorPath);
      if (!(next instanceof Supervisor)) throw new ActorNotFound(path);
      parent = next;
    }
    const info = await parent.restartChild(segments[segments.length - 1]!);
    if (info === undefined) throw new ActorNotFound(path);
    return info;
  }

  /** A ref by path; valid whether or not the actor runs yet, and across its restarts. */
  ref<M>(path: string): ActorRef<M> {
    return this.fabric.ref<M>(path);
  }

  /** The path of a child under the root: pathOf("core", "counter") → fed://node/user/core/counter */
  pathOf(...ids: string[]): string {
    return formatPath(this.node, "user", ...ids);
  }

  /** A typed ref to a child described by its spec, under the given supervisor ids. */
  refOf<M, A>(spec: ActorChildSpec<M, A>, ...parents: string[]): ActorRef<M> {
    return this.ref<M>(this.pathOf(...parents, spec.id));
  }

  /** The supervision tree with each actor's status, mailbox depth and restarts. */
  async tree(): Promise<ChildInfo> {
    await Promise.all([...this.actors.values()].map((a) => (a instanceof WorkerChild ? a.report() : undefined)));
    return this.root.describe();
  }

  /** The router used by a federation transport to reach other nodes. */
  get routing(): Router {
    return this.router;
  }

  get deadLetterCount(): number {
    return this.fabric.deadLetterCount;
  }

  /** Stops every actor in reverse start order, then closes the store. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    // Each step runs whatever the one before did: a failed actor stop must not leave the
    // transport listening or LMDB open.
    try {
      await this.root.stop();
    } finally {
      try {
        await this.transport?.stop();
      } finally {
        this.router.close();
        this.breakers.dispose();
        try {
          const store = this.store as { close?: () => Promise<void> } | undefined;
          await store?.close?.();
        } finally {
          this.events.complete();
        }
      }
    }
  }

  private createChild(spec: ChildSpec, parentPath: string, onExit: (exit: ChildExit) => void): ChildHandle {
    const path = `${parentPath}/${spec.id}`;
    if (spec.kind === "supervisor") {
      return new Supervisor(path, spec, (s, p, e) => this.createChild(s, p, e), this.events, onExit);
    }
    const forget = (exit: ChildExit) => onExit(exit);
    let child: LocalChild | WorkerChild | PoolChild;
    switch (spec.placement) {
      case "local": {
        const local = new LocalChild(path, spec, this.fabric, forget, this.log);
        local.cell.observeMs = this.metrics.processingObserver(path);
        child = local;
        break;
      }
      case "worker":
        child = new WorkerChild(path, spec, {
          node: this.node,
          fabric: this.fabric,
          router: this.router,
          nextWorkerId: () => ++this.workerSeq,
          notification: (n) => {
            if (n.n === "dead-letters") {
              for (const letter of n.letters) this.fabric.deadLetters$.next(letter);
            } else if (n.n === "stats") {
              for (const cell of n.cells) this.workerReports.set(cell.path, cell);
            }
          },
          ...(this.opts.maxFrameBytes ? { maxFrameBytes: this.opts.maxFrameBytes } : {}),
          ...(this.opts.persistence ? { storePath: this.opts.persistence.path } : {}),
        }, forget);
        break;
      case "pool":
        child = new PoolChild(path, spec, this.fabric, forget, this.opts.maxFrameBytes);
        break;
    }
    this.actors.set(path, child);
    return child;
  }

  /** Asks every worker for fresh counts; concurrent scrapes share one round of asks. */
  private refreshWorkerReports(): Promise<void> {
    // Synchronously, before any metric of this scrape is read (the histogram has no collect).
    this.sweepStopped();
    this.refreshing ??= Promise.all(
      [...this.actors.values()].map(async (child) => {
        if (!(child instanceof WorkerChild)) return;
        const report = await child.report();
        if (report !== undefined) this.workerReports.set(child.path, report);
      }),
    ).then(
      () => {
        this.refreshing = undefined;
      },
      (error: unknown) => {
        // A failed round is not kept: the next scrape asks again.
        this.refreshing = undefined;
        throw error;
      },
    );
    return this.refreshing;
  }

  /** Children stopped for good (a temporary child, a removed one) leave the metrics too. */
  private sweepStopped(): void {
    for (const [path, child] of this.actors) {
      if (!child.stopped) continue;
      this.actors.delete(path);
      this.workerReports.delete(path);
      this.metrics.forgetActor(path);
    }
  }

  private *samples(): Iterable<ActorSample> {
    for (const [path, child] of this.actors) {
      if (child.stopped) continue;
      if (child instanceof LocalChild) {
        const cell: ActorCell<unknown> = child.cell;
        yield { path, placement: "local", received: cell.stats.received, processed: cell.stats.processed, mailboxDepth: cell.mailbox.size, restarts: cell.restarts };
      } else if (child instanceof PoolChild) {
        const info = child.describe();
        yield { path, placement: "pool", received: child.processed + child.mailbox.size, processed: child.processed, mailboxDepth: child.mailbox.size, restarts: info.restarts };
      } else {
        const report = this.workerReports.get(path);
        const info = child.describe();
        yield { path, placement: "worker", received: report?.received ?? 0, processed: report?.processed ?? 0, mailboxDepth: report?.mailboxDepth ?? 0, restarts: info.restarts };
      }
    }
  }
}

function breakerStateValue(state: string): number {
  if (state === "open" || state === "forced-open") return 2;
  if (state === "half-open") return 1;
  return 0;
}
