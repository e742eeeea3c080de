/**
 * The Accountant under concurrent load from several threads, on a real ActorSystem and a real
 * LMDB directory: client actors in worker threads fire hundreds of reserves each at once
 * against a budget that admits exactly N, and exactly N are reserved — never one more, never
 * one fewer. N is computed independently with `spendOf` (composition from scratch, RDP then
 * PLD), not by the ledger's incremental bookkeeping; the audit trail must agree, entry by entry.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { threadId } from "node:worker_threads";
import { ActorSystem, actor, supervisor } from "../../../runtime/index.ts";
import {
  accountant, AccountantClient, exponential, readAuditTrail, spendOf, verifyStoredAudit,
  type AccountantOptions, type AuditEntry, type AuditVerdict, type BudgetReply, type PrivacyEvent,
} from "../../../actors/accountant/index.ts";
import { reserveClient, type ReserveClientMsg, type ReserveTally } from "./fixtures/reserve-client.ts";
import { tempDir, withNodeStore } from "../../fixtures/node-store.ts";

/** The actor path without scheme and node: the Accountant's default store id. */
const STORE_ID = "user/privacy/accountant";
const DELTA = 1e-5;
/** Per ask: 2,000 reserves queue behind one another, and PLD takes ~100 ms per state near the limit. */
const ASK_TIMEOUT_MS = 90_000;

const copies = (event: PrivacyEvent, k: number): PrivacyEvent[] => Array.from({ length: k }, () => event);

/**
 * How many reserves of `event` a limit admits, one after another from an empty budget: the
 * k-th is admitted iff the composition of k copies, from scratch, is ≤ `limit`; after the first
 * refusal nothing changes, so every later one is refused too. Also checks that N is well
 * defined: ε of N copies and of N + 1 copies lie at least `margin` from the limit, so no
 * rounding difference between two correct computations can move N.
 */
function admittedBy(event: PrivacyEvent, limit: number, margin = 0.05): number {
  let n = 0;
  while (spendOf(copies(event, n + 1), DELTA, {}, limit) <= limit) {
    n++;
    assert.ok(n < 1_000, "the limit admits fewer than 1,000 copies");
  }
  const at = spendOf(copies(event, n), DELTA);
  const above = spendOf(copies(event, n + 1), DELTA);
  assert.ok(at <= limit - margin && above >= limit + margin, `N = ${n} is not well defined: ε(N) = ${at}, ε(N + 1) = ${above}, limit ${limit}`);
  return n;
}

interface ClientPlan { readonly user: string; readonly count: number }

interface RunResult {
  readonly tallies: readonly ReserveTally[];
  readonly budgets: ReadonlyMap<string, BudgetReply>;
  readonly trail: readonly AuditEntry[];
  readonly verdict: AuditVerdict;
}

/**
 * Starts the Accountant (main thread) and one client actor per plan entry, each in a worker
 * thread of its own; fires every client at once; asks the budget of every user; stops the
 * system; reads and verifies the trail from LMDB.
 */
async function runConcurrent(dir: string, options: AccountantOptions, department: string, event: PrivacyEvent, plans: readonly ClientPlan[]): Promise<RunResult> {
  const system = await ActorSystem.start({ node: "h1", persistence: { path: dir }, logLevel: "error" });
  let tallies: ReserveTally[];
  const budgets = new Map<string, BudgetReply>();
  try {
    const accountantSpec = actor("accountant", accountant, options);
    await system.startChild(supervisor("privacy", [accountantSpec]));
    const clientSpecs = plans.map((_, i) => actor(`client-${i}`, reserveClient, undefined, { placement: "worker" }));
    await system.startChild(supervisor("clients", clientSpecs));
    const accountantPath = system.pathOf("privacy", "accountant");
    tallies = await Promise.all(clientSpecs.map((spec, i) =>
      system.refOf(spec, "clients").ask<ReserveTally>((replyTo) => ({
        type: "fire", accountant: accountantPath, user: plans[i]!.user, department, event, count: plans[i]!.count,
        keyPrefix: `c${i}`, timeoutMs: ASK_TIMEOUT_MS, replyTo,
      }) satisfies ReserveClientMsg, { timeoutMs: ASK_TIMEOUT_MS + 10_000 }),
    ));
    const client = new AccountantClient(system.refOf(accountantSpec, "privacy"), ASK_TIMEOUT_MS);
    for (const user of new Set(plans.map((p) => p.user))) budgets.set(user, await client.budget(user, department));
  } finally {
    await system.stop();
  }
  // Opened after the system closed its environment.
  return withNodeStore(dir, (store) => ({ tallies, budgets, trail: [...readAuditTrail(store, STORE_ID).entries], verdict: verifyStoredAudit(store, STORE_ID) }));
}

