/**
 * The Accountant's protocol: every message another folder (or hospital) may send it and every
 * reply it sends. Expected failures — no budget left, a malformed request — are reply values,
 * never throws (STYLE §4). Plain data only: these cross threads and the network as msgpack.
 * Who asks is never a field of a message: it is the runtime's sender (`ACCOUNTANT_ACCESS` below,
 * and the behaviour's finer rules).
 */
import type { AccessPolicy, ActorRef } from "../../runtime/index.ts";
import type { PrivacyEvent } from "../../privacy/index.ts";
import type { BudgetView, Charge, LedgerConfig, PeriodReport } from "./ledger-types.ts";

/** ε and δ of a cost or of what is left. */
export interface Privacy { readonly epsilon: number; readonly delta: number }

export interface RemainingBudget { readonly user: Privacy; readonly department: Privacy }

/**
 * The longest id the Accountant takes — user, department, request id, reservation, operator — and
 * the bound the ledger and the audit trail hold. The front door's user ids and request ids are
 * bounded by it (actors/router/http: MAX_USER_ID_CHARS, MAX_REQUEST_ID_CHARS), so whatever a
 * client may send, the Accountant can charge and the trail can record.
 */
export const MAX_ID_CHARS = 128;
/**
 * The longest reserve `key`: an id like the others. A key made of longer parts is the sender's to
 * shorten: the Router's `<user>:<request id>[#n]` becomes `sha256:<hex>` of those parts past this
 * bound (actors/router/charging.ts, reservationKey), and the reserve carries `requestId` apart.
 */
export const MAX_RESERVATION_KEY_CHARS = MAX_ID_CHARS;

export type AccountantMsg =
  /** Reserve the worst case of `event` for `user` in `department`; `key` makes retries safe. */
  | {
      readonly type: "reserve"; readonly key: string; readonly user: string; readonly department: string; readonly event: PrivacyEvent;
      /** The request this charge is for, and the sha256 of its content (never the content). */
      readonly requestId?: string; readonly contentHash?: string;
      readonly replyTo: ActorRef<ReserveReply>;
    }
  /** Charge what was actually spent (no worse than reserved at every Rényi order). */
  | { readonly type: "commit"; readonly reservation: string; readonly actual: PrivacyEvent; readonly replyTo: ActorRef<SettleReply> }
  /** Free a reservation; refused once a noisy output of it has left the system. */
  | { readonly type: "release"; readonly reservation: string; readonly noisyOutputReleased: boolean; readonly replyTo: ActorRef<SettleReply> }
  | { readonly type: "budget"; readonly user: string; readonly department?: string; readonly replyTo: ActorRef<BudgetReply> }
  /** A user's charges in a period ("2026-11", "2026-W48", "2026-11-24"; default: the current one). */
  | { readonly type: "history"; readonly user: string; readonly period?: string; readonly replyTo: ActorRef<HistoryReply> }
  /** Admin: set a user's or a department's ε limit; the trail records who, from the sender (an operator, or a user with role "admin"). */
  | { readonly type: "setBudget"; readonly scope: "user" | "department"; readonly name: string; readonly epsilon: number; readonly replyTo: ActorRef<SetBudgetReply> }
  | { readonly type: "report"; readonly period?: string; readonly replyTo: ActorRef<ReportReply> }
  /** Internal (its own timer): expire overdue reservations into commits, note a new period. */
  | { readonly type: "tick" }
  /**
   * From this node's Admin service, before an operator's action takes effect: `operator` is the
   * CN of the certificate it accepted. Recorded in the audit trail (changes no budget), answered
   * once synced. Names only — the action, its target, a message type — never a message body.
   */
  | {
      readonly type: "operatorAction"; readonly operator: string; readonly action: string; readonly target: string;
      readonly messageType?: string; readonly detail?: string; readonly replyTo: ActorRef<OperatorActionReply>;
    };

