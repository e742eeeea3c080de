/**
 * Between the ledger and its trail (trail.ts): a reservation's owner is written and read back,
 * an entry from before owners were recorded reads as the local node's, and an operator action is
 * recorded by names only and changes no budget.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { appendAudit } from "../../../actors/accountant/audit.ts";
import { gaussian } from "../../../privacy/index.ts";
import type { Charge } from "../../../actors/accountant/ledger-types.ts";
import { factOf, operatorActionFields, reservedFields } from "../../../actors/accountant/trail.ts";

const charge = (over: Partial<Charge> = {}): Charge => ({
  id: "res-0123456789abcdef0123456789abcdef", key: "k1", user: "dr-lee", department: "oncology", event: gaussian(10), state: "reserved",
  period: "2026-11", periodEndMs: 2, createdMs: 1, expiresMs: 3, ...over,
});

test("a reserve entry records its owner, and the fact read back from it carries that owner", () => {
  const entry = appendAudit(undefined, reservedFields(charge({ owner: "peer:h-b" }), 0.1, { user: 1, department: 2 }, 1e-5, {}));
  assert.equal(entry.owner, "peer:h-b");
  assert.deepEqual(factOf(entry), { type: "reserved", id: charge().id, key: "k1", owner: "peer:h-b", user: "dr-lee", department: "oncology", event: gaussian(10), atMs: 1 });
});

test("a reserve entry written before owners were recorded reads back without one (the local node's)", () => {
  const entry = appendAudit(undefined, reservedFields(charge(), 0.1, { user: 1, department: 2 }, 1e-5, {}));
  assert.equal("owner" in entry, false);
  const fact = factOf(entry);
  assert.equal(fact?.type === "reserved" && "owner" in fact, false);
});

test("an operator action is recorded by names only and is no ledger fact", () => {
  const fields = operatorActionFields(9, { operator: "ops-1", action: "tell", target: "fed://h-a/user/node/router", messageType: "drain" });
  assert.deepEqual(fields, { atMs: 9, actor: "ops-1", action: "operator-action", operation: "tell", target: "fed://h-a/user/node/router", messageType: "drain" });
  assert.equal(factOf(appendAudit(undefined, fields)), null);
});
