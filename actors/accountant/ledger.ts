/**
 * The two-phase budget ledger (SPEC §5, STYLE §2): reservations, commits and budgets over plain
 * data. Pure: state in, decision out — no I/O, no clock (every call takes `nowMs`), no actor.
 * Each operation returns a new `state` (the input is never mutated) and `writes`, the charges it
 * created or changed, for the behaviour to persist before it answers.
 *
 * Spend rule: what a user (or department) has spent in a period is the composition of every
 * charge of that period — committed charges at their `actual` event, outstanding reservations at
 * their worst-case `event` — as ε at the configured δ, computed by an accountant, never by adding
 * ε floats. A reserve is admitted iff the spend including the new event is ≤ the limit for both
 * the user and the department.
 *
 * Two accountants decide: first the RDP accountant (`bound`), then, only when it would refuse,
 * the PLD accountant (`tight`). Sound because each is, on its own, a valid upper bound on the true
 * ε of the composition: RDP by the RDP→(ε, δ) conversion (Mironov 2017, Prop. 3; Canonne, Kamath &
 * Steinke 2020), PLD by its pessimistic discretisation (Meiser & Mohammadi 2018; dp_accounting).
 * Admitting when either bound is ≤ the limit therefore never admits a true ε above the limit.
 * The order is for speed only: PLD is tighter (PLD ε ≤ RDP ε up to the PLD grid, since RDP
 * conversion loses slack the PLD keeps — Zhu, Dong & Wang 2022, "Optimal accounting of
 * differential privacy via characteristic function"), so the cheap RDP answer settles most
 * requests and PLD is only paid for near the limit.
 *
 * State size: charges are kept per period; `prune` drops settled charges of periods that ended
 * more than one reservation TTL ago, so state is bounded by one or two periods of traffic.
 * Idempotency keys are remembered as long as their charge is kept.
 */
import { PldAccountant } from "./pld.ts";
import { RdpAccountant } from "./rdp.ts";
import { UnsupportedPrivacyEvent } from "./errors.ts";
import type { Accountant, PrivacyEvent } from "./events.ts";
import { periodOf } from "./periods.ts";
import { DEFAULT_LEDGER_CONFIG, LedgerError, type Charge, type LedgerAccountants, type LedgerConfig, type LedgerState, type ReserveDecision, type ReserveRequest } from "./ledger-types.ts";
export * from "./ledger-types.ts";

/** RDP first (fast, an upper bound), PLD only when RDP would refuse (tighter, also an upper bound). */
export const DEFAULT_LEDGER_ACCOUNTANTS: LedgerAccountants = { bound: () => new RdpAccountant(), tight: () => new PldAccountant() };

export function emptyLedger(config: LedgerConfig = DEFAULT_LEDGER_CONFIG): LedgerState {
  requireLimit(config.defaultUserEpsilon, "defaultUserEpsilon");
  for (const [d, b] of Object.entries(config.departments)) requireLimit(b.epsilon, `departments.${d}.epsilon`);
  for (const [u, b] of Object.entries(config.users ?? {})) requireLimit(b.epsilon, `users.${u}.epsilon`);
  if (!(config.delta > 0 && config.delta < 1)) throw new LedgerError("INVALID_LEDGER_REQUEST", `delta = ${config.delta} must lie in (0, 1)`, "delta");
  if (!(config.reservationTtlMs > 0)) throw new LedgerError("INVALID_LEDGER_REQUEST", `reservationTtlMs = ${config.reservationTtlMs} must be > 0`, "reservationTtlMs");
  periodOf(0, config.reset, config.timeZone); // validates schedule and time zone
  return { config, charges: {}, byKey: {}, nextSeq: 1 };
}

