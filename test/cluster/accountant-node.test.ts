/**
 * The Accountant as a hospital node runs it: budgets from the cluster config, reachable from
 * another hospital over the mTLS transport (the protocol is plain data, so it crosses as
 * msgpack and the replies come back typed), and its trail checked by `fedrouter audit verify`.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { launchHospital } from "../../cluster/launch.ts";
import { AccountantClient, gnmax, selfComposed, type AccountantMsg } from "../../actors/accountant/index.ts";
import { testCluster } from "../fixtures/cluster-processes.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

test("another hospital reserves and commits at a hospital's Accountant over mTLS but cannot read its budgets; the trail verifies with the CLI", { timeout: 90_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "fedrouter-accountant-node-"));
  const cluster = await testCluster(dir, ["h-a", "h-b"], (id) => (id === "h-a" ? [{ name: "accountant" }] : []));
  // The fixture writes a config without a privacy block; give one, as cluster.config.ts does.
  const config = JSON.parse(readFileSync(cluster.configFile, "utf8"));
  writeFileSync(cluster.configFile, JSON.stringify({ ...config, privacy: { delta: 1e-6, departments: { oncology: 3, research: 1 }, reset: "weekly", timeZone: "Europe/Berlin" } }));
  const a = await launchHospital({ config: cluster.configFile, hospital: "h-a" });
  const b = await launchHospital({ config: cluster.configFile, hospital: "h-b" });
  try {
    const remote = new AccountantClient(b.system.ref<AccountantMsg>("fed://h-a/user/node/accountant"), 15_000);
    const local = new AccountantClient(a.system.ref<AccountantMsg>("fed://h-a/user/node/accountant"), 15_000);
    const budget = await local.budget("dr-ng", "oncology");
    if (budget.type !== "budget") return assert.fail(`budget: ${JSON.stringify(budget)}`);
    assert.equal(budget.department!.limit, 3, "the department budget comes from cluster.config privacy");
    assert.equal(budget.delta, 1e-6);
    assert.match(budget.period, /^\d{4}-W\d{2}$/, "weekly periods");
    // A peer hospital cannot read another hospital's users' budgets (the Accountant's access policy).
    let read = await remote.budget("dr-ng", "oncology").catch((e: Error) => e);
    for (let i = 0; i < 80 && read instanceof Error && (read as { code?: string }).code !== "FORBIDDEN"; i++) { // until h-b's link to h-a is up
      await new Promise((r) => setTimeout(r, 250));
      read = await remote.budget("dr-ng", "oncology").catch((e: Error) => e);
    }
    assert.ok(read instanceof Error && (read as { code?: string }).code === "FORBIDDEN", `a peer's budget read is refused: ${read instanceof Error ? read.message : JSON.stringify(read)}`);
    assert.match(read.message, /peer:h-b may not send "budget"/);

    const reserved = await remote.reserve({ key: "h-b-q1", user: "dr-ng", department: "oncology", event: selfComposed(gnmax(40), 8), requestId: "q1" });
    if (reserved.type !== "reserved") return assert.fail(JSON.stringify(reserved));
    const committed = await remote.commit(reserved.reservation, selfComposed(gnmax(40), 5));
    assert.equal(committed.type, "committed");
    const unknown = await remote.reserve({ key: "h-b-q2", user: "dr-ng", department: "dentistry", event: gnmax(40) });
    assert.equal(unknown.type === "rejected" && unknown.code, "UNKNOWN_DEPARTMENT");
  } finally {
    await b.stop();
    await a.stop();
  }
  try {
    const out = await new Promise<{ code: number; stdout: string }>((resolve) =>
      execFile(process.execPath, ["--import", "tsx", "bin/fedrouter.ts", "audit", "verify", "--data-dir", join(dir, ".data", "h-a")], { cwd: ROOT, timeout: 30_000 }, (error, stdout) =>
        resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout })));
    assert.equal(out.code, 0, out.stdout);
    assert.match(out.stdout, /OK, 2 entries/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
