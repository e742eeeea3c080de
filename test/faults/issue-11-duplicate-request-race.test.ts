/**
 * Issue 11: duplicate request ids racing the request they repeat. The finding: RouterService
 * checked a request's privacy_budget and released "its" reservation before looking at
 * `reply.duplicate`, so a second request with the same Idempotency-Key and a tiny privacy_budget
 * released the first request's reservation while it was still generating; the first's commit
 * then failed with ALREADY_SETTLED, its consensus tokens had been delivered, and the ledger
 * showed nothing spent.
 *
 * Here over real HTTP on 127.0.0.1 against the fastify app, a RouterService, a real Accountant
 * on LMDB in a temp dir, the Aggregator and a ShardExecutor, with every DP vote held at a gate
 * so that the first request is in flight (reserved, voting) while duplicates arrive. Whatever
 * their privacy_budget, a duplicate gets the first's answer or 409 `in_progress`, never
 * releases or commits anything, and the ledger holds exactly one committed charge per request id.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { startRouterNode, DEPARTMENT, type RouterNode } from "../actors/router/router-node.ts";
import { call, tokenFor } from "../actors/router/http/fake-service.ts";
import { tempDir } from "../fixtures/node-store.ts";

const USER = "dr-race";
const BODY = { prompt: "The patient was", max_tokens: 3, require_consensus: true } as const;
const DUPLICATES = 64;
/** Budgets the duplicates offer: below any answer's cost, around it, and plenty. */
const BUDGETS = [1e-6, 0.001, 0.05, 1, 10];
const TOLERANCE = 1e-9;

type Response = Awaited<ReturnType<typeof call>>;

/** The ledger's charges for one request id of `user` (attempt n > 1 is keyed `user:id#n`). */
async function chargesOf(node: RouterNode, user: string, requestId: string) {
  const history = await node.accountant.history(user);
  if (history.type !== "history") throw new Error(history.message);
  return history.charges.filter((c) => c.key === `${user}:${requestId}` || c.key.startsWith(`${user}:${requestId}#`));
}

/** ε the ledger counts as spent by `user` (ε composes: one user per request id keeps it one answer's cost). */
async function spent(node: RouterNode, user: string): Promise<number> {
  const budget = await node.accountant.budget(user, DEPARTMENT);
  if (budget.type !== "budget") throw new Error(budget.message);
  return budget.user.spent;
}

function describe(response: Response): string {
  return `${response.status} ${response.text.slice(0, 300)}`;
}

test("issue 11: a duplicate with a tiny privacy_budget does not release the first request's reservation while it is generating", { timeout: 120_000 }, async (t) => {
  const node = await startRouterNode(tempDir(t, "fedrouter-issue-11-"));
  try {
    const url = await node.serve(await node.router({ duplicateWaitMs: 0 }));
    const token = await tokenFor(USER, "doctor", DEPARTMENT);
    const headers = { "idempotency-key": "q-finding" };
    node.gate.close();
    const first = call(url, "POST", "/v1/inference", { token, headers, body: { ...BODY, privacy_budget: 10 } });
    await node.gate.reached; // reserved and voting on its first token
    const duplicate = await call(url, "POST", "/v1/inference", { token, headers, body: { ...BODY, privacy_budget: 1e-6 } });
    node.gate.open();
    const answered = await first;

    assert.equal(answered.status, 200, `the first request is answered and its commit succeeds: ${describe(answered)}`);
    const charges = await chargesOf(node, USER, "q-finding");
    assert.deepEqual(charges.map((c) => c.state), ["committed"], "one charge, committed: the duplicate released nothing");
    assert.ok(Math.abs((await spent(node, USER)) - answered.json.privacy_cost) < TOLERANCE, "the ledger shows the first answer's cost spent");
    assert.equal(duplicate.status, 409, `the duplicate is told the request is in progress: ${describe(duplicate)}`);
    assert.equal(duplicate.json.error.type, "in_progress");

    const retry = await call(url, "POST", "/v1/inference", { token, headers, body: { ...BODY, privacy_budget: 1e-6 } });
    assert.equal(retry.status, 200, `a retry after the answer gets it back: ${describe(retry)}`);
    assert.equal(retry.json.response, answered.json.response);
    assert.equal(retry.json.privacy_cost, answered.json.privacy_cost, "with the same privacy_cost reported");
    assert.equal(retry.headers.get("x-fedrouter-replayed"), "true");
    assert.ok(Math.abs((await spent(node, USER)) - answered.json.privacy_cost) < TOLERANCE, "and nothing charged again");
  } finally {
    await node.stop();
  }
});

