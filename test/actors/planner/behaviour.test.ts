/**
 * The Planner actor on a real ActorSystem: plans published to subscribers with strictly rising
 * versions on join, leave and breaker changes; a leave re-plans without the leaver; an open
 * breaker excludes and a closed one re-includes; regional plans respect residency; malformed
 * messages get typed answers (or a warning) and never crash it; and the whole protocol works
 * with the Planner in a worker thread, where every message crosses as msgpack.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ActorSystem, defineActor, type ActorRef } from "../../../runtime/index.ts";
import { planner, PlannerClient, type ExecutorInfo, type Plan, type PlanPublished, type PlannerMsg, type PlannerOptions } from "../../../actors/planner/index.ts";

type CollectorMsg = PlanPublished | { type: "seen"; replyTo: ActorRef<readonly PlanPublished[]> };

/** A subscriber that keeps everything published to it. */
const collector = defineActor<CollectorMsg, void>(import.meta.url, "plan-collector", () => {
  const seen: PlanPublished[] = [];
  return {
    receive(msg) {
      if (msg.type === "seen") msg.replyTo.tell([...seen]);
      else seen.push(msg);
    },
  };
});

interface Harness {
  system: ActorSystem;
  client: PlannerClient;
  ref: ActorRef<PlannerMsg>;
  subscriber: ActorRef<CollectorMsg>;
  /** Waits until the subscriber has `count` publications (or fails after 10 s). */
  published(count: number): Promise<readonly PlanPublished[]>;
}

