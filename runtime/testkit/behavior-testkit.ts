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
import { DEFAULT_ACCESS, accessOf, refusalOf } from "../actor/access.ts";
import type { ActorContext, ActorDefinition, Behavior } from "../actor/behavior.ts";
import { parsePath } from "../actor/path.ts";
import type { CompiledAccess, Sender } from "../actor/sender.ts";
import type { Forbidden } from "../errors.ts";
import { TestInbox } from "./test-inbox.ts";

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

