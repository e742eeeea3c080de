/**
 * Three hospitals as three processes (`fedrouter launch`), real certificates, loopback gRPC;
 * the test process joins as a fourth node ("driver") to steer and observe them.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ActorSystem, BreakerOpen, PeerUnavailable, createDevPki, readTlsFiles } from "../../runtime/index.ts";
import type { ProbeMsg, ProbeStats } from "../fixtures/probe-actors.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const HOSPITALS = ["hospital-a", "hospital-b", "hospital-c"];
const BASE = 30_000 + Math.floor(Math.random() * 20_000);
const address = (i: number) => `127.0.0.1:${BASE + i}`;

let dir: string;
let configFile: string;
let driver: ActorSystem;
const nodes = new Map<string, ChildProcess>();

function launch(id: string): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "bin/fedrouter.ts", "launch", "--hospital", id, "--config", configFile], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    const timer = setTimeout(() => reject(new Error(`${id} did not start: ${out}`)), 20_000);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes("transport listening")) {
        clearTimeout(timer);
        resolve(child);
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code) => reject(new Error(`${id} exited with ${code}: ${out}`)));
    nodes.set(id, child);
  });
}

function stopped(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once("exit", () => resolve()));
}

async function until(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "fedrouter-3h-"));
  createDevPki(join(dir, "keys"), ["driver", ...HOSPITALS]);
  configFile = join(dir, "cluster.config.json");
  const probeModule = fileURLToPath(new URL("../fixtures/probe-actors.ts", import.meta.url));
  writeFileSync(configFile, JSON.stringify({
    name: "three-hospitals-test",
    hospitals: [
      ...HOSPITALS.map((id, i) => ({ id, region: "test", address: address(i + 1), admin: address(i + 11), actors: [{ name: "probe", module: probeModule }] })),
      { id: "driver", region: "test", address: address(0), admin: address(10) },
    ],
  }));
  await Promise.all(HOSPITALS.map(launch));
  driver = await ActorSystem.start({
    node: "driver",
    logLevel: "silent",
    breakers: { defaults: { window: { kind: "count", size: 4 }, minimumCalls: 4, failureRateThreshold: 0.5, openDurationMs: 1_000, halfOpenProbes: 1 } },
    remote: {
      listen: address(0),
      peers: [{ id: "driver", address: address(0) }, ...HOSPITALS.map((id, i) => ({ id, address: address(i + 1) }))],
      security: readTlsFiles(join(dir, "keys", "ca.crt"), join(dir, "keys", "driver.crt"), join(dir, "keys", "driver.key")),
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
  for (const child of nodes.values()) child.kill("SIGTERM");
  await Promise.all([...nodes.values()].map(stopped));
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
  await stopped(victim);
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