function requireLimit(value: number, field: string): void {
  if (!(value >= 0 && Number.isFinite(value))) throw new LedgerError("INVALID_LEDGER_REQUEST", `${field} = ${value} must be a finite ε ≥ 0`, field);
}
function requireNow(nowMs: number): void {
  if (!Number.isFinite(nowMs)) throw new LedgerError("INVALID_LEDGER_REQUEST", `nowMs = ${nowMs} must be a finite epoch time in ms`, "nowMs");
}
function requireName(value: string, field: string): void {
  if (typeof value !== "string" || value.length === 0) throw new LedgerError("INVALID_LEDGER_REQUEST", `${field} must be a non-empty string`, field);
}
/** Throws UnsupportedPrivacyEvent / InvalidPrivacyParameter for an event the accountants cannot count. */
function requireEvent(event: PrivacyEvent, accountants: LedgerAccountants): void {
  for (const make of [accountants.bound, accountants.tight]) {
    if (make === undefined) continue;
    const unsupported = make().check(event);
    if (unsupported !== null) throw new UnsupportedPrivacyEvent(unsupported);
  }
}

export const userLimit = (config: LedgerConfig, user: string): number => config.users?.[user]?.epsilon ?? config.defaultUserEpsilon;
function departmentLimit(config: LedgerConfig, department: string): number {
  const limit = config.departments[department]?.epsilon;
  if (limit === undefined) throw new LedgerError("UNKNOWN_DEPARTMENT", `department "${department}" has no budget; configure it in departments (known: ${Object.keys(config.departments).join(", ")})`, "department");
  return limit;
}

/** The events a scope has spent in `period`: committed at `actual`, reserved at worst case. */
function eventsOf(state: LedgerState, period: string, match: (c: Charge) => boolean): PrivacyEvent[] {
  const out: PrivacyEvent[] = [];
  for (const c of Object.values(state.charges)) {
    if (c.period !== period || c.state === "released" || !match(c)) continue;
    out.push(c.state === "committed" ? c.actual ?? c.event : c.event);
  }
  return out;
}

function epsilonWith(make: () => Accountant, events: readonly PrivacyEvent[], delta: number): number {
  if (events.length === 0) return 0;
  const accountant = make();
  for (const e of events) accountant.compose(e);
  return accountant.epsilon(delta);
}

/** ε of `events`: the bound accountant's, or the tight one's where that is smaller. Both are valid upper bounds. */
export function spendOf(events: readonly PrivacyEvent[], delta: number, accountants: LedgerAccountants = DEFAULT_LEDGER_ACCOUNTANTS, limit = -Infinity): number {
  const bound = epsilonWith(accountants.bound, events, delta);
  if (bound <= limit || accountants.tight === undefined) return bound;
  return Math.min(bound, epsilonWith(accountants.tight, events, delta));
}

/** Reserves the worst-case `event`, or refuses; the same key never charges twice. */
export function reserve(state: LedgerState, req: ReserveRequest, accountants: LedgerAccountants = DEFAULT_LEDGER_ACCOUNTANTS): ReserveDecision {
  const { config } = state;
  requireName(req.key, "key");
  requireName(req.user, "user");
  requireNow(req.nowMs);
  const deptLimit = departmentLimit(config, req.department);
  const existingId = state.byKey[req.key];
  if (existingId !== undefined) {
    const charge = state.charges[existingId]!;
    if (charge.user !== req.user || charge.department !== req.department || JSON.stringify(charge.event) !== JSON.stringify(req.event)) {
      throw new LedgerError("IDEMPOTENCY_KEY_REUSED", `key "${req.key}" was first used for another request (${charge.id}); use a fresh key per request`, "key");
    }
    return { type: "duplicate", charge, state, writes: [] };
  }
  requireEvent(req.event, accountants);
  const period = periodOf(req.nowMs, config.reset, config.timeZone);
  const limits = { user: userLimit(config, req.user), department: deptLimit };
  const scopes = [
    { reason: "user" as const, limit: limits.user, events: eventsOf(state, period.key, (c) => c.user === req.user) },
    { reason: "department" as const, limit: limits.department, events: eventsOf(state, period.key, (c) => c.department === req.department) },
  ];
  const after = scopes.map((s) => spendOf([...s.events, req.event], config.delta, accountants, s.limit));
  const refusedAt = after.findIndex((spent, i) => !(spent <= scopes[i]!.limit));
  if (refusedAt >= 0) {
    const before = scopes.map((s) => spendOf(s.events, config.delta, accountants));
    const remaining = { user: Math.max(0, limits.user - before[0]!), department: Math.max(0, limits.department - before[1]!) };
    const needed = spendOf([req.event], config.delta, accountants);
    return { type: "refused", reason: scopes[refusedAt]!.reason, remaining, needed, resetsAtMs: period.endMs, state, writes: [] };
  }
  const id = `res-${state.nextSeq}`;
  const charge: Charge = {
    id, key: req.key, user: req.user, department: req.department, event: req.event, state: "reserved",
    period: period.key, periodEndMs: period.endMs, createdMs: req.nowMs, expiresMs: req.nowMs + config.reservationTtlMs,
  };
  const next: LedgerState = { ...state, charges: { ...state.charges, [id]: charge }, byKey: { ...state.byKey, [req.key]: id }, nextSeq: state.nextSeq + 1 };
  const remaining = { user: Math.max(0, limits.user - after[0]!), department: Math.max(0, limits.department - after[1]!) };
  return { type: "reserved", charge, remaining, state: next, writes: [charge] };
}

