/**
 * One actor's store (runtime/persistence/actor-store.ts) against a real LMDB file in a temp
 * directory: what it promises beyond node-store.test.ts — large values round-trip, a record on
 * disk that is not a [seq, state] record (short, wrong header, undecodable state) is a
 * PersistenceError naming the store, never a crash or a silent empty state, a missing record is
 * reported by recover(), journal ranges are checked, and recover() waits for writes in flight.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { asBinary, open } from "lmdb";
import { InvalidArgument, PersistenceError } from "../../../runtime/errors.ts";
import { openNodeStore, type NodeStore } from "../../../runtime/persistence/index.ts";
import { tempDir } from "../../fixtures/node-store.ts";

/** Opens the store in `dir`, closed when the test ends. */
function storeAt(t: { after(fn: () => Promise<void>): void }, dir: string): NodeStore {
  const store = openNodeStore({ path: dir });
  t.after(() => store.close());
  return store;
}

/** Writes `bytes` as the raw state record of `id`, behind the node store's back (it must be closed). */
async function writeRawRecord(dir: string, id: string, bytes: Uint8Array | undefined): Promise<void> {
  const raw = open({ path: dir, noSubdir: false });
  try {
    const state = raw.openDB("state", { useVersions: true });
    if (bytes === undefined) await state.remove(id);
    else await state.put(id, asBinary(bytes), 1);
  } finally {
    await raw.close();
  }
}

test("large values round-trip, typed arrays as themselves: an 8 MB Float64Array state and 1,000 events of 4 KB in one persist, read back after reopening", async (t) => {
  const dir = tempDir(t, "fedrouter-actor-store-");
  const big = new Float64Array(1 << 20).map((_, i) => i / 7);
  const events = Array.from({ length: 1_000 }, (_, i) => ({ i, pad: "x".repeat(4_096) }));
  const first = openNodeStore({ path: dir });
  const actor = first.actor<{ weights: Float64Array }>("user/big", { durability: "sync" });
  assert.deepEqual(await actor.persist({ state: { weights: big }, events }), { seq: 1_000 });
  await first.close();
  const again = storeAt(t, dir).actor<{ weights: Float64Array }>("user/big", { durability: "sync" });
  assert.equal(again.lastSeq(), 1_000);
  assert.deepEqual(again.state()!.weights, big, "a Float64Array, with its values (msgpackr wrote garbage bytes without moreTypes)");
  const tail = [...again.journal(998)];
  assert.deepEqual(tail.map((e) => e.seq), [998, 999, 1_000]);
  assert.deepEqual(tail[2]!.event, events[999]);
});

test("typed arrays of every kind, in the state and in the journal, read back as themselves", async (t) => {
  const dir = tempDir(t, "fedrouter-actor-store-");
  const arrays = [Int8Array.of(-1, 2), Uint16Array.of(65_535), Int32Array.of(-1, 2), Float32Array.of(0.5, -3), Float64Array.of(1 / 7), BigInt64Array.of(-(2n ** 62n))];
  const first = openNodeStore({ path: dir });
  await first.actor<unknown[]>("user/typed", { durability: "sync" }).persist({ state: arrays, events: arrays });
  await first.close();
  const again = storeAt(t, dir).actor<unknown[]>("user/typed", { durability: "sync" });
  assert.deepEqual(again.state(), arrays);
  assert.deepEqual([...again.journal()].map((e) => e.event), arrays);
});

for (const [what, bytes] of [
  ["shorter than its header", Uint8Array.of(0x92, 0xcb, 0, 0)],
  ["that is a msgpack string", Uint8Array.from([0xa3, 0x61, 0x62, 0x63, 0, 0, 0, 0, 0, 0, 0])],
  ["whose seq is not a float64", Uint8Array.from([0x92, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0])],
] as const) {
  test(`a state record ${what} is a PersistenceError naming the store when the actor store opens`, async (t) => {
    const dir = tempDir(t, "fedrouter-actor-store-");
    await writeRawRecord(dir, "user/corrupt", bytes);
    const store = storeAt(t, dir);
    assert.throws(() => store.actor("user/corrupt", { durability: "sync" }), (e: unknown) =>
      e instanceof PersistenceError && e.store === `${dir}#user/corrupt` && /not a \[seq, state\] record/.test(e.reason));
    assert.deepEqual(store.actorIds(), ["user/corrupt"], "the record is left as it was, for an operator to look at");
  });
}