async function withPlanner(options: PlannerOptions, run: (h: Harness) => Promise<void>, placement: "local" | "worker" = "local"): Promise<void> {
  const system = await ActorSystem.start({ node: "h1", logLevel: "error" });
  try {
    const ref = await system.spawn(planner, options, { placement });
    const subscriber = await system.spawn(collector, undefined, { name: "subscriber" });
    const client = new PlannerClient(ref);
    const published = async (count: number) => {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const seen = await subscriber.ask<readonly PlanPublished[]>((replyTo) => ({ type: "seen", replyTo }));
        if (seen.length >= count) return seen;
        if (Date.now() > deadline) assert.fail(`expected ${count} publications, got ${JSON.stringify(seen)}`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    };
    await run({ system, client, ref, subscriber, published });
  } finally {
    await system.stop();
  }
}

const executor = (id: string, extra: Partial<ExecutorInfo> = {}): ExecutorInfo => ({ id, path: `fed://h1/user/${id}`, blockMs: [2, 2, 2, 2, 2, 2], linkMs: 1, ...extra });
const executorsOf = (plan: Plan) => plan.stages.map((s) => s.executor);
const planOf = (p: PlanPublished | undefined): Plan => {
  if (p?.type !== "plan-published") return assert.fail(`expected a plan, got ${JSON.stringify(p)}`);
  return p.plan;
};

test("a subscriber gets the current state at once, then one publication per change, with strictly rising versions", async () => {
  await withPlanner({ blocks: 6 }, async ({ client, subscriber, published }) => {
    client.subscribe(subscriber);
    const [first] = await published(1);
    assert.deepEqual(first, { type: "plan-withdrawn", version: 0, code: "NO_EXECUTORS", message: first!.type === "plan-withdrawn" ? first!.message : "" });
    assert.deepEqual(await client.join(executor("hospital-a")), { type: "accepted", version: 1, changed: true });
    assert.deepEqual(await client.join(executor("hospital-b")), { type: "accepted", version: 2, changed: true });
    const seen = await published(3);
    const a = planOf(seen[1]);
    assert.deepEqual([a.version, a.reason, executorsOf(a), a.bottleneckMs], [1, "join hospital-a", ["hospital-a"], 12]);
    const ab = planOf(seen[2]);
    assert.deepEqual([ab.version, ab.reason, ab.bottleneckMs], [2, "join hospital-b", 7]); // 3 blocks (6 ms) + 1 ms link, then 3 blocks
    assert.deepEqual(ab.stages.map((s) => [s.executor, s.path, s.from, s.to, s.costMs]), [["hospital-a", "fed://h1/user/hospital-a", 0, 3, 7], ["hospital-b", "fed://h1/user/hospital-b", 3, 6, 6]]);
    const status = await client.status();
    if (status.type !== "status") return assert.fail(JSON.stringify(status));
    assert.equal(status.version, 2);
    assert.deepEqual(status.plan, ab);
    assert.deepEqual(status.subscribers, [subscriber.path]);
  });
});

test("a leave triggers a new published plan, without the leaver, at a higher version", async () => {
  await withPlanner({ blocks: 6 }, async ({ client, subscriber, published }) => {
    for (const id of ["h-a", "h-b", "h-c"]) await client.join(executor(id));
    client.subscribe(subscriber);
    const before = planOf((await published(1))[0]);
    assert.deepEqual(executorsOf(before).sort(), ["h-a", "h-b", "h-c"]);
    assert.deepEqual(await client.leave("h-b"), { type: "accepted", version: before.version + 1, changed: true });
    const after = planOf((await published(2))[1]);
    assert.equal(after.version, before.version + 1);
    assert.equal(after.reason, "leave h-b");
    assert.ok(!executorsOf(after).includes("h-b"), `h-b left but is in ${executorsOf(after)}`);
    assert.deepEqual(executorsOf(after).sort(), ["h-a", "h-c"]);
    const asked = await client.plan();
    assert.deepEqual(asked, { type: "plan", plan: after });
    // The last executors leave: the plan is withdrawn, at a still higher version.
    await client.leave("h-a");
    await client.leave("h-c");
    const withdrawn = (await published(4))[3]!;
    assert.equal(withdrawn.type, "plan-withdrawn");
    assert.equal(withdrawn.type === "plan-withdrawn" && withdrawn.version, before.version + 3);
    assert.equal((await client.plan()).type, "unplannable");
  });
});

test("an open breaker excludes an executor until it closes; half-open still excludes; a repeated state publishes nothing", async () => {
  await withPlanner({ blocks: 6 }, async ({ client, subscriber, published }) => {
    await client.join(executor("h-a"));
    await client.join(executor("h-b"));
    client.subscribe(subscriber);
    const v = planOf((await published(1))[0]).version;
    assert.deepEqual(await client.breaker("h-a", "open"), { type: "accepted", version: v + 1, changed: true });
    assert.deepEqual(await client.breaker("h-a", "open"), { type: "accepted", version: v + 1, changed: false });
    await client.breaker("h-a", "half-open");
    await client.breaker("h-a", "closed");
    const seen = await published(4);
    assert.equal(seen.length, 4, "the repeated open published nothing");
    const [open, halfOpen, closed] = seen.slice(1).map(planOf);
    assert.deepEqual([open!.reason, executorsOf(open!)], ["breaker open h-a", ["h-b"]]);
    assert.deepEqual([halfOpen!.reason, executorsOf(halfOpen!)], ["breaker half-open h-a", ["h-b"]]);
    assert.deepEqual([closed!.reason, executorsOf(closed!).sort()], ["breaker closed h-a", ["h-a", "h-b"]]);
    assert.deepEqual(seen.map((p) => planOf(p).version), [v, v + 1, v + 2, v + 3]);
    const status = await client.status();
    assert.ok(status.type === "status" && status.executors.every((e) => e.breaker === "closed" && e.eligible), JSON.stringify(status));
  });
});

test("a plan for a region uses only executors allowed there, at the current version", async () => {
  await withPlanner({ blocks: 6 }, async ({ client }) => {
    await client.join(executor("eu-1", { regions: ["eu"] }));
    await client.join(executor("eu-2", { regions: ["eu", "ch"] }));
    await client.join(executor("us-1", { regions: ["us"], blockMs: [1, 1, 1, 1, 1, 1] }));
    await client.join(executor("any", { blockMs: [5, 5, 5, 5, 5, 5] }));
    const eu = await client.plan("eu");
    if (eu.type !== "plan") return assert.fail(JSON.stringify(eu));
    assert.equal(eu.plan.region, "eu");
    assert.equal(eu.plan.version, 4);
    assert.ok(executorsOf(eu.plan).every((id) => ["eu-1", "eu-2", "any"].includes(id)), `eu plan on ${executorsOf(eu.plan)}`);
    const us = await client.plan("us");
    assert.ok(us.type === "plan" && executorsOf(us.plan).every((id) => id === "us-1" || id === "any"), JSON.stringify(us));
    const jp = await client.plan("jp"); // only "any" may serve it
    assert.ok(jp.type === "plan" && executorsOf(jp.plan).join() === "any", JSON.stringify(jp));
    await client.breaker("any", "open");
    const none = await client.plan("jp");
    assert.deepEqual(none.type === "unplannable" && [none.code, /region "jp"/.test(none.message)], ["NO_EXECUTORS", true]);
    const ch = await client.plan("ch");
    assert.ok(ch.type === "plan" && executorsOf(ch.plan).join() === "eu-2" && ch.plan.version === 5, JSON.stringify(ch));
  });
});

test("malformed messages get typed answers where they have a replyTo, and never crash the Planner", async () => {
  await withPlanner({ blocks: 4 }, async ({ client, ref, system }) => {
    const ask = <R>(msg: Record<string, unknown>) => ref.ask<R>((replyTo) => ({ ...msg, replyTo }) as unknown as PlannerMsg, { timeoutMs: 5_000 });
    const ok = { id: "h-a", path: "fed://h1/user/h-a", blockMs: [1, 1, 1, 1], linkMs: 1 };
    const cases: [Record<string, unknown>, string, string, string][] = [
      [{ type: "teleport" }, "rejected", "INVALID_REQUEST", "type"],
      [{ type: "join", executor: { ...ok, id: "has space" } }, "rejected", "INVALID_REQUEST", "executor.id"],
      [{ type: "join", executor: { ...ok, path: "h1/user/h-a" } }, "rejected", "INVALID_REQUEST", "executor.path"],
      [{ type: "join", executor: { ...ok, blockMs: [1, Number.NaN, 1, 1] } }, "rejected", "INVALID_CALIBRATION", "executor.blockMs.1"],
      [{ type: "join", executor: { ...ok, blockMs: [1, -1, 1, 1] } }, "rejected", "INVALID_CALIBRATION", "executor.blockMs.1"],
      [{ type: "join", executor: { ...ok, linkMs: -2 } }, "rejected", "INVALID_CALIBRATION", "executor.linkMs"],
      [{ type: "join", executor: { ...ok, blockMs: [1, 1] } }, "rejected", "INVALID_CALIBRATION", "executor.blockMs"],
      [{ type: "join", executor: { ...ok, extra: 1 } }, "rejected", "INVALID_REQUEST", "executor"],
      [{ type: "leave", executor: "never-joined" }, "rejected", "UNKNOWN_EXECUTOR", "executor"],
      [{ type: "breaker", executor: "h-a", state: "ajar" }, "rejected", "INVALID_REQUEST", "state"],
      [{ type: "plan", region: "" }, "unplannable", "INVALID_REQUEST", "region"],
      [{ type: "plan", region: 42 }, "unplannable", "INVALID_REQUEST", "region"],
    ];
    for (const [msg, type, code, field] of cases) {
      const reply = await ask<{ type: string; code: string; field?: string; message: string }>(msg);
      assert.deepEqual([reply.type, reply.code, reply.field], [type, code, field], `${JSON.stringify(msg)} → ${JSON.stringify(reply)}`);
      assert.ok(reply.message.length > 10, `${code} says what is wrong: ${reply.message}`);
    }
    // Without a replyTo: a logged warning, nothing else.
    ref.tell({ type: "subscribe", subscriber: "not a ref" } as unknown as PlannerMsg);
    ref.tell({ type: "join", executor: { ...ok, blockMs: [] } } as unknown as PlannerMsg);
    ref.tell(null as unknown as PlannerMsg);
    const status = await client.status();
    assert.ok(status.type === "status" && status.version === 0 && status.executors.length === 0, `nothing changed: ${JSON.stringify(status)}`);
    assert.deepEqual(await client.join(ok), { type: "accepted", version: 1, changed: true });
    const restarts = (await system.tree()).children?.find((c) => c.path.endsWith("/planner"))?.restarts;
    assert.equal(restarts, 0, "the Planner never crashed");
  });
});

test("unsubscribe stops publications to that subscriber", async () => {
  await withPlanner({ blocks: 2 }, async ({ client, subscriber, published }) => {
    client.subscribe(subscriber);
    await published(1);
    client.unsubscribe(subscriber.path);
    await client.join(executor("h-a", { blockMs: [1, 1] }));
    const status = await client.status();
    assert.ok(status.type === "status" && status.subscribers.length === 0 && status.version === 1, JSON.stringify(status));
    assert.equal((await published(1)).length, 1, "nothing published after the unsubscribe");
  });
});

test("an ordered Planner keeps the chain in ExecutorInfo.order, then join order", async () => {
  await withPlanner({ blocks: 4, ordered: true }, async ({ client }) => {
    // b is listed first by order; a → b has no link, so a may only come last.
    await client.join({ id: "a", path: "fed://h1/user/a", blockMs: [1, 1, 1, 1], linkMs: {}, order: 2 });
    await client.join({ id: "b", path: "fed://h1/user/b", blockMs: [1, 1, 1, 1], linkMs: { a: 0 }, order: 1 });
    const reply = await client.plan();
    assert.ok(reply.type === "plan" && executorsOf(reply.plan).join() === "b,a" && reply.plan.bottleneckMs === 2, JSON.stringify(reply));
  });
});

test("in a worker thread the whole protocol crosses as msgpack: join, subscribe, publish, plan, leave", async () => {
  await withPlanner({ blocks: 6 }, async ({ client, subscriber, published }) => {
    await client.join(executor("h-a", { regions: ["eu"], linkMs: { "h-b": 1 } }));
    await client.join(executor("h-b", { regions: ["us"] }));
    client.subscribe(subscriber);
    const plan = planOf((await published(1))[0]);
    assert.deepEqual(executorsOf(plan), ["h-a", "h-b"]);
    const eu = await client.plan("eu");
    assert.ok(eu.type === "plan" && executorsOf(eu.plan).join() === "h-a", JSON.stringify(eu));
    await client.leave("h-a");
    const after = planOf((await published(2))[1]);
    assert.deepEqual([after.version, executorsOf(after)], [plan.version + 1, ["h-b"]]);
    const bad = await client.join(executor("h-c", { blockMs: [1] }));
    assert.ok(bad.type === "rejected" && bad.code === "INVALID_CALIBRATION", JSON.stringify(bad));
  }, "worker");
});

test("a Planner spawned with an impossible block count fails to start", async () => {
  const system = await ActorSystem.start({ node: "h1", logLevel: "silent" });
  try {
    await assert.rejects(system.spawn(planner, { blocks: 0 }, { restart: "temporary" }));
  } finally {
    await system.stop();
  }
});
