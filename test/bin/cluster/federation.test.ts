import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startFederation } from "../../../bin/cluster/federation.ts";
import { until } from "../../fixtures/cluster-processes.ts";

test("the federation launcher creates dev keys, starts every hospital, restarts one that dies, and stops them all", { timeout: 90_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "fedrouter-fed-"));
  // Below the ephemeral range (32768+), so no outgoing connection can hold one of these ports.
  const base = 20_000 + Math.floor(Math.random() * 12_000);
  const config = join(dir, "cluster.config.json");
  writeFileSync(config, JSON.stringify({
    name: "fed-test",
    hospitals: ["h-a", "h-b"].map((id, i) => ({ id, region: "test", address: `127.0.0.1:${base + i}`, admin: `127.0.0.1:${base + 10 + i}` })),
  }));
  const lines: string[] = [];
  const federation = await startFederation({ config, print: (line) => lines.push(line) });
  try {
    await federation.ready;
    assert.ok(lines.some((l) => l.includes("created development certificates")), "dev keys were created");
    const victim = federation.pids().get("h-b")!;
    process.kill(victim, "SIGKILL");
    await until(() => lines.some((l) => l.includes("h-b exited (SIGKILL); starting it again")), "the restart", 10_000);
    await until(() => federation.pids().get("h-b") !== victim && lines.filter((l) => l.includes("[h-b] h-b: transport listening")).length === 2, "h-b to listen again", 20_000);
  } finally {
    const pids = [...federation.pids().values()];
    await federation.stop();
    for (const pid of pids) assert.throws(() => process.kill(pid, 0), "no hospital process is left");
    rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual((await federation.done).reason, "stopped");
});
