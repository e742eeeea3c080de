import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

function fedrouter(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ["--import", "tsx", "bin/fedrouter.ts", ...args], { cwd: ROOT, timeout: 30_000, env: { ...process.env, ...env } }, (error, stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

test("fedrouter tensor-backend names the chosen backend and why better ones were passed over; a bad or unloadable choice exits non-zero", { timeout: 90_000 }, async () => {
  const { FEDROUTER_TF_BACKEND: _ignored, ...env } = process.env;
  const best = await fedrouter(["tensor-backend"], env as Record<string, string>);
  assert.equal(best.code, 0, best.stderr);
  assert.match(best.stdout, /^tensor backend: wasm/);
  assert.match(best.stdout, /^ {2}node-gpu +not installed: npm install @tensorflow\/tfjs-node-gpu to use it$/m);
  const cpu = await fedrouter(["tensor-backend"], { FEDROUTER_TF_BACKEND: "cpu" });
  assert.match(cpu.stdout, /^tensor backend: cpu;/);
  const missing = await fedrouter(["tensor-backend", "--prefer", "node"]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /the forced tensor backend "node" could not be loaded: node: not installed/);
  const wrong = await fedrouter(["tensor-backend", "--prefer", "tpu"]);
  assert.equal(wrong.code, 2);
  assert.match(wrong.stderr, /--prefer = "tpu" is not a tensor backend/);
});
