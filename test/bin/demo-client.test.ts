/**
 * `npm run demo:client` as a newcomer runs it with no federation up: it starts the federation of
 * the config (two hospital processes here, models generated on the way), runs its scripted
 * session over HTTP — the budget going down, a 429 at exhaustion — verifies the audit trail,
 * and stops everything.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { testCluster } from "../fixtures/cluster-processes.ts";
import { freePort } from "../fixtures/free-port.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

test("demo:client starts a federation when none answers, shows the budget going down to a 429, verifies the audit trail and stops", { timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "fedrouter-demo-client-"));
  try {
    const cluster = await testCluster(dir, ["h-a", "h-b"], (id) => [
      ...(id === "h-a" ? [{ name: "accountant" }, { name: "aggregator" }] : []),
      { name: "shard-executor", model: join(dir, `model-${id}`), placement: "worker" },
    ]);
    const port = await freePort();
    writeFileSync(cluster.configFile, JSON.stringify({
      ...JSON.parse(readFileSync(cluster.configFile, "utf8")),
      http: { hospital: "h-a", listen: `127.0.0.1:${port}`, users: join(dir, "users.json"), secret: join(dir, "secret"), ensemble: { sigma: 4, k: 2 } },
    }));
    const out = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(process.execPath, ["--import", "tsx", "bin/demo/demo-client.ts", "--config", cluster.configFile], { cwd: ROOT, timeout: 200_000 }, (error, stdout, stderr) =>
        resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr })));
    assert.equal(out.code, 0, `${out.stdout}\n${out.stderr}`);
    assert.match(out.stdout, /starting the federation/);
    assert.match(out.stdout, /q1: .* — ε 1\.993/, "a 2-token consensus answer at σ = 4 costs ε 1.993");
    assert.match(out.stdout, /429 privacy_budget_exceeded/);
    assert.match(out.stdout, /unchanged: a refusal charges nothing/);
    assert.match(out.stdout, /the audit trail, verified: .*OK, \d+ entries/);
    // Issue 14: one "left" figure, the budget endpoint's (tight), never rising; the answers' own RDP figure explained, not printed.
    assert.doesNotMatch(out.stdout, /q\d+: ".*" — .* left/, "no per-answer figure beside the budget's");
    assert.match(out.stdout, /an answer's own remaining_budget is the Accountant's fast RDP bound/);
    const left = [...out.stdout.matchAll(/budget: user ε [\d.]+ spent of [\d.]+ \(([\d.]+) left\)/g)].map((m) => Number(m[1]));
    assert.ok(left.length >= 3, `the budget is printed after each answer: ${left.join(", ")}`);
    assert.ok(left.every((x, i) => i === 0 || x <= left[i - 1]!), `what is left never rises: ${left.join(", ")}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("demo:client with a config it cannot use exits 2 naming the field; one whose federation cannot start says why with the hospitals' last lines and exits 1; never a stack trace", { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "fedrouter-demo-client-"));
  try {
    const cluster = await testCluster(dir, ["h-a"], () => [{ name: "accountant" }]);
    const port = await freePort();
    const config = JSON.parse(readFileSync(cluster.configFile, "utf8"));
    const http = { hospital: "h-a", listen: `127.0.0.1:${port}`, users: join(dir, "users.json"), secret: join(dir, "secret") };
    const demoClient = () => new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(process.execPath, ["--import", "tsx", "bin/demo/demo-client.ts", "--config", cluster.configFile], { cwd: ROOT, timeout: 100_000 }, (error, stdout, stderr) =>
        resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr })));
    // A config the front door cannot run on (its hospital has no aggregator): exit 2 naming the field, before anything starts.
    writeFileSync(cluster.configFile, JSON.stringify({ ...config, http }));
    const invalid = await demoClient();
    assert.equal(invalid.code, 2, invalid.stderr);
    assert.equal(invalid.stderr, `fedrouter demo-client: invalid cluster config ${cluster.configFile}:\n  - http.hospital: h-a serves the HTTP API, so it must run an aggregator (got "h-a")\n`);
    config.hospitals[0].actors.push({ name: "aggregator" });
    writeFileSync(cluster.configFile, JSON.stringify({ ...config, http }));
    writeFileSync(join(cluster.keys, "h-a.crt"), "not a certificate\n"); // present, so no fresh dev keys are made over it
    const out = await demoClient();
    assert.equal(out.code, 1, `${out.stdout}\n${out.stderr}`);
    assert.match(out.stderr, /^fedrouter demo-client: the federation stopped before it was up: h-a exited \(code 2\); fix the configuration; its last lines:\n/);
    assert.match(out.stderr, /^ {2}\[h-a\] .*h-a\.crt/m, "the hospital's own line naming the certificate");
    assert.doesNotMatch(out.stderr, /\n\s+at /, "no stack trace");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
