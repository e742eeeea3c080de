import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { exponential, gaussian, InvalidPrivacyParameter, PldAccountant, RdpAccountant, UnsupportedPrivacyEvent, type PrivacyEvent } from "../../../actors/accountant/index.ts";
import {
  budget, commit, DEFAULT_LEDGER_CONFIG, emptyLedger, expire, LedgerError, prune, release, reserve,
  type LedgerAccountants, type LedgerConfig, type LedgerState,
} from "../../../actors/accountant/ledger.ts";

const NOW = Date.UTC(2026, 10, 24, 10, 0);
const DECEMBER = Date.UTC(2026, 11, 1, 0, 0, 1);
const config = (over: Partial<LedgerConfig> = {}): LedgerConfig => ({ ...DEFAULT_LEDGER_CONFIG, defaultUserEpsilon: 2, ...over });
const rdpOnly: LedgerAccountants = { bound: () => new RdpAccountant() };
const pldOnly: LedgerAccountants = { bound: () => new PldAccountant() };

function reserveMany(state: LedgerState, event: PrivacyEvent, n: number, user = "u1", department = "emergency", accountants?: LedgerAccountants) {
  const types: string[] = [];
  for (let i = 0; i < n; i++) {
    const d = reserve(state, { key: `${user}-${department}-${i}-${types.length}-${Object.keys(state.charges).length}`, user, department, event, nowMs: NOW }, accountants);
    types.push(d.type);
    state = d.state;
  }
  return { state, types };
}

test("exactly the admitted reserves succeed: 4 × exponential(0.5) under a user limit of 2", () => {
  // Pure ε-DP: PLD composes 4 × 0.5 to ≈ 1.99993 ≤ 2 (RDP says 2.103, so the PLD fallback decides), 5 × 0.5 to ≈ 2.4999.
  const { types } = reserveMany(emptyLedger(config()), exponential(0.5), 6);
  assert.deepEqual(types, ["reserved", "reserved", "reserved", "reserved", "refused", "refused"]);
});

test("the PLD fallback matters: a Gaussian the RDP accountant refuses and PLD admits", () => {
  // 4 × gaussian(σ = 4): RDP ε ≈ 2.166 > 2, PLD ε ≈ 1.993 ≤ 2 at δ = 1e-5.
  const rdp = reserveMany(emptyLedger(config()), gaussian(4), 4, "u1", "emergency", rdpOnly);
  assert.deepEqual(rdp.types, ["reserved", "reserved", "reserved", "refused"]);
  const hybrid = reserveMany(emptyLedger(config()), gaussian(4), 5);
  assert.deepEqual(hybrid.types, ["reserved", "reserved", "reserved", "reserved", "refused"]);
  const pld = reserveMany(emptyLedger(config()), gaussian(4), 5, "u1", "emergency", pldOnly);
  assert.deepEqual(pld.types, hybrid.types);
});

test("the same idempotency key twice is charged once and returns the original charge", () => {
  const s0 = emptyLedger(config());
  const req = { key: "k1", user: "u1", department: "general", event: exponential(1), nowMs: NOW };
  const a = reserve(s0, req);
  assert.equal(a.type, "reserved");
  const b = reserve(a.state, { ...req, nowMs: NOW + 1000 });
  assert.equal(b.type, "duplicate");
  assert.equal(b.state, a.state);
  assert.equal(b.type === "duplicate" && a.type === "reserved" && b.charge.id === a.charge.id, true);
  assert.ok(Math.abs(budget(b.state, "u1", "general", NOW).user.spent - 1) < 1e-3);
  assert.throws(() => reserve(a.state, { ...req, event: exponential(0.1) }), (e: unknown) => e instanceof LedgerError && e.code === "IDEMPOTENCY_KEY_REUSED");
});

test("commit with a smaller actual frees budget; release frees it; release after output is an error", () => {
  let s = emptyLedger(config());
  const r = reserve(s, { key: "a", user: "u1", department: "general", event: exponential(1.5), nowMs: NOW });
  assert.equal(r.type, "reserved");
  if (r.type !== "reserved") return;
  s = r.state;
  assert.ok(Math.abs(budget(s, "u1", "general", NOW).user.remaining - 0.5) < 1e-3);
  const c = commit(s, { id: r.charge.id, actual: exponential(0.5), nowMs: NOW });
  assert.ok(Math.abs(budget(c.state, "u1", "general", NOW).user.remaining - 1.5) < 1e-3);
  assert.equal(commit(c.state, { id: r.charge.id, actual: exponential(0.5), nowMs: NOW }).state, c.state); // idempotent
  assert.throws(() => commit(c.state, { id: r.charge.id, actual: exponential(0.4), nowMs: NOW }), (e: unknown) => e instanceof LedgerError && e.code === "ALREADY_SETTLED");

  const r2 = reserve(c.state, { key: "b", user: "u1", department: "general", event: exponential(1), nowMs: NOW });
  assert.equal(r2.type, "reserved");
  if (r2.type !== "reserved") return;
  assert.throws(() => release(r2.state, { id: r2.charge.id, noisyOutputReleased: true }), (e: unknown) => e instanceof LedgerError && e.code === "OUTPUT_ALREADY_RELEASED");
  const rel = release(r2.state, { id: r2.charge.id, noisyOutputReleased: false });
  assert.ok(Math.abs(budget(rel.state, "u1", "general", NOW).user.remaining - 1.5) < 1e-3);
  assert.throws(() => commit(rel.state, { id: r2.charge.id, actual: exponential(1), nowMs: NOW }), (e: unknown) => e instanceof LedgerError && e.code === "ALREADY_SETTLED");
});

