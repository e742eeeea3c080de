/**
 * Issue 12: the cluster as a library. A service imports `fedrouter/cluster` by the package name,
 * runs a hospital node in its own process from a config object, asks its actors, stops it, and
 * carries on: nothing exited the process or wrote to stdout, LMDB is closed, the same data
 * directory opens again. The README's "Embed a hospital node" block runs as written.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { createDevPki, type NodeStore } from "fedrouter";
import { AccountantClient, type AccountantMsg } from "fedrouter/accountant";
import { defineCluster, launchHospital, LaunchError, type VisitsMsg } from "fedrouter/cluster";
import { freePorts } from "../fixtures/free-port.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

test("a service embeds a hospital node from a config object, asks its Accountant and a demo actor, stops it and lives on; the data dir opens again", { timeout: 90_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "fedrouter-embed-"));
  createDevPki(join(dir, "keys"), ["h-a"]);
  const [address, admin] = await freePorts(2);
  const config = defineCluster({
    name: "embed",
    hospitals: [{ id: "h-a", region: "test", address: `127.0.0.1:${address}`, admin: `127.0.0.1:${admin}`, actors: [{ name: "accountant" }, { name: "visits" }] }],
    privacy: { departments: { oncology: 3 } },
  });
  try {
    let node;
    try {
      node = await launchHospital({ config, hospital: "h-a", baseDir: dir });
      const accountant = new AccountantClient(node.system.ref<AccountantMsg>("fed://h-a/user/node/accountant"), 15_000);
      const budget = await accountant.budget("dr-ng", "oncology");
      assert.equal(budget.type === "budget" && budget.department?.limit, 3, `the department budget comes from the config object: ${JSON.stringify(budget)}`);
      const visits = node.system.ref<VisitsMsg>("fed://h-a/user/node/visits");
      assert.equal(await visits.ask<number>((replyTo) => ({ type: "visit", replyTo }), { timeoutMs: 15_000 }), 1);
      const store = node.system.store as NodeStore;
      await Promise.all([node.stop(), node.stop()]); // a second stop waits on the first
      assert.throws(() => store.actorIds(), /the node store is closed/, "stop() closed the node's LMDB environment");
    } finally {
      await node?.stop();
    }
    // This process is the embedding service: it is still here, with no exit code set, and its
    // event loop turns (the README test below checks, in a process of its own, that stdout stays clean).
    assert.equal(process.exitCode, undefined);
    await new Promise((resolve) => setTimeout(resolve, 50));

    const again = await launchHospital({ config, hospital: "h-a", baseDir: dir, logLevel: "error" });
    try {
      const visits = again.system.ref<VisitsMsg>("fed://h-a/user/node/visits");
      assert.equal(await visits.ask<number>((replyTo) => ({ type: "visit", replyTo }), { timeoutMs: 15_000 }), 2, "the acknowledged visit survived the stop");
    } finally {
      await again.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a config object with a problem is a LaunchError naming the field, and no node starts", async () => {
  const config = defineCluster({ name: "embed", hospitals: [{ id: "h-a", region: "test", address: "nowhere", admin: "127.0.0.1:1" }] });
  await assert.rejects(launchHospital({ config, hospital: "h-a", baseDir: "/srv/embed" }), (error: unknown) =>
    error instanceof LaunchError && error.code === "LAUNCH_FAILED" && /\/srv\/embed\/\(config object\):\n {2}- hospitals\[0\]\.address: must be host:port/.test(error.message));
});

test("the README's 'Embed a hospital node' block runs as written in a service that depends on fedrouter", { timeout: 90_000 }, async () => {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const block = /<!-- example: embed\.ts -->\s*```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(block, "the README marks its embed example");
  // A service of its own, outside this repository, with fedrouter in its node_modules; the
  // README's ports are swapped for free ones (its text is not changed, only this copy).
  const service = mkdtempSync(join(tmpdir(), "fedrouter-embed-service-"));
  try {
    writeFileSync(join(service, "package.json"), JSON.stringify({ name: "a-hospital-service", type: "module", dependencies: { fedrouter: "*" } }));
    mkdirSync(join(service, "node_modules"));
    symlinkSync(ROOT, join(service, "node_modules", "fedrouter"), "dir");
    const [address, admin] = await freePorts(2);
    assert.match(block, /127\.0\.0\.1:7411/);
    assert.match(block, /127\.0\.0\.1:7412/);
    writeFileSync(join(service, "embed.ts"), block.replace("127.0.0.1:7411", `127.0.0.1:${address}`).replace("127.0.0.1:7412", `127.0.0.1:${admin}`));
    // TMPDIR: the block's own temporary data directory goes inside the service, and away with it.
    const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", join(service, "embed.ts")], { cwd: ROOT, timeout: 80_000, env: { ...process.env, TMPDIR: service } });
    assert.equal(stdout, "radiology limit 10\nvisit 1\nstopped; this process carries on\n");
  } finally {
    rmSync(service, { recursive: true, force: true });
  }
});
