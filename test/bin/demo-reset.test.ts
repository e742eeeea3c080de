/**
 * `fedrouter demo --reset` and `npm run demo:reset` (issue 14: "The demo's budgets run out for the
 * month after three `npm run demo:client` runs and then the README's own curl lines answer 429"):
 * the demo's state is wiped with a line saying what went, keys and models are kept; nothing is
 * removed while the federation's ports answer, or outside the config's folder.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePorts } from "../fixtures/free-port.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** The CLI run from another folder (the demo's, as a user runs it there): tsx by its resolved URL. */
const CLI = ["--import", import.meta.resolve("tsx"), join(ROOT, "bin/fedrouter.ts")];

function run(command: string, args: readonly string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => execFile(command, args, { cwd, timeout: 60_000 }, (error, stdout, stderr) =>
    resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr })));
}

async function demoDir(ports: readonly number[], dataDirOfB?: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "fedrouter-demo-reset-"));
  writeFileSync(join(dir, "cluster.config.json"), JSON.stringify({
    name: "reset-test",
    hospitals: [
      { id: "h-a", region: "test", address: `127.0.0.1:${ports[0]}`, admin: `127.0.0.1:${ports[1]}`, actors: [{ name: "accountant" }, { name: "aggregator" }] },
      { id: "h-b", region: "test", address: `127.0.0.1:${ports[2]}`, admin: `127.0.0.1:${ports[3]}`, ...(dataDirOfB === undefined ? {} : { dataDir: dataDirOfB }) },
    ],
    http: { hospital: "h-a", listen: `127.0.0.1:${ports[4]}` },
  }));
  for (const path of [".data/h-a", ".data/h-b", ".data/demo", "keys", "models/h-a"]) {
    mkdirSync(join(dir, path), { recursive: true });
    writeFileSync(join(dir, path, "data.mdb"), "state");
  }
  writeFileSync(join(dir, ".data/users.json"), "{}");
  return dir;
}

test("fedrouter demo --reset removes every hospital's .data/<id>, the HTTP users and the --local directory, names them, and keeps keys/ and models/", { timeout: 120_000 }, async () => {
  const dir = await demoDir(await freePorts(5));
  try {
    const out = await run(process.execPath, [...CLI, "demo", "--reset", "--config", "cluster.config.json"], dir);
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stdout,
      "fedrouter demo --reset: removed .data/h-a (h-a's budgets, ledger, audit trail and kept answers), .data/h-b (h-b's budgets, ledger, audit trail and kept answers), " +
      ".data/users.json (the HTTP users (the demo users come back at the next start)), .data/demo (the single-node demo's state)\n" +
      "kept keys/ and models/; the next `npm start` begins with every budget full\n");
    for (const gone of [".data/h-a", ".data/h-b", ".data/users.json", ".data/demo"]) assert.ok(!existsSync(join(dir, gone)), `${gone} removed`);
    for (const kept of ["keys/data.mdb", "models/h-a/data.mdb", "cluster.config.json"]) assert.ok(existsSync(join(dir, kept)), `${kept} kept`);
    const again = await run(process.execPath, [...CLI, "demo", "--reset", "--config", "cluster.config.json"], dir);
    assert.equal(again.code, 0);
    assert.match(again.stdout, /^fedrouter demo --reset: nothing to remove/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("npm run demo:reset is the same command; it removes nothing while the federation's ports answer, or when a data directory lies outside the config's folder", { timeout: 120_000 }, async () => {
  const ports = await freePorts(5);
  const dir = await demoDir(ports);
  const running = createServer(() => undefined);
  await new Promise<void>((resolve) => running.listen(ports[4], "127.0.0.1", resolve));
  const outside = mkdtempSync(join(tmpdir(), "fedrouter-demo-reset-outside-"));
  try {
    assert.equal(JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).scripts["demo:reset"], "node --import tsx bin/fedrouter.ts demo --reset");
    const busy = await run(process.execPath, [...CLI, "demo", "--reset", "--config", "cluster.config.json"], dir);
    assert.equal(busy.code, 1);
    assert.equal(busy.stderr, `fedrouter demo --reset: 127.0.0.1:${ports[4]} is in use: the federation is probably running; stop it first (Ctrl-C in its terminal), nothing was removed\n`);
    assert.ok(existsSync(join(dir, ".data/h-a/data.mdb")), "nothing removed under a running federation");

    const elsewhere = await demoDir(await freePorts(5), outside);
    try {
      const refused = await run(process.execPath, [...CLI, "demo", "--reset", "--config", "cluster.config.json"], elsewhere);
      assert.equal(refused.code, 1);
      assert.equal(refused.stderr, `fedrouter demo --reset: ${outside} is outside ${elsewhere} (the config's folder); remove what is demo state there by hand. Nothing was removed\n`);
      assert.ok(existsSync(join(elsewhere, ".data/h-a/data.mdb")) && existsSync(outside), "nothing removed");
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }
  } finally {
    running.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  }
});
