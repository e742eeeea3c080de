import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, test } from "node:test";
import { InvalidArgument, PersistenceError } from "../../../runtime/errors.ts";
import { openNodeStore, type NodeStore } from "../../../runtime/persistence/index.ts";

const dirs: string[] = [];
const stores: NodeStore[] = [];
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fedrouter-store-"));
  dirs.push(dir);
  return dir;
}
function openAt(dir: string, maxActors?: number): NodeStore {
  const store = openNodeStore({ path: dir, ...(maxActors ? { maxActors } : {}) });
  stores.push(store);
  return store;
}
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

describe("openNodeStore", () => {
  test("the doc example: a synced persist returns seq 1 and is there after reopening", async () => {
    const dir = tempDir();
    const store = openAt(dir);
    const counter = store.actor<number>("user/counter", { durability: "sync" });
    assert.deepEqual(await counter.persist({ state: 1, events: [{ add: 1 }] }), { seq: 1 });
    await store.close();
    const again = openAt(dir).actor<number>("user/counter", { durability: "sync" });
    assert.equal(again.state(), 1);
    assert.deepEqual([...again.journal()], [{ seq: 1, event: { add: 1 } }]);
  });

  test("state and journal survive reopening, with consecutive seqs and both halves of each write", async () => {
    const dir = tempDir();
    const store = openAt(dir);
    const ledger = store.actor<{ total: number }>("user/ledger", { durability: "sync" });
    assert.equal(ledger.state(), undefined);
    assert.equal(ledger.lastSeq(), 0);
    assert.deepEqual(await ledger.persist({ state: { total: 3 }, events: ["a", "b", "c"] }), { seq: 3 });
    assert.deepEqual(await ledger.persist({ state: { total: 4 }, events: [{ kind: "d", at: new Date(0) }] }), { seq: 4 });
    assert.deepEqual(await ledger.persist({ events: ["e"] }), { seq: 5 });
    assert.deepEqual(await ledger.persist({ state: { total: 9 } }), { seq: 5 });
    await store.close();

    const reopened = openAt(dir).actor<{ total: number }>("user/ledger", { durability: "sync" });
    assert.deepEqual(reopened.state(), { total: 9 });
    assert.equal(reopened.lastSeq(), 5);
    const journal = [...reopened.journal()];
    assert.deepEqual(journal.map((e) => e.seq), [1, 2, 3, 4, 5]);
    assert.deepEqual(journal[3]?.event, { kind: "d", at: new Date(0) });
    assert.deepEqual([...reopened.journal(2, 3)].map((e) => e.event), ["b", "c"]);
    assert.deepEqual([...reopened.journal(5)].map((e) => e.event), ["e"]);
    assert.deepEqual(await reopened.persist({ state: { total: 10 }, events: ["f"] }), { seq: 6 });
  });

  test("a value that cannot be encoded is refused before anything is written", async () => {
    const store = openAt(tempDir());
    const actor = store.actor<string>("user/a", { durability: "sync" });
    await actor.persist({ state: "before", events: ["x"] });
    assert.throws(() => actor.persist({ state: "after", events: ["ok", Symbol("not msgpack")] }), PersistenceError);
    assert.equal(actor.state(), "before");
    assert.deepEqual([...actor.journal()].map((e) => e.event), ["x"]);
    assert.deepEqual(await actor.persist({ state: "later", events: ["y"] }), { seq: 2 });
  });

  test("64 concurrent persists to one actor store keep seqs consecutive and in call order", async () => {
    const dir = tempDir();
    const store = openAt(dir);
    const actor = store.actor<number>("user/hot", { durability: "sync" });
    const order: number[] = [];
    const writes = Array.from({ length: 64 }, (_, i) =>
      actor.persist({ state: i + 1, events: [i + 1] }).then(({ seq }) => { order.push(seq); return seq; }));
    assert.deepEqual(await Promise.all(writes), Array.from({ length: 64 }, (_, i) => i + 1));
    assert.deepEqual(order, Array.from({ length: 64 }, (_, i) => i + 1), "promises resolve in call order");
    await store.close();
    const reopened = openAt(dir).actor<number>("user/hot", { durability: "sync" });
    assert.equal(reopened.state(), 64);
    assert.deepEqual([...reopened.journal()].map((e) => [e.seq, e.event]), Array.from({ length: 64 }, (_, i) => [i + 1, i + 1]));
  });

  test("64 actor stores persisting concurrently all come back after reopening", async () => {
    const dir = tempDir();
    const store = openAt(dir);
    const ids = Array.from({ length: 64 }, (_, i) => `user/worker-${String(i).padStart(2, "0")}`);
    const actors = ids.map((id) => store.actor<string>(id, { durability: "sync" }));
    await Promise.all(actors.flatMap((actor, i) => [1, 2, 3].map((n) => actor.persist({ state: `${i}:${n}`, events: [n] }))));
    await store.close();
    const reopened = openAt(dir);
    assert.deepEqual(reopened.actorIds(), ids);
    ids.forEach((id, i) => {
      const actor = reopened.actor<string>(id, { durability: "sync" });
      assert.equal(actor.state(), `${i}:3`);
      assert.deepEqual([...actor.journal()].map((e) => [e.seq, e.event]), [[1, 1], [2, 2], [3, 3]]);
    });
  });

  test("an async persist resolves without waiting for the commit, and the write still lands", async () => {
    const dir = tempDir();
    const store = openAt(dir);
    const cache = store.actor<string>("user/cache", { durability: "async" });
    const written = await cache.persist({ state: "warm", events: ["fill"] });
    assert.deepEqual(written, { seq: 1 });
    await store.close(); // waits for queued writes
    assert.equal(openAt(dir).actor<string>("user/cache", { durability: "async" }).state(), "warm");
  });

  test("an empty persist resolves only after every earlier persist", async () => {
    const store = openAt(tempDir());
    const actor = store.actor<number>("user/b", { durability: "sync" });
    const done: string[] = [];
    const first = actor.persist({ state: 1, events: ["one"] }).then(() => done.push("write"));
    const barrier = actor.persist({}).then((r) => { done.push("barrier"); return r; });
    assert.deepEqual(await barrier, { seq: 1 });
    await first;
    assert.deepEqual(done, ["write", "barrier"]);
  });

  test("a write refused by LMDB fails every later write, and recover() resumes from disk", async () => {
    const dir = tempDir();
    const store = openAt(dir);
    const actor = store.actor<number>("user/c", { durability: "sync" });
    await actor.persist({ state: 1, events: [1] });
    // A second handle on the same environment writes behind the first one's back.
    const interloper = openAt(dir).actor<number>("user/c", { durability: "sync" });
    await interloper.persist({ state: 100, events: [100] });
    const refused = actor.persist({ state: 2, events: [2] });
    const after = actor.persist({ state: 3, events: [3] });
    await assert.rejects(refused, (e: unknown) => e instanceof PersistenceError && /refused/.test(e.message));
    await assert.rejects(after, PersistenceError);
    await assert.rejects(actor.persist({ state: 4 }), PersistenceError);
    await actor.recover();
    assert.equal(actor.state(), 100);
    assert.deepEqual(await actor.persist({ state: 101, events: [101] }), { seq: 3 });
    assert.deepEqual([...actor.journal()].map((e) => e.event), [1, 100, 101]);
  });

  test("bad ids and a second durability for the same id are InvalidArgument", () => {
    const store = openAt(tempDir());
    for (const id of ["", "/x", "x/", "a//b", "../etc", "user/ä", "x y", "a".repeat(300), ".hidden"]) {
      assert.throws(() => store.actor(id, { durability: "sync" }), InvalidArgument, id);
    }
    const first = store.actor("user/d", { durability: "sync" });
    assert.equal(store.actor("user/d", { durability: "sync" }), first);
    assert.throws(() => store.actor("user/d", { durability: "async" }), (e: unknown) => e instanceof InvalidArgument && e.field === "durability");
    assert.throws(() => first.journal(0), InvalidArgument);
  });

  test("more actor stores than maxActors is a PersistenceError naming the fix", () => {
    const store = openAt(tempDir(), 2);
    store.actor("user/one", { durability: "sync" });
    store.actor("user/two", { durability: "sync" });
    assert.throws(() => store.actor("user/three", { durability: "sync" }), (e: unknown) =>
      e instanceof PersistenceError && e.store.endsWith("#user/three") && /maxActors/.test(e.reason));
  });

  test("a closed store refuses every call with PersistenceError", async () => {
    const store = openAt(tempDir());
    const actor = store.actor<number>("user/e", { durability: "sync" });
    await store.close();
    assert.throws(() => store.actor("user/f", { durability: "sync" }), PersistenceError);
    assert.throws(() => actor.persist({ state: 1 }), PersistenceError);
    assert.throws(() => actor.state(), PersistenceError);
  });
});
