import { test } from "node:test";
import assert from "node:assert/strict";
import { firstValueFrom, filter, take, toArray } from "rxjs";
import { ActorSystem, AskTimeout, MailboxFull, ActorNotFound, ActorCrashed, type DeadLetter } from "../../runtime/index.ts";
import { counter, type CounterMsg } from "../fixtures/actors.ts";

async function withSystem(run: (system: ActorSystem) => Promise<void>): Promise<void> {
  const system = await ActorSystem.start({ node: "t1", logLevel: "silent" });
  try {
    await run(system);
  } finally {
    await system.stop();
  }
}

test("tell and ask reach a local actor, one message at a time, in order", async () => {
  await withSystem(async (system) => {
    const ref = await system.spawn(counter, 10);
    for (let i = 1; i <= 100; i++) ref.tell({ type: "add", n: i });
    const total = await ref.ask<number>((replyTo) => ({ type: "get", replyTo }));
    assert.equal(total, 10 + 5050);
    assert.equal(ref.path, "fed://t1/user/counter");
  });
});

test("an ask that gets no answer fails with a typed AskTimeout after its deadline", async () => {
  await withSystem(async (system) => {
    const ref = await system.spawn(counter, 0);
    const started = Date.now();
    await assert.rejects(
      ref.ask<string>((replyTo) => ({ type: "sleep", ms: 500, replyTo }), { timeoutMs: 50 }),
      (error: unknown) => error instanceof AskTimeout && error.code === "ASK_TIMEOUT" && error.timeoutMs === 50,
    );
    assert.ok(Date.now() - started < 400, "the ask failed at its deadline, not when the actor answered");
  });
});

test("asks with different timeouts each fail at their own deadline, the shortest first even when asked last; an answered ask leaves no timer behind", async () => {
  await withSystem(async (system) => {
    const ref = await system.spawn(counter, 0);
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    const before = timers();
    assert.equal(await ref.ask<number>((replyTo) => ({ type: "get", replyTo }), { timeoutMs: 60_000 }), 0);
    assert.equal(timers(), before, "the answered ask's deadline timer is gone");
    const started = performance.now();
    const failedAt: [number, number][] = [];
    const ask = (timeoutMs: number) => ref.ask<string>((replyTo) => ({ type: "sleep", ms: 2_000, replyTo }), { timeoutMs }).then(
      () => assert.fail(`the ${timeoutMs} ms ask was answered`),
      (error: unknown) => {
        assert.ok(error instanceof AskTimeout && error.timeoutMs === timeoutMs, String(error));
        failedAt.push([timeoutMs, performance.now() - started]);
      },
    );
    await Promise.all([ask(900), ask(300), ask(60)]);
    assert.deepEqual(failedAt.map(([ms]) => ms), [60, 300, 900]);
    for (const [ms, at] of failedAt) assert.ok(at >= ms - 1 && at < ms + 500, `the ${ms} ms ask failed after ${at.toFixed(0)} ms`);
  });
});

test("an ask to a path with no actor fails at once with ActorNotFound and a dead letter", async () => {
  await withSystem(async (system) => {
    const letters = firstValueFrom(system.deadLetters$);
    await assert.rejects(
      system.ref<CounterMsg>("fed://t1/user/nobody").ask<number>((replyTo) => ({ type: "get", replyTo })),
      ActorNotFound,
    );
    const letter = await letters;
    assert.equal(letter.reason, "no-such-actor");
    assert.equal(letter.messageType, "get");
  });
});

test("drop-newest: messages past capacity become counted dead letters and asks fail with MailboxFull", async () => {
  await withSystem(async (system) => {
    const ref = await system.spawn(counter, 0, { mailbox: { capacity: 3, overflow: "drop-newest" } });
    const seen: DeadLetter[] = [];
    system.deadLetters$.subscribe((l) => seen.push(l));
    // All told in one synchronous turn: the actor cannot drain in between.
    for (let i = 0; i < 10; i++) ref.tell({ type: "add", n: 1 });
    await assert.rejects(ref.ask<number>((replyTo) => ({ type: "get", replyTo })), MailboxFull);
    assert.equal(seen.filter((l) => l.reason === "mailbox-full").length, 8);
    assert.equal(await ref.ask<number>((replyTo) => ({ type: "get", replyTo })), 3);
    assert.match(await system.metrics.text(), /fedrouter_dead_letters_total\{reason="mailbox-full",node="t1"\} 8/);
    await assert.rejects(Promise.all(Array.from({ length: 10 }, () => ref.send({ type: "add", n: 1 }))), MailboxFull);
  });
});

