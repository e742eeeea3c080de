/**
 * A slow consumer: the receiving hospital's process stops reading (its event loop is frozen)
 * while the sender floods it. HTTP/2 flow control stops the writes, the per-peer queue stays
 * within its bound, the overflow becomes counted dead letters, and the sender's heap does
 * not grow with the flood. Everything that was queued arrives once the consumer wakes up.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ActorSystem, readTlsFiles } from "../../runtime/index.ts";
import { testCluster, until } from "../fixtures/cluster-processes.ts";
import type { BlockerMsg } from "../fixtures/probe-actors.ts";

const FLOOD = 600_000;
const CAPACITY = 10_000;

test("flooding a frozen peer keeps the sender's queue and heap bounded; the overflow is dead letters", { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "fedrouter-slow-"));
  const module = fileURLToPath(new URL("../fixtures/probe-actors.ts", import.meta.url));
  const cluster = await testCluster(dir, ["hospital-b"], () => [{ name: "blocker", module }], ["driver"]);
  let driver: ActorSystem | undefined;
  try {
    await cluster.launch("hospital-b");
    driver = await ActorSystem.start({
      node: "driver",
      logLevel: "silent",
      remote: {
        listen: cluster.address("driver"),
        peers: ["driver", "hospital-b"].map((id) => ({ id, address: cluster.address(id) })),
        security: readTlsFiles(join(cluster.keys, "ca.crt"), join(cluster.keys, "driver.crt"), join(cluster.keys, "driver.key")),
        link: { outboundCapacity: CAPACITY },
      },
    });
    await until(() => driver!.transport!.peers()[0]!.up, "the link to hospital-b");
    const ref = driver.ref<BlockerMsg>("fed://hospital-b/user/node/blocker");
    assert.equal(await ref.ask<number>((replyTo) => ({ type: "count", replyTo })), 0);
    let dead = 0;
    driver.deadLetters$.subscribe((l) => {
      if (l.reason === "mailbox-full") dead++;
    });
    // No wait for the freeze: the block travels ahead of every tick on the one stream, so
    // hospital-b freezes before it handles any of them.
    ref.tell({ type: "block", ms: 4_000 });
    const heapBefore = process.memoryUsage().heapUsed;
    let maxQueued = 0;
    for (let sent = 0; sent < FLOOD; sent += 10_000) {
      for (let i = 0; i < 10_000; i++) ref.tell({ type: "tick" });
      await new Promise((resolve) => setImmediate(resolve));
      maxQueued = Math.max(maxQueued, driver.transport!.peers()[0]!.queued);
    }
    const growthMb = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20;
    assert.ok(maxQueued <= CAPACITY, `queue stayed within its bound (max ${maxQueued})`);
    assert.ok(dead > FLOOD / 2, `most of the flood overflowed into dead letters (${dead})`);
    // Unbounded buffering of 600k envelopes would need well over 100 MB here.
    assert.ok(growthMb < 60, `heap grew by ${growthMb.toFixed(1)} MB`);
    await until(() => driver!.transport!.peers()[0]!.queued === 0, "the queue to drain once the consumer wakes", 30_000);
    // The ask goes out behind every queued tick, on the same stream to the same mailbox: its answer
    // counts them all.
    const count = await ref.ask<number>((replyTo) => ({ type: "count", replyTo }), { timeoutMs: 30_000 });
    assert.equal(count, FLOOD - dead, "every tell that was not a dead letter arrived");
  } finally {
    await driver?.stop();
    await cluster.stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
});
