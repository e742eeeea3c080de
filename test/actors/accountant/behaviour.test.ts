/**
 * The Accountant actor on a real ActorSystem and a real LMDB directory: the protocol end to
 * end, the audit trail it writes, recovery from the trail after a restart, typed rejections
 * that change nothing, expiry into commits, and a refusal to start on a tampered trail.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { open } from "lmdb";
import { ActorSystem, actor, supervisor, type Sender } from "../../../runtime/index.ts";
import { accountant, AccountantClient, exponential, gaussian, gnmax, readAuditTrail, selfComposed, spendOf, verifyStoredAudit, type AccountantOptions, type PrivacyEvent } from "../../../actors/accountant/index.ts";
import { entryOfRecord, recordOfEntry, tempDir, withNodeStore } from "../../fixtures/node-store.ts";

const STORE_ID = "user/privacy/accountant";

async function withAccountant<T>(dir: string, options: AccountantOptions, run: (client: AccountantClient, system: ActorSystem) => Promise<T>): Promise<T> {
  const system = await ActorSystem.start({ node: "h1", persistence: { path: dir }, logLevel: "error" });
  try {
    const spec = actor("accountant", accountant, options);
    await system.startChild(supervisor("privacy", [spec]));
    return await run(new AccountantClient(system.refOf(spec, "privacy"), 20_000), system);
  } finally {
    await system.stop();
  }
}

function trailOf(dir: string): { actions: string[]; verdict: ReturnType<typeof verifyStoredAudit> } {
  // Opened after the system closed its environment.
  return withNodeStore(dir, (store) => ({ actions: [...readAuditTrail(store, STORE_ID).entries].map((e) => e.action), verdict: verifyStoredAudit(store, STORE_ID) }));
}

const OPTIONS: AccountantOptions = { ledger: { defaultUserEpsilon: 2 } };
const OPERATOR: Sender = { kind: "operator", operator: "ops-1" };

test("reserve, commit, release, budget, history, report and setBudget work end to end and every change is in a verified trail", async (t) => {
  const dir = tempDir(t, "fedrouter-accountant-");
  await withAccountant(dir, OPTIONS, async (client) => {
    const r1 = await client.reserve({ key: "q1", user: "dr-lee", department: "radiology", event: selfComposed(gnmax(40), 16), requestId: "req-1", contentHash: "a".repeat(64) });
    assert.equal(r1.type, "reserved");
    if (r1.type !== "reserved") return;
    assert.equal(r1.duplicate, false);
    assert.ok(r1.cost.epsilon > 0 && r1.cost.delta === 1e-5);
    const c1 = await client.commit(r1.reservation, selfComposed(gnmax(40), 9)); // generated 9 of 16 tokens
    assert.equal(c1.type, "committed");
    const r2 = await client.reserve({ key: "q2", user: "dr-lee", department: "radiology", event: gaussian(10) });
    assert.equal(r2.type, "reserved");
    if (r2.type !== "reserved") return;
    assert.equal((await client.release(r2.reservation, false)).type, "released");

    const budget = await client.budget("dr-lee", "radiology");
    if (budget.type !== "budget") return assert.fail(JSON.stringify(budget));
    assert.equal(budget.user.limit, 2);
    assert.equal(budget.department!.limit, 10);
    assert.ok(Math.abs(budget.user.spent - spendOf([selfComposed(gnmax(40), 9)], 1e-5)) < 1e-9, String(budget.user.spent));

    const history = await client.history("dr-lee");
    if (history.type !== "history") return assert.fail(JSON.stringify(history));
    assert.deepEqual(history.charges.map((c) => c.state), ["committed", "released"]);

    assert.equal((await client.as(OPERATOR).setBudget("user", "dr-lee", 0.5)).type, "budget-set");
    const refused = await client.reserve({ key: "q3", user: "dr-lee", department: "radiology", event: gaussian(3) });
    if (refused.type !== "refused") return assert.fail(JSON.stringify(refused));
    assert.equal(refused.reason, "user");
    assert.match(refused.message, /^BUDGET_EXCEEDED: user dr-lee has ε 0\.\d{4} left, this request needs \d+\.\d{4}; resets /);

    const report = await client.report();
    if (report.type !== "report") return assert.fail(JSON.stringify(report));
    assert.deepEqual(report.users.map((u) => [u.name, u.charges, u.limit]), [["dr-lee", 2, 0.5]]);
  });
  const { actions, verdict } = trailOf(dir);
  assert.deepEqual(actions, ["reserve", "commit", "reserve", "release", "set-budget", "refuse"]);
  assert.equal(verdict.ok, true);
  const entries = withNodeStore(dir, (store) => [...readAuditTrail(store, STORE_ID).entries]);
  assert.equal(entries[0]!.requestId, "req-1");
  assert.equal(entries[0]!.contentHash, "a".repeat(64));
  assert.equal(JSON.stringify(entries).includes("prompt"), false);
});

test("after a restart the ledger is rebuilt from the trail: same budget, retries still duplicates, new ids unlike the old", async (t) => {
  const dir = tempDir(t, "fedrouter-accountant-");
  const event = exponential(0.5);
  const first = await withAccountant(dir, OPTIONS, async (client) => {
    const a = await client.reserve({ key: "k1", user: "u1", department: "general", event });
    const b = await client.reserve({ key: "k2", user: "u1", department: "general", event });
    if (a.type !== "reserved" || b.type !== "reserved") return assert.fail("not reserved");
    await client.commit(a.reservation, event);
    return { a: a.reservation, b: b.reservation, budget: await client.budget("u1", "general") };
  });
  await withAccountant(dir, OPTIONS, async (client) => {
    assert.deepEqual(await client.budget("u1", "general"), first.budget);
    const retry = await client.reserve({ key: "k2", user: "u1", department: "general", event });
    assert.equal(retry.type === "reserved" && retry.duplicate && retry.reservation === first.b, true, JSON.stringify(retry));
    const c = await client.commit(first.b, event); // the reservation made before the restart is still open
    assert.equal(c.type, "committed");
    const next = await client.reserve({ key: "k3", user: "u1", department: "general", event });
    if (next.type !== "reserved") return assert.fail(JSON.stringify(next));
    assert.match(next.reservation, /^res-[0-9a-f]{32}$/);
    assert.ok(next.reservation !== first.a && next.reservation !== first.b);
    assert.equal((await client.commit(first.a, event)).type === "committed" && true, true); // a repeated commit: idempotent
  });
  assert.equal(trailOf(dir).verdict.ok, true);
});

test("bad input gets a typed rejection and changes neither the ledger nor the trail", async (t) => {
  const dir = tempDir(t, "fedrouter-accountant-");
  await withAccountant(dir, OPTIONS, async (client) => {
    const ok = await client.reserve({ key: "base", user: "u1", department: "general", event: gaussian(8) });
    if (ok.type !== "reserved") return assert.fail("not reserved");
    const before = await client.history("u1");
    const base = { key: "k", user: "u1", department: "general" };
    const cases: [string, () => Promise<unknown>][] = [
      ["INVALID_PRIVACY_PARAMETER", () => client.reserve({ ...base, event: gaussian(-1) })],
      ["INVALID_REQUEST", () => client.reserve({ ...base, event: gaussian(Number.NaN) })],
      ["INVALID_REQUEST", () => client.reserve({ ...base, event: exponential(Infinity) })],
      ["INVALID_PRIVACY_PARAMETER", () => client.reserve({ ...base, event: exponential(-0.5) })],
      ["UNSUPPORTED_PRIVACY_EVENT", () => client.reserve({ ...base, event: { kind: "teleport" } as unknown as PrivacyEvent })],
      ["UNKNOWN_DEPARTMENT", () => client.reserve({ ...base, department: "dentistry", event: gaussian(8) })],
      ["INVALID_REQUEST", () => client.reserve({ ...base, user: "has space", event: gaussian(8) })],
      ["INVALID_REQUEST", () => client.reserve({ ...base, key: "", event: gaussian(8) })],
      ["INVALID_REQUEST", () => client.reserve({ ...base, event: gaussian(8), contentHash: "the patient said…" })],
      ["UNKNOWN_RESERVATION", () => client.commit("res-999", gaussian(8))],
      ["COMMIT_EXCEEDS_RESERVATION", () => client.commit(ok.reservation, gaussian(2))],
      ["OUTPUT_ALREADY_RELEASED", () => client.release(ok.reservation, true)],
      ["INVALID_REQUEST", () => client.as(OPERATOR).setBudget("user", "u1", -1)],
      ["INVALID_REQUEST", () => client.ref.ask((replyTo) => ({ type: "reserve", key: "x", replyTo }) as never)],
      ["INVALID_REQUEST", () => client.ref.ask((replyTo) => ({ type: "launch-missiles", replyTo }) as never)],
    ];
    for (const [code, call] of cases) {
      const reply = (await call()) as { type: string; code?: string; message?: string };
      assert.equal(reply.type, "rejected", `${code}: ${JSON.stringify(reply)}`);
      assert.equal(reply.code, code, reply.message);
      assert.ok((reply.message ?? "").length > 10, reply.message);
    }
    assert.deepEqual(await client.history("u1"), before);
  });
  assert.deepEqual(trailOf(dir).actions, ["reserve"]);
});

test("an overdue reservation expires into a commit at its worst case, recorded in the trail", async (t) => {
  const dir = tempDir(t, "fedrouter-accountant-");
  await withAccountant(dir, { ledger: { reservationTtlMs: 150 }, tickMs: 25 }, async (client) => {
    const r = await client.reserve({ key: "k", user: "u1", department: "general", event: exponential(1) });
    if (r.type !== "reserved") return assert.fail("not reserved");
    const deadline = Date.now() + 10_000;
    for (;;) {
      const h = await client.history("u1");
      if (h.type === "history" && h.charges[0]?.state === "committed") {
        assert.equal(h.charges[0].expired, true);
        break;
      }
      assert.ok(Date.now() < deadline, "the reservation expired within 10 s");
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal((await client.release(r.reservation, false)).type, "rejected");
  });
  assert.deepEqual(trailOf(dir).actions, ["reserve", "expire"]);
});

test("the Accountant refuses to start on a tampered trail, naming the broken entry", async (t) => {
  const dir = tempDir(t, "fedrouter-accountant-");
  await withAccountant(dir, OPTIONS, async (client) => {
    for (let i = 0; i < 3; i++) await client.reserve({ key: `k${i}`, user: "u1", department: "general", event: gaussian(10) });
  });
  const root = open({ path: dir });
  const journal = root.openDB("journal", {});
  const entry = entryOfRecord(journal.get([STORE_ID, 2]));
  await journal.put([STORE_ID, 2], recordOfEntry({ ...entry, user: "u2" }));
  await root.close();
  const system = await ActorSystem.start({ node: "h1", persistence: { path: dir }, logLevel: "error" });
  try {
    await assert.rejects(system.startChild(supervisor("privacy", [actor("accountant", accountant, OPTIONS)])), (e: Error) => /seq 2 \(edited\)/.test(e.message) || /seq 2 \(edited\)/.test(String((e as { reason?: unknown }).reason)));
  } finally {
    await system.stop();
  }
});
