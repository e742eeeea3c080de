import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, test } from "node:test";
import { open } from "lmdb";
import { InvalidArgument, PersistenceError } from "../../../runtime/errors.ts";
import { openNodeStore, type NodeStore } from "../../../runtime/persistence/index.ts";

const dirs: string[] = [];
const stores: NodeStore[] = [];
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fedrouter-store-"));
  dirs.push(dir);
  return dir;
}
function openAt(dir: string): NodeStore {
  const store = openNodeStore({ path: dir });
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

  test("close() still writes the persists queued in the same turn, and they resolve", async () => {
    const dir = tempDir();
    const store = openAt(dir);
    const actor = store.actor<string>("user/late", { durability: "sync" });
    const written = actor.persist({ state: "last words", events: ["bye"] });
    await store.close();
    assert.deepEqual(await written, { seq: 1 });
    const reopened = openAt(dir).actor<string>("user/late", { durability: "sync" });
    assert.equal(reopened.state(), "last words");
    assert.deepEqual([...reopened.journal()].map((e) => e.event), ["bye"]);
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

  test("a refused write fails the writes queued behind it in later blocks: no gap, no head that skips", async () => {
    const dir = tempDir();
    const store = openAt(dir);
    const actor = store.actor<number>("user/g", { durability: "sync" });
    await actor.persist({ state: 1, events: [1] });
    await openAt(dir).actor<number>("user/g", { durability: "sync" }).persist({ state: 100, events: [100] });
    const refused = actor.persist({ state: 2, events: [2] }); // block 1: expects the token the interloper replaced
    await Promise.resolve(); // block 1 is sent; the next persist opens block 2, in flight behind it
    const behind = actor.persist({ state: 3, events: [3] });
    await assert.rejects(refused, /refused/);
    await assert.rejects(behind, PersistenceError);
    await store.close();
    const reopened = openAt(dir).actor<number>("user/g", { durability: "sync" });
    assert.equal(reopened.state(), 100);
    assert.equal(reopened.lastSeq(), 2);
    assert.deepEqual([...reopened.journal()].map((e) => [e.seq, e.event]), [[1, 1], [2, 100]]);
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

  test("every actor shares two databases: 600 actor stores open in one environment and are listed", async () => {
    const dir = tempDir();
    const store = openAt(dir);
    const ids = Array.from({ length: 600 }, (_, i) => `user/many/a${String(i).padStart(3, "0")}`);
    for (const id of ids) store.actor(id, { durability: "async" });
    assert.deepEqual(store.actorIds(), ids);
    await store.close();
    assert.deepEqual(openAt(dir).actorIds(), ids);
  });

  test("opening new actor stores commits nothing in place: 50 new stores and a synced write each share one group commit, and all are on disk", async () => {
    // Before: each new store's record was a putSync, a commit and fsync of its own on the
    // node's thread (the Router's answer store paid it per answer, issue 12's http figure).
    const dir = tempDir();
    const store = openAt(dir);
    const probe = open({ path: dir });
    const before = probe.getStats() as { lastTxnId: number };
    const ids = Array.from({ length: 50 }, (_, i) => `user/fresh/s${i}`);
    const writes = ids.map((id, i) => store.actor<number>(id, { durability: "sync" }).persist({ state: i, events: [i] }));
    assert.deepEqual(store.actorIds(), [...ids].sort(), "a new store is listed at once, before its record is committed");
    assert.deepEqual((await Promise.all(writes)).map((w) => w.seq), ids.map(() => 1));
    const commits = (probe.getStats() as { lastTxnId: number }).lastTxnId - before.lastTxnId;
    assert.ok(commits <= 2, `50 new stores and their writes took ${commits} transactions (one each before)`);
    await probe.close();
    await store.close();
    const reopened = openAt(dir);
    assert.deepEqual(reopened.actorIds(), [...ids].sort());
    assert.deepEqual(ids.map((id) => reopened.actor<number>(id, { durability: "sync" }).state()), ids.map((_, i) => i));
  });

  test("an actor store that never persisted is listed after reopening, with no state and seq 0", async () => {
    const dir = tempDir();
    const store = openAt(dir);
    store.actor("user/idle", { durability: "sync" });
    await store.actor<number>("user/busy", { durability: "sync" }).persist({ state: 1, events: ["x"] });
    await store.close();
    const reopened = openAt(dir);
    assert.deepEqual(reopened.actorIds(), ["user/busy", "user/idle"]);
    const idle = reopened.actor<number>("user/idle", { durability: "sync" });
    assert.equal(idle.state(), undefined);
    assert.equal(idle.lastSeq(), 0);
    assert.deepEqual([...idle.journal()], []);
  });

  test("two actors' journals never mix, even when one id is a prefix of the other", async () => {
    const dir = tempDir();
    const store = openAt(dir);
    const ids = ["user/a", "user/a.b", "user/a/b", "user/ab", "user/a-"];
    const actors = ids.map((id) => store.actor<string>(id, { durability: "sync" }));
    // Interleaved and concurrent: one transaction holds every actor's entries.
    await Promise.all([1, 2, 3, 4].flatMap((n) => actors.map((actor, i) => actor.persist({ state: `${ids[i]}@${n}`, events: [`${ids[i]}#${n}`] }))));
    await store.close();
    const reopened = openAt(dir);
    ids.forEach((id) => {
      const actor = reopened.actor<string>(id, { durability: "sync" });
      assert.equal(actor.state(), `${id}@4`);
      assert.equal(actor.lastSeq(), 4);
      assert.deepEqual([...actor.journal()].map((e) => [e.seq, e.event]), [1, 2, 3, 4].map((n) => [n, `${id}#${n}`]), id);
      assert.deepEqual([...actor.journal(2, 3)].map((e) => e.event), [`${id}#2`, `${id}#3`], id);
      assert.deepEqual([...actor.journal(5)], [], id);
    });
  });

  test("a persist with events only keeps the stored state; one with a state only keeps the seq", async () => {
    const dir = tempDir();
    const store = openAt(dir);
    const actor = store.actor<{ total: number }>("user/mixed", { durability: "sync" });
    assert.deepEqual(await actor.persist({ events: ["before any state"] }), { seq: 1 });
    assert.equal(actor.state(), undefined);
    await actor.persist({ state: { total: 7 }, events: ["a"] });
    // In one burst: events only, then a state only, then events only again.
    const burst = [actor.persist({ events: ["b", "c"] }), actor.persist({ state: { total: 8 } }), actor.persist({ events: ["d"] })];
    assert.deepEqual(await Promise.all(burst), [{ seq: 4 }, { seq: 4 }, { seq: 5 }]);
    await store.close();
    const reopened = openAt(dir).actor<{ total: number }>("user/mixed", { durability: "sync" });
    assert.deepEqual(reopened.state(), { total: 8 });
    assert.equal(reopened.lastSeq(), 5);
    assert.deepEqual([...reopened.journal()].map((e) => e.event), ["before any state", "a", "b", "c", "d"]);
    assert.deepEqual(await reopened.persist({ events: ["e"] }), { seq: 6 });
    assert.deepEqual(reopened.state(), { total: 8 });
  });

  test("the layout on disk: a [seq, state] record per actor in `state`, entries keyed [id, seq] in `journal`", async () => {
    const dir = tempDir();
    const store = openAt(dir);
    await store.actor<{ total: number }>("user/ledger", { durability: "sync" }).persist({ state: { total: 2 }, events: [{ add: 1 }, { add: 1 }] });
    await store.close();
    const raw = open({ path: dir, noSubdir: false });
    try {
      assert.deepEqual(raw.openDB("state", { useVersions: true }).get("user/ledger"), [2, { total: 2 }]);
      assert.deepEqual([...raw.openDB("journal", {}).getRange({})].map(({ key, value }) => [key, value]), [
        [["user/ledger", 1], { add: 1 }],
        [["user/ledger", 2], { add: 1 }],
      ]);
    } finally {
      await raw.close();
    }
  });

  test("an environment with the old per-actor databases is refused, naming the fix", async () => {
    const dir = tempDir();
    const old = open({ path: dir, noSubdir: false, maxDbs: 4 });
    await old.openDB("user/counter/state", { useVersions: true }).put("state", 41);
    await old.close();
    assert.throws(() => openAt(dir), (e: unknown) =>
      e instanceof PersistenceError && e.store === dir && /user\/counter\/state/.test(e.reason) && /empty one/.test(e.reason));
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
