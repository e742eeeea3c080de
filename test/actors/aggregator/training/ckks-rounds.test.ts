/**
 * DP-FedAvg rounds under CKKS (protection "ckks"): the coordinator adds ciphertexts holding only
 * the federation key's public bundle, and t hospitals' key shares decrypt the sum. First with
 * in-memory participants whose updates are known (real CKKS, real key shares), so the applied
 * step can be checked against the exact mean; then with three real HospitalParticipants over
 * real Accountants.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { ActorSystem, type NodeStore } from "../../../../runtime/index.ts";
import { TrainingCoordinator, TrainingRefused, type TrainingConfig, type TrainingParticipant } from "../../../../actors/aggregator/index.ts";
import { selectRound } from "../../../../actors/planner/index.ts";
import { openRoundStore, roundEvent } from "../../../../federated/index.ts";
import { ckks } from "../../../../secagg/index.ts";
import { tempDir } from "../../../fixtures/node-store.ts";
import { trainingFederation } from "../../../fixtures/training-federation.ts";

const DELTA = 1e-5;

function config(over: Partial<TrainingConfig> = {}): TrainingConfig {
  return {
    rounds: 1, quorum: 2, noiseMultiplier: 1, clipNorm: 1, delta: DELTA, protection: "ckks",
    serverOptimizer: { kind: "fedavg", learningRate: 1 }, phaseTimeoutMs: 60_000,
    local: { steps: 1, exampleClip: 1, noiseMultiplier: 0, learningRate: 1e-3, batchSize: 2 }, ...over,
  };
}

/** A participant with a fixed, known update: real encryption and a real key share, no training. */
function known(id: string, update: Float32Array, share: ckks.KeyShare | undefined, log: string[], failDecrypt = false): TrainingParticipant {
  const unused = () => Promise.reject(new Error("not used under ckks"));
  let own: string | undefined;
  return {
    id, ...(share ? { keyIndex: share.index } : {}),
    remaining: async () => 1e9,
    prepare: async (offer) => ({ type: "accepted", charged: offer.cost }),
    train: async () => ({ steps: 1 }),
    plainUpdate: unused, advertise: unused, shareKeys: unused, maskInput: unused, unmask: unused,
    encrypt: async (_round, bundle) => {
      const encrypted = await ckks.encryptUpdate(bundle, update);
      own = ckks.digestOf(encrypted);
      return encrypted;
    },
    decryptionShare: async (_round, decryptors, aggregate, contributions) => {
      if (failDecrypt) throw new Error(`${id} is offline`);
      log.push(id);
      // As a hospital does: the aggregate must be the sum of what the coordinator added, its own among them.
      await ckks.verifyAggregate(bundleOf.get(share!.keyId)!, aggregate, { contributions, own: own! });
      return ckks.decryptionShare(bundleOf.get(share!.keyId)!, share!, decryptors, aggregate);
    },
    settle: async (_round, outcome) => void log.push(`${id}:${outcome}`),
  };
}
const bundleOf = new Map<string, ckks.PublicBundle>();

async function roundStore(t: { after(fn: () => void): void }, weights: Float32Array) {
  const system = await ActorSystem.start({ node: "coordinator", persistence: { path: join(tempDir(t, "fedrouter-ckks-round-"), "lmdb") }, logLevel: "error" });
  t.after(() => void system.stop());
  return openRoundStore(system.store as NodeStore, { initialWeights: weights });
}

test("the step applied is the mean of the updates the coordinator never saw plus σ = z·C noise: CKKS sum, decrypted by 2 of 3 shares", { timeout: 120_000 }, async (t) => {
  const d = 5_000;
  const { bundle, shares } = await ckks.dealThresholdKeys({ parties: 3, threshold: 2 });
  bundleOf.set(bundle.keyId, bundle);
  const updates = [0, 1, 2].map((k) => Float32Array.from({ length: d }, (_, i) => Math.sin(i * (k + 1)) * 0.01));
  const log: string[] = [];
  const participants = ["hospital-a", "hospital-b", "hospital-c"].map((id, k) => known(id, updates[k]!, shares[k], log));
  const initial = new Float32Array(d);
  // z = 0.01, C = 1: the noise on the mean is N(0, (0.01/3)²) per coordinate, far above CKKS's 1.5·10⁻⁵ error.
  const z = 0.01;
  const progress: string[] = [];
  const coordinator = new TrainingCoordinator({ config: config({ noiseMultiplier: z }), participants, store: await roundStore(t, initial), select: async (r) => selectRound(r), ckks: { bundle }, onProgress: (e) => void progress.push(JSON.stringify(e)) });
  const outcome = await coordinator.run();
  assert.equal(outcome.applied, 1, progress.join("\n"));
  const errors = Array.from({ length: d }, (_, i) => outcome.global[i]! - (updates[0]![i]! + updates[1]![i]! + updates[2]![i]!) / 3);
  const mean = errors.reduce((a, b) => a + b, 0) / d;
  const std = Math.sqrt(errors.reduce((a, b) => a + (b - mean) ** 2, 0) / (d - 1));
  const sigma = z / 3;
  assert.ok(Math.abs(mean) < 4 * sigma / Math.sqrt(d), `the applied step is centred on the exact mean of the updates (bias ${mean})`);
  assert.ok(Math.abs(std / sigma - 1) < 0.06, `what is left is the central noise σ = z·C over 3 clients (std ${std}, expected ${sigma})`);
  assert.deepEqual(log.filter((e) => !e.includes(":")), ["hospital-a", "hospital-b"], "two decryption shares: the threshold, not more");
  assert.deepEqual(log.filter((e) => e.includes(":")).sort(), ["hospital-a:applied", "hospital-b:applied", "hospital-c:applied"]);
});