test("a commit larger than reserved is COMMIT_EXCEEDS_RESERVATION and leaves the ledger unchanged", () => {
  const r = reserve(emptyLedger(config()), { key: "a", user: "u1", department: "general", event: gaussian(4), nowMs: NOW });
  if (r.type !== "reserved") return assert.fail("not reserved");
  const before = JSON.stringify(r.state);
  assert.throws(() => commit(r.state, { id: r.charge.id, actual: gaussian(2), nowMs: NOW }), (e: unknown) => e instanceof LedgerError && e.code === "COMMIT_EXCEEDS_RESERVATION");
  assert.equal(JSON.stringify(r.state), before);
  assert.throws(() => commit(r.state, { id: "res-99", actual: gaussian(4), nowMs: NOW }), (e: unknown) => e instanceof LedgerError && e.code === "UNKNOWN_RESERVATION");
});

test("expire commits overdue reservations at their worst case", () => {
  const r = reserve(emptyLedger(config()), { key: "a", user: "u1", department: "general", event: exponential(1), nowMs: NOW });
  if (r.type !== "reserved") return assert.fail("not reserved");
  assert.deepEqual(expire(r.state, NOW + 1000).expired, []);
  const e = expire(r.state, NOW + DEFAULT_LEDGER_CONFIG.reservationTtlMs);
  assert.deepEqual(e.expired, [r.charge.id]);
  const charge = e.state.charges[r.charge.id]!;
  assert.equal(charge.state, "committed");
  assert.deepEqual(charge.actual, exponential(1));
  assert.ok(Math.abs(budget(e.state, "u1", "general", NOW).user.spent - 1) < 1e-3);
});

test("user and department limits are both enforced: a shared department runs out for both users", () => {
  let s = emptyLedger(config({ defaultUserEpsilon: 5 })); // research: ε 2
  const types: string[] = [];
  for (const [i, user] of ["alice", "bob", "alice", "bob", "alice", "bob"].entries()) {
    const d = reserve(s, { key: `k${i}`, user, department: "research", event: exponential(0.5), nowMs: NOW });
    types.push(`${d.type}${d.type === "refused" ? `:${d.reason}` : ""}`);
    s = d.state;
  }
  assert.deepEqual(types, ["reserved", "reserved", "reserved", "reserved", "refused:department", "refused:department"]);
  const user = reserveMany(emptyLedger(config()), exponential(1), 3, "carol", "emergency");
  assert.deepEqual(user.types, ["reserved", "reserved", "refused"]);
});

test("a new period starts from zero; prune drops settled charges of ended periods", () => {
  const full = reserveMany(emptyLedger(config()), exponential(1), 2, "u1", "general");
  const view = budget(full.state, "u1", "general", NOW);
  assert.equal(view.period, "2026-11");
  assert.equal(view.resetsAtMs, Date.UTC(2026, 11, 1));
  assert.equal(reserve(full.state, { key: "x", user: "u1", department: "general", event: exponential(1), nowMs: NOW }).type, "refused");
  const dec = budget(full.state, "u1", "general", DECEMBER);
  assert.equal(dec.period, "2026-12");
  assert.equal(dec.user.spent, 0);
  assert.equal(reserve(full.state, { key: "x", user: "u1", department: "general", event: exponential(1), nowMs: DECEMBER }).type, "reserved");
  const settled = expire(full.state, NOW + DEFAULT_LEDGER_CONFIG.reservationTtlMs).state;
  assert.equal(Object.keys(prune(settled, NOW).charges).length, 2);
  assert.equal(Object.keys(prune(settled, DECEMBER + DEFAULT_LEDGER_CONFIG.reservationTtlMs).charges).length, 0);
});

