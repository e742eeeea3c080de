/**
 * DP-FedAvg over the federation's transport: three hospital nodes launched in this process (each
 * its own actor system, LMDB and mTLS gRPC on loopback) run an Accountant and a trainer; h-a's
 * coordinator drives every trainer through TrainerClient — h-b's and h-c's over gRPC — with the
 * global model sent and the masked inputs fetched in 1 MiB chunks (the trainable part here, the
 * last block with the tied 50,257 × 64 embedding, is 3.3 M values: 13 chunks each way). Each
 * hospital's own ledger holds one committed charge; a peer that is not the coordinator is refused.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createDevPki, type NodeStore } from "../../../../runtime/index.ts";
import { AccountantClient, type AccountantMsg } from "../../../../actors/accountant/index.ts";
import { initModel, trainer, TrainerClient, TrainerFailed, TRAINER_CHUNK_WORDS, type TrainerMsg } from "../../../../actors/shard-executor/index.ts";
import { TrainingCoordinator, type TrainingConfig } from "../../../../actors/aggregator/index.ts";
import { selectRound } from "../../../../actors/planner/index.ts";
import { openRoundStore, roundEvent } from "../../../../federated/index.ts";
import { defineCluster, launchHospital, type RunningHospital } from "../../../../cluster/index.ts";
import { freePorts } from "../../../fixtures/free-port.ts";
import { linksReady } from "../../../fixtures/federation-links.ts";

const IDS = ["h-a", "h-b", "h-c"] as const;

test("a masked DP-FedAvg round over mTLS gRPC: chunked global model and masked inputs, each hospital charged once in its own ledger; a non-coordinator peer is refused", { timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "fedrouter-trainer-net-"));
  const running: RunningHospital[] = [];
  try {
    createDevPki(join(dir, "keys"), [...IDS]);
    await initModel({ out: join(dir, "models", "base"), layers: 2, dModel: 64, heads: 4, positions: 32, vocab: "gpt2", seed: 3 });
    const ports = await freePorts(6);
    const config = defineCluster({
      name: "trainer-net",
      hospitals: IDS.map((id, i) => ({
        id, region: "eu", address: `127.0.0.1:${ports[2 * i]}`, admin: `127.0.0.1:${ports[2 * i + 1]}`,
        actors: [{ name: "accountant" }, { name: "trainer", model: "models/base", coordinator: "h-a" }],
      })),
      privacy: { departments: { training: 50, general: 5 } },
    });
    for (const id of IDS) running.push(await launchHospital({ config, hospital: id, baseDir: dir, logLevel: "error" }));
    const [a, , c] = running as [RunningHospital, RunningHospital, RunningHospital];

    // The trainer part spans several chunks each way (the tied head is trained here).
    const trainerOf = (from: RunningHospital, id: string) => new TrainerClient(id, from.system.ref<TrainerMsg>(`fed://${id}/user/node/trainer`), 60_000, 120_000);
    await linksReady(running);

    // A peer that is not the coordinator gets FORBIDDEN from the trainer.
    await assert.rejects(trainerOf(c, "h-b").remaining(), (e: unknown) => e instanceof TrainerFailed && e.causeCode === "FORBIDDEN");

    // The round runs on trainers that also train the tied 50,257 × 64 embedding: 3.3 M values,
    // 13 chunks of the global model to each hospital and 13 of masked input back from each.
    const part = { kind: "last", blocks: 1, head: true } as const;
    for (const [i, id] of IDS.entries()) {
      await running[i]!.system.spawn(trainer, { modelDir: join(dir, "models", "base"), coordinator: "h-a", part, corpus: { kind: "synthetic", specialty: "cardiology", notes: 4, seed: i + 1 } }, { name: "trainer-wide" });
    }
    const participants = IDS.map((id) => new TrainerClient(id, a.system.ref<TrainerMsg>(`fed://${id}/user/trainer-wide`), 60_000, 120_000));
    const config1: TrainingConfig = {
      rounds: 1, quorum: 2, noiseMultiplier: 1, clipNorm: 1, delta: 1e-5, protection: "masking",
      serverOptimizer: { kind: "fedavg", learningRate: 1 }, phaseTimeoutMs: 120_000,
      local: { steps: 1, exampleClip: 1, noiseMultiplier: 0, learningRate: 1e-3, batchSize: 2 },
    };
    const { flattenTrainable, loadGpt2Stage, trainableSpec } = await import("../../../../actors/shard-executor/index.ts");
    const model = await loadGpt2Stage(join(dir, "models", "base"));
    const spec = trainableSpec(model.config, part);
    const base = flattenTrainable(spec, model.tensors);
    assert.equal(Math.ceil(base.length / TRAINER_CHUNK_WORDS), 13, "the vectors travel in 13 chunks");
    const store = await openRoundStore(a.system.store as NodeStore, { initialWeights: base });
    const progress: string[] = [];
    const outcome = await new TrainingCoordinator({ config: config1, participants, store, select: async (r) => selectRound(r), onProgress: (e) => void progress.push(JSON.stringify(e)) }).run();
    assert.ok(progress.some((e) => e.includes('"phase":"masked inputs in","remaining":["h-a","h-b","h-c"]')), `all three masked inputs arrived:\n${progress.join("\n")}`);
    assert.equal(outcome.applied, 1);
    assert.ok(outcome.global.some((w, i) => w !== base[i]), "the global model moved");

    for (const [i, id] of IDS.entries()) {
      const ledger = new AccountantClient(running[i]!.system.ref<AccountantMsg>(`fed://${id}/user/node/accountant`), 15_000);
      const history = await ledger.history("federated-training");
      assert.equal(history.type, "history");
      if (history.type === "history") {
        assert.deepEqual(history.charges.map((ch) => ch.state), ["committed"], `${id}: one committed charge`);
        assert.deepEqual(history.charges[0]!.actual ?? history.charges[0]!.event, roundEvent(1, 1));
      }
    }
  } finally {
    for (const node of running.reverse()) await node.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
});
