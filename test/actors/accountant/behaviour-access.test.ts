/**
 * Who may ask the Accountant what (issue 11, "Trust across the federation"), on a real
 * ActorSystem and a real LMDB directory: the runtime's gate by sender kind, reservations settled
 * only by whoever made them (also after a restart, also for a trail older than owners), users
 * reserving and reading for themselves only, budgets set by operators and admins with the trail
 * naming them, and operator actions recorded before they take effect. Every refusal changes
 * nothing and is counted as a "forbidden" dead letter.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ActorSystem, actor, supervisor, type DeadLetter, type Sender } from "../../../runtime/index.ts";
import {
  accountant, AccountantClient, gaussian, readAuditTrail, verifyStoredAudit,
  type AccountantMsg, type AccountantOptions, type AuditEntry, type PrivacyEvent, type SettleReply,
} from "../../../actors/accountant/index.ts";
import { tempDir, withNodeStore, writeAuditTrail } from "../../fixtures/node-store.ts";

const STORE_ID = "user/privacy/accountant";
const OPTIONS: AccountantOptions = { ledger: { defaultUserEpsilon: 20 } };
const EVENT: PrivacyEvent = gaussian(10);

const PEER_B: Sender = { kind: "peer", node: "h-b" };
const PEER_C: Sender = { kind: "peer", node: "h-c" };
const OPERATOR: Sender = { kind: "operator", operator: "ops-1" };
const DR_LEE: Sender = { kind: "user", user: "dr-lee", role: "doctor", department: "radiology" };
const DR_NG: Sender = { kind: "user", user: "dr-ng", role: "nurse", department: "radiology" };
const ADMIN: Sender = { kind: "user", user: "ada", role: "admin", department: "general" };

interface Harness {
  readonly local: AccountantClient;
  readonly system: ActorSystem;
  /** "forbidden" dead letters seen so far. */
  readonly forbidden: DeadLetter[];
}

async function withAccountant<T>(dir: string, run: (h: Harness) => Promise<T>): Promise<T> {
  const system = await ActorSystem.start({ node: "h-a", persistence: { path: dir }, logLevel: "error" });
  const forbidden: DeadLetter[] = [];
  const subscription = system.deadLetters$.subscribe((letter) => { if (letter.reason === "forbidden") forbidden.push(letter); });
  try {
    const spec = actor("accountant", accountant, OPTIONS);
    await system.startChild(supervisor("privacy", [spec]));
    return await run({ local: new AccountantClient(system.refOf(spec, "privacy"), 20_000), system, forbidden });
  } finally {
    subscription.unsubscribe();
    await system.stop();
  }
}

const trailOf = (dir: string): AuditEntry[] => withNodeStore(dir, (store) => [...readAuditTrail(store, STORE_ID).entries]);
const isForbidden = (e: unknown) => (e as { code?: unknown }).code === "FORBIDDEN";

function assertForbidden(reply: { type: string; code?: string; message?: string }, what: string): void {
  assert.equal(reply.type, "rejected", `${what}: ${JSON.stringify(reply)}`);
  assert.equal(reply.code, "FORBIDDEN", `${what}: ${reply.message}`);
}

async function reserved(client: AccountantClient, key: string, user = "dr-lee", department = "radiology"): Promise<string> {
  const r = await client.reserve({ key, user, department, event: EVENT });
  if (r.type !== "reserved") return assert.fail(`${key}: ${JSON.stringify(r)}`);
  return r.reservation;
}

test("the runtime lets each message in only from the sender kinds ACCOUNTANT_ACCESS lists: a peer hospital never reads budgets or histories", async (t) => {
  const dir = tempDir(t, "fedrouter-accountant-access-");
  await withAccountant(dir, async ({ local, system, forbidden }) => {
    await reserved(local, "k0");
    const peer = local.as(PEER_B);
    const attempts: [string, () => Promise<unknown>][] = [
      ["peer budget", () => peer.budget("dr-lee", "radiology")],
      ["peer history", () => peer.history("dr-lee")],
      ["peer setBudget", () => peer.setBudget("department", "radiology", 100)],
      ["peer report", () => peer.report()],
      ["peer operatorAction", () => peer.recordOperatorAction({ operator: "ops-1", action: "restart", target: "fed://h-a/user/router" })],
      ["operator reserve", () => local.as(OPERATOR).reserve({ key: "k1", user: "dr-lee", department: "radiology", event: EVENT })],
      ["operator commit", () => local.as(OPERATOR).commit("res-x", EVENT)],
      ["local setBudget", () => local.setBudget("department", "radiology", 100)],
      ["user operatorAction", () => local.as(ADMIN).recordOperatorAction({ operator: "ops-1", action: "restart", target: "fed://h-a/user/router" })],
    ];
    for (const [what, attempt] of attempts) await assert.rejects(attempt(), isForbidden, what);
    system.ref<AccountantMsg>(system.pathOf("privacy", "accountant")).tell({ type: "tick" }, { as: PEER_B });
    assert.equal(forbidden.length, attempts.length + 1);
    assert.ok(forbidden.some((l) => l.sender === "peer:h-b" && l.messageType === "budget"));
  });
  assert.deepEqual(trailOf(dir).map((e) => e.action), ["reserve"]);
});

