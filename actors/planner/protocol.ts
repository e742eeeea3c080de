/**
 * The Planner's protocol: every message another folder (or hospital) may send it and every
 * reply or publication it sends. A plan that cannot be made is a reply value (`unplannable`,
 * `plan-withdrawn`), never a throw. Plain data only: these cross threads and the network as
 * msgpack, so a Plan names each stage's executor by id and by actor path, never by a ref.
 */
import type { AccessPolicy, ActorRef } from "../../runtime/index.ts";
import type { PlannerErrorCode } from "./errors.ts";
import type { RoundSelection, RoundSelectionRequest } from "./rounds.ts";

/** What an executor tells the Planner when it joins: where it lives, where it may serve, what it costs. */
export interface ExecutorInfo {
  readonly id: string;
  /** fed:// path of its ShardExecutor actor. */
  readonly path: string;
  /** Regions whose requests it may serve; absent: any region. An empty list: only untagged requests. */
  readonly regions?: readonly string[];
  /** Measured ms of each of the model's L blocks on this executor (length L). */
  readonly blockMs: readonly number[];
  /** Ms to send one hidden state to the next stage: a scalar, or per next executor id (a missing id: no link). */
  readonly linkMs: number | Readonly<Record<string, number>>;
  /**
   * Position in the chain when the Planner is ordered (smaller first; executors without one
   * follow, in join order). Ignored when unordered.
   */
  readonly order?: number;
}

export interface PlanStage {
  readonly executor: string;
  /** fed:// path of the executor's ShardExecutor actor. */
  readonly path: string;
  readonly from: number;
  /** Exclusive. */
  readonly to: number;
  /** Measured compute of blocks from..to on this executor. */
  readonly computeMs: number;
  /** The link to the next stage; 0 for the last. */
  readonly linkMs: number;
  /** computeMs + linkMs. */
  readonly costMs: number;
}

export interface Plan {
  /**
   * The version of the executor set this plan was computed from. It rises by one on every
   * change the Planner accepts (join, leave, breaker state), whether or not the plan changed;
   * a regional plan carries the version of the set it was cut from, so it equals the published
   * plan's version until the next change. A restarted Planner starts again from 0.
   */
  readonly version: number;
  readonly blocks: number;
  /** Present on a plan asked for a region: it uses only executors allowed there. */
  readonly region?: string;
  /** Cover blocks 0..blocks-1 contiguously, in order; the pipeline runs them first to last. */
  readonly stages: readonly PlanStage[];
  readonly bottleneckMs: number;
  /** The change that led to this version: "join hospital-b", "leave x", "breaker open x", … */
  readonly reason: string;
}

export type BreakerState = "open" | "half-open" | "closed";

export type PlannerMsg =
  /** An executor joins, or re-joins with a fresh calibration (its breaker state is kept). */
  | { readonly type: "join"; readonly executor: ExecutorInfo; readonly replyTo?: ActorRef<MembershipReply> }
  | { readonly type: "leave"; readonly executor: string; readonly replyTo?: ActorRef<MembershipReply> }
  /** An executor's circuit breaker changed: open and half-open exclude it from plans, closed re-includes it. */
  | { readonly type: "breaker"; readonly executor: string; readonly state: BreakerState; readonly replyTo?: ActorRef<MembershipReply> }
  /** The current plan; with a region, a plan over only the executors allowed for it. */
  | { readonly type: "plan"; readonly region?: string; readonly replyTo: ActorRef<PlanReply> }
  /** Receive every plan from now on, starting with the current one at once. */
  | { readonly type: "subscribe"; readonly subscriber: ActorRef<PlanPublished> }
  /** Stop publishing to the subscriber at this path. */
  | { readonly type: "unsubscribe"; readonly subscriber: string }
  | { readonly type: "status"; readonly replyTo: ActorRef<PlannerStatus> }
  /** Which hospitals take part in a training round (rounds.ts), or QUORUM_NOT_MET before anyone trains. */
  | { readonly type: "select-round"; readonly request: RoundSelectionRequest; readonly replyTo: ActorRef<RoundSelectionReply> };

/**
 * Who may send what: executors of any hospital join, leave and report breakers (a peer only for
 * its own executors: the behaviour checks the path), and anyone of the federation may read plans.
 */
export const PLANNER_ACCESS = {
  join: ["local", "peer", "operator"],
  leave: ["local", "peer", "operator"],
  breaker: ["local", "peer", "operator"],
  plan: ["local", "peer", "operator"],
  subscribe: ["local", "peer"],
  unsubscribe: ["local", "peer"],
  status: ["local", "peer", "operator"],
  // The round's coordinator (this node's Aggregator) and its operators: a peer does not pick our rounds.
  "select-round": ["local", "operator"],
} as const satisfies AccessPolicy<PlannerMsg>;

export type PlanReply =
  | { readonly type: "plan"; readonly plan: Plan }
  | { readonly type: "unplannable"; readonly code: PlannerErrorCode; readonly message: string; readonly field?: string };

export type RoundSelectionReply = RoundSelection | { readonly type: "rejected"; readonly code: PlannerErrorCode; readonly message: string; readonly field?: string };

export type PlanPublished =
  | { readonly type: "plan-published"; readonly plan: Plan }
  /** No plan is possible at this version (say, the last executor left); `code` says why. */
  | { readonly type: "plan-withdrawn"; readonly version: number; readonly code: PlannerErrorCode; readonly message: string };

/** The answer to join, leave and breaker when they carry a replyTo. */
export type MembershipReply =
  /** `version`: the version the change produced (unchanged when the message changed nothing). */
  | { readonly type: "accepted"; readonly version: number; readonly changed: boolean }
  | { readonly type: "rejected"; readonly code: PlannerErrorCode; readonly message: string; readonly field?: string };

export interface ExecutorStatus {
  readonly id: string;
  readonly path: string;
  readonly regions?: readonly string[];
  readonly breaker: BreakerState;
  /** Whether unconstrained plans may use it now (its breaker is closed). */
  readonly eligible: boolean;
}

export type PlannerStatus =
  | {
      readonly type: "status";
      readonly version: number;
      readonly blocks: number;
      readonly ordered: boolean;
      /** In chain order when ordered, else by id. */
      readonly executors: readonly ExecutorStatus[];
      /** The current unconstrained plan, absent when none is possible. */
      readonly plan?: Plan;
      readonly subscribers: readonly string[];
    }
  | { readonly type: "rejected"; readonly code: PlannerErrorCode; readonly message: string; readonly field?: string };

/** Spawn arguments of the Planner (plain data: they may cross to a worker thread). */
export interface PlannerOptions {
  /** L: the model's transformer block count; every executor's blockMs has this length. */
  readonly blocks: number;
  /** True: chains follow executor order (ExecutorInfo.order, then join order); default false. */
  readonly ordered?: boolean;
}

export const DEFAULT_PLANNER = Object.freeze({ ordered: false });
