/**
 * The per-thread message fabric: delivers envelopes to the cells of this thread, settles
 * asks, and hands everything else to its uplink (the parent thread, or the main thread's
 * router). It never blocks and never throws on a message it cannot deliver: that message
 * becomes a dead letter, and an ask waiting on it fails with a typed error.
 */
import { Subject } from "rxjs";
import type { ActorRef, AskOptions, TellOptions } from "../actor/behavior.ts";
import { AskTimeout, type FedrouterError, errorFromWire } from "../errors.ts";
import { messageTypeOf, type DeadLetter, type DeadLetterReason } from "../events.ts";
import { WireRef } from "../codec/index.ts";
import type { Envelope } from "./envelope.ts";
import { describeSender, type CompiledAccess } from "../actor/sender.ts";
import { refusalOf } from "../actor/access.ts";

export const DEFAULT_ASK = { timeoutMs: 5_000 } as const;
/** After a sweep of timed-out asks, the next one runs no sooner than this (see Fabric.sweep). */
const SWEEP_GAP_MS = 10;
/** A send waits at most this long for the target mailbox to accept the message. */
export const DEFAULT_SEND_TIMEOUT_MS = 30_000;

/** What a fabric needs from a cell: the cell module implements it. */
export interface Deliverable {
  /** Who may send it what: the fabric checks it before `accept` (the one gate, for every kind of child). */
  readonly access: CompiledAccess;
  accept(env: Envelope): void;
  acceptWhenRoom(env: Envelope): Promise<void>;
}

export type Uplink = (env: Envelope, transfer?: readonly ArrayBuffer[]) => void;

/** An ask (or a send waiting for its ack) that has not been answered yet. */
interface PendingTemp {
  /** performance.now() by which it must be answered. */
  readonly deadline: number;
  readonly target: string;
  readonly timeoutMs: number;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

export class Fabric {
  readonly deadLetters$ = new Subject<DeadLetter>();
  readonly tempPrefix: string;
  /** Set by the owner: where envelopes for paths outside this thread go. */
  uplink: Uplink | undefined;
  deadLetterCount = 0;
  private readonly cells = new Map<string, Deliverable>();
  private readonly temps = new Map<string, PendingTemp>();
  private readonly refs = new Map<string, RefImpl<unknown>>();
  private tempSeq = 0;
  /**
   * One timer for every pending ask, armed for the earliest deadline, instead of a setTimeout
   * and a clearTimeout per ask (a Timeout object, a timer-list insert and removal, and their
   * garbage, on every request of a busy actor like the Accountant). It fires when the earliest
   * deadline passes, fails what is due and re-arms for the next; it is cleared when nothing is
   * pending, so that, as before, only an unanswered ask keeps the process alive.
   */
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private readonly sweepBound = () => this.sweep();

  constructor(readonly node: string, readonly tag: string, readonly store: unknown = undefined) {
    this.tempPrefix = `fed://${node}/temp/${tag}/`;
  }

  register(path: string, cell: Deliverable): void {
    this.cells.set(path, cell);
  }

  unregister(path: string): void {
    this.cells.delete(path);
  }

  has(path: string): boolean {
    return this.cells.has(path);
  }

  /** A ref for any path; refs to actors are cached, one-shot temp refs are not. */
  ref<M>(path: string): ActorRef<M> {
    let ref = this.refs.get(path);
    if (ref === undefined) {
      ref = new RefImpl(path, this);
      if (!isTempPath(path) && this.refs.size < 100_000) this.refs.set(path, ref);
    }
    return ref as ActorRef<M>;
  }

  deliver(env: Envelope, transfer?: readonly ArrayBuffer[]): void {
    const cell = this.cells.get(env.to);
    if (cell !== undefined) {
      // This node's code to an actor that takes everything from it (the common case): no look-up.
      if (env.sender !== undefined || !cell.access.localAll) {
        const refusal = refusalOf(cell.access, env, this.node);
        if (refusal !== undefined) return this.reject(env, "forbidden", refusal);
      }
      cell.accept(env);
      return;
    }
    if (env.to.startsWith(this.tempPrefix)) {
      if (this.settleTemp(env)) return;
      if (!env.fail) this.deadLetter(env, "no-such-actor", "the ask was already answered or timed out");
      return;
    }
    if (this.uplink !== undefined) this.uplink(env, transfer);
    else this.deadLetter(env, "no-such-actor", "no actor at this path");
  }

  /** Tell with backpressure: resolves when the target mailbox accepted the message. */
  send(env: Envelope, transfer?: readonly ArrayBuffer[]): Promise<void> {
    const cell = this.cells.get(env.to);
    if (cell !== undefined) {
      const refusal = env.sender !== undefined || !cell.access.localAll ? refusalOf(cell.access, env, this.node) : undefined;
      if (refusal === undefined) return cell.acceptWhenRoom(env);
      this.deadLetter(env, "forbidden", refusal.message);
      return Promise.reject(refusal);
    }
    return this.awaitTemp<void>(env.to, DEFAULT_SEND_TIMEOUT_MS, (tempPath) => {
      env.ackTo = tempPath;
      env.deadlineMs = Date.now() + DEFAULT_SEND_TIMEOUT_MS;
      this.deliver(env, transfer);
    }).then(() => undefined);
  }

  ask<M, R>(to: string, make: (replyTo: ActorRef<R>) => M, opts?: AskOptions): Promise<R> {
    const timeoutMs = opts?.timeoutMs ?? DEFAULT_ASK.timeoutMs;
    return this.awaitTemp<R>(to, timeoutMs, (tempPath) => {
      const msg = make(this.ref<R>(tempPath));
      const env: Envelope = { to, msg, ask: tempPath, deadlineMs: Date.now() + timeoutMs };
      if (opts?.as !== undefined) env.sender = opts.as;
      this.deliver(env, opts?.transfer);
    });
  }

