/**
 * Crash consistency of the node store: a writer process is killed with SIGKILL at random
 * moments while many synced writes of several actors are in flight (sharing transactions),
 * again and again on the same directory. After every kill, for every actor, every increment
 * it acknowledged must be on disk, and its journal must be a gap-free, duplicate-free
 * prefix whose last value is the stored state.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import { openNodeStore } from "../../runtime/persistence/index.ts";
import { runWriterUntilKilled } from "./fixtures/run-until-killed.ts";

const ROUNDS = 12;
const WRITER = fileURLToPath(new URL("./fixtures/durable-writer.ts", import.meta.url));

/** The actors of test/faults/fixtures/durable-writer.ts. */
const COUNTERS = ["user/counter", "user/counter-b", "user/counter-c", "user/counter-d"];

test("SIGKILL at random moments never loses an acknowledged write nor leaves a gap or duplicate", { timeout: 90_000 }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fedrouter-kill9-"));
  try {
    const previousState = new Map(COUNTERS.map((id) => [id, 0]));
    for (let round = 1; round <= ROUNDS; round++) {
      const { readyAt, maxAcked, killDelayMs } = await runWriterUntilKilled(WRITER, [dir]);
      const where = `round ${round} (killed ${killDelayMs} ms after the first ack)`;
      assert.ok((maxAcked.get(COUNTERS[0]!) ?? 0) > (readyAt.get(COUNTERS[0]!) ?? 0), `${where}: the writer acknowledged something`);

      const store = openNodeStore({ path: dir });
      try {
        assert.deepEqual(store.actorIds(), [...COUNTERS].sort(), `${where}: the environment lists every actor`);
        const seen: string[] = [];
        for (const id of COUNTERS) {
          const at = `${where}, ${id}`;
          // An actor the kill caught before it recovered printed no "ready": nothing to compare.
          if (readyAt.has(id)) assert.equal(readyAt.get(id), previousState.get(id), `${at}: the writer resumes from the state left by the last round`);
          const counter = store.actor<number>(id, { durability: "sync" });
          const state = counter.state() ?? 0;
          const acked = maxAcked.get(id) ?? 0;
          const journal = [...counter.journal()];
          assert.ok(state >= acked, `${at}: acknowledged ${acked} but only ${state} is on disk`);
          assert.ok(state >= previousState.get(id)!, `${at}: the state went back from ${previousState.get(id)} to ${state}`);
          assert.equal(journal.length, state, `${at}: journal length equals the state`);
          journal.forEach((entry, i) => {
            if (entry.seq !== i + 1 || entry.event !== i + 1) {
              assert.fail(`${at}: journal entry ${i} is seq ${entry.seq} value ${String(entry.event)}, expected ${i + 1}`);
            }
          });
          assert.equal(counter.lastSeq(), state, `${at}: head seq equals the state`);
          seen.push(`${id} ${readyAt.get(id) ?? "-"}→${acked} acked, ${state} on disk`);
          previousState.set(id, state);
        }
        t.diagnostic(`${where}: ${seen.join("; ")}`);
      } finally {
        await store.close();
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
