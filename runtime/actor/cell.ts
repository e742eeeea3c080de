/**
 * An actor cell: one address, one mailbox, one behaviour instance at a time. It runs one
 * message at a time, keeps its mailbox across restarts (so refs stay valid), and turns a
 * throw into a suspension plus a failure report — it never decides about restarts itself.
 */
import type { ActorContext, ActorLogger, Behavior } from "./behavior.ts";
import { Mailbox, maxWaitingSenders, type MailboxConfig } from "./mailbox.ts";
import { ActorCrashed, ActorStopped, MailboxFull } from "../errors.ts";
import type { Deliverable, Fabric } from "../internal/fabric.ts";
import type { Envelope } from "../internal/envelope.ts";
import { DEFAULT_ACCESS } from "./access.ts";
import { describeSender, type CompiledAccess, type Sender } from "./sender.ts";

export type CellStatus = "new" | "starting" | "running" | "suspended" | "stopped";

export interface CellHooks {
  /** The behaviour threw: the cell is suspended until restart() or stop(). */
  onFailure(error: unknown): void;
  /** The behaviour asked to stop normally. */
  onStopSelf(): void;
}

export interface CellStats {
  received: number;
  processed: number;
  failures: number;
  processingMsTotal: number;
}

/** Messages handled in one go before the cell yields the thread to I/O, unless the actor's definition says otherwise (`throughput`). */
export const DEFAULT_THROUGHPUT = 1024;

export class ActorCell<M> implements Deliverable {
  status: CellStatus = "new";
  readonly mailbox: Mailbox<Envelope>;
  readonly stats: CellStats = { received: 0, processed: 0, failures: 0, processingMsTotal: 0 };
  restarts = 0;
  /** Observes each handled message's duration; set by the metrics module. */
  observeMs: ((ms: number) => void) | undefined;
  private behavior: Behavior<M> | undefined;
  private readonly ctx: ActorContext<M>;
  private busy = false;
  private scheduled = false;
  private inFlight: Promise<unknown> | undefined;
  /**
   * Which behaviour instance is current: bumped by every start. A receive of an earlier
   * incarnation that settles after a restart (it outlived the halt's wait) changes nothing of the
   * new one: its failure is logged and ignored, its completion does not drain the new mailbox.
   */
  private incarnation = 0;
  /** The sender of the message being handled (undefined: this node's code). */
  private current: Sender | undefined;
  private readonly localSender: Sender;
  private readonly drainBound = () => {
    this.scheduled = false;
    this.drain();
  };

  constructor(
    private readonly fabric: Fabric,
    readonly path: string,
    mailbox: MailboxConfig,
    private readonly create: () => Behavior<M>,
    private readonly hooks: CellHooks,
    private readonly log: ActorLogger,
    readonly access: CompiledAccess = DEFAULT_ACCESS,
    private readonly throughput = DEFAULT_THROUGHPUT,
  ) {
    this.mailbox = new Mailbox(mailbox);
    this.localSender = Object.freeze({ kind: "local", node: fabric.node });
    const cell = this;
    this.ctx = {
      self: fabric.ref<M>(path),
      path,
      node: fabric.node,
      get sender() {
        return cell.current ?? cell.localSender;
      },
      refused(detail: string) {
        const sender = cell.current ?? cell.localSender;
        fabric.deadLetter({ to: path, msg: null, sender }, "forbidden", `${describeSender(sender)}: ${detail}`);
      },
      log,
      store: fabric.store,
      nowMs: Date.now,
      lookup: (p) => fabric.ref(p),
      stopSelf() {
        if (cell.status === "running") {
          cell.status = "suspended";
          queueMicrotask(() => cell.hooks.onStopSelf());
        }
      },
    };
    fabric.register(path, this);
  }

  /** Creates the behaviour and runs its start hook; a throw there fails the start. */
  async start(): Promise<void> {
    this.status = "starting";
    this.incarnation++;
    // An earlier incarnation's receive may still hang: the new one starts with a free turn.
    this.busy = false;
    this.inFlight = undefined;
    this.behavior = this.create();
    await this.behavior.start?.(this.ctx);
    this.status = "running";
    this.schedule();
  }

  /**
   * Replaces the behaviour with a fresh one, keeping the address and the mailbox. The old one is
   * halted within `shutdownMs` (the child spec's), then left behind.
   */
  async restart(shutdownMs: number): Promise<void> {
    await this.halt(shutdownMs);
    this.restarts++;
    await this.start();
  }

  /**
   * Stops processing and runs the stop hook; the mailbox keeps filling (used before a restart).
   * `timeoutMs` bounds the whole halt, as OTP's shutdown time bounds a child's terminate: the
   * receive still running and then the stop hook share it; past it, both are left behind.
   */
  async halt(timeoutMs: number): Promise<void> {
    if (this.status === "stopped") return;
    this.status = "suspended";
    const deadlineMs = performance.now() + timeoutMs;
    if (this.inFlight !== undefined) await waitAtMost(this.inFlight, timeoutMs);
    const behavior = this.behavior;
    this.behavior = undefined;
    if (behavior?.stop !== undefined) {
      try {
        await waitAtMost(Promise.resolve(behavior.stop(this.ctx)), Math.max(0, deadlineMs - performance.now()));
      } catch {
        // A stop hook that throws must not keep the actor from stopping.
      }
    }
  }

