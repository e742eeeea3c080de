import { test } from "node:test";
import assert from "node:assert/strict";
import { runFedrouter } from "../fixtures/cli.ts";

const fedrouter = (args: string[], env: Record<string, string> = {}) => runFedrouter(args, { timeoutMs: 30_000, env });

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
