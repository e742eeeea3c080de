/**
 * The Router's ensemble path with Confident-GNMax (issue 14), on real parts (router-node.ts: one
 * node, the Accountant on LMDB, one hospital's ShardExecutor): the worst case reserved is
 * max_tokens × (threshold check + release); what is committed is the checks made (the refused
 * one too) and the releases made; an answer refused at its first token costs exactly one check;
 * an abstention ends the answer with finish_reason "stop" and consensus_reached false.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { confidentCharge, confidentReservation, type EnsembleVote } from "../../../actors/aggregator/index.ts";
import { spendOf } from "../../../actors/accountant/index.ts";
import { BudgetExceededError } from "../../../actors/router/http/errors.ts";
import type { Caller, InferenceRequest } from "../../../actors/router/http/service.ts";
import { exactGaussianEpsilon } from "../../privacy/independent-normal.ts";
import { tempDir } from "../../fixtures/node-store.ts";
import { DEPARTMENT, SIGMA, startRouterNode, type RouterNode } from "./router-node.ts";

const SIGMA1 = 2;
const confident = { threshold: 1, sigma1: SIGMA1 };
const user = (userId: string): Caller => ({ userId, role: "doctor", department: DEPARTMENT, issuer: "test" });
const ask = (fields: Partial<InferenceRequest>): InferenceRequest => ({ requestId: `r-${Math.random()}`, prompt: "The patient was", maxTokens: 4, requireConsensus: true, priority: 3, department: DEPARTMENT, ...fields });

/** A stand-in for the Aggregator that releases token 464 (" The", never the end of text) `releases` times, then abstains; it records what it was asked. */
function scriptedVote(releases: number): EnsembleVote & { asked: unknown[] } {
  const asked: unknown[] = [];
  const vote = ((votes, params) => {
    asked.push(params.confident);
    return asked.length > releases || votes.length === 0 ? { abstained: true } : { token: 464, margin: 1, consensusReached: true };
  }) as EnsembleVote & { asked: unknown[] };
  vote.asked = asked;
  return vote;
}

async function chargesOf(node: RouterNode, userId: string) {
  const history = await node.accountant.history(userId);
  if (history.type !== "history") throw new Error(history.message);
  return history.charges;
}

test("Confident-GNMax on the Router: reserve max_tokens × (check + release), commit the checks and releases made; an abstention ends the answer", { timeout: 120_000 }, async (t) => {
  const node = await startRouterNode(tempDir(t, "fedrouter-confident-"));
  try {
    const delta = 1e-5;
    // Two tokens released, the third check refused.
    const twoThenStop = scriptedVote(2);
    const service = await node.router({ ensemble: { sigma: SIGMA, k: 1, confident }, vote: twoThenStop });
    const answer = await service.infer(ask({ requestId: "q-2", maxTokens: 4 }), user("dr-two"));
    assert.deepEqual(twoThenStop.asked, [confident, confident, confident], "every vote asked for the threshold check");
    assert.equal(answer.usage!.completionTokens, 2);
    assert.equal(answer.finishReason, "stop", "an abstention stops the answer");
    assert.equal(answer.consensusReached, false, "for want of a consensus");
    const [charge] = await chargesOf(node, "dr-two");
    assert.deepEqual(charge!.event, confidentReservation(SIGMA, SIGMA1, 4), "reserved: 4 checks and 4 releases");
    assert.deepEqual(charge!.actual, confidentCharge(SIGMA, SIGMA1, 3, 2), "committed: 3 checks, 2 releases");
    const formula = exactGaussianEpsilon(delta, 1 / Math.sqrt(3 / SIGMA1 ** 2 + (2 * 2) / SIGMA ** 2));
    assert.ok(Math.abs(answer.privacyCost - formula) < 1e-6, `charged ${answer.privacyCost}, the formula for 3 checks and 2 releases ${formula}`);

    // Refused at its first token: nothing released, one check charged.
    const service0 = await node.router({ ensemble: { sigma: SIGMA, k: 1, confident }, vote: scriptedVote(0) });
    const refused = await service0.infer(ask({ requestId: "q-0" }), user("dr-zero"));
    assert.deepEqual([refused.response, refused.usage!.completionTokens, refused.finishReason, refused.consensusReached], ["", 0, "stop", false]);
    const [zero] = await chargesOf(node, "dr-zero");
    assert.equal(zero!.state, "committed", "a refused check is charged, not released");
    assert.deepEqual(zero!.actual, confidentCharge(SIGMA, SIGMA1, 1, 0));
    assert.ok(Math.abs(refused.privacyCost - exactGaussianEpsilon(delta, SIGMA1)) < 1e-6, `exactly one check: ${refused.privacyCost}`);
    assert.ok(Math.abs(refused.privacyCost - spendOf([confidentCharge(SIGMA, SIGMA1, 1, 0)!], delta)) < 1e-9);

    // Every token released: max_tokens checks and releases, finish_reason "length".
    const all = await (await node.router({ ensemble: { sigma: SIGMA, k: 1, confident }, vote: scriptedVote(99) })).infer(ask({ requestId: "q-all", maxTokens: 3 }), user("dr-all"));
    assert.deepEqual([all.usage!.completionTokens, all.finishReason, all.consensusReached], [3, "length", true]);
    assert.deepEqual((await chargesOf(node, "dr-all"))[0]!.actual, confidentCharge(SIGMA, SIGMA1, 3, 3));

    // The worst case includes the checks: a reservation plain GNMax would admit is refused here.
    const plain = await node.router({ vote: scriptedVote(99) });
    const admitted = await plain.infer(ask({ requestId: "q-plain", maxTokens: 12 }), user("dr-plain"));
    assert.ok(admitted.privacyCost > 0, "12 plain GNMax releases at σ 2 fit a budget of 20");
    const dear = await (await node.router({ ensemble: { sigma: SIGMA, k: 1, confident: { threshold: 1, sigma1: 0.5 } }, vote: scriptedVote(99) }))
      .infer(ask({ requestId: "q-dear", maxTokens: 12 }), user("dr-dear")).catch((e: unknown) => e);
    assert.ok(dear instanceof BudgetExceededError, `12 × (check at σ₁ 0.5 + release) exceeds it: ${String(dear)}`);
    assert.deepEqual(await chargesOf(node, "dr-dear"), [], "refused before anything ran");

    const metrics = await service.metrics();
    assert.match(metrics, /fedrouter_answers_total\{kind="consensus",outcome="abstained"\} 1/);
  } finally {
    await node.stop();
  }
});

test("a Router configured with an impossible σ₁ or T fails at construction, not at every answer", { timeout: 60_000 }, async (t) => {
  const node = await startRouterNode(tempDir(t, "fedrouter-confident-config-"));
  try {
    await assert.rejects(node.router({ ensemble: { sigma: SIGMA, k: 1, confident: { threshold: 1, sigma1: 0 } } }), (e: Error & { code?: string }) => e.code === "INVALID_SIGMA");
    await assert.rejects(node.router({ ensemble: { sigma: SIGMA, k: 1, confident: { threshold: -1, sigma1: 1 } } }), (e: Error & { code?: string }) => e.code === "INVALID_THRESHOLD");
  } finally {
    await node.stop();
  }
});
