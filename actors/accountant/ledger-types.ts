/**
 * Plain-data types of the budget ledger (ledger.ts): configuration, charges, state, decisions
 * and the ledger's error class with its stable codes.
 */
import type { Accountant, PrivacyEvent } from "./events.ts";
import { DEFAULT_DEPARTMENT_BUDGETS, DEFAULT_DELTA, type ResetSchedule } from "./periods.ts";

export interface LedgerConfig {
  readonly departments: Readonly<Record<string, { readonly epsilon: number }>>;
  readonly users?: Readonly<Record<string, { readonly epsilon: number }>>;
  readonly defaultUserEpsilon: number;
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

/** Accountant factories: `bound` decides first; `tight` (optional) only when `bound` would refuse. */
export interface LedgerAccountants {
  readonly bound: () => Accountant;
  readonly tight?: () => Accountant;
}

export type ChargeState = "reserved" | "committed" | "released";

export interface Charge {
  readonly id: string;
  /** The caller's idempotency key. */
  readonly key: string;
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

export interface LedgerState {
  readonly config: LedgerConfig;
  readonly charges: Readonly<Record<string, Charge>>;
  /** Idempotency key → charge id. */
  readonly byKey: Readonly<Record<string, string>>;
  readonly nextSeq: number;
}

export type LedgerErrorCode =
  | "UNKNOWN_DEPARTMENT" | "INVALID_LEDGER_REQUEST" | "IDEMPOTENCY_KEY_REUSED" | "UNKNOWN_RESERVATION"
  | "COMMIT_EXCEEDS_RESERVATION" | "ALREADY_SETTLED" | "OUTPUT_ALREADY_RELEASED";

/** A defect in what the caller asked; the ledger is unchanged. Never a refusal for lack of budget. */
export class LedgerError extends Error {
  constructor(readonly code: LedgerErrorCode, message: string, readonly field?: string) {
    super(`${code}: ${message}`);
  }
  override get name(): string {
    return this.constructor.name;
  }
}

export interface Remaining { readonly user: number; readonly department: number }

export type ReserveDecision =
  | { readonly type: "reserved"; readonly charge: Charge; readonly remaining: Remaining; readonly state: LedgerState; readonly writes: readonly Charge[] }
  | { readonly type: "duplicate"; readonly charge: Charge; readonly state: LedgerState; readonly writes: readonly Charge[] }
  | { readonly type: "refused"; readonly reason: "user" | "department"; readonly remaining: Remaining; readonly needed: number; readonly resetsAtMs: number; readonly state: LedgerState; readonly writes: readonly Charge[] };

export interface ReserveRequest { readonly key: string; readonly user: string; readonly department: string; readonly event: PrivacyEvent; readonly nowMs: number }
