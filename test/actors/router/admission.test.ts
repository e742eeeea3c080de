/**
 * The Router's admission (pure): at most maxConcurrent run; waiters go highest priority first,
 * in arrival order within a priority; a full queue refuses at once; a raised limit admits at once.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { Admission, UnavailableError } from "../../../actors/router/index.ts";

test("waiters are admitted by priority, then arrival; the limit holds; a full queue refuses", async () => {
  const admission = new Admission(1, 3);
  const first = await admission.acquire(1);
  const order: string[] = [];
  const waits = [["low", 1], ["high", 5], ["mid", 3]].map(([name, priority]) => admission.acquire(priority as number).then((release) => {
    order.push(name as string);
    return release;
  }));
  await assert.rejects(admission.acquire(5), (e: unknown) => e instanceof UnavailableError && /maxConcurrentRequests = 1/.test(e.message));
  assert.equal(admission.queued, 3);
  first();
  (await waits[1]!)();
  (await waits[2]!)();
  (await waits[0]!)();
  assert.deepEqual(order, ["high", "mid", "low"]);
  assert.equal(admission.running, 0);
});

test("property: never more than the limit run, and every waiter is admitted once all release", async () => {
  await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 4 }), fc.array(fc.integer({ min: 1, max: 5 }), { maxLength: 30 }), async (limit, priorities) => {
    const admission = new Admission(limit, 1_000);
    let running = 0;
    let peak = 0;
    await Promise.all(priorities.map(async (p) => {
      const release = await admission.acquire(p);
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setImmediate(r));
      running--;
      release();
    }));
    assert.ok(peak <= limit, `peak ${peak} ≤ limit ${limit}`);
    assert.equal(admission.running, 0);
    assert.equal(admission.queued, 0);
  }), { numRuns: 50 });
});

test("a raised limit admits waiters at once; a bad limit is refused", async () => {
  const admission = new Admission(1, 10);
  await admission.acquire(3);
  let admitted = false;
  const waiting = admission.acquire(3).then(() => (admitted = true));
  admission.setLimit(2);
  await waiting;
  assert.equal(admitted, true);
  assert.throws(() => admission.setLimit(0), RangeError);
  assert.throws(() => new Admission(1.5, 1), RangeError);
});