test("a chosen decryptor that fails leaves the sum encrypted: the round is abandoned and every reservation settled as abandoned", { timeout: 120_000 }, async (t) => {
  const { bundle, shares } = await ckks.dealThresholdKeys({ parties: 3, threshold: 2 });
  bundleOf.set(bundle.keyId, bundle);
  const log: string[] = [];
  const update = Float32Array.from({ length: 100 }, () => 0.01);
  const participants = [
    known("hospital-a", update, shares[0], log), known("hospital-b", update, shares[1], log, true), known("hospital-c", update, shares[2], log),
  ];
  const coordinator = new TrainingCoordinator({ config: config(), participants, store: await roundStore(t, new Float32Array(100)), select: async (r) => selectRound(r), ckks: { bundle } });
  const outcome = await coordinator.run();
  assert.equal(outcome.applied, 0);
  assert.equal(outcome.abandoned, 1);
  assert.deepEqual(log.filter((e) => e.includes(":")).sort(), ["hospital-a:abandoned", "hospital-b:abandoned", "hospital-c:abandoned"]);
});

test("ckks without the bundle, with fewer key holders than t, or with a quorum below t is refused before any round", async () => {
  const { bundle, shares } = await ckks.dealThresholdKeys({ parties: 3, threshold: 3 });
  const log: string[] = [];
  const u = new Float32Array(10);
  const store = {} as never;
  const all = [known("a", u, shares[0], log), known("b", u, shares[1], log), known("c", u, shares[2], log)];
  const refused = (o: () => unknown, pattern: RegExp) => assert.throws(o, (e: unknown) => e instanceof TrainingRefused && pattern.test(e.message));
  refused(() => new TrainingCoordinator({ config: config({ quorum: 3 }), participants: all, store, select: async (r) => selectRound(r) }), /needs the federation key's public bundle/);
  refused(() => new TrainingCoordinator({ config: config({ quorum: 3 }), participants: [all[0]!, all[1]!, known("c", u, undefined, log)], store, select: async (r) => selectRound(r), ckks: { bundle } }), /needs 3 hospitals with key shares/);
  refused(() => new TrainingCoordinator({ config: config({ quorum: 2 }), participants: all, store, select: async (r) => selectRound(r), ckks: { bundle } }), /quorum 2 is below the CKKS threshold 3/);
});

test("three hospitals train, encrypt (in a piscina pool) and decrypt a round under CKKS over their own Accountants: each charged once, the model moved", { timeout: 180_000 }, async (t) => {
  const { bundle, shares } = await ckks.dealThresholdKeys({ parties: 3, threshold: 2 });
  // Encryption runs in a piscina pool (node-seal in worker threads): count what it encrypts.
  const pool = new ckks.CkksEncryptionPool({ threads: 1 });
  t.after(() => pool.close());
  let pooled = 0;
  const encrypt = pool.encrypt.bind(pool);
  pool.encrypt = (b, u) => (pooled++, encrypt(b, u));
  const { participants, ledgers, store, baseFlat } = await trainingFederation(t, { delta: DELTA, extra: (k) => ({ keyShare: shares[k]!, encryptionPool: pool }) });
  const outcome = await new TrainingCoordinator({ config: config(), participants, store, select: async (r) => selectRound(r), ckks: { bundle } }).run();
  assert.equal(outcome.applied, 1);
  assert.equal(pooled, 3, "each hospital's update was encrypted in the pool");
  assert.ok(outcome.global.some((w, i) => w !== baseFlat[i]), "the global model moved");
  for (const [id, ledger] of ledgers) {
    const history = await ledger.history("federated-training");
    assert.equal(history.type, "history");
    if (history.type === "history") {
      assert.deepEqual(history.charges.map((c) => c.state), ["committed"], `${id}: charged once`);
      assert.deepEqual(history.charges[0]!.actual ?? history.charges[0]!.event, roundEvent(1, 1));
    }
  }
});
