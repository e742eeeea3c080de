/**
 * A coordinator process is SIGKILLed at each point of a round (test/fixtures/federated-round-driver.ts);
 * the store is reopened here and recovered. Whatever the point: the round is resumed or
 * abandoned, the model is the one the round's apply computes or the initial one, and the model
 * history holds at most one version per round: never applied twice.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { openNodeStore } from "../../runtime/persistence/index.ts";
import { openRoundStore } from "../../federated/round-store.ts";
import { tempDir } from "../fixtures/node-store.ts";
import { killAfterFirstAck } from "../faults/fixtures/run-until-killed.ts";
import { fedAdam, fedAdamStep, initialOptimizer, initialWeights, noisyAggregate } from "../fixtures/federated-round.ts";

const DRIVER = fileURLToPath(new URL("../fixtures/federated-round-driver.ts", import.meta.url));
const SUBMITTERS = ["hospital-a", "hospital-c"];

/** Runs the driver until it prints `at <point>`, then SIGKILLs it at once. */
async function killAt(dir: string, point: string): Promise<void> {
  await killAfterFirstAck(DRIVER, [dir, point], {
    killDelayMs: 0,
    firstAckTimeoutMs: 20_000,
    onLine: (line) => (line === `at ${point}` ? "ack" : "unexpected"),
  });
}

/** The model a single apply of r-1 must produce. */
function expectedModel() {
  return fedAdam({ weights: initialWeights(), optimizer: initialOptimizer() }, noisyAggregate("r-1", SUBMITTERS));
}

async function reopen(dir: string) {
  const nodeStore = openNodeStore({ path: dir });
  const rounds = await openRoundStore(nodeStore, { initialWeights: initialWeights(), initialOptimizer: initialOptimizer() });
  return { nodeStore, rounds };
}

const CASES = [
  { point: "collecting", before: "collecting", decision: "abandon", after: "abandoned", version: 0 },
  { point: "aggregated", before: "aggregated", decision: "resumeApply", after: "applied", version: 1 },
  { point: "model-written", before: "aggregated", decision: "markApplied", after: "applied", version: 1 },
  { point: "applied", before: "applied", decision: null, after: "applied", version: 1 },
] as const;

for (const c of CASES) {
  test(`killed at "${c.point}": the restarted coordinator ${c.decision ?? "has nothing to do"}, and the round is applied at most once`, { timeout: 30_000 }, async (t) => {
    const dir = tempDir(t, "fedrouter-round-kill-");
    await killAt(dir, c.point);
    const { nodeStore, rounds } = await reopen(dir);
    try {
      assert.equal(rounds.round("r-1")?.status, c.before, "the status the kill left on disk");
      if (c.point === "model-written") assert.deepEqual({ version: rounds.model().version, producedBy: rounds.model().producedBy }, { version: 1, producedBy: "r-1" }, "the model was durable before the kill");
      const report = await rounds.recover(fedAdamStep);
      assert.deepEqual(report.map((r) => r.decision), c.decision === null ? [] : [c.decision]);
      const round = rounds.round("r-1")!;
      assert.equal(round.status, c.after);
      const model = rounds.model();
      assert.equal(model.version, c.version);
      const history = rounds.modelHistory();
      assert.deepEqual(history.map((h) => h.version), c.version === 0 ? [0] : [0, 1], "one model version per applied round");
      assert.equal(history.filter((h) => h.producedBy === "r-1").length, c.version, "r-1 produced at most one version");
      if (c.version === 1) {
        assert.equal(round.resultVersion, 1);
        assert.equal(model.producedBy, "r-1");
        const expected = expectedModel();
        assert.deepEqual(model.weights, expected.weights, "the weights are those of exactly one apply");
        assert.deepEqual(model.optimizer, expected.optimizer);
        // Applying again, after the crash and the recovery, is a no-op.
        assert.deepEqual(await rounds.apply("r-1", fedAdamStep), { type: "alreadyApplied", roundId: "r-1", version: 1 });
        assert.equal(rounds.modelHistory().length, 2);
      } else {
        assert.deepEqual(model.weights, initialWeights());
        assert.match(round.abandonReason ?? "", /in memory/);
      }
      // A second recovery finds nothing left to do.
      assert.deepEqual(await rounds.recover(fedAdamStep), []);
    } finally {
      await nodeStore.close();
    }
  });
}

test(`killed at "model-written" then applied again without recovery: alreadyApplied, model untouched`, { timeout: 30_000 }, async (t) => {
  const dir = tempDir(t, "fedrouter-round-kill-");
  await killAt(dir, "model-written");
  const { nodeStore, rounds } = await reopen(dir);
  try {
    const before = rounds.model().weights.slice();
    assert.deepEqual(await rounds.apply("r-1", fedAdamStep), { type: "alreadyApplied", roundId: "r-1", version: 1 });
    assert.deepEqual(rounds.model().weights, before);
    assert.equal(rounds.round("r-1")?.status, "applied");
    assert.deepEqual(rounds.modelHistory().map((h) => h.producedBy), [null, "r-1"]);
  } finally {
    await nodeStore.close();
  }
});
