/**
 * A federated round's life as plain data, and the pure decisions over it: what each action does
 * to a round, and what a restarted coordinator must do with a round it finds on disk.
 *
 *   planned ──collect──▶ collecting ──aggregate──▶ aggregated ──applied──▶ applied
 *      └─────────────┴──────── abandon ─────────────────┴──────────▶ abandoned
 *
 * Never lets a round be applied twice: `applied` and `abandoned` are final, `aggregate` needs the
 * quorum, and recovery marks a round applied (without applying it again) when the global model's
 * current version names it as the round that produced it. No I/O and no clock here: round-store.ts
 * persists, the caller passes the time.
 */
import type { PrivacyEvent } from "../privacy/events.ts";
import { InvalidRoundTransition } from "./errors.ts";

export type RoundStatus = "planned" | "collecting" | "aggregated" | "applied" | "abandoned";

/** What the coordinator decides before a round starts. */
export interface RoundPlan {
  /** Unique, 1–128 of [A-Za-z0-9._-], starting with a letter or digit (it names an LMDB key range). */
  readonly roundId: string;
  /** Client ids selected for the round. */
  readonly participants: readonly string[];
  /** Submissions needed before the round may be aggregated (1 ≤ quorum ≤ participants). */
  readonly quorum: number;
  /** Wall-clock deadline (ms since the epoch) for submissions. */
  readonly deadlineMs: number;
  /** The privacy event the round releases (federated/privacy-cost.ts `roundEvent`). */
  readonly cost: PrivacyEvent;
  /** The clip norm C the round's updates are clipped to (it changes per round under adaptive clipping); recorded, not enforced. */
  readonly clipNorm?: number;
}

export interface RoundRecord extends RoundPlan {
  readonly status: RoundStatus;
  /** The global model version the round's clients trained from. */
  readonly baseVersion: number;
  /** Ids of the clients whose update arrived (never the updates). */
  readonly submissions: readonly string[];
  /** SHA-256 of the noisy aggregate, once aggregated. */
  readonly aggregateSha256?: string;
  /** Adaptive clipping: the clip norm the next round uses, set with the aggregate (from the noisy count) and written with the model. */
  readonly nextClipNorm?: number;
  /** The global version this round produced, once applied. */
  readonly resultVersion?: number;
  readonly abandonReason?: string;
  readonly updatedAtMs: number;
}

export type RoundAction =
  | { readonly type: "collect" }
  | { readonly type: "submit"; readonly clientId: string }
  | { readonly type: "aggregate"; readonly aggregateSha256: string; readonly nextClipNorm?: number }
  | { readonly type: "applied"; readonly resultVersion: number }
  | { readonly type: "abandon"; readonly reason: string };

/** The global model's head as the model store holds it: its version and the round that made it. */
export interface ModelHead {
  readonly version: number;
  /** The round whose update produced this version; null for the initial model. */
  readonly producedBy: string | null;
}

const ROUND_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const FINAL: readonly RoundStatus[] = ["applied", "abandoned"];

/**
 * A new round record, status "planned", from a checked plan.
 * @example planRound({ roundId: "r-1", participants: ["a", "b"], quorum: 2, deadlineMs: 1e12, cost: gaussian(1) }, 0, Date.now());
 */
export function planRound(plan: RoundPlan, baseVersion: number, nowMs: number): RoundRecord {
  const id = typeof plan?.roundId === "string" ? plan.roundId : String(plan?.roundId);
  const refuse = (reason: string): never => {
    throw new InvalidRoundTransition(id, "unplanned", "plan", reason);
  };
  if (!ROUND_ID.test(id)) refuse("a round id is 1 to 128 of [A-Za-z0-9._-], starting with a letter or digit");
  if (!Array.isArray(plan.participants) || plan.participants.length === 0) refuse("participants must be a non-empty list of client ids");
  if (plan.participants.some((p) => typeof p !== "string" || p.length === 0)) refuse("every participant must be a non-empty client id");
  if (new Set(plan.participants).size !== plan.participants.length) refuse("participants must not repeat");
  if (!Number.isSafeInteger(plan.quorum) || plan.quorum < 1 || plan.quorum > plan.participants.length) {
    refuse(`quorum ${String(plan.quorum)} must be an integer from 1 to the ${plan.participants.length} participants`);
  }
  if (!Number.isFinite(plan.deadlineMs) || plan.deadlineMs <= nowMs) refuse(`deadline ${String(plan.deadlineMs)} must lie in the future (now ${nowMs})`);
  if (plan.cost === null || typeof plan.cost !== "object" || typeof plan.cost.kind !== "string") refuse("cost must be a privacy event (roundEvent(q, z))");
  if (!Number.isSafeInteger(baseVersion) || baseVersion < 0) refuse(`base version ${baseVersion} must be an integer ≥ 0`);
  if (plan.clipNorm !== undefined && !(Number.isFinite(plan.clipNorm) && plan.clipNorm > 0)) refuse(`clipNorm ${String(plan.clipNorm)} must be a finite number > 0`);
  return {
    roundId: id,
    participants: [...plan.participants],
    quorum: plan.quorum,
    deadlineMs: plan.deadlineMs,
    cost: plan.cost,
    ...(plan.clipNorm === undefined ? {} : { clipNorm: plan.clipNorm }),
    status: "planned",
    baseVersion,
    submissions: [],
    updatedAtMs: nowMs,
  };
}