test("a record whose state bytes are not msgpack keeps its head readable and makes state() a PersistenceError", async (t) => {
  const dir = tempDir(t, "fedrouter-actor-store-");
  const record = Buffer.alloc(15);
  record[0] = 0x92;
  record[1] = 0xcb;
  record.writeDoubleBE(7, 2);
  record.set([0xdb, 0xff, 0xff, 0xff, 0xff], 10); // a string of 4 GiB, cut off after its header
  await writeRawRecord(dir, "user/garbled", record);
  const actor = storeAt(t, dir).actor<unknown>("user/garbled", { durability: "sync" });
  assert.equal(actor.lastSeq(), 7);
  assert.throws(() => actor.state(), (e: unknown) => e instanceof PersistenceError && /cannot read the state/.test(e.reason));
});

test("a state record removed behind the store's back is reported by recover(), not taken for an empty actor", async (t) => {
  const dir = tempDir(t, "fedrouter-actor-store-");
  const store = storeAt(t, dir);
  const actor = store.actor<number>("user/vanishing", { durability: "sync" });
  await actor.persist({ state: 1, events: ["one"] });
  const other = open({ path: dir, noSubdir: false });
  try {
    await other.openDB("state", { useVersions: true }).remove("user/vanishing");
  } finally {
    await other.close();
  }
  await assert.rejects(actor.recover(), (e: unknown) => e instanceof PersistenceError && /state record is missing/.test(e.reason));
});

test("journal ranges must be positive safe integers; the field is named", async (t) => {
  const actor = storeAt(t, tempDir(t, "fedrouter-actor-store-")).actor<number>("user/j", { durability: "sync" });
  await actor.persist({ events: [1, 2, 3] });
  for (const [from, to, field] of [[0, 3, "fromSeq"], [1.5, 3, "fromSeq"], [Number.NaN, 3, "fromSeq"], [1, -1, "toSeq"], [1, 2 ** 60, "toSeq"]] as const) {
    assert.throws(() => actor.journal(from, to), (e: unknown) => e instanceof InvalidArgument && e.field === field, `${from}..${to}`);
  }
  assert.deepEqual([...actor.journal(2, 2)].map((e) => e.event), [2]);
  assert.deepEqual([...actor.journal(3, 1)], [], "an empty range is empty, not an error");
});

test("recover() waits for the writes in flight before it re-reads the head", async (t) => {
  const actor = storeAt(t, tempDir(t, "fedrouter-actor-store-")).actor<string>("user/r", { durability: "sync" });
  const order: string[] = [];
  const writes = [1, 2, 3].map((n) => actor.persist({ state: `v${n}`, events: [n] }).then(({ seq }) => order.push(`persist ${seq}`)));
  await actor.recover().then(() => order.push("recovered"));
  await Promise.all(writes);
  assert.deepEqual(order, ["persist 1", "persist 2", "persist 3", "recovered"]);
  assert.equal(actor.lastSeq(), 3);
  assert.equal(actor.state(), "v3");
  assert.deepEqual(await actor.persist({ events: [4] }), { seq: 4 }, "the head it re-read is the one the next write expects");
});

test("an async store answers at once with the seq it assigned, and the write is on disk after close", async (t) => {
  const dir = tempDir(t, "fedrouter-actor-store-");
  const first = openNodeStore({ path: dir });
  const actor = first.actor<number>("user/a", { durability: "async" });
  assert.deepEqual(await actor.persist({ state: 1, events: ["a", "b"] }), { seq: 2 });
  assert.deepEqual(await actor.persist({}), { seq: 2 }, "an empty persist is a barrier that needs no wait when async");
  await first.close();
  const again = storeAt(t, dir).actor<number>("user/a", { durability: "async" });
  assert.equal(again.state(), 1);
  assert.equal(again.lastSeq(), 2);
});
