/**
 * Crash consistency of a whole node: a persistent actor (in the main thread, or in a worker
 * thread) answers 64 concurrent askers; the process is killed with SIGKILL at random moments,
 * again and again on the same LMDB directory. Every increment that any asker saw
 * acknowledged must survive, exactly once, and the actor must resume from it.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import { openNodeStore } from "../../runtime/persistence/index.ts";
import { runWriterUntilKilled } from "./fixtures/run-until-killed.ts";

const ROUNDS = 8;
const WRITER = fileURLToPath(new URL("./fixtures/system-writer.ts", import.meta.url));

test("kill -9 of a node never loses or duplicates an acknowledged change, in the main thread or a worker", { timeout: 120_000 }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fedrouter-kill9-node-"));
  try {
    let previousState = 0;
    for (let round = 1; round <= ROUNDS; round++) {
      const placement = round % 2 === 1 ? "local" : "worker";
      const round_ = await runWriterUntilKilled(WRITER, [dir, placement]);
      const readyAt = round_.readyAt.get("") ?? -1;
      const maxAcked = round_.maxAcked.get("") ?? 0;
      const killDelayMs = round_.killDelayMs;
      const where = `round ${round} (${placement}, killed ${killDelayMs} ms after the first ack)`;
      assert.equal(readyAt, previousState, `${where}: the actor resumes from the state left by the last round`);
      const store = openNodeStore({ path: dir });
      try {
        const counter = store.actor<number>("user/counter", { durability: "sync" });
        const state = counter.state() ?? 0;
        const journal = [...counter.journal()];
        assert.ok(maxAcked > readyAt, `${where}: something was acknowledged`);
        assert.ok(state >= maxAcked, `${where}: acknowledged ${maxAcked} but only ${state} is on disk`);
        assert.deepEqual(journal.map((e) => [e.seq, e.event]), Array.from({ length: state }, (_, i) => [i + 1, i + 1]), `${where}: the journal is 1..${state}, no gap, no duplicate`);
        t.diagnostic(`${where}: resumed at ${readyAt}, acknowledged up to ${maxAcked}, ${state} on disk`);
        previousState = state;
      } finally {
        await store.close();
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