test("bad inputs throw typed errors and leave the ledger unchanged", () => {
  const s = emptyLedger(config());
  const snapshot = JSON.stringify(s);
  const base = { key: "k", user: "u1", department: "general", event: exponential(1), nowMs: NOW };
  const code = (c: string) => (e: unknown) => e instanceof LedgerError && e.code === c;
  assert.throws(() => reserve(s, { ...base, department: "dentistry" }), code("UNKNOWN_DEPARTMENT"));
  assert.throws(() => reserve(s, { ...base, user: "" }), code("INVALID_LEDGER_REQUEST"));
  assert.throws(() => reserve(s, { ...base, key: "" }), code("INVALID_LEDGER_REQUEST"));
  assert.throws(() => reserve(s, { ...base, nowMs: Number.NaN }), code("INVALID_LEDGER_REQUEST"));
  assert.throws(() => reserve(s, { ...base, event: exponential(-1) }), InvalidPrivacyParameter);
  assert.throws(() => reserve(s, { ...base, event: gaussian(Number.NaN) }), InvalidPrivacyParameter);
  assert.throws(() => reserve(s, { ...base, event: { kind: "teleport" } as unknown as PrivacyEvent }), (e: unknown) => e instanceof UnsupportedPrivacyEvent || e instanceof InvalidPrivacyParameter);
  assert.throws(() => emptyLedger(config({ defaultUserEpsilon: -1 })), code("INVALID_LEDGER_REQUEST"));
  assert.equal(JSON.stringify(s), snapshot);
});

type Op =
  | { op: "reserve"; key: number }
  | { op: "commit"; pick: number; shrink: boolean }
  | { op: "release"; pick: number; output: boolean }
  | { op: "expire"; advanceMs: number };

// A key's request is a function of the key, so reusing a key is a retry, never a conflict.
const USERS = ["u1", "u2"];
const EVENTS = [exponential(0.3), exponential(0.5), gaussian(3), gaussian(5)];
const requestOf = (key: number) => ({ key: `k${key}`, user: USERS[key % 2]!, department: "general", event: EVENTS[key % 4]! });
const smaller = (e: PrivacyEvent): PrivacyEvent => (e.kind === "exponential" ? exponential(e.epsilon / 2) : e.kind === "gaussian" ? gaussian(e.sigma * 1.5) : e);

test("property: random reserve/commit/release/expire never overspend and never charge a key twice", () => {
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ op: fc.constant("reserve" as const), key: fc.nat(9) }),
    fc.record({ op: fc.constant("commit" as const), pick: fc.nat(20), shrink: fc.boolean() }),
    fc.record({ op: fc.constant("release" as const), pick: fc.nat(20), output: fc.boolean() }),
    fc.record({ op: fc.constant("expire" as const), advanceMs: fc.nat(400_000) }),
  );
  fc.assert(fc.property(fc.array(op, { maxLength: 12 }), (ops) => {
    let s = emptyLedger(config({ defaultUserEpsilon: 2, departments: { general: { epsilon: 3 } } }));
    let now = NOW;
    for (const o of ops) {
      const ids = Object.keys(s.charges);
      const before = s;
      try {
        if (o.op === "reserve") {
          const d = reserve(s, { ...requestOf(o.key), nowMs: now });
          if (d.type === "duplicate") assert.equal(d.state, s);
          s = d.state;
        } else if (o.op === "commit" && ids.length > 0) {
          const c = s.charges[ids[o.pick % ids.length]!]!;
          s = commit(s, { id: c.id, actual: o.shrink ? smaller(c.event) : c.event, nowMs: now }).state;
        } else if (o.op === "release" && ids.length > 0) {
          s = release(s, { id: ids[o.pick % ids.length]!, noisyOutputReleased: o.output }).state;
        } else if (o.op === "expire") {
          now += o.advanceMs;
          s = expire(s, now).state;
        }
      } catch (e) {
        assert.ok(e instanceof LedgerError, String(e));
        assert.equal(s, before);
      }
      for (const user of USERS) {
        const view = budget(s, user, "general", NOW);
        assert.ok(view.user.spent <= view.user.limit + 1e-6, `${user} spent ${view.user.spent}`);
        assert.ok(view.department.spent <= view.department.limit + 1e-6, `general spent ${view.department.spent}`);
      }
      const keys = Object.values(s.charges).map((c) => c.key);
      assert.equal(new Set(keys).size, keys.length);
    }
  }), { numRuns: 25 });
});

test("a cheaper actual that composes worse than the reservation is refused (ε alone is not enough)", () => {
  // gaussian(4): ε ≈ 0.926; two compose to ≈ 1.356, but gaussian(4) + exponential(0.9) to ≈ 1.805 > 1.5.
  const r = reserveMany(emptyLedger(config({ defaultUserEpsilon: 1.5 })), gaussian(4), 2, "u1", "emergency");
  assert.deepEqual(r.types, ["reserved", "reserved"]);
  const id = Object.keys(r.state.charges)[1]!;
  assert.throws(() => commit(r.state, { id, actual: exponential(0.9), nowMs: NOW }), (e: unknown) => e instanceof LedgerError && e.code === "COMMIT_EXCEEDS_RESERVATION");
  assert.equal(commit(r.state, { id, actual: gaussian(6), nowMs: NOW }).charge.state, "committed");
});