export interface SettleResult { readonly charge: Charge; readonly state: LedgerState; readonly writes: readonly Charge[] }

function chargeOf(state: LedgerState, id: string): Charge {
  const charge = state.charges[id];
  if (charge === undefined) throw new LedgerError("UNKNOWN_RESERVATION", `no reservation "${id}" in this ledger (pruned, or never reserved)`, "id");
  return charge;
}
const withCharge = (state: LedgerState, charge: Charge): LedgerState => ({ ...state, charges: { ...state.charges, [charge.id]: charge } });
const sameEvent = (a: PrivacyEvent | undefined, b: PrivacyEvent): boolean => a !== undefined && JSON.stringify(a) === JSON.stringify(b);

/**
 * Commits what was actually spent: `actual` must not cost more than the reservation —
 * ε(actual) ≤ ε(event) at the ledger's δ, with the tight accountant when configured (else the bound).
 * Committing again with the same actual is idempotent; with another one, ALREADY_SETTLED.
 * A different actual must also keep the scopes' composed spend within bounds (requireStillWithin).
 */
export function commit(state: LedgerState, req: { readonly id: string; readonly actual: PrivacyEvent; readonly nowMs: number }, accountants: LedgerAccountants = DEFAULT_LEDGER_ACCOUNTANTS): SettleResult {
  requireNow(req.nowMs);
  const charge = chargeOf(state, req.id);
  if (charge.state === "committed" && sameEvent(charge.actual, req.actual)) return { charge, state, writes: [] };
  if (charge.state !== "reserved") throw new LedgerError("ALREADY_SETTLED", `reservation ${charge.id} is already ${charge.state}${charge.expired ? " (expired at its worst case)" : ""}`, "id");
  requireEvent(req.actual, accountants);
  if (!sameEvent(req.actual, charge.event)) {
    const make = accountants.tight ?? accountants.bound;
    const actualEps = epsilonWith(make, [req.actual], state.config.delta);
    const reservedEps = epsilonWith(make, [charge.event], state.config.delta);
    if (!(actualEps <= reservedEps)) {
      throw new LedgerError("COMMIT_EXCEEDS_RESERVATION", `reservation ${charge.id} reserved ε ${reservedEps.toFixed(4)}, the actual event costs ε ${actualEps.toFixed(4)}; reserve the larger event first`, "actual");
    }
  }
  const settled: Charge = { ...charge, state: "committed", actual: req.actual };
  const next = withCharge(state, settled);
  if (!sameEvent(req.actual, charge.event)) requireStillWithin(state, next, settled, accountants);
  return { charge: settled, state: next, writes: [settled] };
}

/**
 * ε(actual) ≤ ε(event) alone does not make the composition with the rest smaller (a pure-DP and a
 * Gaussian event of equal ε compose differently), so a commit of a different event must also
 * keep the user's and the department's spend ≤ max(limit, spend with the reservation).
 */
