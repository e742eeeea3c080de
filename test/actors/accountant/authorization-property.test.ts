/**
 * Property (issue 11): for any interleaving of reserves, retried keys, commits and releases from
 * several senders — two users of this node, this node's own code, peer hospitals A and B, and a
 * forger that replays every reservation id and key it has seen — the Accountant answers exactly
 * as a small model of the rules says, every unauthorized act is FORBIDDEN and counted as a
 * "forbidden" dead letter, and each user's spent ε is the composition of what authorized senders
 * committed (and still hold reserved), computed from scratch. One ActorSystem and one LMDB
 * directory serve every run; each run has users of its own, so budgets start from zero.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { ActorSystem, actor, supervisor, type DeadLetter, type Sender } from "../../../runtime/index.ts";
import { accountant, AccountantClient, gaussian, readAuditTrail, spendOf, verifyStoredAudit, type PrivacyEvent } from "../../../actors/accountant/index.ts";
import { tempDir, withNodeStore } from "../../fixtures/node-store.ts";

const NODE = "h-a";
const DELTA = 1e-5;
const EVENTS: readonly PrivacyEvent[] = [gaussian(8), gaussian(12)];
const KEYS = 5;
/** Who may be asked to act; users are made per run (0 and 1), the rest are fixed. */
const ACTORS = ["userA", "userB", "local", "peerA", "peerB", "forger"] as const;
type ActorName = (typeof ACTORS)[number];

type Cmd =
  | { readonly op: "reserve"; readonly by: ActorName; readonly forUser: 0 | 1; readonly key: number }
  | { readonly op: "commit"; readonly by: ActorName; readonly pick: number; readonly smaller: boolean }
  | { readonly op: "release"; readonly by: ActorName; readonly pick: number };

interface ModelCharge {
  readonly id: string;
  readonly owner: string;
  readonly user: 0 | 1;
  readonly event: PrivacyEvent;
  state: "reserved" | "committed" | "released";
  actual?: PrivacyEvent;
}

const by = fc.constantFrom(...ACTORS);
const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  fc.record({ op: fc.constant("reserve" as const), by, forUser: fc.constantFrom(0 as const, 1 as const), key: fc.nat(KEYS - 1) }),
  fc.record({ op: fc.constant("commit" as const), by, pick: fc.nat(50), smaller: fc.boolean() }),
  fc.record({ op: fc.constant("release" as const), by, pick: fc.nat(50) }),
);

const sameEvent = (a: PrivacyEvent, b: PrivacyEvent) => JSON.stringify(a) === JSON.stringify(b);
const cheaper = (e: PrivacyEvent): PrivacyEvent => (e.kind === "gaussian" ? gaussian(e.sigma * 2) : e);

