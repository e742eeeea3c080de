/**
 * Issue 12: the Planner deployed. Hospital nodes launched in this process (each its own actor
 * system, LMDB and mTLS transport on loopback):
 * - h-b's executor joins h-a's Planner (config `planner: "h-a"`); when h-b stops, its link goes
 *   down and h-a's Planner drops it: a re-plan, seen in the Planner's status and the Router's.
 * - h-c is not in h-a's config: an admin's `POST /v1/admin/nodes` makes h-a's transport reach it
 *   and its Router follow h-c's Planner, and an answer asked for h-c's region is served by h-c.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createDevPki } from "../../runtime/index.ts";
import { initModel } from "../../actors/shard-executor/index.ts";
import { PlannerClient } from "../../actors/planner/index.ts";
import { addUser, RouterClient, type RouterMsg } from "../../actors/router/index.ts";
import { defineCluster, launchHospital, type RunningHospital } from "../../cluster/index.ts";
import { freePorts } from "../fixtures/free-port.ts";

async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (performance.now() > deadline) assert.fail(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test("a hospital leaving re-plans its Planner; a node added by an admin is planned and routed to", { timeout: 150_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "fedrouter-placement-"));
  const running: RunningHospital[] = [];
  try {
    createDevPki(join(dir, "keys"), ["h-a", "h-b", "h-c"]);
    for (const id of ["h-a", "h-b", "h-c"]) await initModel({ out: join(dir, "models", id), layers: 2, dModel: 32, heads: 4, positions: 64, vocab: "gpt2", seed: id.charCodeAt(2) });
    writeFileSync(join(dir, "keys", "http-secret"), "a-test-secret-of-at-least-32-characters!!");
    await addUser(join(dir, "users.json"), { id: "ops", role: "admin", department: "general", password: "ops-test-password" });
    const [a, aAdmin, b, bAdmin, c, cAdmin, http] = await freePorts(7);
    const hA = { id: "h-a", region: "eu", address: `127.0.0.1:${a}`, admin: `127.0.0.1:${aAdmin}`, actors: [{ name: "accountant" }, { name: "aggregator" }, { name: "planner", model: "models/h-a" }, { name: "shard-executor", model: "models/h-a" }] };
    const hB = { id: "h-b", region: "eu", address: `127.0.0.1:${b}`, admin: `127.0.0.1:${bAdmin}`, actors: [{ name: "shard-executor", model: "models/h-b", planner: "h-a" }] };
    const hC = { id: "h-c", region: "ch", address: `127.0.0.1:${c}`, admin: `127.0.0.1:${cAdmin}`, actors: [{ name: "planner", model: "models/h-c" }, { name: "shard-executor", model: "models/h-c" }] };
    const base = { name: "placement", privacy: { departments: { general: 10 } } };
    const federation = defineCluster({ ...base, hospitals: [hA, hB], http: { hospital: "h-a", listen: `127.0.0.1:${http}`, users: "users.json", secret: "keys/http-secret" } });
    // h-c's own view: it knows h-a (to accept its stream) and itself; h-a learns of h-c only at run time.
    const newcomer = defineCluster({ ...base, hospitals: [hA, hC] });
    const nodeA = await launchHospital({ config: federation, hospital: "h-a", baseDir: dir, logLevel: "error" });
    running.push(nodeA);
    const nodeB = await launchHospital({ config: federation, hospital: "h-b", baseDir: dir, logLevel: "error" });
    running.push(nodeB);

    const planner = new PlannerClient(nodeA.system.ref("fed://h-a/user/node/planner"));
    const members = async () => {
      const status = await planner.status();
      return status.type === "status" ? status.executors.map((e) => e.id).sort() : [];
    };
    await eventually(async () => (await members()).join() === "h-a,h-b", "h-a's and h-b's executors join h-a's Planner");
    const before = await planner.status();
    assert.equal(before.type, "status");

    // h-b goes away: its link drops, h-a's Planner re-plans without it.
    await nodeB.stop();
    running.splice(running.indexOf(nodeB), 1);
    await eventually(async () => (await members()).join() === "h-a", "h-b leaves the Planner when its link goes down");
    const after = await planner.status();
    assert.ok(after.type === "status" && before.type === "status" && after.version > before.version, "a new plan version");
    assert.ok(after.type === "status" && after.plan?.stages.every((s) => s.executor === "h-a"), "the new plan uses h-a only");

    // An admin adds h-c at run time, through the HTTP API.
    const nodeC = await launchHospital({ config: newcomer, hospital: "h-c", baseDir: dir, logLevel: "error" });
    running.push(nodeC);
    const api = `http://127.0.0.1:${http}`;
    const token = ((await (await fetch(`${api}/v1/auth/token`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ username: "ops", password: "ops-test-password" }) })).json()) as { token: string }).token;
    const auth = { authorization: `Bearer ${token}`, "content-type": "application/json" };
    const added = await fetch(`${api}/v1/admin/nodes`, { method: "POST", headers: auth, body: JSON.stringify({ node_id: "h-c", endpoint: `grpcs://127.0.0.1:${c}`, region: "ch" }) });
    assert.equal(added.status, 201, await added.clone().text());
    const router = new RouterClient(nodeA.system.ref<RouterMsg>("fed://h-a/user/front-door/router"));
    await eventually(async () => (await router.status()).hospitals.some((h) => h.id === "h-c" && h.stages === 1), "the Router follows h-c's Planner");
    const answer = await fetch(`${api}/v1/inference`, { method: "POST", headers: auth, body: JSON.stringify({ prompt: "The patient was", max_tokens: 3, department: "general", region: "ch" }) });
    const body = (await answer.json()) as { node_id?: string };
    assert.equal(answer.status, 200, JSON.stringify(body));
    assert.equal(body.node_id, "h-c", "only h-c serves region ch");
    const again = await fetch(`${api}/v1/admin/nodes`, { method: "POST", headers: auth, body: JSON.stringify({ node_id: "h-c", endpoint: "grpcs://127.0.0.1:1", region: "ch" }) });
    assert.equal(again.status, 400, "a known node at another address is refused");
  } finally {
    for (const node of running.reverse()) await node.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
});