test("a peer settles only what its own node reserved: another hospital, this node's code and a user get FORBIDDEN, nothing changes, each refusal counted", async (t) => {
  const dir = tempDir(t, "fedrouter-accountant-access-");
  const [ofB, open] = await withAccountant(dir, async ({ local, forbidden }) => {
    const b = local.as(PEER_B);
    const ofB = await reserved(b, "b-1");
    const open = await reserved(b, "b-2");
    assert.match(ofB, /^res-[0-9a-f]{32}$/, "ids carry 128 random bits");
    const before = { budget: await local.budget("dr-lee", "radiology"), history: await local.history("dr-lee") };
    const c = local.as(PEER_C);
    const attempts: [string, () => Promise<SettleReply | { type: string }>][] = [
      ["another hospital commits", () => c.commit(ofB, EVENT)],
      ["another hospital releases", () => c.release(ofB, false)],
      ["this node's code commits a peer's", () => local.commit(ofB, EVENT)],
      ["this node's code releases a peer's", () => local.release(ofB, false)],
      ["a user commits a peer's", () => local.as(DR_LEE).commit(ofB, EVENT)],
      ["another hospital retries the key", () => c.reserve({ key: "b-1", user: "dr-lee", department: "radiology", event: EVENT })],
      ["this node retries a peer's key", () => local.reserve({ key: "b-1", user: "dr-lee", department: "radiology", event: EVENT })],
    ];
    for (const [what, attempt] of attempts) {
      const reply = (await attempt()) as { type: string; code?: string; message?: string };
      assertForbidden(reply, what);
      assert.ok(!reply.message!.includes(ofB) || what.includes("commit") || what.includes("release"), `${what} hands back no id: ${reply.message}`);
    }
    assert.equal(forbidden.length, attempts.length);
    assert.ok(forbidden.every((l) => l.to.endsWith("/privacy/accountant")));
    assert.deepEqual({ budget: await local.budget("dr-lee", "radiology"), history: await local.history("dr-lee") }, before);

    const retried = await b.reserve({ key: "b-1", user: "dr-lee", department: "radiology", event: EVENT });
    assert.equal(retried.type === "reserved" && retried.duplicate && retried.reservation, ofB, "its owner gets its reservation back");
    assert.equal((await b.commit(ofB, EVENT)).type, "committed");
    return [ofB, open] as const;
  });
  assert.deepEqual(trailOf(dir).map((e) => `${e.action}${e.owner ? ` ${e.owner}` : ""}`), ["reserve peer:h-b", "reserve peer:h-b", "commit"]);

  // After a restart the owners come back from the trail.
  await withAccountant(dir, async ({ local, forbidden }) => {
    assertForbidden(await local.as(PEER_C).release(open, false), "another hospital after a restart");
    assertForbidden(await local.commit(open, EVENT), "this node's code after a restart");
    assert.equal(forbidden.length, 2);
    assert.equal((await local.as(PEER_B).release(open, false)).type, "released");
    const history = await local.history("dr-lee");
    if (history.type !== "history") return assert.fail(JSON.stringify(history));
    assert.deepEqual(history.charges.map((c) => [c.id === ofB, c.owner, c.state]), [[true, "peer:h-b", "committed"], [false, "peer:h-b", "released"]]);
  });
  assert.equal(withNodeStore(dir, (store) => verifyStoredAudit(store, STORE_ID)).ok, true);
});

