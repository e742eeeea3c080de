import { test } from "node:test";
import assert from "node:assert/strict";
import { threadId } from "node:worker_threads";
import { firstValueFrom, filter } from "rxjs";
import { ActorSystem, ActorCrashed, WorkerCrashed, actor, supervisor, type LifecycleEvent } from "../../../runtime/index.ts";
import { counter, squarer, type CounterMsg, type SquareMsg } from "../../fixtures/actors.ts";

const NO_BACKOFF = { minMs: 0, maxMs: 0, jitter: 0 };

/** An actor's messages in and out and its mailbox depth, as a scrape reads them (fresh from a worker thread). */
async function actorCounts(system: ActorSystem, path: string): Promise<{ in: number; out: number; depth: number }> {
  const text = await system.metrics.text();
  const read = (metric: string) => Number(new RegExp(`^${metric}\\{actor="${path}"[^}]*\\} (\\d+)$`, "m").exec(text)?.[1] ?? Number.NaN);
  return { in: read("fedrouter_actor_messages_in_total"), out: read("fedrouter_actor_messages_out_total"), depth: read("fedrouter_actor_mailbox_depth") };
}

test("an actor in a dedicated worker answers asks from the main thread, in another thread", async () => {
  const system = await ActorSystem.start({ node: "w", logLevel: "silent" });
  try {
    const ref = await system.spawn(counter, 1, { placement: "worker" });
    for (let i = 0; i < 1_000; i++) ref.tell({ type: "add", n: 1 });
    assert.equal(await ref.ask<number>((replyTo) => ({ type: "get", replyTo })), 1_001);
    const who = await ref.ask<{ path: string; threadId: number }>((replyTo) => ({ type: "whoami", replyTo }));
    assert.equal(who.path, "fed://w/user/counter");
    assert.notEqual(who.threadId, threadId);
  } finally {
    await system.stop();
  }
});

test("a typed array listed for transfer moves to the worker (the sender's view is detached)", async () => {
  const system = await ActorSystem.start({ node: "w", logLevel: "silent" });
  try {
    const ref = await system.spawn(counter, 0, { placement: "worker" });
    const moved = new Float32Array(100_000).fill(0.5);
    const sum = await ref.ask<number>((replyTo) => ({ type: "sum", values: moved, replyTo }), { transfer: [moved.buffer] });
    assert.equal(sum, 50_000);
    assert.equal(moved.byteLength, 0, "transferred, not copied");
    const copied = new Float32Array(10).fill(1);
    assert.equal(await ref.ask<number>((replyTo) => ({ type: "sum", values: copied, replyTo })), 10);
    assert.equal(copied.byteLength, 40, "without transfer the sender keeps its array");
  } finally {
    await system.stop();
  }
});

test("a worker killed mid-work: pending asks fail with WorkerCrashed, the actor comes back, siblings are undisturbed", async () => {
  const system = await ActorSystem.start({ node: "w", logLevel: "silent" });
  const events: LifecycleEvent[] = [];
  system.events$.subscribe((e) => events.push(e));
  try {
    await system.startChild(supervisor("sup", [
      actor("doomed", counter, 0, { placement: "worker" }),
      actor("sibling", counter, 0, { placement: "worker" }),
      actor("local", counter, 0),
    ], { strategy: "one-for-one", intensity: 3, backoff: NO_BACKOFF }));
    const doomed = system.ref<CounterMsg>(system.pathOf("sup", "doomed"));
    const sibling = system.ref<CounterMsg>(system.pathOf("sup", "sibling"));
    const local = system.ref<CounterMsg>(system.pathOf("sup", "local"));
    doomed.tell({ type: "add", n: 5 });
    sibling.tell({ type: "add", n: 7 });
    local.tell({ type: "add", n: 9 });
    const siblingThread = (await sibling.ask<{ threadId: number }>((replyTo) => ({ type: "whoami", replyTo }))).threadId;
    const restarted = firstValueFrom(system.events$.pipe(filter((e) => e.type === "restarted")));
    const started = Date.now();
    const fatal = doomed.ask<string>((replyTo) => ({ type: "die-soon", afterMs: 50, replyTo }), { timeoutMs: 5_000 });
    const queued = doomed.ask<number>((replyTo) => ({ type: "get", replyTo }), { timeoutMs: 5_000 });
    await assert.rejects(
      fatal,
      (error: unknown) => error instanceof WorkerCrashed && error.code === "WORKER_CRASHED",
    );
    assert.ok(Date.now() - started < 3_000, "failed when the thread died, not at the deadline");
    await assert.rejects(queued, WorkerCrashed, "an ask queued behind the fatal one fails too");
    assert.equal((await restarted).path, doomed.path);
    const failed = events.find((e) => e.type === "failed");
    assert.ok(failed && failed.type === "failed" && failed.code === "WORKER_CRASHED");
    assert.equal(await doomed.ask<number>((replyTo) => ({ type: "get", replyTo })), 0, "fresh state in a fresh thread");
    assert.equal(await sibling.ask<number>((replyTo) => ({ type: "get", replyTo })), 7);
    assert.equal(await local.ask<number>((replyTo) => ({ type: "get", replyTo })), 9);
    assert.equal((await sibling.ask<{ threadId: number }>((replyTo) => ({ type: "whoami", replyTo }))).threadId, siblingThread);
    assert.equal(events.filter((e) => e.type === "restarted").length, 1, "only the crashed child restarted");
  } finally {
    await system.stop();
  }
});

