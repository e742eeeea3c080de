import { test } from "node:test";
import assert from "node:assert/strict";
import { ActorCrashed, ActorSystem, RemoteError, actor, supervisor } from "../../../runtime/index.ts";
import { ShelfEmpty, thrower, type Throwable, type ThrowerMsg } from "../../fixtures/coded-errors.ts";

const NO_BACKOFF = { minMs: 0, maxMs: 0, jitter: 0 };
type ActorPlacement = "local" | "worker" | "pool";

async function withThrower(placement: ActorPlacement, body: (ask: (what: Throwable) => Promise<never>) => Promise<void>): Promise<void> {
  const system = await ActorSystem.start({ node: "t", logLevel: "silent" });
  try {
    await system.startChild(supervisor("s", [actor("thrower", thrower, undefined, { placement })], { intensity: 20, periodMs: 60_000, backoff: NO_BACKOFF }));
    const ref = system.ref<ThrowerMsg>(system.pathOf("s", "thrower"));
    await body((what) => ref.ask<never>((replyTo) => ({ type: "throw", what, replyTo }), { timeoutMs: 10_000 }));
    assert.equal(await ref.ask<string>((replyTo) => ({ type: "ping", replyTo })), "pong", "restarted after each throw");
  } finally {
    await system.stop();
  }
}

const crashed = (check: (error: ActorCrashed) => void) => (error: unknown) => {
  assert.ok(error instanceof ActorCrashed, `an ActorCrashed, not ${String(error)}`);
  check(error);
  return true;
};

for (const placement of ["worker", "pool", "local"] as const satisfies readonly ActorPlacement[]) {
  test(`an error thrown by an actor (placement ${placement}) reaches the asker with its code: its class when registered, a RemoteError when not`, async () => {
    await withThrower(placement, async (ask) => {
      await assert.rejects(ask("registered"), crashed((error) => {
        assert.equal(error.code, "ACTOR_CRASHED", "callers that branch on ACTOR_CRASHED still do");
        assert.equal(error.causeCode, "TEST_SHELF_EMPTY");
        assert.ok(error.cause instanceof ShelfEmpty, "rebuilt into its class on the main thread");
        assert.equal(error.cause.aisle, "7");
        assert.equal(error.cause.restockInMs, 250);
        assert.equal(error.cause.message, "aisle 7 is empty; restocked in 250 ms");
        assert.match(error.reason, /^ShelfEmpty: aisle 7 is empty/);
      }));
      await assert.rejects(ask("unregistered"), crashed((error) => {
        assert.equal(error.causeCode, "TEST_UNLISTED");
        assert.ok(error.cause instanceof RemoteError);
        assert.equal(error.cause.code, "TEST_UNLISTED");
        assert.equal(error.cause.message, "unlisted after 3 tries");
        assert.deepStrictEqual(error.cause.fields.detail, { why: "never registered" });
      }));
      await assert.rejects(ask("coded-plain"), crashed((error) => {
        assert.equal(error.causeCode, "ENOSPC", "a plain error's code travels too");
        assert.equal(error.cause, undefined, "only a FedrouterError travels whole");
      }));
    });
  });
}

test("a thrown error with a field msgpack cannot carry still fails the worker's asker at once, with its code", async () => {
  await withThrower("worker", async (ask) => {
    const started = Date.now();
    await assert.rejects(ask("unsendable"), crashed((error) => {
      assert.equal(error.causeCode, "TEST_SHELF_EMPTY");
      assert.equal(error.cause, undefined, "the cause that could not be encoded was left out");
    }));
    assert.ok(Date.now() - started < 5_000, "told, not left to time out");
  });
});
