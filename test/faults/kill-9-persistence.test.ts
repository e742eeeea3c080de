/**
 * Crash consistency of the node store: a writer process is killed with SIGKILL at random
 * moments while many synced writes are in flight, again and again on the same directory.
 * After every kill, every increment it acknowledged must be on disk, and the journal must be
 * a gap-free, duplicate-free prefix whose last value is the stored state.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import { openNodeStore } from "../../runtime/persistence/index.ts";

const ROUNDS = 12;
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const WRITER = fileURLToPath(new URL("./fixtures/durable-writer.ts", import.meta.url));
const FIRST_ACK_TIMEOUT_MS = 15_000;

interface Round {
  /** The state the writer recovered at start. */
  readyAt: number;
  /** Highest total the writer acknowledged before it was killed. */
  maxAcked: number;
  killDelayMs: number;
}

/** Starts the writer, kills it 50–400 ms after its first ack, and reports what it acknowledged. */
function runWriterUntilKilled(dir: string): Promise<Round> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", WRITER, dir], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    const killDelayMs = 50 + Math.floor(Math.random() * 351);
    let readyAt = -1;
    let maxAcked = 0;
    let partial = "";
    let stderr = "";
    let killTimer: NodeJS.Timeout | undefined;
    const giveUp = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`writer sent no ack within ${FIRST_ACK_TIMEOUT_MS} ms; stderr: ${stderr}`));
    }, FIRST_ACK_TIMEOUT_MS);
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      const lines = (partial + chunk).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) {
        const [word, value] = line.split(" ");
        if (word === "ready") readyAt = Number(value);
        else if (word === "ack") maxAcked = Math.max(maxAcked, Number(value));
        else stderr += `unexpected stdout line: ${line}\n`;
      }
      if (maxAcked > 0 && !killTimer) {
        clearTimeout(giveUp);
        killTimer = setTimeout(() => child.kill("SIGKILL"), killDelayMs);
      }
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => { stderr += chunk; });
    child.on("error", reject);
    // "close" fires after stdout is drained, so every ack the writer got out is counted.
    child.on("close", (code, signal) => {
      clearTimeout(giveUp);
      clearTimeout(killTimer);
      if (signal !== "SIGKILL") reject(new Error(`writer exited by itself (code ${code}, signal ${signal}); stderr: ${stderr}`));
      else resolve({ readyAt, maxAcked, killDelayMs });
    });
  });
}

test("SIGKILL at random moments never loses an acknowledged write nor leaves a gap or duplicate", { timeout: 90_000 }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fedrouter-kill9-"));
  try {
    let previousState = 0;
    for (let round = 1; round <= ROUNDS; round++) {
      const { readyAt, maxAcked, killDelayMs } = await runWriterUntilKilled(dir);
      const where = `round ${round} (killed ${killDelayMs} ms after the first ack)`;
      assert.equal(readyAt, previousState, `${where}: the writer resumes from the state left by the last round`);

      const store = openNodeStore({ path: dir });
      try {
        const counter = store.actor<number>("user/counter", { durability: "sync" });
        const state = counter.state() ?? 0;
        const journal = [...counter.journal()];
        assert.ok(maxAcked > readyAt, `${where}: the writer acknowledged something`);
        assert.ok(state >= maxAcked, `${where}: acknowledged ${maxAcked} but only ${state} is on disk`);
        assert.equal(journal.length, state, `${where}: journal length equals the state`);
        journal.forEach((entry, i) => {
          if (entry.seq !== i + 1 || entry.event !== i + 1) {
            assert.fail(`${where}: journal entry ${i} is seq ${entry.seq} value ${String(entry.event)}, expected ${i + 1}`);
          }
        });
        assert.equal(counter.lastSeq(), state, `${where}: head seq equals the state`);
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
