import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startFederation } from "../../bin/demo/federation.ts";
import { until } from "../fixtures/cluster-processes.ts";
import { freePort, freePorts } from "../fixtures/free-port.ts";

test("the federation launcher creates dev keys, starts every hospital, restarts one that dies, and stops them all", { timeout: 90_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "fedrouter-fed-"));
  const ports = await freePorts(4); // [h-a, h-b] transports, then their Admin services
  const config = join(dir, "cluster.config.json");
  writeFileSync(config, JSON.stringify({
    name: "fed-test",
    hospitals: ["h-a", "h-b"].map((id, i) => ({ id, region: "test", address: `127.0.0.1:${ports[i]}`, admin: `127.0.0.1:${ports[2 + i]}` })),
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

test("fedrouter demo on ports already in use says at once that a federation is probably running there (issue 14)", { timeout: 60_000 }, async () => {
  const { createServer } = await import("node:net");
  const { execFile } = await import("node:child_process");
  const { fileURLToPath } = await import("node:url");
  const dir = mkdtempSync(join(tmpdir(), "fedrouter-fed-busy-"));
  const taken = createServer(() => undefined);
  await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
  const port = (taken.address() as { port: number }).port;
  const config = join(dir, "cluster.config.json");
  writeFileSync(config, JSON.stringify({
    name: "fed-busy",
    hospitals: [{ id: "h-a", region: "test", address: `127.0.0.1:${port}`, admin: `127.0.0.1:${await freePort()}` }],
  }));
  try {
    const out = await new Promise<{ code: number; stderr: string }>((resolve) =>
      execFile(process.execPath, ["--import", "tsx", "bin/fedrouter.ts", "demo", "--once", "--config", config], { cwd: fileURLToPath(new URL("../../", import.meta.url)), timeout: 50_000 }, (error, _stdout, stderr) =>
        resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stderr })));
    assert.equal(out.code, 1);
    assert.match(out.stderr, new RegExp(`127\\.0\\.0\\.1:${port} is already in use: a federation \\(another \`npm start\`\\) is probably running`));
  } finally {
    taken.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
