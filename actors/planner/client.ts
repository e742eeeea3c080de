/**
 * A typed client for the Planner, for services that embed it (the Router, a pipeline driver, a
 * node's launcher): one method per request, each an ask with a deadline. Never turns an
 * unplannable or rejected answer into a throw — they come back as reply values; only transport
 * failures (AskTimeout, PeerUnavailable, …) reject.
 */
import type { ActorRef } from "../../runtime/index.ts";
import type { BreakerState, ExecutorInfo, MembershipReply, PlanPublished, PlanReply, PlannerMsg, PlannerStatus, RoundSelectionReply } from "./protocol.ts";
import type { RoundSelectionRequest } from "./rounds.ts";

export class PlannerClient {
  constructor(readonly ref: ActorRef<PlannerMsg>, readonly timeoutMs = 10_000) {}

  /** @example const r = await client.join({ id: "hospital-b", path: "fed://hospital-b/user/shard", blockMs, linkMs: 3 }); */
  join(executor: ExecutorInfo): Promise<MembershipReply> {
    return this.ref.ask<MembershipReply>((replyTo) => ({ type: "join", executor, replyTo }), { timeoutMs: this.timeoutMs });
  }

  leave(executor: string): Promise<MembershipReply> {
    return this.ref.ask<MembershipReply>((replyTo) => ({ type: "leave", executor, replyTo }), { timeoutMs: this.timeoutMs });
  }

  breaker(executor: string, state: BreakerState): Promise<MembershipReply> {
    return this.ref.ask<MembershipReply>((replyTo) => ({ type: "breaker", executor, state, replyTo }), { timeoutMs: this.timeoutMs });
  }

  /** The current plan, or with `region` a plan over only the executors allowed there. */
  plan(region?: string): Promise<PlanReply> {
    return this.ref.ask<PlanReply>((replyTo) => ({ type: "plan", ...(region === undefined ? {} : { region }), replyTo }), { timeoutMs: this.timeoutMs });
  }

  status(): Promise<PlannerStatus> {
    return this.ref.ask<PlannerStatus>((replyTo) => ({ type: "status", replyTo }), { timeoutMs: this.timeoutMs });
  }

  /** @example await client.selectRound({ round: "r-1", candidates, quorum: 2, roundEpsilon: 0.4 }) // selected | refused | rejected */
  selectRound(request: RoundSelectionRequest): Promise<RoundSelectionReply> {
    return this.ref.ask<RoundSelectionReply>((replyTo) => ({ type: "select-round", request, replyTo }), { timeoutMs: this.timeoutMs });
  }

  /** `subscriber` gets the current plan at once, then every new version. */
  subscribe(subscriber: ActorRef<PlanPublished>): void {
    this.ref.tell({ type: "subscribe", subscriber });
  }

  unsubscribe(subscriberPath: string): void {
    this.ref.tell({ type: "unsubscribe", subscriber: subscriberPath });
  }
}