test(`issue 11: ${DUPLICATES} concurrent duplicates with different privacy_budget values get the first's answer or 409 in_progress; the first's charge stands, alone`, { timeout: 180_000 }, async (t) => {
  const node = await startRouterNode(tempDir(t, "fedrouter-issue-11-race-"));
  try {
    // One user per request id, so that each user's spend is one answer's cost.
    const userOf = (requestId: string) => `${USER}-${requestId}`;
    const tokens = new Map<string, string>();
    for (const id of ["q-a", "q-b", "q-c"]) tokens.set(id, await tokenFor(userOf(id), "doctor", DEPARTMENT));
    const post = (requestId: string, budget: number) =>
      call(url, "POST", "/v1/inference", { token: tokens.get(requestId)!, headers: { "idempotency-key": requestId }, body: { ...BODY, privacy_budget: budget } });
    const answers = new Map<string, Response>();
    const sameAnswer = (requestId: string, r: Response) => {
      const first = answers.get(requestId)!;
      return r.status === 200 && r.json.response === first.json.response && r.json.privacy_cost === first.json.privacy_cost && r.json.node_id === first.json.node_id;
    };
    const inProgress = (r: Response) => r.status === 409 && r.json.error.type === "in_progress";

    // 1. Duplicates do not wait: every one that arrives while the first is held is 409.
    let url = await node.serve(await node.router({ duplicateWaitMs: 0 }));
    node.gate.close();
    const held = post("q-a", 10);
    await node.gate.reached;
    const refusedWhileHeld = await Promise.all(Array.from({ length: DUPLICATES }, (_, i) => post("q-a", BUDGETS[i % BUDGETS.length]!)));
    node.gate.open();
    answers.set("q-a", await held);
    assert.equal(answers.get("q-a")!.status, 200, describe(answers.get("q-a")!));
    const notInProgress = refusedWhileHeld.filter((r) => !inProgress(r));
    assert.deepEqual(notInProgress.map(describe), [], "every duplicate of a held request is 409 in_progress");
    const afterwards = await Promise.all(Array.from({ length: DUPLICATES }, (_, i) => post("q-a", BUDGETS[i % BUDGETS.length]!)));
    assert.deepEqual(afterwards.filter((r) => !sameAnswer("q-a", r)).map(describe), [], "every retry after the answer gets the same answer");

    // 2. Duplicates wait for the first (here without a deadline that matters): each gets its
    //    answer, however its arrival interleaves with the first's end.
    url = await node.serve(await node.router({ duplicateWaitMs: 60_000 }));
    node.gate.close();
    const first = post("q-b", 10);
    await node.gate.reached;
    const racing = Array.from({ length: DUPLICATES }, (_, i) => post("q-b", BUDGETS[i % BUDGETS.length]!));
    node.gate.open();
    answers.set("q-b", await first);
    assert.equal(answers.get("q-b")!.status, 200, describe(answers.get("q-b")!));
    const waited = await Promise.all(racing);
    assert.deepEqual(waited.filter((r) => !sameAnswer("q-b", r) && !inProgress(r)).map(describe), [], "each duplicate gets the first's answer (or 409)");

    // 3. No first at all: 64 requests with one id start together, each offering enough for the
    //    worst case (ε 5.54 for 3 votes at σ 2) but not the same; one runs, the rest wait for it.
    const together = await Promise.all(Array.from({ length: DUPLICATES }, (_, i) => post("q-c", 6 + i / 16)));
    const served = together.filter((r) => r.status === 200);
    assert.ok(served.length >= 1, `one of them ran: ${together.map(describe).join(",")}`);
    answers.set("q-c", served[0]!);
    assert.deepEqual(together.filter((r) => !sameAnswer("q-c", r) && !inProgress(r)).map(describe), [], "all got one answer (or 409)");

    for (const requestId of ["q-a", "q-b", "q-c"]) {
      const user = userOf(requestId);
      const charges = await chargesOf(node, user, requestId);
      assert.deepEqual(charges.map((c) => c.state), ["committed"], `${requestId}: exactly one charge, committed; no duplicate released or committed another`);
      const cost = answers.get(requestId)!.json.privacy_cost as number;
      assert.ok(cost > 0);
      assert.ok(Math.abs((await spent(node, user)) - cost) < TOLERANCE, `${requestId}: the ledger's spend is exactly one answer's cost: ${await spent(node, user)} vs ${cost}`);
    }
  } finally {
    await node.stop();
  }
});
