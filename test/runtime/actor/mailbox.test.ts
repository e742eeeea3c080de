import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { Mailbox } from "../../../runtime/actor/mailbox.ts";
import { parsePath, formatPath } from "../../../runtime/actor/path.ts";
import { InvalidPath } from "../../../runtime/errors.ts";

test("a mailbox is FIFO and refuses past its capacity", () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 50 }), fc.array(fc.integer(), { maxLength: 120 }), (capacity, items) => {
      const box = new Mailbox<number>({ capacity, overflow: "drop-newest" });
      const accepted = items.filter((i) => box.offer(i));
      assert.deepEqual(accepted, items.slice(0, capacity));
      assert.deepEqual(box.drain(), accepted);
    }),
  );
});

test("a mailbox wraps around and grows its ring without losing order", () => {
  const box = new Mailbox<number>({ capacity: 1_000, overflow: "drop-newest" });
  const out: number[] = [];
  for (let i = 0; i < 600; i++) {
    box.offer(i);
    if (i % 3 !== 0) out.push(box.poll()!);
  }
  out.push(...box.drain());
  assert.deepEqual(out, Array.from({ length: 600 }, (_, i) => i));
});

test("a waiter for room wakes when a message is taken out", async () => {
  const box = new Mailbox<number>({ capacity: 1, overflow: "backpressure" });
  box.offer(1);
  let woke = false;
  const waiting = box.waitForRoom().then(() => (woke = true));
  await Promise.resolve();
  assert.equal(woke, false);
  box.poll();
  await waiting;
  assert.equal(woke, true);
});

test("paths parse into node and segments, and bad paths are InvalidPath", () => {
  assert.deepEqual(parsePath("fed://hospital-a/user/accountant"), { node: "hospital-a", segments: ["user", "accountant"] });
  assert.equal(formatPath("n1", "user", "x"), "fed://n1/user/x");
  for (const bad of ["http://a/b", "fed://", "fed://a", "fed://a/", "fed://a/b//c", "fed://a/b c"]) {
    assert.throws(() => parsePath(bad), InvalidPath, bad);
  }
});
