/**
 * `fedrouter train` refuses before touching a ledger when the federation is running (its ports
 * answer), and names a bad config with exit code 2. The training itself is tested in
 * test/cluster/training.test.ts.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runFedrouter } from "../fixtures/cli.ts";


const run = (args: string[]) => runFedrouter(args);

test("fedrouter train on a running federation: exit 1, says so, and trains nothing", { timeout: 90_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "fedrouter-train-busy-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const taken = createServer(() => undefined);
  await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
  t.after(() => taken.close());
  const port = (taken.address() as { port: number }).port;
  const config = join(dir, "cluster.config.json");
  writeFileSync(config, JSON.stringify({
    name: "train-busy", tls: { insecure: true },
    hospitals: ["h-a", "h-b"].map((id, i) => ({ id, region: "test", address: i === 0 ? `127.0.0.1:${port}` : "127.0.0.1:1", admin: `127.0.0.1:${2 + i}`, actors: [{ name: "accountant" }, { name: "shard-executor", model: `models/${id}` }] })),
  }));
  const out = await run(["train", "--config", config]);
  assert.equal(out.code, 1, out.stderr);
  assert.match(out.stderr, new RegExp(`127\\.0\\.0\\.1:${port} is in use: the federation is probably running; stop it first .*nothing was trained`));
  assert.equal(existsSync(join(dir, ".data")), false, "no ledger opened, no model made");
});

test("fedrouter train with an invalid config or option: exit 2 and the field named", { timeout: 90_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "fedrouter-train-bad-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const config = join(dir, "cluster.config.json");
  writeFileSync(config, JSON.stringify({ name: "bad", hospitals: [{ id: "h-a", region: "test", address: "127.0.0.1:1", admin: "127.0.0.1:2", colour: "red" }] }));
  const bad = await run(["train", "--config", config]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /fedrouter train: invalid cluster config [^\n]*\n\s*- hospitals\[0\]: unknown field\(s\) "colour"/);
  const option = await run(["train", "--rounds", "-1", "--config", config]);
  assert.notEqual(option.code, 0);
  assert.match(option.stderr, /--rounds.*expected a positive number, got "-1"/);
});

test("on a terminal a progress bar redraws in place and other lines scroll; elsewhere every line is its own", async () => {
  const { progressPrinter } = await import("../../bin/train/train-command.ts");
  const lines = ["[train] 1/2 public pretraining", "[train] pretrain [#...] step 1/10 loss 10.8", "[train] pretrain [####] step 10/10 loss 2.5", "[train] done"];
  let tty = "";
  const onTty = progressPrinter((text) => (tty += text), true);
  for (const line of lines) onTty(line);
  assert.equal(tty, "[train] 1/2 public pretraining\n\r\x1b[2K[train] pretrain [#...] step 1/10 loss 10.8\r\x1b[2K[train] pretrain [####] step 10/10 loss 2.5\n[train] done\n");
  let piped = "";
  const onPipe = progressPrinter((text) => (piped += text), false);
  for (const line of lines) onPipe(line);
  assert.equal(piped, `${lines.join("\n")}\n`);
});

test("fedrouter train --live --install: the running federation trains itself — the coordinator's Aggregator drives every trainer, the command prints each round, puts the model in service on every hospital that accepts installs (executors reloaded), says which refused, exits 1 for it; then a round under CKKS", { timeout: 240_000 }, async (t) => {
  const { createDevPki } = await import("../../runtime/index.ts");
  const { initModel } = await import("../../actors/shard-executor/index.ts");
  const { launchHospital } = await import("../../cluster/index.ts");
  const { freePorts } = await import("../fixtures/free-port.ts");
  const { linksReady } = await import("../fixtures/federation-links.ts");
  const { ckks } = await import("../../secagg/index.ts");
  const dir = mkdtempSync(join(tmpdir(), "fedrouter-train-live-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ids = ["h-a", "h-b", "h-c"];
  createDevPki(join(dir, "keys"), [...ids, "operator"]);
  // Each hospital serves its own copy of the model (an install writes over it); h-c does not take installs.
  for (const id of ids) await initModel({ out: join(dir, "models", id), layers: 2, dModel: 32, heads: 2, positions: 32, vocab: "gpt2", seed: 9 });
  // The CKKS key ceremony's files, as `fedrouter keys ckks` writes them (its own test: test/secagg/ckks/key-files.test.ts).
  await ckks.writeKeyCeremony(join(dir, "keys", "ckks"), ids, 2);
  const ports = await freePorts(6);
  const config = join(dir, "cluster.config.json");
  writeFileSync(config, JSON.stringify({
    name: "train-live",
    hospitals: ids.map((id, i) => ({
      id, region: "eu", address: `127.0.0.1:${ports[2 * i]}`, admin: `127.0.0.1:${ports[2 * i + 1]}`,
      actors: [
        { name: "accountant" }, ...(id === "h-a" ? [{ name: "aggregator" }] : []),
        { name: "shard-executor", model: `models/${id}` },
        { name: "trainer", model: `models/${id}`, coordinator: "h-a", ckks: { bundle: "keys/ckks/federation.bundle", share: `keys/ckks/${id}.share`, signing: `keys/ckks/${id}.signing` }, ...(id === "h-c" ? {} : { acceptInstall: true }) },
      ],
    })),
    privacy: { departments: { training: 50, general: 5 } },
  }));
  const running = [];
  try {
    for (const id of ids) running.push(await launchHospital({ config, hospital: id, logLevel: "error" }));
    await linksReady(running);
    const before = readFileSync(join(dir, "models", "h-c", "model.safetensors"));
    const out = await run(["train", "--live", "--install", "--config", config, "--rounds", "1", "--local-steps", "1", "--local-noise", "0", "--adaptive-clipping"]);
    // h-c refused the install (no acceptInstall): the command says so and exits 1; the others serve the model.
    assert.equal(out.code, 1, out.stderr);
    assert.match(out.stderr, /\[install\] h-c: not installed: INSTALL_REFUSED: .*acceptInstall/);
    for (const id of ["h-a", "h-b"]) {
      assert.match(out.stdout, new RegExp(`\\[install\\] ${id}: in service, 1 executor\\(s\\) reloaded \\(fed://${id}/user/node/shard-executor\\)`));
      assert.ok(existsSync(join(dir, "models", id, "previous", "model.safetensors")), `${id} kept the replaced model`);
      assert.match(readFileSync(join(dir, "models", id, "fedrouter_training.json"), "utf8"), /"version": 1/, `${id} serves model version 1`);
    }
    assert.deepEqual(readFileSync(join(dir, "models", "h-c", "model.safetensors")), before, "h-c's model is untouched");
    assert.match(out.stdout, /\[train\] job train-\S+ on h-a's Aggregator: h-a, h-b, h-c; .*C = 1 \(adaptive\)/);
    assert.match(out.stdout, /round 1 applied \(model version 1, 3 masked updates/);
    assert.match(out.stdout, /\[train\] done: 1 rounds applied; client-level ε 4\.377/);
    const written = join(dir, ".data", "training", "live", "fedrouter_training.json");
    assert.ok(existsSync(written), "the coordinator wrote the checkpoint");
    assert.match(readFileSync(written, "utf8"), /adaptive/, "--adaptive-clipping reached the job: its checkpoint says so (the same ε: the count's noise is paid by z_Δ)");

    // The same federation under CKKS: each trainer encrypts under its own key file, two decrypt.
    const encrypted = await run(["train", "--live", "--protection", "ckks", "--config", config, "--rounds", "1", "--local-steps", "1", "--local-noise", "0", "--out", ".data/training/ckks"]);
    assert.equal(encrypted.code, 0, encrypted.stderr);
    assert.match(encrypted.stdout, /CKKS-encrypted sums \(threshold decryption\)/);
    assert.match(encrypted.stdout, /round 1 applied \(model version 1, 3 encrypted updates/);
    assert.match(readFileSync(join(dir, ".data", "training", "ckks", "fedrouter_training.json"), "utf8"), /CKKS-decrypted sum/);
  } finally {
    for (const node of running.reverse()) await node.stop().catch(() => undefined);
  }
});

test("fedrouter train --live with no federation running: exit 1, says so", { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "fedrouter-train-live-off-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const config = join(dir, "cluster.config.json");
  writeFileSync(config, JSON.stringify({ name: "off", tls: { insecure: true }, hospitals: [{ id: "h-a", region: "t", address: "127.0.0.1:1", admin: "127.0.0.1:2" }] }));
  const out = await run(["train", "--live", "--config", config]);
  assert.equal(out.code, 1);
  assert.match(out.stderr, /the federation is not running/);
});
