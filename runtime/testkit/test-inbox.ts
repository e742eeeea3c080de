/**
 * Where a behaviour's tells and asks to one path land in a BehaviorTestKit, for the test to look
 * at (Pekko's TestInbox). Its `ref` goes into a message as a `replyTo`; an ask made to it waits
 * until the test answers it (`expectAsk`, `nextAsk`) — a fake ask has no deadline of its own.
 * Never used by the runtime itself.
 */
import assert from "node:assert/strict";
import type { ActorRef, AskOptions, TellOptions } from "../actor/behavior.ts";
import { WireRef } from "../codec/index.ts";

/** An ask the behaviour made, waiting for the test to answer it. */
export interface TestAsk<T, R> {
  readonly msg: T;
  readonly opts: AskOptions | undefined;
  reply(value: R): void;
  fail(error: Error): void;
}

/** How long `next()` waits before it fails the test (a guard against a hang, not a limit asserted). */
const NEXT_GUARD_MS = 30_000;

interface Received<T> {
  readonly msg: T;
  readonly ask?: { readonly opts: AskOptions | undefined; resolve(value: unknown): void; reject(error: Error): void };
}

/** The inbox of one path. */
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

