/**
 * The actor cell (runtime/actor/cell.ts): one message at a time, a mailbox kept across restarts,
 * a throw turned into a suspension and a failure report, a stop bounded by its timeout. Most tests
 * drive a cell directly on a fabric, with hooks and a log the test reads; the first goes through
 * an ActorSystem, as an operator's restart does.
 *
 * Issue 12 (failure edges, OTP semantics): a restart while an async receive still hangs used to
 * leave the new incarnation stuck (the old one's turn was never given back), and the old
 * receive's late failure crashed the new one. Incarnation numbers: the new behaviour starts with
 * a free turn, and what an earlier one does later is ignored (a late failure is logged).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ActorCrashed, ActorStopped, ActorSystem, defineActor, type ActorRef, type Behavior, type DeadLetter, type LifecycleEvent } from "../../../runtime/index.ts";
import { ActorCell } from "../../../runtime/actor/cell.ts";
import { Fabric } from "../../../runtime/internal/fabric.ts";

type HangMsg = { type: "hang" } | { type: "ping"; replyTo: ActorRef<string> };

/** Set by the first incarnation's receive once it hangs: the test rejects it when it wants. */
let hanging: { failLate(error: Error): void } | undefined;
let entered: (() => void) | undefined;

export const hanger = defineActor<HangMsg, void>(import.meta.url, "hanger", () => ({
  async receive(msg) {
    if (msg.type === "hang") {
      await new Promise<void>((_, reject) => {
        hanging = { failLate: reject };
        entered?.();
      });
    } else msg.replyTo.tell("pong");
  },
}));

test("an operator's restart during a hung receive serves the next ask: the new incarnation is not stuck behind the old one", async () => {
  const system = await ActorSystem.start({ node: "n", logLevel: "silent" });
  const events: LifecycleEvent[] = [];
  system.events$.subscribe((e) => events.push(e));
  try {
    const ref = await system.spawn(hanger, undefined, { name: "hanger", shutdownMs: 100 });
    const hung = new Promise<void>((resolve) => (entered = resolve));
    ref.tell({ type: "hang" });
    await hung;
    const info = await system.restartActor(ref.path);
    assert.equal(info.restarts, 1);
    assert.equal(await ref.ask<string>((replyTo) => ({ type: "ping", replyTo }), { timeoutMs: 2_000 }), "pong");
    assert.deepEqual(events.filter((e) => e.type === "failed"), []);
    hanging!.failLate(new Error("settled at last, so the test leaves nothing pending"));
  } finally {
    await system.stop();
  }
});

interface LogLine {
  readonly level: string;
  readonly event: string;
  readonly fields: Record<string, unknown> | undefined;
}

/** A cell on a fabric of its own, with hooks and a log the test reads. */
function cellOf<M>(create: () => Behavior<M>, capacity = 64) {
  const fabric = new Fabric("n", "main");
  const path = "fed://n/user/cell";
  const failures: unknown[] = [];
  const deadLetters: DeadLetter[] = [];
  fabric.deadLetters$.subscribe((letter) => deadLetters.push(letter));
  const lines: LogLine[] = [];
  const listeners: ((line: LogLine) => void)[] = [];
  const write = (level: string) => (event: string, fields?: Record<string, unknown>) => {
    const line = { level, event, fields };
    lines.push(line);
    for (const listen of listeners) listen(line);
  };
  let stopSelfCalls = 0;
  let onStopSelf: (() => void) | undefined;
  const cell = new ActorCell<M>(fabric, path, { capacity, overflow: "drop-newest" }, create, {
    onFailure: (error) => failures.push(error),
    onStopSelf: () => {
      stopSelfCalls++;
      onStopSelf?.();
    },
  }, { info: write("info"), warn: write("warn"), error: write("error") });
  return {
    cell,
    fabric,
    ref: fabric.ref<M>(path),
    failures,
    deadLetters,
    lines,
    /** Resolves with the next log line named `event`. */
    logged(event: string): Promise<LogLine> {
      return new Promise((resolve) => listeners.push((line) => line.event === event && resolve(line)));
    },
    stoppedSelf: () => stopSelfCalls,
    whenStopSelf: () => new Promise<void>((resolve) => (onStopSelf = resolve)),
  };
}

type StepMsg =
  | { type: "hold"; id: string }
  | { type: "note"; id: string }
  | { type: "crash" }
  | { type: "quit" }
  | { type: "ask"; replyTo: ActorRef<string> };

/**
 * Each incarnation records what it handles; `hold` waits until the test releases (or fails) that
 * id; every handled message settles `handled(id)`.
 */
