/**
 * A supervised stateless actor served by a piscina pool: up to `2 × threads` messages are
 * in flight at once (the mailbox holds the rest), each handled in whichever pool thread is
 * free. A message whose task throws fails its ask with ActorCrashed and is reported to the
 * supervisor as a failure, so a pool that keeps failing escalates like any other child.
 */
import { accessOf } from "../actor/access.ts";
import { Piscina } from "piscina";
import { Mailbox, maxWaitingSenders } from "../actor/mailbox.ts";
import { describeError, waitAtMost } from "../actor/cell.ts";
import { createFrameCodec, type FrameCodec } from "../codec/index.ts";
import { ActorCrashed, ActorStopped, MailboxFull, errorFromWire } from "../errors.ts";
import { codeOf } from "../actor/local-child.ts";
import type { Envelope } from "../internal/envelope.ts";
import { envelopeProblem } from "../internal/envelope.ts";
import type { Deliverable, Fabric } from "../internal/fabric.ts";
import type { ActorChildSpec } from "../supervision/child-spec.ts";
import type { ChildExit, ChildHandle, ChildInfo } from "../supervision/child-handle.ts";
import type { PoolTask, PoolTaskFailure, PoolTaskResult } from "./pool-task.ts";

const here = import.meta.url;
const TASK_ENTRY = new URL(`./pool-task${here.endsWith(".ts") ? ".ts" : ".js"}`, here).href;
const POOL_BOOT = new URL("./pool-boot.mjs", here).href;

export class PoolChild implements ChildHandle, Deliverable {
  readonly placement = "pool" as const;
  readonly mailbox: Mailbox<Envelope>;
  processed = 0;
  /** Set by the final stop, never by a halt before a restart. */
  stopped = false;
  private pool: Piscina | undefined;
  private inFlight = 0;
  private readonly idleWaiters: (() => void)[] = [];
  private running = false;
  private restarts = 0;
  private readonly codec: FrameCodec;
  get access() {
    return accessOf(this.spec.definition);
  }

  constructor(
    readonly path: string,
    private readonly spec: ActorChildSpec,
    private readonly fabric: Fabric,
    private readonly onExit: (exit: ChildExit) => void,
    private readonly maxFrameBytes?: number,
  ) {
    this.mailbox = new Mailbox(spec.mailbox);
    this.codec = createFrameCodec({ resolveRef: (p) => fabric.ref(p), ...(maxFrameBytes ? { maxFrameBytes } : {}) });
    fabric.register(path, this);
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.pool ??= new Piscina({ filename: POOL_BOOT, minThreads: 1, maxThreads: this.spec.poolThreads });
    this.fabric.register(this.path, this);
    this.running = true;
    this.pump();
  }

  async restart(): Promise<void> {
    this.restarts++;
    await this.start();
  }

  /** Takes no new message; the tasks in flight get at most `timeoutMs` (the spec's shutdownMs) to finish. */
  async halt(timeoutMs: number): Promise<void> {
    this.running = false;
    await waitAtMost(this.idle(), timeoutMs);
  }

  /**
   * Final stop: queued asks fail with ActorStopped; the tasks in flight get at most `timeoutMs`,
   * then the pool's threads are ended and what still runs there fails with ActorStopped.
   */
  async stop(timeoutMs: number): Promise<void> {
    this.stopped = true;
    this.running = false;
    this.fabric.unregister(this.path);
    const stopped = new ActorStopped(this.path);
    for (const env of this.mailbox.drain()) this.fabric.reject(env, "actor-stopped", stopped);
    this.mailbox.releaseWaiters();
    await waitAtMost(this.idle(), timeoutMs);
    const pool = this.pool;
    this.pool = undefined;
    await pool?.destroy();
  }

