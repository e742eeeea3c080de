/**
 * Issue 12 (failure edges, OTP semantics): a restart while an async receive still hangs used to
 * leave the new incarnation stuck (the old one's turn was never given back), and the old
 * receive's late failure crashed the new one. Incarnation numbers: the new behaviour starts with
 * a free turn, and what an earlier one does later is ignored (a late failure is logged).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ActorSystem, defineActor, type ActorRef, type LifecycleEvent } from "../../../runtime/index.ts";

type HangMsg = { type: "hang" } | { type: "ping"; replyTo: ActorRef<string> };

/** Rejects the hung receive of the first incarnation when the test says so. */
let failLate: ((error: Error) => void) | undefined;

export const hanger = defineActor<HangMsg, void>(import.meta.url, "hanger", () => ({
  async receive(msg) {
    if (msg.type === "hang") await new Promise<void>((_, reject) => (failLate = reject));
    else msg.replyTo.tell("pong");
  },
}));

test("a restart during a hung receive serves the next ask; the old receive's late failure crashes nothing", async () => {
  const system = await ActorSystem.start({ node: "n", logLevel: "silent" });
  const events: LifecycleEvent[] = [];
  system.events$.subscribe((e) => events.push(e));
  try {
    const ref = await system.spawn(hanger, undefined, { name: "hanger", shutdownMs: 100 });
    ref.tell({ type: "hang" });
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.ok(failLate !== undefined, "the first incarnation hangs in its receive");
    const info = await system.restartActor(ref.path);
    assert.equal(info.restarts, 1);
    assert.equal(await ref.ask<string>((replyTo) => ({ type: "ping", replyTo }), { timeoutMs: 2_000 }), "pong", "the new incarnation is not stuck behind the old receive");

    failLate!(new Error("the first incarnation's receive failed late"));
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(await ref.ask<string>((replyTo) => ({ type: "ping", replyTo }), { timeoutMs: 2_000 }), "pong");
    assert.deepEqual(events.filter((e) => e.type === "failed"), [], "the late failure of incarnation 1 did not crash incarnation 2");
    const tree = await system.tree();
    assert.equal(tree.children!.find((c) => c.path === ref.path)!.restarts, 1);
  } finally {
    await system.stop();
  }
});
