/**
 * DP-FedAvg rounds end to end in one process (issue 13): three hospitals, each with its own
 * Accountant on LMDB and its own synthetic notes, train a real GPT-2 (demo shape, last block)
 * with DP-SGD; the coordinator selects them, has each reserve the round's ε before anyone trains,
 * sums their updates under pairwise masking, adds σ = z·C noise and applies the server step once
 * per round in its LMDB round store. Checked: the ledgers' training charges equal the round
 * events, the model moves, the ε reported equals the privacy library's for q, z, rounds; a round
 * dearer than a hospital's training budget is refused before any hospital trains; a hospital
 * that drops out after training leaves the round applied with the others and is charged nothing.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { TrainingCoordinator, type RoundProgress, type TrainingConfig, type TrainingParticipant } from "../../../../actors/aggregator/index.ts";
import type { AccountantClient } from "../../../../actors/accountant/index.ts";
import type { HospitalParticipant } from "../../../../actors/shard-executor/index.ts";
import { selectRound } from "../../../../actors/planner/index.ts";
import { roundEvent, trainingEpsilon } from "../../../../federated/index.ts";
import { trainingFederation, TRAINING_HOSPITALS as HOSPITALS } from "../../../fixtures/training-federation.ts";

const DELTA = 1e-5;
const CONFIG: TrainingConfig = {
  rounds: 2, quorum: 2, noiseMultiplier: 1, clipNorm: 1, delta: DELTA, protection: "masking",
  serverOptimizer: { kind: "fedavg", learningRate: 1 }, phaseTimeoutMs: 60_000,
  local: { steps: 2, exampleClip: 1, noiseMultiplier: 0, learningRate: 1e-3, batchSize: 2 },
};

const federation = (t: { after(fn: () => void | Promise<void>): void }, trainingEpsilon: Record<string, number>) => trainingFederation(t, { trainingEpsilon, delta: DELTA });

const charges = async (ledger: AccountantClient) => {
  const history = await ledger.history("federated-training");
  assert.equal(history.type, "history");
  return history.type === "history" ? history.charges : [];
};

test("two masked rounds: each hospital reserves, then is charged the round's event once per round; the model moves; ε is the privacy library's for q, z, rounds", { timeout: 120_000 }, async (t) => {
  const fed = await federation(t, {});
  try {
    const progress: RoundProgress[] = [];
    const coordinator = new TrainingCoordinator({ config: CONFIG, participants: fed.participants, store: fed.store, select: async (r) => selectRound(r), onProgress: (e) => progress.push(e) });
    const outcome = await coordinator.run();
    assert.equal(outcome.applied, 2, JSON.stringify(progress.filter((e) => e.type === "round-abandoned")));
    assert.equal(outcome.version, 2);
    assert.equal(fed.store.modelHistory().length, 3, "versions 0, 1, 2: each round applied once");
    assert.ok(outcome.global.some((w, i) => w !== fed.baseFlat[i]), "the global model moved");
    assert.equal(outcome.epsilon, trainingEpsilon({ q: 1, z: 1, rounds: 2, delta: DELTA }).epsilon);
    const applied = progress.filter((e) => e.type === "round-applied");
    assert.deepEqual(applied.map((e) => e.type === "round-applied" && e.contributors), [3, 3]);
    for (const [id] of HOSPITALS) {
      const mine = await charges(fed.ledgers.get(id)!);
      assert.deepEqual(mine.map((c) => c.state), ["committed", "committed"], `${id}: one committed charge per round`);
      for (const c of mine) assert.deepEqual(c.actual ?? c.event, roundEvent(1, 1));
    }
  } finally {
    await fed.system.stop();
  }
});

test("a round dearer than a hospital's training budget is refused before any hospital trains, and nothing is reserved", { timeout: 120_000 }, async (t) => {
  const fed = await federation(t, { "hospital-c": 0.01 });
  try {
    const trained: string[] = [];
    const watched: TrainingParticipant[] = fed.participants.map((p) => Object.assign(Object.create(p) as TrainingParticipant, {
      id: p.id, remaining: () => p.remaining(), prepare: (o: Parameters<TrainingParticipant["prepare"]>[0]) => p.prepare(o),
      train: (s: Parameters<TrainingParticipant["train"]>[0]) => (trained.push(p.id), p.train(s)),
    }));
    const progress: RoundProgress[] = [];
    const coordinator = new TrainingCoordinator({ config: { ...CONFIG, quorum: 3 }, participants: watched, store: fed.store, select: async (r) => selectRound(r), onProgress: (e) => progress.push(e) });
    const outcome = await coordinator.run();
    assert.equal(outcome.applied, 0);
    assert.deepEqual(trained, [], "nobody trained");
    const refusal = progress.find((e) => e.type === "round-abandoned");
    assert.match(refusal?.type === "round-abandoned" ? refusal.reason : "", /needs 3 hospitals and 2 can take part; left out: hospital-c \(budget\)/);
    for (const [id] of HOSPITALS) assert.deepEqual(await charges(fed.ledgers.get(id)!), [], `${id}: nothing reserved`);
  } finally {
    await fed.system.stop();
  }
});

test("a hospital that drops out after training (its masked input never comes) leaves the round applied with the other two, and its reservation is released", { timeout: 120_000 }, async (t) => {
  const fed = await federation(t, {});
  try {
    const [a, b, c] = fed.participants as [HospitalParticipant, HospitalParticipant, HospitalParticipant];
    const dropping: TrainingParticipant = {
      id: c.id, remaining: () => c.remaining(), prepare: (o) => c.prepare(o), train: (s) => c.train(s), plainUpdate: (r) => c.plainUpdate(r),
      advertise: (r, p) => c.advertise(r, p), shareKeys: (r, d) => c.shareKeys(r, d), maskInput: async () => { throw new Error("link down"); },
      unmask: (r, q) => c.unmask(r, q), settle: (r, o) => c.settle(r, o),
    };
    const progress: RoundProgress[] = [];
    const coordinator = new TrainingCoordinator({ config: { ...CONFIG, rounds: 1 }, participants: [a, b, dropping], store: fed.store, select: async (r) => selectRound(r), onProgress: (e) => progress.push(e) });
    const outcome = await coordinator.run();
    assert.equal(outcome.applied, 1);
    const applied = progress.find((e) => e.type === "round-applied");
    assert.equal(applied?.type === "round-applied" ? applied.contributors : 0, 2);
    assert.deepEqual((await charges(fed.ledgers.get("hospital-a")!)).map((x) => x.state), ["committed"]);
    assert.deepEqual((await charges(fed.ledgers.get("hospital-c")!)).map((x) => x.state), ["released"], "the hospital whose update never left is charged nothing");
  } finally {
    await fed.system.stop();
  }
});