  /** Tells an asker (or a waiting sender) that its request failed. */
  failTemp(tempPath: string, error: FedrouterError): void {
    this.deliver({ to: tempPath, msg: error.toJSON(), fail: true });
  }

  deadLetter(env: Envelope, reason: DeadLetterReason, detail: string): void {
    this.deadLetterCount++;
    const letter: { -readonly [K in keyof DeadLetter]: DeadLetter[K] } = { to: env.to, reason, detail, atMs: Date.now() };
    const messageType = env.fail ? undefined : messageTypeOf(env.msg);
    if (messageType !== undefined) letter.messageType = messageType;
    if (env.sender !== undefined) letter.sender = describeSender(env.sender);
    this.deadLetters$.next(letter);
  }

  /** Undelivered: dead-letter it, and fail whoever waits on it so nobody hangs. */
  reject(env: Envelope, reason: DeadLetterReason, error: FedrouterError): void {
    if (env.ask !== undefined) this.failTemp(env.ask, error);
    if (env.ackTo !== undefined) this.failTemp(env.ackTo, error);
    if (env.fail) {
      // A failure that could not be sent (a field of its cause msgpack cannot carry): send its
      // code, message and plain fields alone, so that the asker is told rather than left to time out.
      const plain = plainFailure(env.msg);
      if (plain !== undefined) this.deliver({ to: env.to, msg: plain, fail: true });
      return;
    }
    this.deadLetter(env, reason, error.message);
  }

  get pendingTemps(): number {
    return this.temps.size;
  }

  private awaitTemp<R>(target: string, timeoutMs: number, dispatch: (tempPath: string) => void): Promise<R> {
    const tempPath = `${this.tempPrefix}${++this.tempSeq}`;
    return new Promise<R>((resolve, reject) => {
      const deadline = performance.now() + timeoutMs;
      this.temps.set(tempPath, { deadline, target, timeoutMs, resolve: resolve as (value: unknown) => void, reject });
      if (deadline < this.timerAt) this.arm(deadline);
      try {
        dispatch(tempPath);
      } catch (error) {
        this.forget(tempPath);
        reject(error);
      }
    });
  }

  /** Settles the ask `env` answers; false when none waits on it (answered already, or timed out). */
  private settleTemp(env: Envelope): boolean {
    const pending = this.temps.get(env.to);
    if (pending === undefined) return false;
    this.forget(env.to);
    if (env.fail) pending.reject(errorFromWire(env.msg as Record<string, unknown>));
    else pending.resolve(env.msg);
    return true;
  }

  private forget(tempPath: string): void {
    this.temps.delete(tempPath);
    if (this.temps.size === 0 && this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.timerAt = Infinity;
    }
  }

  private arm(at: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(this.sweepBound, Math.max(0, Math.ceil(at - performance.now())));
  }

  /**
   * Fails every ask past its deadline (AskTimeout), then re-arms for the earliest one left, but
   * no sooner than SWEEP_GAP_MS: a sweep reads every pending ask, so when asks time out one after
   * another (a peer gone quiet) they are failed in batches, each at most SWEEP_GAP_MS late, rather
   * than by a full scan every millisecond.
   */
  private sweep(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = performance.now();
    let next = Infinity;
    for (const [path, pending] of this.temps) {
      if (pending.deadline <= now) {
        this.temps.delete(path);
        pending.reject(new AskTimeout(pending.target, pending.timeoutMs));
      } else if (pending.deadline < next) next = pending.deadline;
    }
    if (next !== Infinity) this.arm(Math.max(next, now + SWEEP_GAP_MS));
  }
}

/** A failure's string, number and boolean fields; undefined when it has nothing else (nothing left to drop). */
function plainFailure(failure: unknown): Record<string, unknown> | undefined {
  if (failure === null || typeof failure !== "object") return undefined;
  const plain = Object.fromEntries(Object.entries(failure).filter(([, value]) => ["string", "number", "boolean"].includes(typeof value)));
  return Object.keys(plain).length < Object.keys(failure).length ? plain : undefined;
}

export function isTempPath(path: string): boolean {
  return path.includes("/temp/");
}

/** `fed://node/temp/<tag>/<n>` → tag */
export function tempTag(path: string): string | undefined {
  const at = path.indexOf("/temp/");
  if (at < 0) return undefined;
  const rest = path.slice(at + 6);
  const slash = rest.indexOf("/");
  return slash < 0 ? undefined : rest.slice(0, slash);
}

class RefImpl<M> extends WireRef implements ActorRef<M> {
  constructor(readonly path: string, private readonly fabric: Fabric) {
    super();
  }

  tell(msg: M, opts?: TellOptions): void {
    if (opts === undefined) this.fabric.deliver({ to: this.path, msg });
    else this.fabric.deliver(opts.as === undefined ? { to: this.path, msg } : { to: this.path, msg, sender: opts.as }, opts.transfer);
  }

  send(msg: M, opts?: TellOptions): Promise<void> {
    return this.fabric.send(opts?.as === undefined ? { to: this.path, msg } : { to: this.path, msg, sender: opts.as }, opts?.transfer);
  }

  ask<R>(make: (replyTo: ActorRef<R>) => M, opts?: AskOptions): Promise<R> {
    return this.fabric.ask(this.path, make, opts);
  }

  override toString(): string {
    return this.path;
  }

  toJSON(): string {
    return this.path;
  }
}