/** The claims both scenarios share: exactly N reserved, the rest refused for `reason`, the trail agreeing. */
function assertExactlyN(result: RunResult, n: number, total: number, reason: "user" | "department"): void {
  const { tallies, trail, verdict } = result;
  const reserved = tallies.flatMap((t) => t.reserved);
  const refused = tallies.reduce((s, t) => s + t.refused.user + t.refused.department, 0);
  assert.deepEqual(tallies.flatMap((t) => t.failed), [], "no ask failed in transport");
  assert.deepEqual(tallies.flatMap((t) => t.rejected), [], "no reserve was rejected");
  assert.equal(tallies.reduce((s, t) => s + t.duplicates, 0), 0, "no distinct key was taken for a duplicate");
  assert.equal(reserved.length, n, `reserved ${reserved.length}, the budget admits ${n}`);
  assert.equal(new Set(reserved).size, n, "N distinct reservation ids");
  assert.equal(refused, total - n);
  assert.equal(tallies.reduce((s, t) => s + t.refused[reason === "user" ? "department" : "user"], 0), 0, `every refusal names the ${reason} budget`);

  // Several threads, and truly at once: every client still had asks out when each other began.
  const threads = new Set(tallies.map((t) => t.threadId));
  assert.equal(threads.size, tallies.length, "each client ran in a thread of its own");
  assert.equal(threads.has(threadId), false, "no client ran in the main thread");
  assert.ok(Math.max(...tallies.map((t) => t.firstSentMs)) < Math.min(...tallies.map((t) => t.lastReplyMs)), "the clients' reserves overlapped in time");

  assert.equal(verdict.ok, true, JSON.stringify(verdict));
  // The ledger only grows here (no commit, no release), so after the first refusal every later
  // reserve is refused: the trail is N reserves, then the refusals.
  assert.deepEqual(trail.map((e) => e.action), [...Array<string>(n).fill("reserve"), ...Array<string>(total - n).fill("refuse")]);
  assert.deepEqual(new Set(trail.filter((e) => e.action === "reserve").map((e) => e.reservation)), new Set(reserved), "the trail reserves exactly the ids the clients got");
  const keys = trail.map((e) => e.key);
  assert.equal(new Set(keys).size, total, "every request is in the trail exactly once");
}

test("2,000 concurrent reserves from 4 threads: exactly the N that the budget admits succeed", { timeout: 120_000 }, async (t) => {
  const event = exponential(0.25);
  const limit = 5.1;
  const n = admittedBy(event, limit);
  assert.ok(n >= 20 && n <= 40, `N = ${n}`);
  const plans = Array.from({ length: 4 }, () => ({ user: "dr-lee", count: 500 }));
  const result = await runConcurrent(tempDir(t, "fedrouter-accountant-concurrency-"), { ledger: { delta: DELTA, users: { "dr-lee": { epsilon: limit } }, departments: { radiology: { epsilon: 1_000 } } } }, "radiology", event, plans);
  assertExactlyN(result, n, 2_000, "user");

  const budget = result.budgets.get("dr-lee")!;
  if (budget.type !== "budget") return assert.fail(JSON.stringify(budget));
  assert.equal(budget.user.limit, limit);
  assert.ok(budget.user.spent <= limit, `spent ${budget.user.spent} > limit ${limit}`);
  assert.ok(Math.abs(budget.user.spent - spendOf(copies(event, n), DELTA)) < 1e-9, `spent ${budget.user.spent}, from scratch ${spendOf(copies(event, n), DELTA)}`);
});

test("1,000 concurrent reserves from 4 threads for two users sharing a department: exactly the N that the department admits succeed", { timeout: 120_000 }, async (t) => {
  const event = exponential(0.5);
  const limit = 5.25;
  const n = admittedBy(event, limit);
  assert.ok(n >= 5 && n <= 40, `N = ${n}`);
  const plans = ["u-a", "u-b", "u-a", "u-b"].map((user) => ({ user, count: 250 }));
  const result = await runConcurrent(tempDir(t, "fedrouter-accountant-concurrency-"), { ledger: { delta: DELTA, defaultUserEpsilon: 1_000, departments: { "shared-ward": { epsilon: limit } } } }, "shared-ward", event, plans);
  assertExactlyN(result, n, 1_000, "department");

  // Each user's share is whatever the race gave it; together they are N, and the department spent ≤ its limit.
  let shares = 0;
  for (const user of ["u-a", "u-b"]) {
    const budget = result.budgets.get(user)!;
    if (budget.type !== "budget") return assert.fail(JSON.stringify(budget));
    const share = result.trail.filter((e) => e.action === "reserve" && e.user === user).length;
    shares += share;
    assert.ok(Math.abs(budget.user.spent - spendOf(copies(event, share), DELTA)) < 1e-9, `${user}: spent ${budget.user.spent} for ${share} reserves`);
    assert.equal(budget.department!.limit, limit);
    assert.ok(budget.department!.spent <= limit, `department spent ${budget.department!.spent} > limit ${limit}`);
    assert.ok(Math.abs(budget.department!.spent - spendOf(copies(event, n), DELTA)) < 1e-9, `department spent ${budget.department!.spent}`);
  }
  assert.equal(shares, n);
});