function recorder() {
  let incarnation = 0;
  const seen: string[] = [];
  const holds = new Map<string, { release(): void; fail(error: Error): void }>();
  const waiting = new Map<string, () => void>();
  const handledWaits = new Map<string, Promise<void>>();
  const handled = (id: string): Promise<void> => {
    let wait = handledWaits.get(id);
    if (wait === undefined) {
      wait = new Promise<void>((resolve) => waiting.set(id, resolve));
      handledWaits.set(id, wait);
    }
    return wait;
  };
  const done = (id: string) => {
    void handled(id);
    waiting.get(id)!();
  };
  const create = (): Behavior<StepMsg> => {
    const mine = ++incarnation;
    return {
      async receive(msg) {
        switch (msg.type) {
          case "hold": {
            const key = `${msg.id}@${mine}`;
            seen.push(`${key}:start`);
            done(`${key}:start`);
            await new Promise<void>((resolve, reject) => holds.set(key, { release: resolve, fail: reject }));
            seen.push(`${key}:end`);
            return;
          }
          case "note":
            seen.push(`${msg.id}@${mine}`);
            done(`${msg.id}@${mine}`);
            return;
          case "crash":
            throw new Error(`crash of incarnation ${mine}`);
          case "quit":
            return;
          case "ask":
            msg.replyTo.tell(`answer of incarnation ${mine}`);
        }
      },
      stop() {
        seen.push(`stop@${mine}`);
      },
    };
  };
  return { create, seen, holds, handled };
}

test("the old incarnation's late failure is logged and ignored: no failure reported, the new incarnation keeps serving", async () => {
  const r = recorder();
  const c = cellOf(r.create);
  await c.cell.start();
  c.ref.tell({ type: "hold", id: "a" });
  await r.handled("a@1:start");
  await c.cell.restart(20); // the hold outlives the halt's 20 ms
  const ignored = c.logged("late-failure-ignored");
  r.holds.get("a@1")!.fail(new Error("late"));
  const line = await ignored;
  assert.deepEqual(line.fields, { path: "fed://n/user/cell", incarnation: 1, current: 2, reason: "Error: late" });
  assert.deepEqual(c.failures, [], "the new incarnation did not crash for the old one");
  assert.equal(c.cell.status, "running");
  assert.equal(await c.ref.ask<string>((replyTo) => ({ type: "ask", replyTo })), "answer of incarnation 2");
});

test("the old incarnation's late completion does not take a turn of the new one: one message at a time still holds", async () => {
  const r = recorder();
  const c = cellOf(r.create);
  await c.cell.start();
  c.ref.tell({ type: "hold", id: "a" });
  await r.handled("a@1:start");
  await c.cell.restart(20);
  c.ref.tell({ type: "hold", id: "b" });
  await r.handled("b@2:start");
  c.ref.tell({ type: "note", id: "c" });
  r.holds.get("a@1")!.release();
  // The late completion settles in microtasks, and a drain it started would be a microtask too:
  // all of them have run when an immediate fires (Node runs the microtask queue dry before the
  // check phase). So this one turn is a bound by order of events, not a sleep.
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(r.seen, ["a@1:start", "stop@1", "b@2:start", "a@1:end"], "c waits behind b");
  r.holds.get("b@2")!.release();
  await r.handled("c@2");
  assert.deepEqual(r.seen.slice(4), ["b@2:end", "c@2"]);
});

test("a stop while a receive hangs ends at its timeout; the asks queued behind it fail with ActorStopped, later tells are dead letters", async () => {
  const r = recorder();
  const c = cellOf(r.create);
  await c.cell.start();
  c.ref.tell({ type: "hold", id: "a" });
  await r.handled("a@1:start");
  const queued = c.ref.ask<string>((replyTo) => ({ type: "ask", replyTo }), { timeoutMs: 10_000 }).catch((error: unknown) => error);
  let timer: NodeJS.Timeout | undefined;
  const first = await Promise.race([
    c.cell.stop(50).then(() => "stopped"),
    new Promise((resolve) => (timer = setTimeout(() => resolve("2 s timer"), 2_000))),
  ]);
  clearTimeout(timer);
  assert.equal(first, "stopped", "the hang did not hold the stop past its timeout");
  assert.equal(c.cell.status, "stopped");
  assert.ok((await queued) instanceof ActorStopped);
  assert.ok(r.seen.includes("stop@1"), "the stop hook ran");
  c.ref.tell({ type: "note", id: "late" });
  assert.deepEqual(c.deadLetters.map((l) => [l.reason, l.messageType]), [["actor-stopped", "ask"], ["no-such-actor", "note"]]);
  r.holds.get("a@1")!.release();
});

