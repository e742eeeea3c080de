/**
 * The Router's protocol: what the HTTP edge (and an operator) may send the Router actor, and
 * what it answers. Plain data only: requests, summaries and failures cross as msgpack.
 *
 * Who asks is the message's sender, never a field: the HTTP edge verifies a token and asks
 * `as: { kind: "user", … }` (runtime/actor/sender.ts); the Router charges that user. A streamed
 * answer is pulled one event per ask (`stream`, then `pull` until `done`), so a slow client
 * holds back generation instead of filling a buffer, and `cancel` (or a stream left unpulled
 * for `streamIdleMs`) stops generating and commits what was released.
 */
import type { AccessPolicy, ActorRef } from "../../runtime/index.ts";
import type { HttpErrorType } from "./http/errors.ts";
import type {
  BudgetStatus, ConfigUpdate, HealthReport, InferenceRequest, InferenceResult, InferenceStreamEvent, NodeSpec,
} from "./http/service.ts";
import type { StrategyName } from "./strategies.ts";
import type { Plan } from "../planner/protocol.ts";

/** A failure the caller can act on, as it crosses: the front door error's code, message and own fields. */
export interface RouterFailure {
  readonly code: HttpErrorType;
  readonly message: string;
  readonly [field: string]: unknown;
}

export type RouterReply<T> = { readonly type: "ok"; readonly value: T } | { readonly type: "failed"; readonly error: RouterFailure };

/** One pulled step of a streamed answer: the next event, or the end. */
export type StreamReply =
  | { readonly type: "event"; readonly stream: string; readonly event: InferenceStreamEvent }
  | { readonly type: "end"; readonly stream: string }
  | { readonly type: "failed"; readonly stream: string; readonly error: RouterFailure };

/** What the Router holds now, for an operator (REPL `.ask`, metrics). */
export interface RouterStatus {
  readonly strategy: StrategyName;
  readonly hospitals: readonly { readonly id: string; readonly region: string; readonly weight?: number; readonly breaker: string; readonly stages: number; readonly planVersion?: number }[];
  readonly running: number;
  readonly queued: number;
  readonly maxConcurrent: number;
  readonly streams: number;
  readonly registered: readonly string[];
}

export type RouterMsg =
  /** A whole answer. */
  | { readonly type: "infer"; readonly request: InferenceRequest; readonly replyTo: ActorRef<RouterReply<InferenceResult>> }
  /** Opens a streamed answer: the reply is its first event (after admission), or why it was refused. */
  | { readonly type: "stream"; readonly request: InferenceRequest; readonly replyTo: ActorRef<StreamReply> }
  /** The next event of an open stream. */
  | { readonly type: "pull"; readonly stream: string; readonly replyTo: ActorRef<StreamReply> }
  /** The client went away: stop generating, commit what was released. */
  | { readonly type: "cancel"; readonly stream: string }
  | { readonly type: "budget"; readonly userId: string; readonly department?: string; readonly replyTo: ActorRef<RouterReply<BudgetStatus>> }
  | { readonly type: "health"; readonly replyTo: ActorRef<HealthReport> }
  | { readonly type: "add-node"; readonly node: NodeSpec; readonly replyTo: ActorRef<RouterReply<NodeSpec>> }
  | { readonly type: "update-config"; readonly update: ConfigUpdate; readonly replyTo: ActorRef<RouterReply<ConfigUpdate>> }
  | { readonly type: "metrics"; readonly replyTo: ActorRef<string> }
  | { readonly type: "status"; readonly replyTo: ActorRef<RouterStatus> }
  /** From a hospital's Planner (subscribed at start): that hospital's pipeline, or none. */
  | { readonly type: "plan-published"; readonly plan: Plan }
  | { readonly type: "plan-withdrawn"; readonly version: number; readonly code: string; readonly message: string };

/**
 * Who may send what. Answers, budgets and node/config changes are a user's (the edge speaks for
 * its verified caller; the Router then applies the role rules); health, metrics and status are
 * this node's code's and its operators'; plans come from Planners, this node's or a peer's.
 */
export const ROUTER_ACCESS = {
  infer: ["user"],
  stream: ["user"],
  pull: ["user"],
  cancel: ["user"],
  budget: ["user", "local", "operator"],
  health: ["local", "operator"],
  "add-node": ["user"],
  "update-config": ["user"],
  metrics: ["local", "operator"],
  status: ["local", "operator"],
  "plan-published": ["local", "peer"],
  "plan-withdrawn": ["local", "peer"],
} as const satisfies AccessPolicy<RouterMsg>;
