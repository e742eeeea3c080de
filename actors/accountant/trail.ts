/**
 * Between the ledger and its audit trail: the audit fields that record each decision, and the
 * ledger fact each entry records, so that replaying the trail rebuilds the ledger exactly.
 * Pure. Never writes request content: a request is its id and the sha256 of its content.
 */
import type { PrivacyEvent } from "../../privacy/index.ts";
import { FedrouterError, registerErrors } from "../../errors/index.ts";
import type { AuditEntry, AuditFields } from "./audit.ts";
import type { Charge, LedgerFact, Owner, Remaining } from "./ledger-types.ts";

/** Who the Accountant itself is in the trail (expiries, period resets). */
export const ACCOUNTANT_ACTOR = "accountant";

const pair = (epsilon: number, delta: number) => ({ epsilon, delta });
const least = (r: Remaining, delta: number) => pair(Math.min(r.user, r.department), delta);

export interface RequestRef { readonly requestId?: string; readonly contentHash?: string }

export function reservedFields(charge: Charge, cost: number, remaining: Remaining, delta: number, req: RequestRef): AuditFields {
  // Absent optionals are undefined, not spread in: appendAudit drops undefined fields, so the
  // entry has the same fields in the same order, without a spread per entry.
  return {
    atMs: charge.createdMs, actor: charge.user, action: "reserve", owner: charge.owner, user: charge.user, department: charge.department,
    requestId: req.requestId, contentHash: req.contentHash, reservation: charge.id, key: charge.key, event: charge.event, cost: pair(cost, delta), remaining: least(remaining, delta),
  };
}

export function refusedFields(
  atMs: number, req: RequestRef & { readonly key: string; readonly user: string; readonly department: string; readonly event: PrivacyEvent },
  refusal: { readonly reason: "user" | "department"; readonly remaining: Remaining; readonly needed: number; readonly resetsAtMs: number }, delta: number,
): AuditFields {
  return {
    atMs, actor: req.user, action: "refuse", user: req.user, department: req.department, ...requestOf(req), key: req.key, event: req.event,
    cost: pair(refusal.needed, delta), remaining: least(refusal.remaining, delta),
    detail: `${refusal.reason} budget exhausted; resets ${new Date(refusal.resetsAtMs).toISOString()}`,
  };
}

export function settledFields(charge: Charge, atMs: number, cost: number, remaining: Remaining, delta: number): AuditFields {
  const action = charge.state === "released" ? "release" : charge.expired ? "expire" : "commit";
  return {
    atMs, actor: action === "expire" ? ACCOUNTANT_ACTOR : charge.user, action, user: charge.user, department: charge.department, reservation: charge.id,
    event: charge.state === "committed" ? charge.actual ?? charge.event : undefined, cost: pair(cost, delta), remaining: least(remaining, delta), // undefined: no field (as above)
  };
}

/** `setBy`: who set it, as the runtime established (an operator's certificate CN, "user:<id>" for an admin). */
export function limitFields(atMs: number, setBy: string, scope: "user" | "department", name: string, epsilon: number, delta: number): AuditFields {
  return { atMs, actor: setBy, action: "set-budget", ...(scope === "user" ? { user: name } : { department: name }), limit: pair(epsilon, delta) };
}

export interface OperatorAction { readonly operator: string; readonly action: string; readonly target: string; readonly messageType?: string; readonly detail?: string }

/** What an operator is about to do on the node: who, what, to which target; never a message body. */
export function operatorActionFields(atMs: number, act: OperatorAction): AuditFields {
  return {
    atMs, actor: act.operator, action: "operator-action", operation: act.action, target: act.target,
    ...(act.messageType === undefined ? {} : { messageType: act.messageType }), ...(act.detail === undefined ? {} : { detail: act.detail }),
  };
}

export function resetFields(atMs: number, period: string): AuditFields {
  return { atMs, actor: ACCOUNTANT_ACTOR, action: "reset", detail: `budget period ${period} began: every budget starts again` };
}

function requestOf(req: RequestRef): RequestRef {
  return { ...(req.requestId === undefined ? {} : { requestId: req.requestId }), ...(req.contentHash === undefined ? {} : { contentHash: req.contentHash }) };
}

/** A trail entry that names a fact but lacks one of the fields the fact needs. */
export class MalformedTrailEntry extends FedrouterError {
  readonly code = "MALFORMED_TRAIL_ENTRY";
  constructor(readonly seq: number, readonly field: string) {
    super(`audit entry seq ${seq} (a ledger change) lacks ${field}; the trail cannot rebuild the ledger`);
  }
}

registerErrors({ MALFORMED_TRAIL_ENTRY: (f) => new MalformedTrailEntry(f.number("seq"), f.string("field")) });

/** The ledger fact an entry records, or null for entries that change nothing (refusals, resets, operator actions). */
export function factOf(entry: AuditEntry): LedgerFact | null {
  const need = <T>(value: T | undefined, field: string): T => {
    if (value === undefined) throw new MalformedTrailEntry(entry.seq, field);
    return value;
  };
  switch (entry.action) {
    case "reserve": {
      // An entry written before owners were recorded has none: the reservation is the local node's.
      const owner = entry.owner === undefined ? {} : { owner: entry.owner as Owner };
      return { type: "reserved", id: need(entry.reservation, "reservation"), key: need(entry.key, "key"), ...owner, user: need(entry.user, "user"), department: need(entry.department, "department"), event: need(entry.event, "event"), atMs: entry.atMs };
    }
    case "commit":
      return { type: "committed", id: need(entry.reservation, "reservation"), actual: need(entry.event, "event") };
    case "expire":
      return { type: "expired", id: need(entry.reservation, "reservation") };
    case "release":
      return { type: "released", id: need(entry.reservation, "reservation") };
    case "set-budget": {
      const epsilon = need(entry.limit, "limit").epsilon;
      return entry.user !== undefined ? { type: "limit", scope: "user", name: entry.user, epsilon } : { type: "limit", scope: "department", name: need(entry.department, "department"), epsilon };
    }
    case "refuse":
    case "reset":
    case "operator-action":
      return null;
  }
}
