/**
 * `fedrouter train` as a library (cluster/training.ts): three hospitals of a real cluster config,
 * each with its own LMDB ledger, pretrain publicly, run DP-FedAvg rounds under masking, and get
 * the trained model written where their shard-executors serve it, with its privacy metadata; the
 * ledgers hold one committed charge per round; the loss curve is a real PNG. Tiny model (2 blocks,
 * d_model 32, 32 positions) so it runs in seconds.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PNG } from "pngjs";
import { ActorSystem } from "../../runtime/index.ts";
import { accountant, AccountantClient, type AccountantOptions } from "../../actors/accountant/index.ts";
import { InvalidTrainingOption, loadGpt2Stage } from "../../actors/shard-executor/index.ts";
import { runTrainCommand } from "../../bin/train/train-command.ts";
import { ACTOR_ARGS, FederatedTrainingFailed, parseCluster, renderLossPlot, trainFederation, writeLossPlot, type ClusterConfig } from "../../cluster/index.ts";
import { trainingEpsilon } from "../../federated/index.ts";
import { tempDir } from "../fixtures/node-store.ts";

const SHAPE = { layers: 2, dModel: 32, heads: 2, positions: 32 };
const ROOT = fileURLToPath(new URL("../../", import.meta.url));

function cluster(dir: string, hospitals: readonly string[]): ClusterConfig {
  return parseCluster({
    name: "train-test",
    tls: { insecure: true },
    hospitals: hospitals.map((id, i) => ({
      id, region: "test", address: `127.0.0.1:${17_100 + i}`, admin: `127.0.0.1:${17_200 + i}`,
      actors: [{ name: "accountant" }, { name: "shard-executor", model: `models/${id}` }],
    })),
    privacy: { delta: 1e-5, departments: { training: 50, general: 5 } },
  }, join(dir, "cluster.config.json"));
}

test("three hospitals pretrain publicly, run two masked DP-FedAvg rounds charged to their own ledgers, and each gets the trained model with its ε", { timeout: 300_000 }, async (t) => {
  const dir = tempDir(t, "fedrouter-train-");
  const config = cluster(dir, ["hospital-a", "hospital-b", "hospital-c"]);
  const lines: string[] = [];
  const report = await trainFederation({
    cluster: config, print: (line) => lines.push(line), shape: SHAPE, pretrainSteps: 3, rounds: 2, localSteps: 1, notes: 12, plot: join(dir, "loss.png"),
  });
  assert.equal(report.applied, 2, lines.join("\n"));
  assert.equal(report.epsilon, trainingEpsilon({ q: 1, z: 1, rounds: 2, delta: 1e-5 }).epsilon, "client-level ε is the privacy library's for q = 1, z = 1, two rounds");
  assert.ok(report.chargedEpsilon > 0 && report.chargedEpsilon <= report.epsilon, "the per-note charge is the tighter of the two");
  assert.equal(report.pretrainLosses.length, 3);
  assert.equal(report.evalLosses.length, 3, "before round 1, then after each round");
  assert.ok(lines.some((l) => /round 2 applied .* client-level ε so far/.test(l)), "progress per round with ε so far");

  const pretrained = await loadGpt2Stage(join(dir, ".data/training/pretrained"));
  for (const id of ["hospital-a", "hospital-b", "hospital-c"]) {
    const modelDir = join(dir, "models", id);
    const meta = JSON.parse(readFileSync(join(modelDir, "fedrouter_training.json"), "utf8")) as Record<string, unknown>;
    assert.equal(meta.epsilon, report.epsilon);
    assert.equal(meta.delta, 1e-5);
    assert.equal(meta.noiseMultiplier, 1);
    assert.equal(meta.rounds, 2);
    assert.equal(meta.clipping, "fixed");
    const trained = await loadGpt2Stage(modelDir);
    assert.deepEqual(trained.tensors.get("wte.weight")!.data, pretrained.tensors.get("wte.weight")!.data, "the embedding stays as pretrained");
    assert.notDeepEqual(trained.tensors.get("h.1.mlp.c_fc.weight")!.data, pretrained.tensors.get("h.1.mlp.c_fc.weight")!.data, "the last block moved");
  }

  // Each hospital's own ledger (its LMDB in .data/<id>) holds one committed charge per round.
  for (const id of ["hospital-a", "hospital-b", "hospital-c"]) {
    const system = await ActorSystem.start({ node: id, persistence: { path: join(dir, ".data", id) }, logLevel: "error" });
    try {
      const hospital = config.hospitals.find((h) => h.id === id)!;
      const ref = await system.spawn(accountant, ACTOR_ARGS.accountant!(config, hospital.actors[0]!, hospital) as AccountantOptions, { name: "accountant" });
      const history = await new AccountantClient(ref, 10_000).history("federated-training");
      assert.equal(history.type, "history");
      if (history.type === "history") assert.deepEqual(history.charges.map((c) => c.state), ["committed", "committed"], `${id}: one committed charge per round`);
    } finally {
      await system.stop();
    }
  }

  const png = PNG.sync.read(readFileSync(join(dir, "loss.png")));
  assert.deepEqual([png.width, png.height], [720, 360]);
});

test("--protection ckks: the same rounds with the sum encrypted under a dealt federation key, decrypted by a majority of hospitals", { timeout: 300_000 }, async (t) => {
  const dir = tempDir(t, "fedrouter-train-ckks-");
  const lines: string[] = [];
  const report = await trainFederation({ cluster: cluster(dir, ["hospital-a", "hospital-b", "hospital-c"]), print: (line) => lines.push(line), shape: SHAPE, pretrainSteps: 1, rounds: 1, localSteps: 1, notes: 8, protection: "ckks" });
  assert.equal(report.applied, 1, lines.join("\n"));
  assert.ok(lines.some((l) => /CKKS federation key dealt: 3 shares, 2 decrypt/.test(l)));
  const meta = JSON.parse(readFileSync(join(dir, "models", "hospital-b", "fedrouter_training.json"), "utf8")) as Record<string, unknown>;
  assert.match(String(meta.algorithm), /CKKS-decrypted sum/);
  assert.equal(meta.epsilon, trainingEpsilon({ q: 1, z: 1, rounds: 1, delta: 1e-5 }).epsilon);
});

test("--adaptive-clipping: C moves each round from the noisy count, the rounds cost the same ε, and the checkpoint names the clip schedule", { timeout: 300_000 }, async (t) => {
  const dir = tempDir(t, "fedrouter-train-adaptive-");
  const lines: string[] = [];
  const report = await trainFederation({ cluster: cluster(dir, ["hospital-a", "hospital-b", "hospital-c"]), print: (line) => lines.push(line), shape: SHAPE, pretrainSteps: 1, rounds: 2, localSteps: 1, notes: 8, adaptiveClipping: true });
  assert.equal(report.applied, 2, lines.join("\n"));
  assert.ok(lines.some((l) => /adaptive: toward the median update norm, count noise σ_b = 1\)/.test(l)), "σ_b = max(m/20, z) = z for 3 hospitals");
  assert.ok(lines.some((l) => /round 1 applied .*C = 1 → [0-9.e-]+ \(b̃ = /.test(l)), lines.join("\n"));
  assert.equal(report.clipSchedule.length, 2);
  assert.equal(report.clipSchedule[0], 1);
  assert.notEqual(report.clipSchedule[1], 1, "C moved after round 1");
  assert.equal(report.epsilon, trainingEpsilon({ q: 1, z: 1, rounds: 2, delta: 1e-5 }).epsilon, "the same ε as with a fixed C");
  const meta = JSON.parse(readFileSync(join(dir, "models", "hospital-a", "fedrouter_training.json"), "utf8")) as Record<string, unknown>;
  assert.equal(meta.clipping, "adaptive");
  assert.deepEqual(meta.clipSchedule, report.clipSchedule);
  assert.equal(meta.finalClipNorm, report.finalClipNorm);
  assert.deepEqual(meta.adaptiveClipping, {
    targetQuantile: 0.5, clipLearningRate: 0.2, countNoiseStd: 1, updateNoiseMultiplier: 2 / Math.sqrt(3), reference: "Andrew et al. 2021, arXiv:1905.03871",
  });
});

test("fewer than two hospitals with a ledger and a model: a typed refusal, nothing trained", { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t, "fedrouter-train-one-");
  await assert.rejects(trainFederation({ cluster: cluster(dir, ["hospital-a"]), shape: SHAPE, pretrainSteps: 1 }), (e: unknown) => e instanceof FederatedTrainingFailed && e.code === "TRAINING_FAILED" && /at least 2 hospitals/.test(e.message));
});

test("a --plot that cannot be written is refused before anything is trained or charged (it failed after the rounds, uncaught); without --live, --out and the other live options are refused, not ignored", { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t, "fedrouter-train-plot-");
  writeFileSync(join(dir, "a-file"), "x");
  const config = cluster(dir, ["hospital-a", "hospital-b"]);
  for (const [plot, why] of [[join(dir, "a-file", "loss.png"), /a-file is not a directory/], [dir, /is a directory; give a \.png file/]] as const) {
    await assert.rejects(trainFederation({ cluster: config, shape: SHAPE, pretrainSteps: 1, plot }), (e: unknown) =>
      e instanceof InvalidTrainingOption && e.field === "plot" && why.test(e.message));
  }
  assert.equal(existsSync(join(dir, ".data")), false, "nothing was trained: no work directory, no ledger");

  const errors: string[] = [];
  const io = { out: () => undefined, err: (line: string) => errors.push(line) };
  const base = { config: join(ROOT, "cluster.config.ts"), pretrainSteps: 1, rounds: 1, localSteps: 1, noiseMultiplier: 1, clip: 1, localNoise: 1, serverLr: 0.001, protection: "masking" as const, notes: 1, plot: join(dir, "p.png") };
  assert.equal(await runTrainCommand({ ...base, liveOnlyGiven: ["out", "ckksBundle"] }, io), 2);
  assert.match(errors[0]!, /^fedrouter train: --out, --ckks-bundle need --live \(without --live, the trained model is written where npm start serves it/);
  assert.equal(await runTrainCommand({ ...base, install: true }, io), 2);
  assert.match(errors[1]!, /^fedrouter train: --install needs --live/);
  // The CLI names what was typed (commander's option sources), not options left at their defaults.
  const cli = spawnSync(process.execPath, ["--import", "tsx", "bin/fedrouter.ts", "train", "--out", join(dir, "out"), "--config", join(ROOT, "cluster.config.ts")], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
  assert.equal(cli.status, 2, cli.stderr);
  assert.match(cli.stderr, /^fedrouter train: --out needs --live /);
});

test("the loss plot draws each series in its colour inside the axes, and an empty plot is a white image", () => {
  const png = PNG.sync.read(renderLossPlot({ series: [{ points: [[0, 10], [10, 2]], rgb: [214, 39, 40] }], marker: 5, width: 200, height: 100 }));
  let red = 0;
  for (let i = 0; i < png.data.length; i += 4) if (png.data[i] === 214 && png.data[i + 1] === 39 && png.data[i + 2] === 40) red++;
  assert.ok(red > 100, `the line is drawn (${red} pixels)`);
  // The line starts at the top left of the plotting area (x0, y max) and ends at the bottom right.
  const at = (x: number, y: number) => [...png.data.subarray((y * 200 + x) * 4, (y * 200 + x) * 4 + 3)];
  assert.deepEqual(at(40, 42), [214, 39, 40]);
  const blank = PNG.sync.read(renderLossPlot({ series: [] }));
  assert.ok(blank.data.every((v) => v === 255));
});

test("writeLossPlot makes the folder it writes into", (t) => {
  const file = join(tempDir(t, "fedrouter-plot-"), "a", "b", "loss.png");
  writeLossPlot(file, { series: [{ points: [[1, 1], [2, 0.5]], rgb: [0, 0, 0] }] });
  assert.deepEqual([PNG.sync.read(readFileSync(file)).width], [720]);
});
