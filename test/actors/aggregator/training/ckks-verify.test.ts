/**
 * A hospital decrypts only an aggregate it can check (secagg/ckks/verify.ts, participant.ts): the
 * sum of every contribution it is shown, its own among them once, none repeated, at least t of
 * them, and only once per round. A cheating coordinator is played here by a wrapper around real
 * HospitalParticipants in a real CKKS round: before passing the honest request on, it tries to
 * have a decryptor decrypt the other hospitals' ciphertexts without its own, a sum that is not of the
 * contributions shown, its own ciphertext twice, and too few contributions — each refused with
 * CKKS_AGGREGATE_UNVERIFIED and without spending the round's one decryption — then, after the
 * honest share, a second decryption, refused. The round still applies.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { TrainingCoordinator, type RoundProgress, type TrainingParticipant } from "../../../../actors/aggregator/index.ts";
import { selectRound } from "../../../../actors/planner/index.ts";
import { ckks } from "../../../../secagg/index.ts";
import { loadPublicSeal } from "../../../../native-bindings/seal.ts";
import { trainingFederation } from "../../../fixtures/training-federation.ts";

test("a decryptor refuses aggregates it cannot check (others' ciphertexts without its own, a wrong sum, its own twice, too few) and a second decryption; the honest round applies", { timeout: 180_000 }, async (t) => {
  const { bundle, shares } = await ckks.dealThresholdKeys({ parties: 3, threshold: 2 });
  const fed = await trainingFederation(t, { extra: (k) => ({ keyShare: shares[k]! }) });
  const sent = new Map<string, ckks.EncryptedUpdate>();
  const refusals: string[] = [];
  const sum = async (parts: readonly ckks.EncryptedUpdate[]) => {
    const aggregator = ckks.CkksAggregator.open(await loadPublicSeal(), bundle);
    try {
      return aggregator.add(parts);
    } finally {
      aggregator.close();
    }
  };
  const refused = async (what: string, attempt: Promise<unknown>, reason: RegExp) => {
    await assert.rejects(attempt, (e: unknown) => e instanceof ckks.AggregateUnverified && e.code === "CKKS_AGGREGATE_UNVERIFIED" && reason.test(e.message), what);
    refusals.push(what);
  };
  const cheating = fed.participants.map((p): TrainingParticipant => ({
    id: p.id, ...(p.keyIndex === undefined ? {} : { keyIndex: p.keyIndex }),
    remaining: () => p.remaining(), prepare: (o) => p.prepare(o), train: (s) => p.train(s), plainUpdate: (r) => p.plainUpdate(r),
    advertise: (r, x) => p.advertise(r, x), shareKeys: (r, x) => p.shareKeys(r, x), maskInput: (r, x) => p.maskInput(r, x), unmask: (r, x) => p.unmask(r, x),
    settle: (r, o) => p.settle(r, o),
    encrypt: async (r, b) => {
      const encrypted = await p.encrypt(r, b);
      sent.set(p.id, encrypted);
      return encrypted;
    },
    decryptionShare: async (r, decryptors, aggregate, contributions) => {
      const own = sent.get(p.id)!;
      const victim = [...sent.entries()].find(([id]) => id !== p.id)![1];
      const others = [...sent.entries()].filter(([id]) => id !== p.id).map(([, e]) => e);
      await refused(`${p.id}: the other hospitals' ciphertexts without its own`, p.decryptionShare(r, decryptors, await sum(others), others), /own encrypted update/);
      await refused(`${p.id}: a sum that is not of the contributions shown`, p.decryptionShare(r, decryptors, await sum([victim, own]), contributions), /not the sum/);
      await refused(`${p.id}: its own ciphertext twice`, p.decryptionShare(r, decryptors, await sum([own, own]), [own, own]), /repeats/);
      await refused(`${p.id}: fewer than t contributions`, p.decryptionShare(r, decryptors, own, [own]), /at least 2/);
      const share = await p.decryptionShare(r, decryptors, aggregate, contributions);
      await refused(`${p.id}: a second decryption of the round`, p.decryptionShare(r, decryptors, aggregate, contributions), /once already/);
      return share;
    },
  }));
  const progress: RoundProgress[] = [];
  const outcome = await new TrainingCoordinator({
    config: {
      rounds: 1, quorum: 2, noiseMultiplier: 1, clipNorm: bundle.parameters.clip, delta: 1e-5, protection: "ckks",
      serverOptimizer: { kind: "fedavg", learningRate: 1 }, phaseTimeoutMs: 120_000,
      local: { steps: 1, exampleClip: 1, noiseMultiplier: 0, learningRate: 1e-3, batchSize: 2 },
    },
    participants: cheating, store: fed.store, select: async (r) => selectRound(r), ckks: { bundle }, onProgress: (e) => progress.push(e),
  }).run();
  assert.equal(outcome.applied, 1, JSON.stringify(progress.filter((e) => e.type === "round-abandoned")));
  assert.equal(refusals.length, 10, `two decryptors, five refusals each: ${refusals.join("; ")}`);
});
