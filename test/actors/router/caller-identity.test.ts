/**
 * Issue 11: the front door speaks to the Accountant as the authenticated caller, so the Accountant
 * itself refuses what a user may not do, whatever the Router's own checks; and (issue 15) a
 * hospital whose federation link has no usable stream is out of routing and /health/ready says so.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ForbiddenError, UnavailableError } from "../../../actors/router/http/errors.ts";
import type { Caller, InferenceRequest } from "../../../actors/router/http/service.ts";
import { tempDir } from "../../fixtures/node-store.ts";
import { DEPARTMENT, startRouterNode } from "./router-node.ts";

const doctor: Caller = { userId: "dr-ng", role: "doctor", department: DEPARTMENT, issuer: "test" };
const admin: Caller = { userId: "ada", role: "admin", department: DEPARTMENT, issuer: "test" };
const ask = (fields: Partial<InferenceRequest> = {}): InferenceRequest => ({ requestId: `r-${Math.random()}`, prompt: "The patient was", maxTokens: 2, requireConsensus: true, priority: 3, department: DEPARTMENT, ...fields });

test("the Accountant sees the caller: a user reads only their own budget, sets none; an admin may; the charge names the user's reservation", { timeout: 120_000 }, async (t) => {
  const node = await startRouterNode(tempDir(t, "fedrouter-router-caller-"));
  try {
    const service = await node.router();
    const answer = await service.infer(ask(), doctor);
    assert.ok(answer.privacyCost > 0);
    const own = await service.budget("dr-ng", DEPARTMENT, doctor);
    assert.ok(Math.abs(own.consumed - answer.privacyCost) < 1e-9);
    // The HTTP layer refuses this before; the Accountant refuses it too, as a 403.
    await assert.rejects(service.budget("ada", undefined, doctor), (error: ForbiddenError) => error instanceof ForbiddenError && /user:dr-ng/.test(error.message));
    assert.equal((await service.budget("dr-ng", DEPARTMENT, admin)).consumed, own.consumed, "an admin reads anyone's");
    await assert.rejects(service.updateConfig({ privacy: { departments: { [DEPARTMENT]: 99 } } }, doctor), ForbiddenError);
    await service.updateConfig({ privacy: { departments: { [DEPARTMENT]: 31 } } }, admin);
    assert.equal((await service.budget("dr-ng", DEPARTMENT, admin)).department!.totalBudget, 31);
    // The reservation the Router made for the user belongs to that user: the ledger names it.
    const history = await node.accountant.history("dr-ng");
    assert.ok(history.type === "history" && history.charges.length === 1);
    assert.equal(history.charges[0]!.owner, "user:dr-ng");
  } finally {
    await node.stop();
  }
});

test("a hospital whose link has no usable stream is not routed to, and readiness names it", { timeout: 120_000 }, async (t) => {
  const node = await startRouterNode(tempDir(t, "fedrouter-router-links-"));
  try {
    let up = true;
    const service = await node.router({ links: () => [{ peer: "h-a", up, lastDownReason: "stream ended" }] });
    assert.equal((await service.health()).ready, true);
    up = false;
    const health = await service.health();
    assert.equal(health.ready, false);
    assert.deepEqual(health.checks["link:h-a"], { ok: false, detail: "no usable stream to h-a (stream ended): requests are not routed to it" });
    await assert.rejects(service.infer(ask({ requireConsensus: false }), doctor), UnavailableError);
    up = true;
    assert.equal((await service.infer(ask({ requireConsensus: false }), doctor)).nodeId, "h-a");
  } finally {
    await node.stop();
  }
});
