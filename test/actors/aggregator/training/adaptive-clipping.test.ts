/**
 * Adaptive clipping as a TrainingCoordinator option (issue 13; Andrew et al. 2021): three real
 * hospitals over their own Accountants append their clip indicator bᵢ − ½ to the vector they
 * protect; the coordinator sees only the sum, noises the update sum with σ = z_Δ·C and the count
 * with σ_b, and moves C. Checked: C shrinks when every update fits far under it and grows when
 * none does, by exactly exp(−η_C(b̃ − γ)) for the b̃ it reports; σ is z_Δ·C on the noise grid
 * (centralNoisePlan), not z·C; every ledger is charged roundEvent(q, z) per round, as without
 * adaptive clipping; the masked vectors the coordinator receives carry no readable indicator and
 * the train reports say nothing of clipping; the next C survives a restart (it is persisted with
 * the model); plain (robust median) and CKKS sums carry the indicator too; σ_b ≤ z/2 is refused.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { TrainingCoordinator, TrainingRefused, type RoundProgress, type TrainingConfig, type TrainingParticipant } from "../../../../actors/aggregator/index.ts";
import type { AccountantClient } from "../../../../actors/accountant/index.ts";
import { selectRound } from "../../../../actors/planner/index.ts";
import { centralNoisePlan, openRoundStore, roundEvent, updateNoiseMultiplier, type RoundStore } from "../../../../federated/index.ts";
import { ckks, resolveMaskingParams, type MaskedInput } from "../../../../secagg/index.ts";
import type { NodeStore } from "../../../../runtime/index.ts";
import { trainingFederation } from "../../../fixtures/training-federation.ts";

const DELTA = 1e-5;
// z = 0.5 and σ_b = 0.3 > z/2: with m = 3 a wrong-way step of C needs the count's noise beyond 5σ_b.
const Z = 0.5;
const SIGMA_B = 0.3;
const ADAPTIVE = { targetQuantile: 0.5, clipLearningRate: 0.2, countNoiseStd: SIGMA_B } as const;

function config(over: Partial<TrainingConfig> = {}): TrainingConfig {
  return {
    rounds: 2, quorum: 2, noiseMultiplier: Z, clipNorm: 1, delta: DELTA, protection: "masking", adaptiveClipping: ADAPTIVE,
    serverOptimizer: { kind: "fedavg", learningRate: 1 }, phaseTimeoutMs: 60_000,
    local: { steps: 2, exampleClip: 1, noiseMultiplier: 0, learningRate: 1e-3, batchSize: 2 }, ...over,
  };
}

const applied = (progress: readonly RoundProgress[]) => progress.flatMap((e) => (e.type === "round-applied" ? [e] : []));

async function charges(ledger: AccountantClient) {
  const history = await ledger.history("federated-training");
  assert.equal(history.type, "history");
  return history.type === "history" ? history.charges : [];
}

/** Each round's C moved by exactly exp(−η_C(b̃ − γ)), C_{r+1} is the next round's C, and σ is z_Δ·C on the grid. */
function checkSchedule(rounds: ReturnType<typeof applied>, dimension: number): void {
  const zDelta = updateNoiseMultiplier(Z, SIGMA_B);
  for (const [k, e] of rounds.entries()) {
    assert.ok(e.nextClipNorm !== undefined && e.noisyFraction !== undefined, "adaptive rounds report the next C and b̃");
    assert.ok(Math.abs(e.nextClipNorm / (e.clipNorm * Math.exp(-ADAPTIVE.clipLearningRate * (e.noisyFraction - ADAPTIVE.targetQuantile))) - 1) < 1e-12, "C ← C·exp(−η_C(b̃ − γ))");
    if (k + 1 < rounds.length) assert.equal(rounds[k + 1]!.clipNorm, e.nextClipNorm, "the next round trains under the moved C");
    assert.equal(e.sigma, centralNoisePlan(dimension, { clipNorm: e.clipNorm, noiseMultiplier: zDelta }).sigma, "σ = z_Δ·C (snapped up to the noise grid)");
    assert.ok(e.sigma > centralNoisePlan(dimension, { clipNorm: e.clipNorm, noiseMultiplier: Z }).sigma, "…which is more than z·C");
  }
}

