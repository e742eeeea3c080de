/**
 * The Accountant's gate (validation.ts): every id it takes is 1..MAX_ID_CHARS printable ASCII
 * characters without spaces, the bound the ledger and the audit trail hold too, so what passes
 * the gate is charged and recorded, and what does not is a rejection naming the field and the
 * bound (issue 15, finding 4: it said `Too big`).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ActorSystem, actor, supervisor } from "../../../runtime/index.ts";
import { accountant, AccountantClient, gnmax, readAuditTrail, verifyStoredAudit } from "../../../actors/accountant/index.ts";
import { invalidMessage, MAX_ID_CHARS, MAX_RESERVATION_KEY_CHARS } from "../../../actors/accountant/validation.ts";
import { tempDir, withNodeStore } from "../../fixtures/node-store.ts";

const replyTo = { tell: () => undefined };
const reserve = (fields: Record<string, unknown> = {}) => ({ type: "reserve", key: "k-1", user: "dr-lee", department: "radiology", event: gnmax(40), replyTo, ...fields });

test("ids are bounded by one constant, 128, and a reserve key by the same", () => {
  assert.equal(MAX_ID_CHARS, 128);
  assert.equal(MAX_RESERVATION_KEY_CHARS, MAX_ID_CHARS);
});

test("a reserve whose key, user and request id are each exactly the bound passes the gate; one character more is rejected naming the field and the bound", () => {
  const max = "x".repeat(MAX_ID_CHARS);
  assert.equal(invalidMessage(reserve({ key: max, user: max, requestId: max })), null);
  for (const field of ["key", "user", "department", "requestId"]) {
    const rejected = invalidMessage(reserve({ [field]: "x".repeat(MAX_ID_CHARS + 1) }));
    assert.equal(rejected?.code, "INVALID_REQUEST", field);
    assert.equal(rejected?.field, field);
    assert.equal(rejected?.message, `reserve.${field}: must be 1..128 printable ASCII characters without spaces (got 129)`);
  }
  assert.equal(invalidMessage(reserve({ key: "" }))?.message, "reserve.key: must be 1..128 printable ASCII characters without spaces (got 0)");
  assert.equal(invalidMessage(reserve({ key: "a b" }))?.message, "reserve.key: must be 1..128 printable ASCII characters without spaces");
  const budget = invalidMessage({ type: "budget", user: "u".repeat(MAX_ID_CHARS + 1), replyTo });
  assert.equal(budget?.message, "budget.user: must be 1..128 printable ASCII characters without spaces (got 129)");
});

test("what passes the gate at the bound is charged and recorded: a 128-character key, user and request id reserve, and the trail verifies", async (t) => {
  const dir = tempDir(t, "fedrouter-accountant-ids-");
  const max = (c: string) => c.repeat(MAX_ID_CHARS);
  const system = await ActorSystem.start({ node: "h1", persistence: { path: dir }, logLevel: "error" });
  try {
    const spec = actor("accountant", accountant, { ledger: { defaultUserEpsilon: 50 } });
    await system.startChild(supervisor("privacy", [spec]));
    const client = new AccountantClient(system.refOf(spec, "privacy"), 20_000);
    const reply = await client.reserve({ key: max("k"), user: max("u"), department: "radiology", event: gnmax(40), requestId: max("r") });
    assert.equal(reply.type, "reserved", JSON.stringify(reply));
    const budget = await client.budget(max("u"));
    assert.equal(budget.type, "budget", JSON.stringify(budget));
  } finally {
    await system.stop();
  }
  withNodeStore(dir, (store) => {
    assert.deepEqual(verifyStoredAudit(store, "user/privacy/accountant").ok, true);
    const entry = [...readAuditTrail(store, "user/privacy/accountant").entries].find((e) => e.action === "reserve");
    assert.equal(entry?.key, max("k"));
  });
});

test("the gate takes Confident-GNMax's threshold check as an event, with its σ and nothing else (issue 14)", () => {
  const confident = { kind: "composed", events: [{ kind: "selfComposed", event: { kind: "thresholdCheck", sigma: 2 }, count: 4 }, { kind: "selfComposed", event: gnmax(4), count: 4 }] };
  assert.equal(invalidMessage(reserve({ event: confident })), null);
  assert.equal(invalidMessage(reserve({ event: { kind: "thresholdCheck" } }))?.code, "INVALID_REQUEST");
  assert.equal(invalidMessage(reserve({ event: { kind: "thresholdCheck", sigma: 2, threshold: 2 } }))?.code, "INVALID_REQUEST", "T is not a parameter of the charge");
});
