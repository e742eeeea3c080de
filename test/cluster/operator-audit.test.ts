/**
 * Issue 11: operator actions on a hospital node are audited. Through the Admin service (the REPL),
 * an operator's setBudget reaches the Accountant as that operator (its certificate CN, not a field
 * of the message), every action is in the hash-chained trail before it takes effect, and
 * `fedrouter audit export` shows them.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { createDevPki, readTlsFiles } from "../../runtime/index.ts";
import { launchHospital } from "../../cluster/launch.ts";
import { runRepl } from "../../bin/repl/index.ts";
import { AccountantClient, type AccountantMsg } from "../../actors/accountant/index.ts";
import { testCluster } from "../fixtures/cluster-processes.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

async function repl(address: string, keys: string, operator: string, lines: readonly string[]): Promise<string> {
  const input = new PassThrough();
  let printed = "";
  const output = new Writable({ write(chunk: Buffer, _e, done) { printed += chunk.toString(); done(); } });
  input.end(`${lines.join("\n")}\n`);
  await runRepl({ address, security: readTlsFiles(join(keys, "ca.crt"), join(keys, `${operator}.crt`), join(keys, `${operator}.key`)), input, output, node: "h-a" });
  return printed;
}

test("an operator's setBudget and restart are recorded in the hospital's audit trail with the operator's CN before they act; audit export shows them", { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "fedrouter-operator-audit-"));
  const cluster = await testCluster(dir, ["h-a"], () => [{ name: "accountant" }, { name: "visits" }]);
  createDevPki(cluster.keys, ["ops-1"]);
  const config = JSON.parse(readFileSync(cluster.configFile, "utf8"));
  writeFileSync(cluster.configFile, JSON.stringify({ ...config, tls: { ca: "keys/ca.crt", operators: ["ops-1"] }, privacy: { delta: 1e-6, departments: { oncology: 3 }, reset: "monthly", timeZone: "UTC" } }));
  const a = await launchHospital({ config: cluster.configFile, hospital: "h-a" });
  try {
    const out = await repl(a.admin.address, cluster.keys, "ops-1", [
      '.ask node/accountant {"type":"setBudget","scope":"department","name":"oncology","epsilon":7}',
      '.ask node/accountant {"type":"setBudget","operator":"someone-else","scope":"department","name":"oncology","epsilon":9}',
      ".restart node/visits",
    ]);
    assert.match(out, /reply: .*"budget-set".*"epsilon":7/, out);
    assert.match(out, /INVALID_REQUEST/, "a self-declared operator field is refused");
    const local = new AccountantClient(a.system.ref<AccountantMsg>("fed://h-a/user/node/accountant"));
    const budget = await local.budget("nobody", "oncology");
    assert.equal(budget.type === "budget" && budget.department!.limit, 7);
  } finally {
    await a.stop();
  }
  try {
    const exported = await new Promise<{ code: number; stdout: string }>((resolve) =>
      execFile(process.execPath, ["--import", "tsx", "bin/fedrouter.ts", "audit", "export", "--data-dir", join(dir, ".data", "h-a")], { cwd: ROOT, timeout: 30_000 }, (error, stdout) =>
        resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout })));
    assert.equal(exported.code, 0);
    const entries = exported.stdout.trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>);
    const actions = entries.filter((e) => e.action === "operator-action").map((e) => [e.actor, e.operation, e.target, e.messageType ?? null]);
    assert.deepEqual(actions, [
      ["ops-1", "ask", "fed://h-a/user/node/accountant", "setBudget"],
      ["ops-1", "ask", "fed://h-a/user/node/accountant", "setBudget"],
      ["ops-1", "restart", "fed://h-a/user/node/visits", null],
    ]);
    const limits = entries.filter((e) => e.action === "set-budget");
    assert.equal(limits.length, 1, "only the well-formed setBudget changed a limit");
    assert.equal(limits[0]!.actor, "ops-1", "the trail names the operator from the certificate");
    assert.ok(entries.indexOf(limits[0]!) > entries.findIndex((e) => e.action === "operator-action"), "the action was recorded before its effect");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