test("every update far under C: C shrinks round after round, σ = z_Δ·C, each ledger charged roundEvent(q, z) per round, and the coordinator never sees one hospital's indicator", { timeout: 180_000 }, async (t) => {
  const fed = await trainingFederation(t, { delta: DELTA });
  // What the coordinator receives from each hospital: its masked vectors and its train reports.
  const seen: { masked: MaskedInput[]; reports: object[]; fractionalBits: number[] } = { masked: [], reports: [], fractionalBits: [] };
  const watched: TrainingParticipant[] = fed.participants.map((p) => ({
    id: p.id, remaining: () => p.remaining(), prepare: (o) => p.prepare(o), plainUpdate: (r) => p.plainUpdate(r),
    train: async (s) => {
      const report = await p.train(s);
      seen.reports.push(report);
      return report;
    },
    advertise: (r, q) => (seen.fractionalBits.push(resolveMaskingParams(q).fractionalBits), p.advertise(r, q)), shareKeys: (r, d) => p.shareKeys(r, d), unmask: (r, q) => p.unmask(r, q), settle: (r, o) => p.settle(r, o),
    maskInput: async (r, inbox) => {
      const masked = await p.maskInput(r, inbox);
      seen.masked.push({ ...masked, masked: masked.masked.slice() });
      return masked;
    },
  }));
  const progress: RoundProgress[] = [];
  const coordinator = new TrainingCoordinator({ config: config({ clipNorm: 100 }), participants: watched, store: fed.store, select: async (r) => selectRound(r), onProgress: (e) => progress.push(e) });
  const outcome = await coordinator.run();
  assert.equal(outcome.applied, 2, JSON.stringify(progress.filter((e) => e.type === "round-abandoned")));

  const rounds = applied(progress);
  const d = fed.baseFlat.length;
  checkSchedule(rounds, d);
  assert.equal(rounds[0]!.clipNorm, 100);
  for (const e of rounds) {
    assert.ok(e.nextClipNorm! < e.clipNorm, `every update fits under C = ${e.clipNorm} (b̃ = ${e.noisyFraction}): C shrinks`);
    assert.ok(Math.abs(e.noisyFraction! - 1) < 5 * SIGMA_B / 3, `b̃ ≈ 1 (${e.noisyFraction})`);
  }
  assert.deepEqual(outcome.clipSchedule, rounds.map((e) => e.clipNorm));
  assert.equal(outcome.clipNorm, rounds[1]!.nextClipNorm, "the outcome names where C moved to");
  assert.equal(fed.store.model().clipNorm, rounds[1]!.nextClipNorm, "…and the model store holds it");
  assert.deepEqual(fed.store.rounds().map((r) => r.clipNorm), outcome.clipSchedule, "each round record names its C");

  // The same charge as with a fixed C: the update's and the count's noise together are one Gaussian of multiplier z.
  for (const [id, ledger] of fed.ledgers) {
    const mine = await charges(ledger);
    assert.deepEqual(mine.map((c) => c.state), ["committed", "committed"], `${id}: one committed charge per round`);
    for (const c of mine) assert.deepEqual(c.actual ?? c.event, roundEvent(1, Z));
  }

  // Only the sum: each masked vector has the extra coordinate, but none of them holds a quantised ±½ there.
  assert.equal(seen.masked.length, 6);
  assert.ok(seen.fractionalBits.every((f) => f >= 1), "±½ is exact on the masking grid");
  for (const [k, m] of seen.masked.entries()) {
    assert.equal(m.masked.length, d + 1, "the indicator travels as one more coordinate of the masked vector");
    const last = m.masked[d]! | 0;
    assert.notEqual(Math.abs(last), 2 ** (seen.fractionalBits[k]! - 1), `the indicator coordinate is masked, not ±½ quantised (${last})`);
  }
  assert.deepEqual(seen.reports.map((r) => Object.keys(r)), Array(6).fill(["steps"]), "a train report is a count, never the clipped bit");
});