  accept(env: Envelope): void {
    if (env.ackTo !== undefined) {
      const ackTo = env.ackTo;
      this.acceptWhenRoom(env).then(() => this.fabric.deliver({ to: ackTo, msg: true }), (e) => this.fabric.failTemp(ackTo, e));
      return;
    }
    if (this.mailbox.offer(env)) this.pump();
    else this.fabric.reject(env, "mailbox-full", new MailboxFull(this.path, this.mailbox.config.capacity));
  }

  async acceptWhenRoom(env: Envelope): Promise<void> {
    const { capacity, overflow } = this.mailbox.config;
    while (!this.mailbox.offer(env)) {
      if (overflow !== "backpressure" || this.mailbox.waiting >= maxWaitingSenders(capacity)) throw new MailboxFull(this.path, capacity);
      await this.mailbox.waitForRoom();
    }
    this.pump();
  }

  describe(): ChildInfo {
    return { path: this.path, placement: "pool", status: this.running ? "running" : "suspended", restarts: this.restarts, mailboxDepth: this.mailbox.size, processed: this.processed };
  }

  /** Resolves once no task is in flight. */
  private idle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private settled(): void {
    this.inFlight--;
    this.processed++;
    if (this.inFlight === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private pump(): void {
    const limit = this.spec.poolThreads * 2;
    while (this.running && this.pool !== undefined && this.inFlight < limit) {
      const env = this.mailbox.poll();
      if (env === undefined) return;
      this.dispatch(this.pool, env);
    }
  }

  private dispatch(pool: Piscina, env: Envelope): void {
    this.inFlight++;
    let frame: Uint8Array;
    try {
      frame = this.codec.encode([env.sender === undefined ? { to: env.to, msg: env.msg } : { to: env.to, msg: env.msg, sender: env.sender }]).bytes.slice();
    } catch (error) {
      this.inFlight--;
      this.fabric.reject(env, "encode-error", error as never);
      return;
    }
    const task: PoolTask = {
      entry: TASK_ENTRY,
      node: this.fabric.node,
      path: this.path,
      moduleUrl: this.spec.definition.moduleUrl,
      definitionId: this.spec.definition.id,
      args: this.spec.args,
      frame,
      ...(this.maxFrameBytes ? { maxFrameBytes: this.maxFrameBytes } : {}),
    };
    (pool.run(task, { transferList: [frame.buffer as ArrayBuffer] }) as Promise<PoolTaskResult>).then(
      (result) => {
        this.settled();
        if (result.failure !== undefined) return this.crashed(env, pool, result.failure.reason, thrownOf(result.failure));
        this.deliverOutbox(result.frame);
        this.pump();
      },
      (error: unknown) => {
        this.settled();
        this.crashed(env, pool, describeError(error), error);
      },
    );
  }

  /** A task failed: its asker hears why (with the thrown error's code), its supervisor hears of a crash. */
  private crashed(env: Envelope, pool: Piscina, reason: string, thrown: unknown): void {
    if (this.pool !== pool) {
      // Its pool was ended by a stop that waited its shutdownMs: not a crash of the actor.
      if (env.ask !== undefined) this.fabric.failTemp(env.ask, new ActorStopped(this.path));
      return;
    }
    if (env.ask !== undefined) this.fabric.failTemp(env.ask, new ActorCrashed(this.path, reason, thrown));
    this.onExit({ kind: "crash", reason, ...codeOf(thrown) });
    this.pump();
  }

  private deliverOutbox(frame: Uint8Array): void {
    const decoded = this.codec.decode(frame);
    if (!decoded.ok) {
      this.fabric.deadLetter({ to: this.path, msg: null }, "decode-error", decoded.error.message);
      return;
    }
    for (const value of decoded.values) {
      if (envelopeProblem(value) === undefined) this.fabric.deliver(value as Envelope);
    }
  }
}

/** What a pool task threw, rebuilt on this side: a FedrouterError from its wire form, else just its code. */
function thrownOf(failure: PoolTaskFailure): unknown {
  if (failure.error !== undefined) return errorFromWire(failure.error);
  return failure.code === undefined ? undefined : { code: failure.code };
}