  /** Final stop: waiting asks fail with ActorStopped, other messages become dead letters. */
  async stop(timeoutMs: number): Promise<void> {
    if (this.status === "stopped") return;
    await this.halt(timeoutMs);
    this.status = "stopped";
    this.fabric.unregister(this.path);
    const stopped = new ActorStopped(this.path);
    for (const env of this.mailbox.drain()) this.fabric.reject(env, "actor-stopped", stopped);
    this.mailbox.releaseWaiters();
  }

  accept(env: Envelope): void {
    if (this.status === "stopped") {
      this.fabric.reject(env, "actor-stopped", new ActorStopped(this.path));
      return;
    }
    if (env.ackTo !== undefined) {
      const ackTo = env.ackTo;
      this.acceptWhenRoom(env).then(
        () => this.fabric.deliver({ to: ackTo, msg: true }),
        (error) => this.fabric.failTemp(ackTo, error),
      );
      return;
    }
    if (this.mailbox.offer(env)) {
      this.stats.received++;
      this.schedule();
      return;
    }
    this.fabric.reject(env, "mailbox-full", new MailboxFull(this.path, this.mailbox.config.capacity));
  }

  async acceptWhenRoom(env: Envelope): Promise<void> {
    const { capacity, overflow } = this.mailbox.config;
    while (!this.mailbox.offer(env)) {
      if (this.status === "stopped") throw new ActorStopped(this.path);
      if (overflow !== "backpressure" || this.mailbox.waiting >= maxWaitingSenders(capacity)) throw new MailboxFull(this.path, capacity);
      await this.mailbox.waitForRoom();
    }
    this.stats.received++;
    this.schedule();
  }

  private schedule(): void {
    if (!this.busy && !this.scheduled && this.status === "running") {
      this.scheduled = true;
      queueMicrotask(this.drainBound);
    }
  }

  private drain(): void {
    if (this.busy) return;
    this.busy = true;
    let budget = this.throughput;
    while (this.status === "running") {
      const env = this.mailbox.poll();
      if (env === undefined) break;
      const startedMs = performance.now();
      let result: void | Promise<void>;
      this.current = env.sender;
      try {
        result = this.behavior!.receive(env.msg as M, this.ctx);
      } catch (error) {
        this.busy = false;
        this.crash(error, env);
        return;
      }
      if (result !== undefined && typeof (result as Promise<void>).then === "function") {
        const incarnation = this.incarnation;
        this.inFlight = (result as Promise<void>).then(
          () => {
            if (incarnation !== this.incarnation) return; // a receive of a behaviour since replaced
            this.inFlight = undefined;
            this.record(startedMs);
            this.busy = false;
            this.drain();
          },
          (error: unknown) => {
            if (incarnation !== this.incarnation) {
              this.log.warn("late-failure-ignored", { path: this.path, incarnation, current: this.incarnation, reason: describeError(error) });
              return;
            }
            this.inFlight = undefined;
            this.busy = false;
            this.crash(error, env);
          },
        );
        return;
      }
      this.record(startedMs);
      if (--budget === 0) {
        // Keep `busy` so that arrivals in this turn do not re-enter before I/O had its turn.
        setImmediate(() => {
          this.busy = false;
          this.drain();
        });
        return;
      }
    }
    this.busy = false;
  }

  private record(startedMs: number): void {
    const ms = performance.now() - startedMs;
    this.stats.processed++;
    this.stats.processingMsTotal += ms;
    this.observeMs?.(ms);
  }

  private crash(error: unknown, env: Envelope): void {
    this.status = "suspended";
    this.stats.failures++;
    this.stats.processed++;
    const reason = describeError(error);
    // The thrown error goes along: its code (and, for a FedrouterError, its fields) reach the asker.
    if (env.ask !== undefined) this.fabric.failTemp(env.ask, new ActorCrashed(this.path, reason, error));
    this.hooks.onFailure(error);
  }
}

export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`.slice(0, 500);
  return String(error).slice(0, 500);
}

/** Waits for `promise` (ignoring its failure) or `timeoutMs`, whichever comes first. */
export async function waitAtMost(promise: Promise<unknown>, timeoutMs: number): Promise<void> {
  await settlesWithin(promise, timeoutMs);
}

/** Whether `promise` settled (either way) within `timeoutMs`; it is not waited for past that. */
export async function settlesWithin(promise: Promise<unknown>, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const settled = await Promise.race([
    promise.then(() => true, () => true),
    new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    }),
  ]);
  clearTimeout(timer);
  return settled;
}
