/**
 * The Accountant's rules beyond the runtime's gate (authorization.ts), as a table: which sender
 * may send which message, with plain objects and no actor system.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { compileAccess, type ActorRef, type Sender } from "../../../runtime/index.ts";
import { ACCOUNTANT_ACCESS, gaussian, type AccountantMsg } from "../../../actors/accountant/index.ts";
import { ownerOf, refusalFor, setterOf } from "../../../actors/accountant/authorization.ts";

/** One stand-in ref for every reply type: these messages are judged, never answered. */
const replyTo = { path: "test", tell: () => undefined } as unknown as ActorRef<any>;
const LOCAL: Sender = { kind: "local", node: "h-a" };
const PEER: Sender = { kind: "peer", node: "h-b" };
const OPERATOR: Sender = { kind: "operator", operator: "ops-1" };
const DOCTOR: Sender = { kind: "user", user: "dr-lee", role: "doctor", department: "oncology" };
const ADMIN: Sender = { kind: "user", user: "ada", role: "admin", department: "it" };
const OPS_USER: Sender = { kind: "user", user: "olu", role: "operator", department: "it" };

const messages = {
  reserveOwn: { type: "reserve", key: "k", user: "dr-lee", department: "oncology", event: gaussian(10), replyTo },
  reserveOther: { type: "reserve", key: "k", user: "dr-ng", department: "oncology", event: gaussian(10), replyTo },
  reserveOtherDept: { type: "reserve", key: "k", user: "dr-lee", department: "radiology", event: gaussian(10), replyTo },
  commit: { type: "commit", reservation: "res-1", actual: gaussian(10), replyTo },
  release: { type: "release", reservation: "res-1", noisyOutputReleased: false, replyTo },
  budgetOwn: { type: "budget", user: "dr-lee", department: "oncology", replyTo },
  budgetOwnNoDept: { type: "budget", user: "dr-lee", replyTo },
  budgetOther: { type: "budget", user: "dr-ng", replyTo },
  budgetOtherDept: { type: "budget", user: "dr-lee", department: "radiology", replyTo },
  historyOwn: { type: "history", user: "dr-lee", replyTo },
  historyOther: { type: "history", user: "dr-ng", replyTo },
  setBudget: { type: "setBudget", scope: "department", name: "oncology", epsilon: 5, replyTo },
  report: { type: "report", replyTo },
  tick: { type: "tick" },
  operatorAction: { type: "operatorAction", operator: "ops-1", action: "restart", target: "fed://h-a/user/router", replyTo },
} satisfies Record<string, AccountantMsg>;
type Name = keyof typeof messages;

/** The messages each sender may send; every other one is FORBIDDEN. */
const allowed: [string, Sender, readonly Name[]][] = [
  ["local code", LOCAL, ["reserveOwn", "reserveOther", "reserveOtherDept", "commit", "release", "budgetOwn", "budgetOwnNoDept", "budgetOther", "budgetOtherDept", "historyOwn", "historyOther", "report", "tick", "operatorAction"]],
  ["a peer hospital", PEER, ["reserveOwn", "reserveOther", "reserveOtherDept", "commit", "release"]],
  ["an operator", OPERATOR, ["budgetOwn", "budgetOwnNoDept", "budgetOther", "budgetOtherDept", "historyOwn", "historyOther", "setBudget", "report"]],
  ["a doctor", DOCTOR, ["reserveOwn", "commit", "release", "budgetOwn", "budgetOwnNoDept", "historyOwn"]],
  ["an admin user", ADMIN, ["commit", "release", "budgetOwn", "budgetOwnNoDept", "budgetOther", "budgetOtherDept", "historyOwn", "historyOther", "setBudget", "report"]],
  ["a user with role operator", OPS_USER, ["commit", "release", "budgetOwn", "budgetOwnNoDept", "budgetOther", "budgetOtherDept", "historyOwn", "historyOther"]],
];

/** The runtime's gate (by sender kind), as the fabric applies ACCOUNTANT_ACCESS before the Accountant sees a message. */
const gate = compileAccess(ACCOUNTANT_ACCESS);

test("each sender may send exactly its messages: the runtime's gate by kind, then the Accountant's rules, FORBIDDEN naming the user", () => {
  for (const [who, sender, names] of allowed) {
    for (const [name, msg] of Object.entries(messages) as [Name, AccountantMsg][]) {
      const admitted = gate.allows(msg.type, sender.kind);
      const refusal = admitted ? refusalFor(msg, sender) : null;
      if (names.includes(name)) assert.ok(admitted && refusal === null, `${who} may send ${name}: ${refusal?.message ?? "refused by the gate"}`);
      else if (admitted) {
        assert.equal(refusal?.code, "FORBIDDEN", `${who} may not send ${name}`);
        assert.match(refusal!.message, /^FORBIDDEN: user:/, refusal!.message);
      }
    }
  }
});

test("owners and setters come from the runtime's sender", () => {
  assert.equal(ownerOf(LOCAL), "local:h-a");
  assert.equal(ownerOf(PEER), "peer:h-b");
  assert.equal(ownerOf(DOCTOR), "user:dr-lee");
  assert.throws(() => ownerOf(OPERATOR), /owns no reservations/);
  assert.equal(setterOf(OPERATOR), "ops-1");
  assert.equal(setterOf(ADMIN), "user:ada");
});