/**
 * The round after `action`, or InvalidRoundTransition naming why not.
 * @example advanceRound(planned, { type: "collect" }, Date.now()).status; // "collecting"
 */
export function advanceRound(record: RoundRecord, action: RoundAction, nowMs: number): RoundRecord {
  const refuse = (reason: string): never => {
    throw new InvalidRoundTransition(record.roundId, record.status, action.type, reason);
  };
  if (FINAL.includes(record.status)) refuse(`the round is final`);
  switch (action.type) {
    case "collect":
      if (record.status !== "planned") refuse("only a planned round starts collecting");
      return { ...record, status: "collecting", updatedAtMs: nowMs };
    case "submit": {
      if (record.status !== "collecting") refuse("submissions are taken only while collecting");
      if (nowMs > record.deadlineMs) refuse(`the deadline (${new Date(record.deadlineMs).toISOString()}) has passed`);
      if (!record.participants.includes(action.clientId)) refuse(`"${action.clientId}" was not selected for this round`);
      if (record.submissions.includes(action.clientId)) refuse(`"${action.clientId}" has already submitted`);
      return { ...record, submissions: [...record.submissions, action.clientId], updatedAtMs: nowMs };
    }
    case "aggregate":
      if (record.status !== "collecting") refuse("only a collecting round is aggregated");
      if (record.submissions.length < record.quorum) refuse(`${record.submissions.length} submissions, the quorum is ${record.quorum}`);
      if (!/^[0-9a-f]{64}$/.test(action.aggregateSha256)) refuse("aggregateSha256 must be 64 lowercase hex digits");
      if (action.nextClipNorm !== undefined && !(Number.isFinite(action.nextClipNorm) && action.nextClipNorm > 0)) refuse(`nextClipNorm ${String(action.nextClipNorm)} must be a finite number > 0`);
      return { ...record, status: "aggregated", aggregateSha256: action.aggregateSha256, ...(action.nextClipNorm === undefined ? {} : { nextClipNorm: action.nextClipNorm }), updatedAtMs: nowMs };
    case "applied":
      if (record.status !== "aggregated") refuse("only an aggregated round is applied");
      if (action.resultVersion !== record.baseVersion + 1) refuse(`it started from version ${record.baseVersion}, so it produces ${record.baseVersion + 1}, not ${action.resultVersion}`);
      return { ...record, status: "applied", resultVersion: action.resultVersion, updatedAtMs: nowMs };
    case "abandon":
      return { ...record, status: "abandoned", abandonReason: action.reason, updatedAtMs: nowMs };
    default:
      return refuse(`unknown action ${JSON.stringify((action as { type: unknown }).type)}`);
  }
}

export type RecoveryDecision =
  | { readonly type: "none" }
  | { readonly type: "resume" }
  | { readonly type: "resumeApply" }
  | { readonly type: "markApplied"; readonly resultVersion: number }
  | { readonly type: "abandon"; readonly reason: string };

/**
 * What a restarted coordinator does with a round found on disk:
 * - applied, abandoned: nothing;
 * - aggregated, and the model's head names this round: the apply happened before the crash, only
 *   its mark was lost: mark it applied (never apply again);
 * - aggregated, the model still at the round's base version, the aggregate on disk: apply it;
 *   otherwise abandon (the model moved on, or the aggregate is gone);
 * - collecting: abandon: the updates were held in memory and died with the process (clients and
 *   secure aggregation cannot resend a masked update for a round whose masks were consumed);
 * - planned: resume if the deadline is ahead, else abandon.
 * @example recoveryDecision(record, { version: 4, producedBy: "r-4" }, Date.now(), true);
 */
export function recoveryDecision(record: RoundRecord, model: ModelHead, nowMs: number, hasAggregate: boolean): RecoveryDecision {
  switch (record.status) {
    case "applied":
    case "abandoned":
      return { type: "none" };
    case "aggregated":
      if (model.producedBy === record.roundId) return { type: "markApplied", resultVersion: model.version };
      if (model.version !== record.baseVersion) return { type: "abandon", reason: `the global model moved on to version ${model.version} (produced by ${model.producedBy ?? "the initial model"}) while this round, based on ${record.baseVersion}, waited` };
      return hasAggregate ? { type: "resumeApply" } : { type: "abandon", reason: "its aggregate is not on disk" };
    case "collecting":
      return { type: "abandon", reason: "the coordinator restarted while collecting: the submitted updates were in memory only" };
    case "planned":
      return nowMs < record.deadlineMs ? { type: "resume" } : { type: "abandon", reason: "the deadline passed while the coordinator was down" };
  }
}