test("a user reserves only for itself in its own department and settles only what it reserved; this node's code settles its users'", async (t) => {
  const dir = tempDir(t, "fedrouter-accountant-access-");
  await withAccountant(dir, async ({ local, forbidden }) => {
    const lee = local.as(DR_LEE);
    assertForbidden(await lee.reserve({ key: "x1", user: "dr-ng", department: "radiology", event: EVENT }), "for another user");
    assertForbidden(await lee.reserve({ key: "x2", user: "dr-lee", department: "cardiology", event: EVENT }), "in another department");
    const own = await reserved(lee, "lee-1");
    const own2 = await reserved(lee, "lee-2");
    const byRouter = await reserved(local, "router-1"); // this node's code, for dr-lee
    assertForbidden(await local.as(DR_NG).commit(own, EVENT), "another user commits");
    assertForbidden(await lee.release(byRouter, false), "a user releases what this node's code reserved for it");
    assertForbidden(await local.as(DR_NG).reserve({ key: "lee-1", user: "dr-ng", department: "radiology", event: EVENT }), "another user retries the key");
    assertForbidden(await local.as(PEER_B).commit(own, EVENT), "a peer commits a user's");
    assert.equal(forbidden.length, 6);
    assert.equal((await lee.commit(own, EVENT)).type, "committed");
    assert.equal((await local.release(own2, false)).type, "released", "this node's code settles its users' reservations");
    assert.equal((await local.commit(byRouter, EVENT)).type, "committed");
  });
  const reserves = trailOf(dir).filter((e) => e.action === "reserve").map((e) => e.owner);
  assert.deepEqual(reserves, ["user:dr-lee", "user:dr-lee", "local:h-a"]);
});

test("a user reads only its own budget and history; admins and operators read anyone's; report needs an admin", async (t) => {
  const dir = tempDir(t, "fedrouter-accountant-access-");
  await withAccountant(dir, async ({ local, forbidden }) => {
    await reserved(local, "k1", "dr-ng");
    const lee = local.as(DR_LEE);
    assert.equal((await lee.budget("dr-lee", "radiology")).type, "budget");
    assert.equal((await lee.history("dr-lee")).type, "history");
    assertForbidden(await lee.budget("dr-ng"), "another user's budget");
    assertForbidden(await lee.budget("dr-lee", "cardiology"), "another department's budget");
    assertForbidden(await lee.history("dr-ng"), "another user's history");
    assertForbidden(await lee.report(), "a doctor's report");
    assert.equal(forbidden.length, 4);
    for (const reader of [local.as(ADMIN), local.as(OPERATOR), local.as({ ...DR_LEE, role: "operator" }), local]) {
      const history = await reader.history("dr-ng");
      assert.equal(history.type === "history" && history.charges.length, 1);
      assert.equal((await reader.budget("dr-ng", "radiology")).type, "budget");
    }
    assert.equal((await local.as(ADMIN).report()).type, "report");
    assert.equal((await local.as(OPERATOR).report()).type, "report");
  });
});

test("setBudget: the trail names who set it from the sender (an operator's CN, an admin as user:<id>); a self-declared operator field is refused", async (t) => {
  const dir = tempDir(t, "fedrouter-accountant-access-");
  await withAccountant(dir, async ({ local, forbidden }) => {
    assert.equal((await local.as(OPERATOR).setBudget("user", "dr-lee", 3)).type, "budget-set");
    assert.equal((await local.as(ADMIN).setBudget("department", "radiology", 7)).type, "budget-set");
    assertForbidden(await local.as(DR_LEE).setBudget("user", "dr-lee", 1_000), "a doctor raises its own budget");
    assert.equal(forbidden.length, 1);
    const forged = (await local.as(OPERATOR).ref.ask((replyTo) => ({ type: "setBudget", operator: "someone-else", scope: "user", name: "dr-lee", epsilon: 9, replyTo }) as never, { as: OPERATOR })) as { type: string; code?: string };
    assert.deepEqual([forged.type, forged.code], ["rejected", "INVALID_REQUEST"]);
    const spaced = await local.as({ kind: "operator", operator: "Ops One" }).setBudget("user", "dr-lee", 9);
    assert.equal(spaced.type === "rejected" && `${spaced.code} ${spaced.field}`, "INVALID_REQUEST sender");
    const budget = await local.budget("dr-lee", "radiology");
    if (budget.type !== "budget") return assert.fail(JSON.stringify(budget));
    assert.deepEqual([budget.user.limit, budget.department!.limit], [3, 7]);
  });
  assert.deepEqual(trailOf(dir).map((e) => [e.action, e.actor]), [["set-budget", "ops-1"], ["set-budget", "user:ada"]]);
});

