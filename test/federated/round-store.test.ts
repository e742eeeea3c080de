import { test } from "node:test";
import assert from "node:assert/strict";
import { openNodeStore } from "../../runtime/persistence/index.ts";
import { openRoundStore } from "../../federated/round-store.ts";
import { InvalidModelUpdate, InvalidRoundTransition, UnknownRound } from "../../federated/errors.ts";
import { tempDir } from "../fixtures/node-store.ts";
import { DIMENSION, fedAdam, fedAdamStep, initialOptimizer, initialWeights, noisyAggregate, roundPlan } from "../fixtures/federated-round.ts";

async function open(dir: string) {
  const nodeStore = openNodeStore({ path: dir });
  const rounds = await openRoundStore(nodeStore, { initialWeights: initialWeights(), initialOptimizer: initialOptimizer() });
  return { nodeStore, rounds };
}

async function driveToAggregated(rounds: Awaited<ReturnType<typeof open>>["rounds"], roundId: string, submitters = ["hospital-a", "hospital-b"]) {
  await rounds.plan(roundPlan(roundId, Date.now()));
  await rounds.startCollecting(roundId);
  for (const id of submitters) await rounds.recordSubmission(roundId, id);
  await rounds.markAggregated(roundId, noisyAggregate(roundId, submitters));
}

test("two rounds in a row: each applied once, versions 1 and 2 name their rounds, and a reopened store sees it all", async (t) => {
  const dir = tempDir(t, "fedrouter-rounds-");
  let { nodeStore, rounds } = await open(dir);
  try {
    assert.deepEqual({ version: rounds.model().version, producedBy: rounds.model().producedBy }, { version: 0, producedBy: null });
    await driveToAggregated(rounds, "r-1");
    assert.deepEqual(await rounds.apply("r-1", fedAdamStep), { type: "applied", roundId: "r-1", version: 1 });
    await driveToAggregated(rounds, "r-2", ["hospital-c", "hospital-b", "hospital-a"]);
    assert.equal(rounds.round("r-2")!.baseVersion, 1);
    assert.deepEqual(await rounds.apply("r-2", fedAdamStep), { type: "applied", roundId: "r-2", version: 2 });
    assert.deepEqual(await rounds.apply("r-1", fedAdamStep), { type: "alreadyApplied", roundId: "r-1", version: 1 });
  } finally {
    await nodeStore.close();
  }
  ({ nodeStore, rounds } = await open(dir));
  try {
    const expected = fedAdam(fedAdam({ weights: initialWeights(), optimizer: initialOptimizer() }, noisyAggregate("r-1", ["hospital-a", "hospital-b"])),
      noisyAggregate("r-2", ["hospital-c", "hospital-b", "hospital-a"]));
    assert.deepEqual(rounds.model().weights, expected.weights);
    assert.deepEqual(rounds.model().optimizer, expected.optimizer);
    assert.deepEqual(rounds.modelHistory(), [{ version: 0, producedBy: null, baseVersion: null }, { version: 1, producedBy: "r-1", baseVersion: 0 }, { version: 2, producedBy: "r-2", baseVersion: 1 }]);
    assert.deepEqual(rounds.rounds().map((r) => [r.roundId, r.status, r.resultVersion]), [["r-1", "applied", 1], ["r-2", "applied", 2]]);
    assert.deepEqual(rounds.round("r-2")!.submissions, ["hospital-c", "hospital-b", "hospital-a"]);
    assert.deepEqual(await rounds.recover(fedAdamStep), []);
  } finally {
    await nodeStore.close();
  }
});

test("concurrent applies of one round in one process: one applies, the other is alreadyApplied", async (t) => {
  const { nodeStore, rounds } = await open(tempDir(t, "fedrouter-rounds-"));
  try {
    await driveToAggregated(rounds, "r-1");
    const results = await Promise.all([rounds.apply("r-1", fedAdamStep), rounds.apply("r-1", fedAdamStep), rounds.apply("r-1", fedAdamStep)]);
    assert.deepEqual(results.map((r) => r.type).sort(), ["alreadyApplied", "alreadyApplied", "applied"]);
    assert.equal(rounds.modelHistory().length, 2);
  } finally {
    await nodeStore.close();
  }
});

test("a stale round (the model moved on) cannot be applied; an unknown round, a reused id, an unaggregated round are refused", async (t) => {
  const { nodeStore, rounds } = await open(tempDir(t, "fedrouter-rounds-"));
  try {
    await driveToAggregated(rounds, "r-1");
    await driveToAggregated(rounds, "r-2"); // also based on version 0
    await rounds.apply("r-1", fedAdamStep);
    await assert.rejects(rounds.apply("r-2", fedAdamStep), (e: unknown) => e instanceof InvalidRoundTransition && /version 0, the global model is at 1/.test(e.message));
    const report = await rounds.recover(fedAdamStep);
    assert.deepEqual(report.map((r) => [r.roundId, r.decision, r.status]), [["r-2", "abandon", "abandoned"]]);
    await assert.rejects(rounds.apply("r-9", fedAdamStep), UnknownRound);
    await assert.rejects(rounds.plan(roundPlan("r-1", Date.now())), (e: unknown) => e instanceof InvalidRoundTransition && e.action === "plan");
    await rounds.plan(roundPlan("r-3", Date.now()));
    await assert.rejects(rounds.apply("r-3", fedAdamStep), (e: unknown) => e instanceof InvalidRoundTransition && e.status === "planned");
    await assert.rejects(rounds.markAggregated("r-3", new Float32Array(DIMENSION)), InvalidRoundTransition);
    await rounds.startCollecting("r-3");
    await rounds.recordSubmission("r-3", "hospital-a");
    await rounds.recordSubmission("r-3", "hospital-b");
    await assert.rejects(rounds.markAggregated("r-3", new Float32Array(DIMENSION + 1)), InvalidModelUpdate);
    assert.equal(rounds.round("r-3")!.status, "collecting", "a refused aggregate changes nothing");
    const abandoned = await rounds.abandon("r-3", "operator stopped it");
    assert.equal(abandoned.status, "abandoned");
    await assert.rejects(rounds.recordSubmission("r-3", "hospital-c"), InvalidRoundTransition);
  } finally {
    await nodeStore.close();
  }
});
