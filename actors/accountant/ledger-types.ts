/**
 * Plain-data types of the budget ledger (ledger.ts): configuration, charges, decisions, the
 * facts a ledger is rebuilt from, and the ledger's error class with its stable codes.
 */
import type { Accountant, PrivacyEvent } from "../../privacy/index.ts";
import { FedrouterError } from "../../errors/index.ts";
import { DEFAULT_DEPARTMENT_BUDGETS, DEFAULT_DELTA, type ResetSchedule } from "./periods.ts";
import type { ReservationIds } from "./reservation-id.ts";
import { MAX_ID_CHARS } from "./protocol.ts";

export interface LedgerConfig {
  readonly departments: Readonly<Record<string, { readonly epsilon: number }>>;
  /** Per-user limits; a user not listed gets `defaultUserEpsilon` (or is refused, see `knownUsersOnly`). */
  readonly users?: Readonly<Record<string, { readonly epsilon: number }>>;
  readonly defaultUserEpsilon: number;
  /** When true, a user not listed in `users` is UNKNOWN_USER instead of getting the default limit. */
  readonly knownUsersOnly?: boolean;
  readonly delta: number;
  readonly reset: ResetSchedule;
  readonly timeZone: string;
  readonly reservationTtlMs: number;
}

export const DEFAULT_LEDGER_CONFIG: LedgerConfig = Object.freeze({
  departments: Object.fromEntries(Object.entries(DEFAULT_DEPARTMENT_BUDGETS).map(([d, epsilon]) => [d, { epsilon }])),
  defaultUserEpsilon: 5,
  delta: DEFAULT_DELTA,
  reset: "monthly",
  timeZone: "UTC",
  reservationTtlMs: 5 * 60_000,
});

export interface LedgerOptions {
  /** Rényi orders of the bound accountant (default: Opacus's grid). */
  readonly orders?: readonly number[];
  /** The tight accountant, consulted only where RDP would refuse; null for RDP alone (default: PLD). */
  readonly tight?: (() => Accountant) | null;
  /** Ids of new reservations (default: 128 random bits, reservation-id.ts); tests may pass a deterministic one. */
  readonly newReservationId?: ReservationIds;
}

/**
 * Who made a reservation, and who asks to settle one: "local:<node>" is code of the node that
 * keeps the ledger, "user:<id>" one of its authenticated users, "peer:<node>" another node of the
 * federation by its certificate. A charge without an owner was made before owners were recorded:
 * it is the local node's.
 */
export type Owner = `local:${string}` | `user:${string}` | `peer:${string}`;

const OWNER = new RegExp(`^(local|user|peer):[\\x21-\\x7e]{1,${MAX_ID_CHARS}}$`);

/** An owner the trail can record: its kind, then an id (1..MAX_ID_CHARS printable ASCII characters, no spaces). */
export function isOwner(value: unknown): value is Owner {
  return typeof value === "string" && OWNER.test(value);
}

export type ChargeState = "reserved" | "committed" | "released";

export interface Charge {
  readonly id: string;
  /** The caller's idempotency key. */
  readonly key: string;
  /** Who made it; only they (or, for what was made through this node, this node's code) settle it. */
  readonly owner?: Owner;
  readonly user: string;
  readonly department: string;
  /** Worst case, charged while reserved. */
  readonly event: PrivacyEvent;
  /** What was actually spent; set on commit (equals `event` when a reservation expired). */
  readonly actual?: PrivacyEvent;
  readonly state: ChargeState;
  /** Key of the budget period at reserve time; the charge counts in that period only. */
  readonly period: string;
  readonly periodEndMs: number;
  readonly createdMs: number;
  readonly expiresMs: number;
  /** True when `expire` committed it at its worst case. */
  readonly expired?: boolean;
}

/**
 * What happened to a ledger, as data: the ledger applies facts without deciding again, so a
 * ledger rebuilt from its facts (the audit trail) equals the one that produced them.
 * Derived fields (period, expiry) come from `atMs` and the configuration.
 */
export type LedgerFact =
  | { readonly type: "reserved"; readonly id: string; readonly key: string; readonly owner?: Owner; readonly user: string; readonly department: string; readonly event: PrivacyEvent; readonly atMs: number }
  | { readonly type: "committed"; readonly id: string; readonly actual: PrivacyEvent }
  | { readonly type: "expired"; readonly id: string }
  | { readonly type: "released"; readonly id: string }
  | { readonly type: "limit"; readonly scope: "user" | "department"; readonly name: string; readonly epsilon: number };

export type LedgerErrorCode =
  | "UNKNOWN_DEPARTMENT" | "UNKNOWN_USER" | "INVALID_LEDGER_REQUEST" | "IDEMPOTENCY_KEY_REUSED" | "UNKNOWN_RESERVATION"
  | "COMMIT_EXCEEDS_RESERVATION" | "ALREADY_SETTLED" | "OUTPUT_ALREADY_RELEASED" | "FORBIDDEN";

/**
 * A defect in what the caller asked; the ledger is unchanged. Never a refusal for lack of budget.
 * Not registered for the wire: the Accountant answers its codes as `rejected` replies, and one of
 * them (FORBIDDEN) is the runtime's.
 */
export class LedgerError extends FedrouterError {
  constructor(readonly code: LedgerErrorCode, message: string, readonly field?: string) {
    super(`${code}: ${message}`);
  }
}

/** ε left to a user and to a department in the current period. */
export interface Remaining { readonly user: number; readonly department: number }

export type ReserveDecision =
  /** `cost`: ε of the event alone (tight). `remaining`: after this reservation, by RDP where that admits it: never more than the truth. */
  | { readonly type: "reserved"; readonly charge: Charge; readonly remaining: Remaining; readonly cost: number }
  /** The key was seen before: the original charge, nothing charged again. */
  | { readonly type: "duplicate"; readonly charge: Charge }
  | { readonly type: "refused"; readonly reason: "user" | "department"; readonly remaining: Remaining; readonly needed: number; readonly resetsAtMs: number };

/** `by`: who reserves, recorded as the owner (absent: this node's code, recorded without an owner). */
export interface ReserveRequest { readonly key: string; readonly user: string; readonly department: string; readonly event: PrivacyEvent; readonly nowMs: number; readonly by?: Owner }

/** `by`: who asks (absent: this node's code). */
export interface CommitRequest { readonly id: string; readonly actual: PrivacyEvent; readonly nowMs: number; readonly by?: Owner }
export interface ReleaseRequest { readonly id: string; readonly noisyOutputReleased: boolean; readonly by?: Owner }

/** `changed`: false when the call repeated one already applied (idempotent). */
export interface SettleResult { readonly charge: Charge; readonly changed: boolean; readonly remaining: Remaining; readonly cost: number }

export interface ScopeView { readonly limit: number; readonly spent: number; readonly remaining: number }

export interface BudgetView {
  readonly period: string;
  readonly resetsAtMs: number;
  readonly user: ScopeView;
  /** Present when a department was named. */
  readonly department?: ScopeView & { readonly name: string };
}

export interface PeriodReport {
  readonly period: string;
  readonly departments: readonly (ScopeView & { readonly name: string; readonly charges: number })[];
  readonly users: readonly (ScopeView & { readonly name: string; readonly charges: number })[];
}