function requireStillWithin(before: LedgerState, after: LedgerState, charge: Charge, accountants: LedgerAccountants): void {
  const { config } = before;
  const scopes = [
    { name: `user ${charge.user}`, limit: userLimit(config, charge.user), match: (c: Charge) => c.user === charge.user },
    { name: `department ${charge.department}`, limit: departmentLimit(config, charge.department), match: (c: Charge) => c.department === charge.department },
  ];
  for (const s of scopes) {
    const spentAfter = spendOf(eventsOf(after, charge.period, s.match), config.delta, accountants, s.limit);
    if (spentAfter <= s.limit) continue;
    const spentBefore = spendOf(eventsOf(before, charge.period, s.match), config.delta, accountants);
    if (!(spentAfter <= spentBefore)) {
      throw new LedgerError("COMMIT_EXCEEDS_RESERVATION", `committing ${charge.id} with this actual event raises the spend of ${s.name} to ε ${spentAfter.toFixed(4)} (limit ${s.limit}); commit the reserved event instead`, "actual");
    }
  }
}

/** Releases a reservation, freeing its budget; only while no noisy output left the system. */
export function release(state: LedgerState, req: { readonly id: string; readonly noisyOutputReleased: boolean }): SettleResult {
  const charge = chargeOf(state, req.id);
  if (charge.state === "released") return { charge, state, writes: [] };
  if (charge.state !== "reserved") throw new LedgerError("ALREADY_SETTLED", `reservation ${charge.id} is already ${charge.state}`, "id");
  if (req.noisyOutputReleased) throw new LedgerError("OUTPUT_ALREADY_RELEASED", `reservation ${charge.id} produced a noisy output that was released; commit it instead`, "noisyOutputReleased");
  const settled: Charge = { ...charge, state: "released" };
  return { charge: settled, state: withCharge(state, settled), writes: [settled] };
}

/** Reservations past `expiresMs` become commits at their worst case (they never vanish). */
export function expire(state: LedgerState, nowMs: number): { readonly expired: readonly string[]; readonly state: LedgerState; readonly writes: readonly Charge[] } {
  requireNow(nowMs);
  const writes: Charge[] = [];
  for (const c of Object.values(state.charges)) {
    if (c.state === "reserved" && c.expiresMs <= nowMs) writes.push({ ...c, state: "committed", actual: c.event, expired: true });
  }
  if (writes.length === 0) return { expired: [], state, writes };
  const charges = { ...state.charges };
  for (const w of writes) charges[w.id] = w;
  return { expired: writes.map((w) => w.id), state: { ...state, charges }, writes };
}

/** Drops settled charges (and their keys) of periods that ended at least one reservation TTL before `nowMs`. */
export function prune(state: LedgerState, nowMs: number): LedgerState {
  requireNow(nowMs);
  const charges: Record<string, Charge> = {};
  const byKey: Record<string, string> = {};
  for (const c of Object.values(state.charges)) {
    if (c.state !== "reserved" && c.periodEndMs + state.config.reservationTtlMs <= nowMs) continue;
    charges[c.id] = c;
    byKey[c.key] = c.id;
  }
  return { ...state, charges, byKey };
}

export interface BudgetView {
  readonly period: string;
  readonly resetsAtMs: number;
  readonly user: { readonly limit: number; readonly spent: number; readonly remaining: number };
  readonly department: { readonly limit: number; readonly spent: number; readonly remaining: number };
}

/** Spent and remaining ε of a user and a department in the period containing `nowMs`. */
export function budget(state: LedgerState, user: string, department: string, nowMs: number, accountants: LedgerAccountants = DEFAULT_LEDGER_ACCOUNTANTS): BudgetView {
  requireName(user, "user");
  requireNow(nowMs);
  const deptLimit = departmentLimit(state.config, department);
  const period = periodOf(nowMs, state.config.reset, state.config.timeZone);
  const view = (limit: number, match: (c: Charge) => boolean) => {
    const spent = spendOf(eventsOf(state, period.key, match), state.config.delta, accountants);
    return { limit, spent, remaining: Math.max(0, limit - spent) };
  };
  return {
    period: period.key,
    resetsAtMs: period.endMs,
    user: view(userLimit(state.config, user), (c) => c.user === user),
    department: view(deptLimit, (c) => c.department === department),
  };
}
