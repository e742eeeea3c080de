import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, test } from "node:test";
import type { ActorContext, ActorRef, Behavior } from "../../../runtime/actor/behavior.ts";
import { InvalidArgument, PersistenceError } from "../../../runtime/errors.ts";
import { openNodeStore, persistent, type ActorStore, type NodeStore } from "../../../runtime/persistence/index.ts";

type CounterMsg =
  | { type: "add"; n: number; reply: (total: number) => void }
  | { type: "get"; reply: (total: number) => void };

const dirs: string[] = [];
const stores: NodeStore[] = [];
function openTemp(dir = fs.mkdtempSync(path.join(os.tmpdir(), "fedrouter-persistent-"))): { dir: string; store: NodeStore } {
  if (!dirs.includes(dir)) dirs.push(dir);
  const store = openNodeStore({ path: dir });
  stores.push(store);
  return { dir, store };
}
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** A hand-made context: no actor system, just what a behaviour may touch. */
function contextFor<M>(store: unknown, actorPath = "fed://n/user/counter"): ActorContext<M> & { errors: string[] } {
  const errors: string[] = [];
  const ref: ActorRef<M> = {
    path: actorPath,
    tell: () => undefined,
    send: async () => undefined,
    ask: () => Promise.reject(new Error("not in this test")),
  };
  return {
    errors,
    self: ref,
    path: actorPath,
    node: "n",
    sender: { kind: "local", node: "n" },
    refused: () => undefined,
    store,
    nowMs: Date.now,
    lookup: () => { throw new Error("not in this test"); },
    stopSelf: () => undefined,
    log: { info: () => undefined, warn: () => undefined, error: (event) => void errors.push(event) },
  };
}

/** The counter of the doc example, with a function as the reply ref. */
function counter(seen: number[] = []): Behavior<CounterMsg> {
  return persistent<CounterMsg, number>({
    durability: "sync",
    initial: 0,
    handle(total, msg) {
      seen.push(total);
      if (msg.type === "get") return { reply: () => msg.reply(total) };
      return { state: total + msg.n, events: [msg.n], reply: () => msg.reply(total + msg.n) };
    },
  });
}

/** Wraps a NodeStore so the test sees when each persist promise resolves. */
function spying(store: NodeStore, log: string[]): NodeStore {
  return {
    ...store,
    path: store.path,
    actor<S>(id: string, opts: { durability: "sync" | "async" }): ActorStore<S> {
      const real = store.actor<S>(id, opts);
      return {
        id: real.id,
        durability: real.durability,
        state: () => real.state(),
        lastSeq: () => real.lastSeq(),
        recover: () => real.recover(),
        journal: (from, to) => real.journal(from, to),
        stats: () => real.stats(),
        persist(update) {
          const written = real.persist(update);
          void written.then(({ seq }) => log.push(`durable ${seq}`), () => log.push("failed"));
          return written;
        },
      };
    },
  };
}

