/**
 * Runs one behaviour a message at a time with a fake ActorContext — no actor system, no mailbox,
 * no threads — and records what it did, as Pekko's BehaviorTestKit does. It never pretends to be
 * the runtime: mailboxes, restarts by a supervisor, ask deadlines and threads are tested with a
 * real ActorSystem.
 *
 * What a test gets:
 * - `run(msg, { sender })` awaits one `receive` and says how it ended: `handled`, `crashed` (the
 *   throw or rejection, returned instead of thrown, so a test tells a crash from a reply), or
 *   `forbidden` (the runtime's access gate refused the sender; `receive` never ran). The sender
 *   is what `ctx.sender` says during that message; default: this node's own code.
 * - `inbox<R>()`: a TestInbox whose `ref` goes into a message as its `replyTo`; what is told to it
 *   is recorded (`receiveAll`, `expectMessage`, or `next()` for a reply sent later).
 * - `inboxAt(path)`: the inbox behind `ctx.lookup(path)`. Its asks wait for the test:
 *   `expectAsk()` / `nextAsk()` give the message with `reply(r)` and `fail(error)`. A fake ask has
 *   no deadline; fail it with an AskTimeout to play one.
 * - `selfInbox`: what the behaviour told `ctx.self`, not run until the test runs it
 *   (`kit.run(kit.selfInbox.expectMessage())`), as Pekko's selfInbox.
 * - `nowMs` (settable) and `advance(ms)`: the clock behind `ctx.nowMs()`.
 * - `logs`, `refusals` (each `ctx.refused(detail)`), `isAlive` (false after `ctx.stopSelf()`).
 * - `start()`, `stop()`, `restart()` run the hooks (a restart makes a fresh behaviour first), and
 *   `store` is whatever the test passed (a NodeStore on a temp directory, a fake).
 * There is no childInbox: an ActorContext here cannot spawn.
 *
 * @example
 * type CounterMsg = { type: "add"; n: number } | { type: "get"; replyTo: ActorRef<number> };
 * const counter = defineActor<CounterMsg, number>(import.meta.url, "counter", (start) => {
 *   let total = start;
 *   return { receive(msg) { if (msg.type === "add") total += msg.n; else msg.replyTo.tell(total); } };
 * });
 * const kit = BehaviorTestKit.of(counter, 40);
 * await kit.run({ type: "add", n: 2 });
 * const replies = kit.inbox<number>();
 * assert.deepEqual(await kit.run({ type: "get", replyTo: replies.ref }), { type: "handled" });
 * assert.equal(replies.expectMessage(), 42);
 * const peer = { kind: "peer", node: "node-b" } as const;
 * assert.equal((await kit.run({ type: "add", n: 1 }, { sender: peer })).type, "forbidden"); // no access policy: local and operators only
 */
import assert from "node:assert/strict";
import { DEFAULT_ACCESS, accessOf, refusalOf } from "../actor/access.ts";
import type { ActorContext, ActorDefinition, ActorRef, AskOptions, Behavior, TellOptions } from "../actor/behavior.ts";
import { parsePath } from "../actor/path.ts";
import type { CompiledAccess, Sender } from "../actor/sender.ts";
import { WireRef } from "../codec/index.ts";
import type { Forbidden } from "../errors.ts";

/** How one `run` (or a hook) ended. */
export type RunOutcome =
  | { readonly type: "handled" }
  /** `receive` (or the hook) threw or rejected: under a supervisor, a crash. */
  | { readonly type: "crashed"; readonly error: unknown }
  /** The sender may not send this message type: the runtime would refuse it before `receive`. */
  | { readonly type: "forbidden"; readonly error: Forbidden };

export interface LogEntry {
  readonly level: "info" | "warn" | "error";
  readonly event: string;
  readonly fields?: Record<string, unknown>;
}

/** An ask the behaviour made, waiting for the test to answer it. */
export interface TestAsk<T, R> {
  readonly msg: T;
  readonly opts: AskOptions | undefined;
  reply(value: R): void;
  fail(error: Error): void;
}

export interface BehaviorTestKitOptions {
  /** The actor's path; default fed://test/user/under-test. */
  path?: string;
  /** What `ctx.store` holds. */
  store?: unknown;
  /** The clock's first reading (ms); default 0. */
  nowMs?: number;
  /**
   * Who may send what, as a definition's `access`; default the definition's (with `of`), or the
   * runtime's default for an actor without one: this node's code and its operators.
   */
  access?: Readonly<Record<string, readonly Sender["kind"][]>>;
}

/** How long `next()` waits before it fails the test (a guard against a hang, not a limit asserted). */
const NEXT_GUARD_MS = 30_000;

interface Received<T> {
  readonly msg: T;
  readonly ask?: { readonly opts: AskOptions | undefined; resolve(value: unknown): void; reject(error: Error): void };
}

/** Where a behaviour's tells and asks to one path land, for the test to look at. */
export class TestInbox<T> {
  readonly ref: ActorRef<T>;
  private readonly received: Received<T>[] = [];
  private readonly waiting: ((entry: Received<T>) => void)[] = [];

