/**
 * A coordinator that died mid-round (its process gone, its LMDB round store left on disk) is
 * recovered by the next one: a round whose noisy aggregate was stored is applied exactly once and
 * its participants settle "applied" (their reservations commit); a round still collecting is
 * abandoned and its participants settle "abandoned" (their reservations are released). A second
 * recovery changes nothing. The store's own crash test (a SIGKILLed child) is
 * test/federated/round-store-kill.test.ts; this is the coordinator's layer above it.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { ActorSystem, type NodeStore } from "../../../../runtime/index.ts";
import { TrainingCoordinator, type TrainingConfig, type TrainingParticipant } from "../../../../actors/aggregator/index.ts";
import { selectRound } from "../../../../actors/planner/index.ts";
import { openRoundStore, roundEvent } from "../../../../federated/index.ts";
import { tempDir } from "../../../fixtures/node-store.ts";

const CONFIG: TrainingConfig = {
  rounds: 1, quorum: 2, noiseMultiplier: 1, clipNorm: 1, delta: 1e-5, protection: "masking",
  serverOptimizer: { kind: "fedavg", learningRate: 1 }, phaseTimeoutMs: 10_000,
  local: { steps: 1, exampleClip: 1, noiseMultiplier: 0, learningRate: 1e-3, batchSize: 2 },
};

function recorder(id: string, settled: string[]): TrainingParticipant {
  const unused = () => Promise.reject(new Error("not used in recovery"));
  return {
    id, remaining: unused, prepare: unused, train: unused, plainUpdate: unused, advertise: unused, shareKeys: unused, maskInput: unused, unmask: unused,
    settle: async (roundId, outcome) => void settled.push(`${id}:${roundId}:${outcome}`),
  };
}

test("a restarted coordinator applies a stored aggregate once and abandons a round still collecting; each participant settles accordingly", { timeout: 60_000 }, async (t) => {
  const dir = join(tempDir(t, "fedrouter-recover-"), "lmdb");
  const initial = Float32Array.from([1, 2, 3, 4]);
  const cost = roundEvent(1, 1);

  // The first coordinator's life, cut short: round r-1 aggregated (not applied), round r-2 collecting.
  const first = await ActorSystem.start({ node: "coordinator", persistence: { path: dir }, logLevel: "error" });
  {
    const store = await openRoundStore(first.store as NodeStore, { initialWeights: initial });
    await store.plan({ roundId: "r-1", participants: ["h-a", "h-b"], quorum: 2, deadlineMs: Date.now() + 60_000, cost });
    await store.startCollecting("r-1");
    for (const id of ["h-a", "h-b"]) await store.recordSubmission("r-1", id);
    await store.markAggregated("r-1", Float32Array.from([0.5, 0.5, 0.5, 0.5]));
    await store.plan({ roundId: "r-2", participants: ["h-a", "h-c"], quorum: 2, deadlineMs: Date.now() + 60_000, cost });
    await store.startCollecting("r-2");
    await store.recordSubmission("r-2", "h-a");
  }
  await first.stop();

  const second = await ActorSystem.start({ node: "coordinator", persistence: { path: dir }, logLevel: "error" });
  try {
    const store = await openRoundStore(second.store as NodeStore, { initialWeights: initial });
    const settled: string[] = [];
    const coordinator = new TrainingCoordinator({ config: CONFIG, participants: ["h-a", "h-b", "h-c"].map((id) => recorder(id, settled)), store, select: async (r) => selectRound(r) });
    const recovered = await coordinator.recover();
    assert.deepEqual(Object.fromEntries(recovered.map((r) => [r.roundId, r.status])), { "r-1": "applied", "r-2": "abandoned" });
    assert.equal(store.model().version, 1, "r-1 applied once");
    assert.deepEqual([...store.model().weights], [1.5, 2.5, 3.5, 4.5], "w + η·aggregate with FedAvg, η = 1");
    assert.deepEqual(settled.sort(), ["h-a:r-1:applied", "h-a:r-2:abandoned", "h-b:r-1:applied", "h-c:r-2:abandoned"]);

    const again = await coordinator.recover();
    assert.equal(again.filter((r) => r.decision !== "none").length, 0, "nothing left to recover");
    assert.equal(store.model().version, 1, "never applied twice");
  } finally {
    await second.stop();
  }
});