describe("persistent", () => {
  test("the doc example: each add is acknowledged with the new total, after its write is durable", async () => {
    const { store } = openTemp();
    const log: string[] = [];
    const behavior = counter();
    const ctx = contextFor<CounterMsg>(spying(store, log));
    await behavior.start?.(ctx);
    const totals: Promise<number>[] = [1, 2, 3].map((n) => new Promise((resolve) => {
      void behavior.receive({ type: "add", n, reply: (total) => {
        // At ack time the change is in LMDB: a plain read sees it, no in-memory cache involved.
        assert.equal(store.actor<number>("user/counter", { durability: "sync" }).state()! >= total, true);
        log.push(`ack ${total}`);
        resolve(total);
      } }, ctx);
    }));
    assert.deepEqual(log, [], "no ack is sent from inside receive");
    assert.deepEqual(await Promise.all(totals), [1, 3, 6]);
    assert.deepEqual(log, ["durable 1", "ack 1", "durable 2", "ack 3", "durable 3", "ack 6"]);
  });

  test("the next message sees the new state at once, before the write is durable", async () => {
    const { store } = openTemp();
    const seen: number[] = [];
    const behavior = counter(seen);
    const ctx = contextFor<CounterMsg>(store);
    await behavior.start?.(ctx);
    const acks: number[] = [];
    const last = new Promise<void>((resolve) => {
      for (let n = 1; n <= 5; n++) void behavior.receive({ type: "add", n, reply: (t) => { acks.push(t); if (n === 5) resolve(); } }, ctx);
    });
    assert.deepEqual(seen, [0, 1, 3, 6, 10]);
    await last;
    assert.deepEqual(acks, [1, 3, 6, 10, 15], "acks go out in order");
  });

  test("a reply that writes nothing still waits for the writes before it", async () => {
    const { store } = openTemp();
    const log: string[] = [];
    const behavior = counter();
    const ctx = contextFor<CounterMsg>(spying(store, log));
    await behavior.start?.(ctx);
    const got = new Promise<number>((resolve) => {
      void behavior.receive({ type: "add", n: 7, reply: () => log.push("ack add") }, ctx);
      void behavior.receive({ type: "get", reply: (total) => { log.push("ack get"); resolve(total); } }, ctx);
    });
    assert.equal(await got, 7);
    assert.deepEqual(log, ["durable 1", "ack add", "durable 1", "ack get"]);
  });

  test("a restarted actor reloads the last committed state", async () => {
    const { dir, store } = openTemp();
    const first = counter();
    const ctx = contextFor<CounterMsg>(store);
    await first.start?.(ctx);
    await new Promise((resolve) => void first.receive({ type: "add", n: 40, reply: resolve }, ctx));
    await store.close();

    const again = counter();
    const ctx2 = contextFor<CounterMsg>(openTemp(dir).store);
    await again.start?.(ctx2);
    assert.equal(await new Promise((resolve) => void again.receive({ type: "add", n: 2, reply: resolve }, ctx2)), 42);
  });

  test("a failed persist sends no ack, crashes the actor on its next message, and a restart recovers", async () => {
    const { dir, store } = openTemp();
    const behavior = counter();
    const ctx = contextFor<CounterMsg>(store);
    await behavior.start?.(ctx);
    await new Promise((resolve) => void behavior.receive({ type: "add", n: 1, reply: resolve }, ctx));
    // Another handle writes to the same actor store, so the actor's next conditional write is refused.
    await openTemp(dir).store.actor<number>("user/counter", { durability: "sync" }).persist({ state: 100, events: [99] });

    let acked = false;
    void behavior.receive({ type: "add", n: 1, reply: () => { acked = true; } }, ctx);
    await store.actor("user/counter", { durability: "sync" }).persist({}).catch(() => undefined);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(acked, false);
    assert.deepEqual(ctx.errors, ["persist-failed"]);
    assert.throws(() => behavior.receive({ type: "get", reply: () => undefined }, ctx), PersistenceError);

    await behavior.start?.(ctx); // what the supervisor does
    assert.equal(await new Promise((resolve) => void behavior.receive({ type: "add", n: 1, reply: resolve }, ctx)), 101);
  });

  test("a reply that throws crashes the actor after its write is durable, like any defect", async () => {
    const { store } = openTemp();
    const behavior = counter();
    const ctx = contextFor<CounterMsg>(store);
    await behavior.start?.(ctx);
    void behavior.receive({ type: "add", n: 5, reply: () => { throw new Error("bug in the reply"); } }, ctx);
    await store.actor("user/counter", { durability: "sync" }).persist({});
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(ctx.errors, ["reply-failed"]);
    assert.equal(store.actor<number>("user/counter", { durability: "sync" }).state(), 5);
    assert.throws(() => behavior.receive({ type: "get", reply: () => undefined }, ctx), /bug in the reply/);
  });

  test("the store id defaults to the actor path without scheme and node", async () => {
    const { store } = openTemp();
    await counter().start?.(contextFor<CounterMsg>(store, "fed://node-a/user/shard.3"));
    assert.deepEqual(store.actorIds(), ["user/shard.3"]);
  });

  test("a system without a NodeStore is an InvalidArgument at start", async () => {
    await assert.rejects(async () => counter().start?.(contextFor<CounterMsg>(undefined)), (e: unknown) =>
      e instanceof InvalidArgument && e.field === "ctx.store");
  });
});