test("a throw inside a worker actor restarts it in place and fails only that ask", async () => {
  const system = await ActorSystem.start({ node: "w", logLevel: "silent" });
  try {
    const ref = await system.spawn(counter, 3, { placement: "worker" });
    const thread = (await ref.ask<{ threadId: number }>((replyTo) => ({ type: "whoami", replyTo }))).threadId;
    const restarted = firstValueFrom(system.events$.pipe(filter((e) => e.type === "restarted")));
    await assert.rejects(ref.ask<number>(() => ({ type: "crash", reason: "oops" })), ActorCrashed);
    await restarted;
    assert.equal(await ref.ask<number>((replyTo) => ({ type: "get", replyTo })), 3);
    assert.equal((await ref.ask<{ threadId: number }>((replyTo) => ({ type: "whoami", replyTo }))).threadId, thread);
  } finally {
    await system.stop();
  }
});

test("a pool actor serves concurrent asks from piscina threads; a failing task fails its ask", async () => {
  const system = await ActorSystem.start({ node: "w", logLevel: "silent", supervision: { intensity: 100 } });
  try {
    const ref = await system.spawn(squarer, undefined, { placement: "pool", poolThreads: 2 });
    const results = await Promise.all(Array.from({ length: 50 }, (_, x) => ref.ask<number>((replyTo) => ({ type: "square", x, replyTo }) satisfies SquareMsg)));
    assert.deepEqual(results, Array.from({ length: 50 }, (_, x) => x * x));
    await assert.rejects(ref.ask<number>((replyTo) => ({ type: "boom", replyTo })), ActorCrashed);
    assert.equal(await ref.ask<number>((replyTo) => ({ type: "square", x: 12, replyTo })), 144);
  } finally {
    await system.stop();
  }
});

test("two worker actors talk to each other through the main thread, with refs inside messages", async () => {
  const system = await ActorSystem.start({ node: "w", logLevel: "silent" });
  try {
    const a = await system.spawn(counter, 0, { placement: "worker", name: "a" });
    const b = await system.spawn(counter, 40, { placement: "worker", name: "b" });
    a.tell({ type: "forward", to: b, n: 2 });
    a.tell({ type: "forward", to: b, n: 3 });
    // a answers after it has sent both adds; they reach the main thread before its answer (one
    // port, in order) and go on to b's port before the get we send next: b sees adds, then get.
    await a.ask<number>((replyTo) => ({ type: "get", replyTo }));
    assert.equal(await b.ask<number>((replyTo) => ({ type: "get", replyTo })), 45);
  } finally {
    await system.stop();
  }
});

test("backpressure across threads: send waits for room in the worker's mailbox and nothing is dropped", async () => {
  const system = await ActorSystem.start({ node: "w", logLevel: "silent" });
  try {
    const ref = await system.spawn(counter, 0, { placement: "worker", mailbox: { capacity: 2, overflow: "backpressure" } });
    let dead = 0;
    system.deadLetters$.subscribe(() => dead++);
    // Slow the actor down so its mailbox is full while the sends arrive.
    const slow = ref.ask<string>((replyTo) => ({ type: "sleep", ms: 100, replyTo }));
    await Promise.all(Array.from({ length: 300 }, () => ref.send({ type: "add", n: 1 })));
    await slow;
    assert.equal(await ref.ask<number>((replyTo) => ({ type: "get", replyTo })), 300);
    assert.equal(dead, 0);
  } finally {
    await system.stop();
  }
});

test("drop-newest across threads: tells past the worker mailbox's capacity become dead letters", async () => {
  const system = await ActorSystem.start({ node: "w", logLevel: "silent" });
  try {
    const ref = await system.spawn(counter, 0, { placement: "worker", mailbox: { capacity: 5, overflow: "drop-newest" } });
    let overflowed = 0;
    let all45: () => void;
    const deadLettersArrived = new Promise<void>((resolve) => (all45 = resolve));
    system.deadLetters$.subscribe((letter) => letter.reason === "mailbox-full" && ++overflowed === 45 && all45());
    const slow = ref.ask<string>((replyTo) => ({ type: "sleep", ms: 2_000, replyTo }));
    // The sleep is being handled once the worker has received it, its mailbox is empty again and
    // it has not finished (asked of the worker itself): from then on the mailbox holds the first 5 adds.
    for (;;) {
      const counts = await actorCounts(system, ref.path);
      assert.equal(counts.out, 0, "the 2 s sleep ended before this test saw it start (a very loaded machine)");
      if (counts.in === 1 && counts.depth === 0) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    for (let i = 0; i < 50; i++) ref.tell({ type: "add", n: 1 });
    await slow;
    assert.equal(await ref.ask<number>((replyTo) => ({ type: "get", replyTo })), 5);
    await deadLettersArrived; // batched from the worker to the main thread
    assert.match(await system.metrics.text(), /fedrouter_dead_letters_total\{reason="mailbox-full",node="w"\} 45/);
  } finally {
    await system.stop();
  }
});

test("a scrape asks worker threads for fresh counts", async () => {
  const system = await ActorSystem.start({ node: "w", logLevel: "silent" });
  try {
    const ref = await system.spawn(counter, 0, { placement: "worker", name: "scraped" });
    for (let i = 0; i < 25; i++) ref.tell({ type: "add", n: 1 });
    await ref.ask<number>((replyTo) => ({ type: "get", replyTo }));
    // No wait for the periodic (1 s) stats report: the scrape itself asks the worker.
    const text = await system.metrics.text();
    assert.match(text, /fedrouter_actor_messages_in_total\{actor="fed:\/\/w\/user\/scraped",placement="worker",node="w"\} 26/);
  } finally {
    await system.stop();
  }
});