/**
 * Which senders the runtime lets through, per message type (the behaviour then applies the finer
 * rules: a user reserves and reads for itself only, setBudget and report need role "admin" from a
 * user, and a reservation is settled only by whoever made it). Budgets and histories are this
 * hospital's users' audit: another hospital (a peer) may reserve and settle, never read them.
 */
export const ACCOUNTANT_ACCESS = {
  reserve: ["local", "user", "peer"],
  commit: ["local", "user", "peer"],
  release: ["local", "user", "peer"],
  budget: ["local", "user", "operator"],
  history: ["local", "user", "operator"],
  setBudget: ["operator", "user"],
  report: ["local", "operator", "user"],
  tick: ["local"],
  operatorAction: ["local"],
} as const satisfies AccessPolicy<AccountantMsg>;

/** A request the Accountant could not take: nothing was charged or changed. `code` is stable. */
export interface Rejected {
  readonly type: "rejected";
  readonly code: AccountantErrorCode;
  readonly message: string;
  readonly field?: string;
}

/** Every code a `rejected` reply can carry (docs/errors.md lists them; a test keeps both equal). */
export const ACCOUNTANT_ERROR_CODES = [
  "INVALID_REQUEST", "INVALID_PRIVACY_PARAMETER", "UNSUPPORTED_PRIVACY_EVENT", "UNKNOWN_DEPARTMENT", "UNKNOWN_USER",
  "IDEMPOTENCY_KEY_REUSED", "UNKNOWN_RESERVATION", "COMMIT_EXCEEDS_RESERVATION", "ALREADY_SETTLED", "OUTPUT_ALREADY_RELEASED", "FORBIDDEN",
] as const;
export type AccountantErrorCode = (typeof ACCOUNTANT_ERROR_CODES)[number];

export type ReserveReply =
  | {
      readonly type: "reserved"; readonly reservation: string;
      /** ε of this event alone (tight), at the ledger's δ. */
      readonly cost: Privacy;
      /** Left after this reservation (a conservative figure: never more than the truth). */
      readonly remaining: RemainingBudget;
      readonly expiresAtMs: number;
      /** True when the key was seen before: the original reservation, charged once. */
      readonly duplicate: boolean;
    }
  | {
      readonly type: "refused"; readonly reason: "user" | "department"; readonly remaining: RemainingBudget;
      /** ε of this event alone. */
      readonly needed: Privacy; readonly resetsAtMs: number; readonly message: string;
    }
  | Rejected;

export type SettleReply =
  | { readonly type: "committed" | "released"; readonly reservation: string; readonly cost: Privacy; readonly remaining: RemainingBudget; readonly duplicate: boolean }
  | Rejected;

export type BudgetReply = ({ readonly type: "budget"; readonly delta: number } & BudgetView) | Rejected;
export type HistoryReply = { readonly type: "history"; readonly user: string; readonly period: string; readonly charges: readonly Charge[] } | Rejected;
export type SetBudgetReply = { readonly type: "budget-set"; readonly scope: "user" | "department"; readonly name: string; readonly epsilon: number } | Rejected;
export type ReportReply = ({ readonly type: "report"; readonly delta: number } & PeriodReport) | Rejected;
/** `seq`: the audit entry that records the action, durable before this reply. */
export type OperatorActionReply = { readonly type: "recorded"; readonly seq: number } | Rejected;

/** Spawn arguments of the Accountant (plain data: they may cross to a worker thread). */
export interface AccountantOptions {
  /** Budgets, δ, reset schedule, time zone, reservation TTL; merged over DEFAULT_LEDGER_CONFIG. */
  readonly ledger?: Partial<LedgerConfig>;
  /** Actor store id of its journal (the audit trail); default: the actor's path ("user/…/accountant"). */
  readonly storeId?: string;
  /** How often overdue reservations are expired and a new period noted (default 1 s). */
  readonly tickMs?: number;
  /** "pld" (default): the tight accountant decides near the limit; "none": RDP alone. */
  readonly tight?: "pld" | "none";
}

export const DEFAULT_ACCOUNTANT = Object.freeze({ tickMs: 1_000, tight: "pld" as const });