test("operatorAction: recorded in the trail before the reply, by names only; changes no budget; a body or free text is refused", async (t) => {
  const dir = tempDir(t, "fedrouter-accountant-access-");
  await withAccountant(dir, async ({ local }) => {
    await reserved(local, "k1");
    const before = await local.budget("dr-lee", "radiology");
    const act = { operator: "ops-1", action: "tell", target: "fed://h-a/user/node/router", messageType: "drain", detail: "maintenance window 14:00" };
    const reply = await local.recordOperatorAction(act);
    assert.deepEqual(reply, { type: "recorded", seq: 2 });
    const entry = trailOf(dir).at(-1)!; // the reply waited for the synced write: it is on disk now
    assert.deepEqual([entry.seq, entry.action, entry.actor, entry.operation, entry.target, entry.messageType, entry.detail], [2, "operator-action", "ops-1", "tell", act.target, "drain", act.detail]);
    assert.deepEqual(await local.budget("dr-lee", "radiology"), before);
    const bads: [string, Record<string, unknown>][] = [
      ["a body", { ...act, body: { text: "the patient said…" } }],
      ["a multi-line detail", { ...act, detail: "a\nb" }],
      ["a long detail", { ...act, detail: "x".repeat(201) }],
      ["non-ASCII detail", { ...act, detail: "patient Zoë" }],
      ["a target with spaces", { ...act, target: "fed://h-a/user/a b" }],
      ["no operator", { ...act, operator: "" }],
    ];
    for (const [what, bad] of bads) {
      const r = (await local.ref.ask((replyTo) => ({ type: "operatorAction", ...bad, replyTo }) as never)) as { type: string; code?: string };
      assert.deepEqual([r.type, r.code], ["rejected", "INVALID_REQUEST"], what);
    }
  });
  await withAccountant(dir, async ({ local }) => {
    assert.equal((await local.recordOperatorAction({ operator: "ops-2", action: "restart", target: "fed://h-a/user/privacy/accountant" })).type, "recorded");
  });
  const trail = trailOf(dir);
  assert.deepEqual(trail.map((e) => e.action), ["reserve", "operator-action", "operator-action"]);
  assert.equal(withNodeStore(dir, (store) => verifyStoredAudit(store, STORE_ID)).ok, true);
});

test("a trail written before owners were recorded (its entries msgpack objects, not canonical bytes) still starts; its reservations are the local node's; the mixed trail verifies and replays", async (t) => {
  const dir = tempDir(t, "fedrouter-accountant-access-");
  const atMs = Date.now();
  const old = { atMs, actor: "dr-lee", user: "dr-lee", department: "radiology", event: EVENT, cost: { epsilon: 0.5, delta: 1e-5 }, remaining: { epsilon: 19, delta: 1e-5 } };
  await writeAuditTrail(dir, STORE_ID, [
    { ...old, action: "reserve", reservation: "res-1", key: "old-1" },
    { ...old, action: "reserve", reservation: "res-2", key: "old-2" },
  ], "object");
  await withAccountant(dir, async ({ local, forbidden }) => {
    assertForbidden(await local.as(PEER_B).commit("res-1", EVENT), "a peer settles an old reservation");
    assertForbidden(await local.as(DR_LEE).release("res-2", false), "a user settles an old reservation");
    assert.equal(forbidden.length, 2);
    assert.equal((await local.commit("res-1", EVENT)).type, "committed");
    assert.equal((await local.release("res-2", false)).type, "released");
    assert.match(await reserved(local, "new-1"), /^res-[0-9a-f]{32}$/);
  });
  assert.deepEqual(withNodeStore(dir, (store) => {
    const verdict = verifyStoredAudit(store, STORE_ID);
    return { ok: verdict.ok, actions: [...readAuditTrail(store, STORE_ID).entries].map((e) => e.action) };
  }), { ok: true, actions: ["reserve", "reserve", "commit", "release", "reserve"] });
  await withAccountant(dir, async ({ local }) => {
    assert.equal((await local.commit("res-1", EVENT)).type, "committed", "replayed from both formats: res-1 is settled");
    const again = await local.reserve({ key: "new-1", user: "dr-lee", department: "radiology", event: EVENT });
    assert.equal(again.type === "reserved" && again.duplicate, true, JSON.stringify(again));
  });
});