  constructor(readonly path: string, private readonly replyPath: () => string) {
    this.ref = new InboxRef<T>(this, path);
  }

  get hasMessages(): boolean {
    return this.received.length > 0;
  }

  /** Every message received so far, oldest first; the inbox is empty afterwards. */
  receiveAll(): T[] {
    return this.received.splice(0).map((entry) => entry.msg);
  }

  /** Takes the oldest message; fails when there is none, or when it is not `expected` (deep equality). */
  expectMessage(...expected: [] | [T]): T {
    const entry = this.received.shift();
    assert.ok(entry !== undefined, `${this.path} received no message`);
    if (expected.length === 1) assert.deepEqual(entry.msg, expected[0]);
    return entry.msg;
  }

  /** Fails when a message is waiting. Says nothing about later: bound a test by a later event instead. */
  expectNoMessage(): void {
    assert.equal(this.received.length, 0, `${this.path} received ${this.received.length} message(s): ${JSON.stringify(this.received.map((e) => e.msg))}`);
  }

  /** Takes the oldest message, which must be an ask: the test answers it. */
  expectAsk<R>(): TestAsk<T, R> {
    const entry = this.received.shift();
    assert.ok(entry !== undefined, `${this.path} received no message`);
    return askOf<T, R>(entry, this.path);
  }

  /** The oldest message, or the next one to arrive (a reply the behaviour sends later). */
  async next(guardMs = NEXT_GUARD_MS): Promise<T> {
    return (await this.nextEntry(guardMs)).msg;
  }

  /** The oldest message or the next one, which must be an ask. */
  async nextAsk<R>(guardMs = NEXT_GUARD_MS): Promise<TestAsk<T, R>> {
    return askOf<T, R>(await this.nextEntry(guardMs), this.path);
  }

  /** @internal Records a tell. */
  tell(msg: T): void {
    this.deliver({ msg });
  }

  /** @internal Records an ask and returns its answer, when the test gives one. */
  ask<R>(make: (replyTo: ActorRef<R>) => T, opts: AskOptions | undefined): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      let settled = false;
      const once = <V>(settle: (value: V) => void) => (value: V) => {
        if (settled) return;
        settled = true;
        settle(value);
      };
      const reply = new ReplyRef<R>(this.replyPath(), once(resolve));
      this.deliver({ msg: make(reply), ask: { opts, resolve: once(resolve as (v: unknown) => void), reject: once(reject) } });
    });
  }

  private deliver(entry: Received<T>): void {
    const waiter = this.waiting.shift();
    if (waiter !== undefined) waiter(entry);
    else this.received.push(entry);
  }

  private nextEntry(guardMs: number): Promise<Received<T>> {
    const entry = this.received.shift();
    if (entry !== undefined) return Promise.resolve(entry);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.splice(this.waiting.indexOf(take), 1);
        reject(new Error(`${this.path} received nothing within ${guardMs} ms`));
      }, guardMs);
      const take = (e: Received<T>) => {
        clearTimeout(timer);
        resolve(e);
      };
      this.waiting.push(take);
    });
  }
}

function askOf<T, R>(entry: Received<T>, path: string): TestAsk<T, R> {
  const ask = entry.ask;
  assert.ok(ask !== undefined, `the message ${path} received is a tell, not an ask: ${JSON.stringify(entry.msg)}`);
  return { msg: entry.msg, opts: ask.opts, reply: (value: R) => ask.resolve(value), fail: (error: Error) => ask.reject(error) };
}

/** A ref into a TestInbox. A WireRef, as the runtime's refs, so codecs see a ref. */
class InboxRef<T> extends WireRef implements ActorRef<T> {
  constructor(private readonly inbox: TestInbox<T>, readonly path: string) {
    super();
  }
  readonly tell = (msg: T, _opts?: TellOptions): void => this.inbox.tell(msg);
  readonly send = (msg: T, _opts?: TellOptions): Promise<void> => {
    this.inbox.tell(msg);
    return Promise.resolve();
  };
  readonly ask = <R>(make: (replyTo: ActorRef<R>) => T, opts?: AskOptions): Promise<R> => this.inbox.ask(make, opts);
  toJSON(): string {
    return this.path;
  }
}

/** The one-shot ref an ask of the behaviour carries as its replyTo: its first tell answers the ask. */
class ReplyRef<R> extends WireRef implements ActorRef<R> {
  constructor(readonly path: string, private readonly answer: (value: R) => void) {
    super();
  }
  readonly tell = (msg: R): void => this.answer(msg);
  readonly send = (msg: R): Promise<void> => {
    this.answer(msg);
    return Promise.resolve();
  };
  readonly ask = <Q>(): Promise<Q> => Promise.reject(new Error(`${this.path} is an ask's reply address; it cannot be asked`));
  toJSON(): string {
    return this.path;
  }
}