test("every update far above C: C grows; and a coordinator on the reopened store resumes with the persisted C", { timeout: 180_000 }, async (t) => {
  const fed = await trainingFederation(t, { delta: DELTA });
  const progress: RoundProgress[] = [];
  const outcome = await new TrainingCoordinator({ config: config({ clipNorm: 1e-4 }), participants: fed.participants, store: fed.store, select: async (r) => selectRound(r), onProgress: (e) => progress.push(e) }).run();
  assert.equal(outcome.applied, 2, JSON.stringify(progress.filter((e) => e.type === "round-abandoned")));
  const rounds = applied(progress);
  checkSchedule(rounds, fed.baseFlat.length);
  for (const e of rounds) assert.ok(e.nextClipNorm! > e.clipNorm, `no update fits under C = ${e.clipNorm} (b̃ = ${e.noisyFraction}): C grows`);

  // A crash between aggregate and apply: the next C is on disk with the aggregate; recovery applies it with the model.
  const store = fed.store;
  const ids = fed.participants.map((p) => p.id);
  await store.plan({ roundId: "crashed-1", participants: ids, quorum: 2, deadlineMs: Date.now() + 60_000, cost: roundEvent(1, Z), clipNorm: outcome.clipNorm });
  await store.startCollecting("crashed-1");
  for (const id of ids) await store.recordSubmission("crashed-1", id);
  await store.markAggregated("crashed-1", new Float32Array(fed.baseFlat.length), Date.now(), { nextClipNorm: 0.0123 });
  const reopened: RoundStore = await openRoundStore(fed.system.store as NodeStore, { initialWeights: fed.baseFlat });
  const after: RoundProgress[] = [];
  const next = new TrainingCoordinator({ config: config({ clipNorm: 1e-4, rounds: 1 }), participants: fed.participants, store: reopened, select: async (r) => selectRound(r), onProgress: (e) => after.push(e) });
  const recovered = await next.recover();
  assert.deepEqual(recovered.map((r) => [r.roundId, r.status]), [["crashed-1", "applied"]]);
  assert.equal(reopened.model().clipNorm, 0.0123);
  assert.equal((await next.run()).applied, 4, "the store's two rounds, the recovered one, and this one");
  assert.equal(applied(after).length, 1);
  assert.equal(applied(after)[0]!.clipNorm, 0.0123, "the recovered coordinator trains under the persisted C, not the configured first C");
});

test("protection \"none\" with a robust median: each plain update carries its indicator last, summed apart from the median; C moves", { timeout: 180_000 }, async (t) => {
  const fed = await trainingFederation(t, { delta: DELTA });
  const indicators: number[] = [];
  const watched: TrainingParticipant[] = fed.participants.map((p) => Object.assign(Object.create(p) as TrainingParticipant, {
    id: p.id, remaining: () => p.remaining(), prepare: (o: Parameters<TrainingParticipant["prepare"]>[0]) => p.prepare(o), train: (s: Parameters<TrainingParticipant["train"]>[0]) => p.train(s),
    settle: (r: string, o: "applied" | "abandoned") => p.settle(r, o),
    plainUpdate: async (r: string) => {
      const u = await p.plainUpdate(r);
      indicators.push(u[fed.baseFlat.length]!);
      return u;
    },
  }));
  const progress: RoundProgress[] = [];
  const outcome = await new TrainingCoordinator({
    config: config({ rounds: 1, clipNorm: 100, protection: "none", robust: { kind: "median" } }), participants: watched, store: fed.store, select: async (r) => selectRound(r), onProgress: (e) => progress.push(e),
  }).run();
  assert.equal(outcome.applied, 1, JSON.stringify(progress.filter((e) => e.type === "round-abandoned")));
  assert.deepEqual(indicators, [0.5, 0.5, 0.5], "each update fit under C = 100: bᵢ − ½ = +½");
  const [e] = applied(progress);
  checkSchedule([e!], fed.baseFlat.length);
  assert.ok(e!.nextClipNorm! < 100);
});

