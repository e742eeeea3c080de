/**
 * Group commit of the Accountant's journal: concurrent reserves share synced LMDB blocks (fewer
 * than one per reserve), and each reply still waits until the entry it reports is durable.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ActorSystem, actor, supervisor } from "../../../runtime/index.ts";
import type { NodeStore } from "../../../runtime/persistence/index.ts";
import { accountant, AccountantClient, gnmax, readAuditTrail, selfComposed, verifyStoredAudit } from "../../../actors/accountant/index.ts";
import { entryOfRecord, tempDir, withNodeStore } from "../../fixtures/node-store.ts";

const STORE_ID = "user/privacy/accountant";
const N = 64;

test("N concurrent reserves take fewer synced blocks than N, and every reply comes after its entry is durable", async (t) => {
  const dir = tempDir(t, "fedrouter-accountant-group-");
  const system = await ActorSystem.start({ node: "h1", persistence: { path: dir }, logLevel: "error" });
  const reservations: string[] = [];
  try {
    const spec = actor("accountant", accountant, { ledger: { defaultUserEpsilon: 100, departments: { radiology: { epsilon: 1e4 } } } });
    await system.startChild(supervisor("privacy", [spec]));
    const client = new AccountantClient(system.refOf(spec, "privacy"), 20_000);
    // The same instance the Accountant writes through (one per id and node store).
    const store = (system.store as NodeStore).actor(STORE_ID, { durability: "sync" });
    const before = store.stats();
    const replies = await Promise.all(Array.from({ length: N }, async (_, i) => {
      const reply = await client.reserve({ key: `k${i}`, user: `u${i}`, department: "radiology", event: selfComposed(gnmax(40), 16) });
      if (reply.type !== "reserved") return assert.fail(JSON.stringify(reply));
      // At the reply, the entry holding this reservation is on disk (read back from LMDB) and flushed.
      const entry = [...store.journal(before.durableSeq + 1)].map((e) => entryOfRecord(e.event)).find((e) => e.reservation === reply.reservation);
      assert.ok(entry, `reservation ${reply.reservation} answered before its entry was committed`);
      assert.ok(store.stats().durableSeq >= entry.seq, `reservation ${reply.reservation} (seq ${entry.seq}) answered before it was flushed (durable up to ${store.stats().durableSeq})`);
      return reply.reservation;
    }));
    reservations.push(...replies);
    const after = store.stats();
    assert.equal(after.persists - before.persists, N, "one persist per reserve");
    const blocks = after.blocks - before.blocks;
    assert.ok(blocks >= 1 && blocks < N, `${N} reserves took ${blocks} blocks`);
  } finally {
    await system.stop();
  }
  withNodeStore(dir, (store) => {
    assert.equal(verifyStoredAudit(store, STORE_ID).ok, true);
    const reserved = [...readAuditTrail(store, STORE_ID).entries].filter((e) => e.action === "reserve").map((e) => e.reservation);
    assert.deepEqual(new Set(reserved), new Set(reservations));
  });
});