test("a crash fails its ask with ActorCrashed and suspends the cell; what arrives meanwhile waits, and the restarted behaviour serves it in order", async () => {
  const r = recorder();
  const c = cellOf(r.create);
  await c.cell.start();
  const crashed = c.ref.ask<string>(() => ({ type: "crash" })).catch((error: unknown) => error);
  const error = await crashed;
  assert.ok(error instanceof ActorCrashed);
  assert.match(error.message, /crash of incarnation 1/);
  assert.equal(c.failures.length, 1);
  assert.equal(c.cell.status, "suspended");
  c.ref.tell({ type: "note", id: "x" });
  c.ref.tell({ type: "note", id: "y" });
  assert.equal(c.cell.mailbox.size, 2, "kept for the next incarnation, not handled by a suspended one");
  await c.cell.restart(100);
  await r.handled("y@2");
  assert.deepEqual(r.seen, ["stop@1", "x@2", "y@2"]);
  assert.equal(c.cell.restarts, 1);
});

test("stopSelf reports a normal stop once and the cell takes no further turn", async () => {
  const behavior: Behavior<StepMsg> = {
    receive(msg, ctx) {
      if (msg.type === "quit") ctx.stopSelf();
      else if (msg.type === "note") handled.push(msg.id);
    },
  };
  const handled: string[] = [];
  const c = cellOf(() => behavior);
  await c.cell.start();
  const stopped = c.whenStopSelf();
  c.ref.tell({ type: "quit" });
  c.ref.tell({ type: "note", id: "after" });
  await stopped;
  assert.equal(c.stoppedSelf(), 1);
  assert.equal(c.cell.status, "suspended");
  assert.deepEqual(handled, []);
  assert.equal(c.cell.mailbox.size, 1, "the message after the stop waits for whatever the supervisor decides");
});

test("a long burst yields the thread to I/O between turns: an immediate queued before it fires before its last message", async () => {
  let count = 0;
  const total = 5_000;
  const c = cellOf<number>(() => ({ receive: () => void count++ }), total);
  await c.cell.start();
  const atImmediate = new Promise<number>((resolve) => setImmediate(() => resolve(count)));
  for (let i = 0; i < total; i++) c.ref.tell(i);
  const seen = await atImmediate;
  assert.ok(seen < total, `the immediate saw ${seen} of ${total} handled`);
  while (count < total) await new Promise((resolve) => setImmediate(resolve)); // one turn per 1,024 messages
  assert.equal(c.cell.stats.processed, total);
});

test("an actor's throughput bounds its turn: with 16, an immediate queued before a burst of 64 fires after the 16th message, before the 17th", async () => {
  const seenAtImmediate: number[] = [];
  let count = 0;
  const fabric = new Fabric("n", "main");
  const path = "fed://n/user/throttled";
  const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
  const cell = new ActorCell<number>(fabric, path, { capacity: 128, overflow: "drop-newest" }, () => ({ receive: () => void count++ }), { onFailure: () => undefined, onStopSelf: () => undefined }, quiet, undefined, 16);
  await cell.start();
  const ref = fabric.ref<number>(path);
  setImmediate(() => seenAtImmediate.push(count));
  for (let i = 0; i < 64; i++) ref.tell(i);
  while (count < 64) await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(seenAtImmediate, [16]);
  assert.equal(cell.stats.processed, 64);
});

test("defineActor takes a throughput of whole messages ≥ 1 and refuses anything else, naming the actor", () => {
  assert.equal(defineActor(import.meta.url, "tp-ok", () => ({ receive: () => undefined }), { throughput: 16 }).throughput, 16);
  assert.equal(defineActor(import.meta.url, "tp-default", () => ({ receive: () => undefined })).throughput, undefined);
  for (const bad of [0, -1, 1.5, NaN, Infinity]) {
    assert.throws(() => defineActor(import.meta.url, "tp-bad", () => ({ receive: () => undefined }), { throughput: bad }), (e: Error & { code?: string }) => e.code === "INVALID_ARGUMENT" && /throughput/.test(e.message) && /tp-bad/.test(e.message), String(bad));
  }
});

test("a start hook that throws fails the start", async () => {
  const c = cellOf<StepMsg>(() => ({ start: () => { throw new Error("cannot start"); }, receive: () => undefined }));
  await assert.rejects(c.cell.start(), /cannot start/);
  assert.equal(c.cell.status, "starting");
});