test("property: any interleaving from users, this node, peers and a forger: only owners settle, every unauthorized act is FORBIDDEN and counted, spent ε = what authorized senders committed", async (t) => {
  const dir = tempDir(t, "fedrouter-accountant-authz-");
  const system = await ActorSystem.start({ node: NODE, persistence: { path: dir }, logLevel: "error" });
  const forbidden: DeadLetter[] = [];
  const subscription = system.deadLetters$.subscribe((letter) => { if (letter.reason === "forbidden") forbidden.push(letter); });
  let run = 0;
  try {
    const spec = actor("accountant", accountant, { ledger: { defaultUserEpsilon: 1_000 }, tight: "none", tickMs: 3_600_000 });
    await system.startChild(supervisor("privacy", [spec]));
    const local = new AccountantClient(system.refOf(spec, "privacy"), 20_000);

    await fc.assert(fc.asyncProperty(fc.array(cmdArb, { minLength: 1, maxLength: 30 }), async (cmds) => {
      run++;
      const users = [`ua-${run}`, `ub-${run}`] as const;
      const departments = ["radiology", "cardiology"] as const;
      const senders: Record<ActorName, Sender> = {
        userA: { kind: "user", user: users[0], role: "doctor", department: departments[0] },
        userB: { kind: "user", user: users[1], role: "nurse", department: departments[1] },
        local: { kind: "local", node: NODE },
        peerA: { kind: "peer", node: "h-b" },
        peerB: { kind: "peer", node: "h-c" },
        forger: { kind: "peer", node: "h-x" },
      };
      // The model's own statement of the rules (not the ledger's code).
      const ownerOf = (s: Sender) => (s.kind === "user" ? `user:${s.user}` : s.kind === "operator" ? "" : `${s.kind}:${s.node}`);
      const allowed = (owner: string, s: Sender) => (s.kind === "local" ? owner.startsWith("local:") || owner.startsWith("user:") : owner === ownerOf(s));

      const byKey = new Map<string, ModelCharge>();
      const byId = new Map<string, ModelCharge>();
      /** Every id any sender was told: what the forger replays. */
      const seen: string[] = [];
      const lettersBefore = forbidden.length;
      let expectedForbidden = 0;

      for (const cmd of cmds) {
        const sender = senders[cmd.by];
        const client = cmd.by === "local" ? local : local.as(sender);
        let expected: string;
        let reply: { type: string; code?: string; reservation?: string; duplicate?: boolean };
        if (cmd.op === "reserve") {
          const key = `r${run}-k${cmd.key}`;
          const event = EVENTS[cmd.key % EVENTS.length]!;
          const existing = byKey.get(key);
          if (sender.kind === "user" && sender.user !== users[cmd.forUser]) expected = "FORBIDDEN";
          else if (existing === undefined) expected = "reserved";
          else if (!allowed(existing.owner, sender)) expected = "FORBIDDEN";
          else if (existing.user !== cmd.forUser || !sameEvent(existing.event, event)) expected = "IDEMPOTENCY_KEY_REUSED";
          else expected = "duplicate";
          reply = await client.reserve({ key, user: users[cmd.forUser], department: departments[cmd.forUser], event });
          if (expected === "reserved" && reply.type === "reserved") {
            const charge: ModelCharge = { id: reply.reservation!, owner: ownerOf(sender), user: cmd.forUser, event, state: "reserved" };
            byKey.set(key, charge);
            byId.set(charge.id, charge);
          }
          if (expected === "duplicate") assert.equal(reply.reservation, existing!.id, "a retried key gets its own reservation back");
          if (reply.reservation !== undefined) seen.push(reply.reservation);
        } else {
          const id = seen.length > 0 ? seen[cmd.pick % seen.length]! : `res-${"0".repeat(32)}`;
          const charge = byId.get(id);
          const actual = cmd.op === "commit" && charge !== undefined ? (cmd.smaller ? cheaper(charge.event) : charge.event) : EVENTS[0]!;
          if (charge === undefined) expected = "UNKNOWN_RESERVATION";
          else if (!allowed(charge.owner, sender)) expected = "FORBIDDEN";
          else if (cmd.op === "commit") {
            expected = charge.state === "reserved" ? "committed" : charge.state === "committed" && sameEvent(charge.actual!, actual) ? "committed-again" : "ALREADY_SETTLED";
            if (expected === "committed") Object.assign(charge, { state: "committed", actual });
          } else {
            expected = charge.state === "reserved" ? "released" : charge.state === "released" ? "released-again" : "ALREADY_SETTLED";
            if (expected === "released") charge.state = "released";
          }
          reply = cmd.op === "commit" ? await client.commit(id, actual) : await client.release(id, false);
        }
        const got = reply.type === "rejected" ? reply.code! : reply.duplicate ? (reply.type === "reserved" ? "duplicate" : `${reply.type}-again`) : reply.type;
        assert.equal(got, expected, `${cmd.by} ${JSON.stringify(cmd)}: ${JSON.stringify(reply)}`);
        if (expected === "FORBIDDEN") expectedForbidden++;
      }

      assert.equal(forbidden.length - lettersBefore, expectedForbidden, "each unauthorized act is one forbidden dead letter");
      for (const u of [0, 1] as const) {
        const events = [...byId.values()].filter((c) => c.user === u && c.state !== "released").map((c) => c.actual ?? c.event);
        const budget = await local.budget(users[u]);
        if (budget.type !== "budget") return assert.fail(JSON.stringify(budget));
        const expectedSpent = spendOf(events, DELTA, { tight: null });
        assert.ok(Math.abs(budget.user.spent - expectedSpent) <= 1e-9, `${users[u]} spent ${budget.user.spent}, expected ${expectedSpent}`);
      }
    }), { numRuns: 60, seed: 11 });
  } finally {
    subscription.unsubscribe();
    await system.stop();
  }
  assert.equal(withNodeStore(dir, (store) => verifyStoredAudit(store, "user/privacy/accountant")).ok, true);
  assert.ok(withNodeStore(dir, (store) => [...readAuditTrail(store, "user/privacy/accountant").entries].some((e) => e.owner === "peer:h-b")));
});
