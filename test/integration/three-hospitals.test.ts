/**
 * Three hospitals as three processes (`fedrouter launch`), real certificates, loopback gRPC;
 * the test process joins as a fourth node ("driver") to steer and observe them.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ActorSystem, BreakerOpen, PeerUnavailable, readTlsFiles } from "../../runtime/index.ts";
import { exited, testCluster, until, type TestCluster } from "../fixtures/cluster-processes.ts";
import type { ProbeMsg, ProbeStats } from "../fixtures/probe-actors.ts";

const HOSPITALS = ["hospital-a", "hospital-b", "hospital-c"];

let dir: string;
let cluster: TestCluster;
let driver: ActorSystem;
const nodes = new Map<string, ChildProcess>();

async function launch(id: string): Promise<void> {
  nodes.set(id, await cluster.launch(id));
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "fedrouter-3h-"));
  const probeModule = fileURLToPath(new URL("../fixtures/probe-actors.ts", import.meta.url));
  cluster = await testCluster(dir, HOSPITALS, () => [{ name: "probe", module: probeModule }], ["driver"]);
  await Promise.all(HOSPITALS.map(launch));
  driver = await ActorSystem.start({
    node: "driver",
    logLevel: "silent",
    breakers: { defaults: { window: { kind: "count", size: 4 }, minimumCalls: 4, failureRateThreshold: 0.5, openDurationMs: 1_000, halfOpenProbes: 1 } },
    remote: {
      listen: cluster.address("driver"),
      peers: ["driver", ...HOSPITALS].map((id) => ({ id, address: cluster.address(id) })),
      security: readTlsFiles(join(cluster.keys, "ca.crt"), join(cluster.keys, "driver.crt"), join(cluster.keys, "driver.key")),
      reconnect: { minMs: 50, maxMs: 500, jitter: 0.2 },
    },
  });
  await until(() => driver.transport!.peers().every((p) => p.up), "the driver to reach every hospital");
  // The hospitals connect to each other on their own; wait until every pair answers.
  for (const from of HOSPITALS) {
    for (const to of HOSPITALS) {
      if (from === to) continue;
      for (let attempt = 0; ; attempt++) {
        const stats = await probeOf(from).ask<ProbeStats>((replyTo) => ({ type: "blast", to: `fed://${to}/user/node/probe`, count: 0, replyTo }), { timeoutMs: 10_000 });
        if (stats.error === undefined) break;
        if (attempt > 100) throw new Error(`${from} cannot reach ${to}: ${stats.error}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }
});

after(async () => {
  await driver?.stop();
  await cluster?.stopAll();
  rmSync(dir, { recursive: true, force: true });
});

const probeOf = (id: string) => driver.ref<ProbeMsg>(`fed://${id}/user/node/probe`);

test("tell and ask across every pair of hospitals, each pair's order preserved", async () => {
  for (const from of HOSPITALS) {
    for (const to of HOSPITALS) {
      if (from === to) continue;
      const stats = await probeOf(from).ask<ProbeStats>((replyTo) => ({ type: "blast", to: `fed://${to}/user/node/probe`, count: 300, replyTo }), { timeoutMs: 15_000 });
      assert.equal(stats.node, to);
      assert.equal(stats.received[`${from}→fed://${to}/user/node/probe`], 300, `${from} → ${to}: every message arrived`);
      assert.equal(stats.outOfOrder, 0, `${from} → ${to}: in order`);
    }
  }
});

test("SIGKILL one hospital: asks fail fast, its breaker opens; restarted, it reconnects and serves again", async () => {
  const victim = nodes.get("hospital-c")!;
  victim.kill("SIGKILL");
  await exited(victim);
  await until(() => !driver.transport!.peers().find((p) => p.peer === "hospital-c")!.up, "the driver to notice");
  const errors: string[] = [];
  for (let i = 0; i < 6; i++) {
    const started = Date.now();
    await assert.rejects(probeOf("hospital-c").ask<ProbeStats>((replyTo) => ({ type: "stats", replyTo }), { timeoutMs: 5_000 }), (error: unknown) => {
      errors.push((error as { code?: string }).code ?? String(error));
      return error instanceof PeerUnavailable || error instanceof BreakerOpen;
    });
    assert.ok(Date.now() - started < 1_000, "failed fast, not at the ask deadline");
  }
  assert.ok(errors.includes("BREAKER_OPEN"), `the breaker opened after repeated failures (saw ${errors.join(", ")})`);
  // The other hospitals are undisturbed.
  const b = await probeOf("hospital-a").ask<ProbeStats>((replyTo) => ({ type: "blast", to: "fed://hospital-b/user/node/probe", count: 10, replyTo }), { timeoutMs: 10_000 });
  assert.equal(b.outOfOrder, 0);
  await launch("hospital-c");
  await until(() => driver.transport!.peers().find((p) => p.peer === "hospital-c")!.up, "the driver to reconnect", 20_000);
  let stats: ProbeStats | undefined;
  for (let i = 0; i < 40 && stats === undefined; i++) {
    stats = await probeOf("hospital-c").ask<ProbeStats>((replyTo) => ({ type: "stats", replyTo }), { timeoutMs: 2_000 }).catch(() => undefined);
    if (stats === undefined) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.equal(stats?.node, "hospital-c", "traffic resumes");
  await until(() => driver.breakers.get("fed://hospital-c").state === "closed", "the breaker to close");
});