test("backpressure: send waits for room instead of dropping, and every message arrives", async () => {
  await withSystem(async (system) => {
    const ref = await system.spawn(counter, 0, { mailbox: { capacity: 2, overflow: "backpressure" } });
    let dead = 0;
    system.deadLetters$.subscribe(() => dead++);
    await Promise.all(Array.from({ length: 200 }, () => ref.send({ type: "add", n: 1 })));
    assert.equal(await ref.ask<number>((replyTo) => ({ type: "get", replyTo })), 200);
    assert.equal(dead, 0);
  });
});

test("a crash fails the ask that caused it with ActorCrashed, and the restarted actor keeps its ref", async () => {
  await withSystem(async (system) => {
    const ref = await system.spawn(counter, 5);
    ref.tell({ type: "add", n: 1 });
    const events = firstValueFrom(system.events$.pipe(filter((e) => e.type === "restarted")));
    await assert.rejects(
      ref.ask<number>(() => ({ type: "crash", reason: "bad input" })),
      (error: unknown) => error instanceof ActorCrashed && /bad input/.test(error.reason),
    );
    const restarted = await events;
    assert.equal(restarted.path, ref.path);
    assert.equal(await ref.ask<number>((replyTo) => ({ type: "get", replyTo })), 5, "fresh state after restart");
  });
});

test("metrics count messages in and out per actor", async () => {
  await withSystem(async (system) => {
    const ref = await system.spawn(counter, 0, { name: "metered" });
    for (let i = 0; i < 7; i++) ref.tell({ type: "add", n: 1 });
    await ref.ask<number>((replyTo) => ({ type: "get", replyTo }));
    await new Promise((resolve) => setImmediate(resolve)); // the reply goes out before the handler returns
    const text = await system.metrics.text();
    const actorLabel = 'actor="fed://t1/user/metered"';
    assert.equal(metricValue(text, "fedrouter_actor_messages_in_total", actorLabel), 8);
    assert.equal(metricValue(text, "fedrouter_actor_messages_out_total", actorLabel), 8);
    assert.equal(metricValue(text, "fedrouter_actor_processing_seconds_count", actorLabel), 8);
    assert.equal(metricValue(text, "fedrouter_actor_mailbox_depth", actorLabel), 0);
  });
});

function metricValue(text: string, name: string, label: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${name}{`) && l.includes(label));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

test("events$ reports started for every spawn, in order", async () => {
  const system = await ActorSystem.start({ node: "t1", logLevel: "silent" });
  const started = system.events$.pipe(filter((e) => e.type === "started"), take(3), toArray());
  const all = firstValueFrom(started);
  await system.spawn(counter, 0, { name: "a" });
  await system.spawn(counter, 0, { name: "b" });
  await system.spawn(counter, 0, { name: "c" });
  assert.deepEqual((await all).map((e) => e.path), ["fed://t1/user/a", "fed://t1/user/b", "fed://t1/user/c"]);
  await system.stop();
});

test("breaker states of the system's registry are exported as metrics", async () => {
  await withSystem(async (system) => {
    const breaker = system.breakers.get("fed://peer/user/x");
    breaker.forceOpen();
    system.breakers.get("fed://peer/user/y");
    const text = await system.metrics.text();
    assert.equal(metricValue(text, "fedrouter_breaker_state", 'target="fed://peer/user/x"'), 2);
    assert.equal(metricValue(text, "fedrouter_breaker_state", 'target="fed://peer/user/y"'), 0);
  });
});

test("when the root supervisor gives up, the node stops itself (OTP) and says why; it takes no more work (issue 12)", async () => {
  const system = await ActorSystem.start({ node: "zombie", logLevel: "silent", supervision: { intensity: 0, periodMs: 10_000 } });
  const ref = await system.spawn(counter, 0, { name: "c" });
  const terminated = firstValueFrom(system.terminated$);
  ref.tell({ type: "crash", reason: "boom" });
  const { reason } = await terminated;
  assert.match(reason, /RESTART_INTENSITY_EXCEEDED|restart intensity|0 restarts/i);
  await assert.rejects(system.spawn(counter, 0, { name: "d" }), { code: "SYSTEM_STOPPED" });
  await system.stop(); // idempotent
});
