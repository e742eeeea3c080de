/**
 * The Accountant's behaviour driven one message at a time with a hand-made context (no actor
 * system, no threads) and a clock the test moves: budget periods roll over at the configured
 * boundary, the trail records each reset once, before the first change of the new period.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { ActorContext, ActorRef } from "../../../runtime/index.ts";
import { openNodeStore } from "../../../runtime/persistence/index.ts";
import { accountant, exponential, readAuditTrail, verifyStoredAudit, type AccountantMsg } from "../../../actors/accountant/index.ts";
import { tempDir } from "../../fixtures/node-store.ts";

const STORE_ID = "user/accountant";
const ctxPath = () => "fed://h/user/accountant";

test("a new budget period: the first change after the boundary is preceded by one reset entry, and the budget starts again", async (t) => {
  const dir = tempDir(t, "fedrouter-accountant-clock-");
  const store = openNodeStore({ path: dir });
  let nowMs = Date.UTC(2026, 10, 30, 23, 59, 0); // 30 Nov, one minute before December (UTC)
  const replies: unknown[] = [];
  const waiting: { count: number; resolve(): void }[] = [];
  const replyTo = { path: "test", tell: (r: unknown) => {
    replies.push(r);
    for (const w of waiting) if (replies.length >= w.count) w.resolve();
  }, send: async () => undefined, ask: () => Promise.reject(new Error("no")) } as ActorRef<never>;
  const self: ActorRef<AccountantMsg> = { path: ctxPath(), tell: () => undefined, send: async () => undefined, ask: () => Promise.reject(new Error("no")) };
  const ctx: ActorContext<AccountantMsg> = {
    self, path: "fed://h/user/accountant", node: "h", sender: { kind: "local", node: "h" }, refused: () => undefined, store, nowMs: () => nowMs,
    lookup: () => { throw new Error("not in this test"); }, stopSelf: () => undefined,
    log: { info: () => undefined, warn: () => undefined, error: () => undefined },
  };
  const behaviour = accountant.create({ ledger: { defaultUserEpsilon: 1, reset: "monthly", timeZone: "UTC" }, tickMs: 3_600_000 });
  // Replies wait for synced writes: resolves once `count` of them arrived (a fixed pause missed them on a loaded machine).
  const settle = (count: number) => new Promise<void>((resolve) => (replies.length >= count ? resolve() : waiting.push({ count, resolve })));
  try {
    await behaviour.start!(ctx);
    const reserve = (key: string, department = "general") => behaviour.receive({ type: "reserve", key, user: "u1", department, event: exponential(1), replyTo } as AccountantMsg, ctx);
    await reserve("nov-1");
    await reserve("nov-2"); // refused: 1 ε a month
    nowMs = Date.UTC(2026, 11, 1, 0, 0, 1);
    await reserve("dec-0", "dentistry"); // rejected: must not use up the reset entry
    await reserve("dec-1"); // admitted: a new month
    await behaviour.receive({ type: "tick" }, ctx); // nothing overdue, no second reset
    await settle(4);
    assert.deepEqual(replies.map((r) => (r as { type: string }).type), ["reserved", "refused", "rejected", "reserved"]);
    const actions = [...readAuditTrail(store, STORE_ID).entries].map((e) => `${e.action}${e.action === "reset" ? ` ${e.detail!.split(" ")[2]}` : ""}`);
    assert.deepEqual(actions, ["reserve", "refuse", "reset 2026-12", "reserve"]);
    assert.equal(verifyStoredAudit(store, STORE_ID).ok, true);
  } finally {
    await behaviour.stop?.(ctx);
    await store.close();
  }
});
