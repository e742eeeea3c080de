/**
 * A child's shutdownMs bounds every stop, halt and restart of it, whatever it runs on (issue 12,
 * failure edges). The children here never finish stopping (a stop hook or a task that never
 * returns, a thread kept busy), so each wait ends only at its shutdownMs: 50 ms here. Each test
 * asserts the order of two events — the stop or restart resolves before a 2 s timer fires — not a
 * wall-clock limit: with the 5 s default (DEFAULT_CHILD.shutdownMs) the timer would fire first.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { firstValueFrom, filter } from "rxjs";
import { ActorStopped, ActorSystem, DEFAULT_CHILD, type Placement } from "../../../runtime/index.ts";
import { poolHanger, stubborn, type PoolHangMsg, type StubbornMsg } from "../../fixtures/hanging-actors.ts";

const SHUTDOWN_MS = 50;
const GUARD_MS = 2_000;

/** "settled" when `promise` settles before a `guardMs` timer fires, else "timer first". */
async function settlesBeforeGuard(promise: Promise<unknown>, guardMs = GUARD_MS): Promise<"settled" | "timer first"> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<"timer first">((resolve) => {
    timer = setTimeout(() => resolve("timer first"), guardMs);
  });
  const outcome = await Promise.race([promise.then(() => "settled" as const, () => "settled" as const), guard]);
  clearTimeout(timer);
  return outcome;
}

test("the guard of these tests is well under the default shutdown time they tell apart", () => {
  assert.ok(GUARD_MS * 2 <= DEFAULT_CHILD.shutdownMs);
});

for (const placement of ["local", "worker"] as const satisfies readonly Placement[]) {
  test(`a ${placement} child with shutdownMs ${SHUTDOWN_MS} whose stop hook hangs is stopped at its shutdownMs, not the default`, { timeout: 30_000 }, async () => {
    const system = await ActorSystem.start({ node: "n", logLevel: "silent" });
    try {
      const ref = await system.spawn(stubborn, undefined, { name: "stubborn", placement, shutdownMs: SHUTDOWN_MS });
      assert.ok(await ref.ask<number>((replyTo) => ({ type: "get", replyTo }) satisfies StubbornMsg) >= 1);
      const stopped = firstValueFrom(system.events$.pipe(filter((e) => e.type === "stopped" && e.path === ref.path)));
      assert.equal(await settlesBeforeGuard(system.stopChild("stubborn")), "settled");
      assert.equal((await stopped).type, "stopped");
    } finally {
      await system.stop();
    }
  });

  test(`a crashed ${placement} child with shutdownMs ${SHUTDOWN_MS} whose stop hook hangs is restarted at its shutdownMs, and serves`, { timeout: 30_000 }, async () => {
    const system = await ActorSystem.start({ node: "n", logLevel: "silent", supervision: { backoff: { minMs: 0, maxMs: 0, jitter: 0 } } });
    try {
      const ref = await system.spawn(stubborn, undefined, { name: "stubborn", placement, shutdownMs: SHUTDOWN_MS });
      const first = await ref.ask<number>((replyTo) => ({ type: "get", replyTo }));
      const failed = firstValueFrom(system.events$.pipe(filter((e) => e.type === "failed" && e.path === ref.path)));
      const restarted = firstValueFrom(system.events$.pipe(filter((e) => e.type === "restarted" && e.path === ref.path)));
      ref.tell({ type: "crash" });
      await failed; // the timer starts once the restart begins
      assert.equal(await settlesBeforeGuard(restarted), "settled");
      assert.equal(await ref.ask<number>((replyTo) => ({ type: "get", replyTo })), first + 1, "the next incarnation, in the same thread");
    } finally {
      await system.stop();
    }
  });
}

test(`an operator's restart of a worker whose receive blocks its thread ends that thread after shutdownMs and starts a fresh one`, { timeout: 30_000 }, async () => {
  const system = await ActorSystem.start({ node: "n", logLevel: "silent" });
  try {
    const ref = await system.spawn(stubborn, undefined, { name: "stubborn", placement: "worker", shutdownMs: SHUTDOWN_MS });
    assert.equal(await ref.ask<number>((replyTo) => ({ type: "get", replyTo })), 1);
    // The thread is busy for a minute: the restart's control call goes unanswered, so the restart
    // ends the thread after shutdownMs and boots a fresh one. The guard (20 s) leaves room for that
    // boot on a loaded machine and still fires long before the block would end (60 s).
    ref.tell({ type: "block" });
    const restarting = system.restartActor(ref.path);
    assert.equal(await settlesBeforeGuard(restarting, 20_000), "settled");
    assert.equal((await restarting).restarts, 1);
    assert.equal(await ref.ask<number>((replyTo) => ({ type: "get", replyTo })), 1, "the first incarnation of a fresh thread");
  } finally {
    await system.stop();
  }
});

test(`a pool child with shutdownMs ${SHUTDOWN_MS} is stopped at its shutdownMs while a task hangs; that ask fails with ActorStopped, not a crash`, { timeout: 30_000 }, async () => {
  const system = await ActorSystem.start({ node: "n", logLevel: "silent" });
  const failures: string[] = [];
  system.events$.subscribe((e) => e.type === "failed" && failures.push(e.path));
  try {
    const ref = await system.spawn(poolHanger, undefined, { name: "pool", placement: "pool", poolThreads: 1, shutdownMs: SHUTDOWN_MS });
    assert.equal(await ref.ask<string>((replyTo) => ({ type: "echo", text: "up", replyTo }) satisfies PoolHangMsg), "up");
    const hung = ref.ask<string>((replyTo) => ({ type: "hang", replyTo }), { timeoutMs: 20_000 }).catch((error: unknown) => error);
    // A pool with a free slot hands a message to piscina as it arrives: the hang is in flight now.
    assert.equal(await settlesBeforeGuard(system.stopChild("pool")), "settled");
    assert.ok((await hung) instanceof ActorStopped, "the ask in flight fails with ActorStopped");
    assert.deepEqual(failures, [], "stopping is not a crash");
  } finally {
    await system.stop();
  }
});