export class BehaviorTestKit<M> {
  readonly path: string;
  readonly node: string;
  readonly ctx: ActorContext<M>;
  /** What the behaviour told itself, waiting for the test to run it. */
  readonly selfInbox: TestInbox<M>;
  readonly logs: LogEntry[] = [];
  /** The detail of every `ctx.refused(detail)`: refusals by the behaviour's own rules. */
  readonly refusals: string[] = [];
  /** The clock behind `ctx.nowMs()`. */
  nowMs: number;
  /** False once the behaviour called `ctx.stopSelf()`: the runtime would deliver it nothing more. */
  isAlive = true;
  private readonly create: () => Behavior<M>;
  private behavior: Behavior<M>;
  private readonly access: CompiledAccess;
  private readonly localSender: Sender;
  private current: Sender | undefined;
  private readonly inboxes = new Map<string, TestInbox<unknown>>();
  private started = false;
  private seq = 0;

  /** A kit for a definition: its behaviour made from `args`, behind its access policy. */
  static of<M, A>(definition: ActorDefinition<M, A>, args: A, opts: BehaviorTestKitOptions = {}): BehaviorTestKit<M> {
    return new BehaviorTestKit<M>(() => definition.create(args), { ...opts, access: opts.access ?? definition.access });
  }

  /** `create` makes the behaviour (again, for `restart()`); a behaviour object is reused as is. */
  constructor(create: Behavior<M> | (() => Behavior<M>), opts: BehaviorTestKitOptions = {}) {
    this.create = typeof create === "function" ? create : () => create;
    this.behavior = this.create();
    this.path = opts.path ?? "fed://test/user/under-test";
    this.node = parsePath(this.path).node;
    this.nowMs = opts.nowMs ?? 0;
    this.access = opts.access === undefined ? DEFAULT_ACCESS : accessOf({ access: opts.access });
    this.localSender = Object.freeze({ kind: "local", node: this.node });
    this.selfInbox = this.inboxAt<M>(this.path);
    const kit = this;
    const record = (level: LogEntry["level"]) => (event: string, fields?: Record<string, unknown>) => {
      kit.logs.push(fields === undefined ? { level, event } : { level, event, fields });
    };
    this.ctx = {
      self: this.selfInbox.ref,
      path: this.path,
      node: this.node,
      get sender() {
        return kit.current ?? kit.localSender;
      },
      refused(detail) {
        kit.refusals.push(detail);
      },
      log: { info: record("info"), warn: record("warn"), error: record("error") },
      nowMs: () => kit.nowMs,
      lookup: <T>(path: string) => kit.inboxAt<T>(path).ref,
      store: opts.store,
      stopSelf() {
        kit.isAlive = false;
      },
    };
  }

  /** The behaviour instance the kit runs now (a fresh one after `restart()`). */
  get currentBehavior(): Behavior<M> {
    return this.behavior;
  }

  /** An inbox with a fresh path under this node, to pass as a message's `replyTo`. */
  inbox<R>(name = `inbox-${++this.seq}`): TestInbox<R> {
    return this.inboxAt<R>(`fed://${this.node}/test/${name}`);
  }

  /** The inbox at `path`: the one `ctx.lookup(path)` gives the behaviour. */
  inboxAt<R>(path: string): TestInbox<R> {
    let inbox = this.inboxes.get(path);
    if (inbox === undefined) {
      inbox = new TestInbox<unknown>(path, () => `fed://${this.node}/temp/testkit/${++this.seq}`);
      this.inboxes.set(path, inbox);
    }
    return inbox as TestInbox<R>;
  }

  /** Moves the clock forward. */
  advance(ms: number): void {
    this.nowMs += ms;
  }

  /** Runs the start hook. */
  async start(): Promise<RunOutcome> {
    this.started = true;
    this.current = undefined;
    return settle(() => this.behavior.start?.(this.ctx));
  }

  /**
   * Delivers one message, as the runtime would: the access gate first (a refused sender never
   * reaches `receive`), then `receive`, awaited. A throw or rejection is returned, not thrown.
   */
  async run(msg: M, opts: { sender?: Sender } = {}): Promise<RunOutcome> {
    if (!this.started && this.behavior.start !== undefined) throw new Error("BehaviorTestKit: call start() before run(): the behaviour has a start hook");
    if (!this.isAlive) throw new Error("BehaviorTestKit: the behaviour stopped itself (ctx.stopSelf()); the runtime would deliver it nothing more");
    const sender = opts.sender;
    const refusal = refusalOf(this.access, sender === undefined ? { to: this.path, msg } : { to: this.path, msg, sender }, this.node);
    if (refusal !== undefined) return { type: "forbidden", error: refusal };
    this.current = sender;
    return settle(() => this.behavior.receive(msg, this.ctx));
  }

  /** Runs the stop hook. */
  async stop(): Promise<RunOutcome> {
    this.current = undefined;
    return settle(() => this.behavior.stop?.(this.ctx));
  }

  /** What a supervisor's restart does to the behaviour: stop hook, a fresh behaviour, start hook. */
  async restart(): Promise<RunOutcome> {
    await this.stop();
    this.behavior = this.create();
    this.isAlive = true;
    return this.start();
  }
}

async function settle(run: () => void | Promise<void>): Promise<RunOutcome> {
  try {
    await run();
    return { type: "handled" };
  } catch (error) {
    return { type: "crashed", error };
  }
}