test("CKKS: the indicator is encrypted with the update and decrypted only in the sum; C shrinks for updates far under it", { timeout: 180_000 }, async (t) => {
  const { bundle, shares } = await ckks.dealThresholdKeys({ parties: 3, threshold: 2 });
  const fed = await trainingFederation(t, { delta: DELTA, extra: (k) => ({ keyShare: shares[k]! }) });
  const progress: RoundProgress[] = [];
  const clip = bundle.parameters.clip;
  const outcome = await new TrainingCoordinator({
    config: config({ rounds: 1, clipNorm: clip, protection: "ckks" }), participants: fed.participants, store: fed.store, select: async (r) => selectRound(r), ckks: { bundle }, onProgress: (e) => progress.push(e),
  }).run();
  assert.equal(outcome.applied, 1, JSON.stringify(progress.filter((e) => e.type === "round-abandoned")));
  const [e] = applied(progress);
  checkSchedule([e!], fed.baseFlat.length);
  assert.ok(e!.nextClipNorm! < clip, `b̃ = ${e!.noisyFraction}`);
  assert.throws(() => new TrainingCoordinator({ config: config({ clipNorm: 2 * clip, protection: "ckks" }), participants: fed.participants, store: fed.store, select: async (r) => selectRound(r), ckks: { bundle } }),
    (err: unknown) => err instanceof TrainingRefused && /key's clipping bound/.test(err.message), "under CKKS, C never exceeds the key's clipping bound");
});

test("adaptive clipping is refused before any round when σ_b ≤ z/2 (given, or the default m/20), or γ, η_C are out of range", () => {
  const unused = () => Promise.reject(new Error("never called"));
  const participants: TrainingParticipant[] = ["a", "b", "c"].map((id) => ({
    id, remaining: unused, prepare: unused, train: unused, plainUpdate: unused, advertise: unused, shareKeys: unused, maskInput: unused, unmask: unused, settle: unused,
  }));
  const make = (over: Partial<TrainingConfig>) => () => new TrainingCoordinator({ config: config(over), participants, store: {} as RoundStore, select: async (r) => selectRound(r) });
  const refused = (pattern: RegExp) => (e: unknown) => e instanceof TrainingRefused && e.code === "TRAINING_REFUSED" && pattern.test(e.message);
  assert.throws(make({ noiseMultiplier: 1, adaptiveClipping: { countNoiseStd: 0.5 } }), refused(/adaptiveClipping\.countNoiseStd σ_b = 0\.5 must exceed noiseMultiplier \/ 2 = 0\.5/));
  assert.throws(make({ noiseMultiplier: 1, adaptiveClipping: { countNoiseStd: 0.2 } }), refused(/countNoiseStd σ_b = 0\.2 must exceed noiseMultiplier \/ 2/));
  assert.throws(make({ noiseMultiplier: 1, adaptiveClipping: {} }), refused(/σ_b = 0\.15 \(the default m\/20, m = q·N = 3\) must exceed noiseMultiplier \/ 2 = 0\.5/));
  assert.throws(make({ adaptiveClipping: { ...ADAPTIVE, targetQuantile: 1 } }), refused(/adaptiveClipping\.targetQuantile γ = 1 must lie in \(0, 1\)/));
  assert.throws(make({ adaptiveClipping: { ...ADAPTIVE, clipLearningRate: 0 } }), refused(/adaptiveClipping\.clipLearningRate η_C = 0/));
  assert.throws(make({ adaptiveClipping: { ...ADAPTIVE, maxClipNorm: 0.5 } }), refused(/clipNorm 1, the first round's C, must lie in/));
  assert.doesNotThrow(make({ noiseMultiplier: 1, adaptiveClipping: { countNoiseStd: 0.51 } }));
  assert.doesNotThrow(make({ adaptiveClipping: undefined }), "without adaptive clipping nothing changes");
});
