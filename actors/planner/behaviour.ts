/**
 * The Planner actor: keeps the roster of executors, re-plans on every join, leave and breaker
 * change, and publishes each new version to its subscribers; answers plans for a region from
 * the same roster. Never plans over an executor whose breaker is open, and never crashes on a
 * malformed message: that gets a typed answer where it has a replyTo, a logged warning where not.
 *
 * Versions. Every change the Planner accepts raises `version` by one and publishes the plan of
 * the new roster (plan-published), or plan-withdrawn when none is possible, so subscribers see
 * strictly increasing versions. A plan asked for a region is cut from the current roster and
 * carries its version. The roster lives in memory: a restarted Planner starts empty, at version
 * 0, with no subscribers; executors re-join and subscribers re-subscribe (each subscription is
 * answered at once with the current plan, whatever its version).
 *
 * The breaker messages come from whoever watches the executors' circuit breakers (the node's
 * launcher, from `system.breakers`); the Planner holds no breaker of its own.
 */
import { assertNever, defineActor, type ActorRef, type Behavior } from "../../runtime/index.ts";
import { NotYourExecutor, PlannerError } from "./errors.ts";
import { DEFAULT_PLANNER, PLANNER_ACCESS, type PlanPublished, type PlanReply, type PlannerMsg, type PlannerOptions } from "./protocol.ts";
import { emptyRoster, joinExecutor, leaveExecutor, planOf, setBreaker, statusOf, type RosterChange } from "./roster.ts";
import { invalidMessage, replyToOf, type Invalid } from "./validation.ts";
import { InvalidRoundRequest, selectRound, type RoundSelectionRequest } from "./rounds.ts";

/** Regional plans kept per version; past this the oldest goes (regions are caller input, so the cache is bounded). */
const MAX_CACHED_PLANS = 64;

/**
 * @example
 * const ref = await system.spawn(planner, { blocks: 12 });
 * const client = new PlannerClient(ref);
 * await client.join({ id: "hospital-a", path: "fed://hospital-a/user/shard", blockMs, linkMs: 2 });
 * const reply = await client.plan("eu"); // { type: "plan", plan } or { type: "unplannable", code, message }
 */
export const planner = defineActor(import.meta.url, "planner", (options: PlannerOptions) => plannerBehaviour(options), { access: PLANNER_ACCESS });

function plannerBehaviour(options: PlannerOptions): Behavior<PlannerMsg> {
  let roster = emptyRoster(options.blocks, options.ordered ?? DEFAULT_PLANNER.ordered); // a bad block count fails the spawn
  let version = 0;
  let reason = "start";
  const subscribers = new Map<string, ActorRef<PlanPublished>>();
  /** Plans of the current version, by region ("" for the unconstrained one). */
  const plans = new Map<string, PlanReply>();

  const planFor = (region: string | undefined): PlanReply => {
    const key = region ?? "";
    let reply = plans.get(key);
    if (reply === undefined) {
      try {
        reply = { type: "plan", plan: planOf(roster, version, reason, region) };
      } catch (error) {
        if (!(error instanceof PlannerError)) throw error; // a defect: crash
        reply = { type: "unplannable", code: error.code, message: error.message };
      }
      if (plans.size >= MAX_CACHED_PLANS) plans.delete(plans.keys().next().value!);
      plans.set(key, reply);
    }
    return reply;
  };

  const publication = (): PlanPublished => {
    const current = planFor(undefined);
    return current.type === "plan" ? { type: "plan-published", plan: current.plan } : { type: "plan-withdrawn", version, code: current.code, message: current.message };
  };

  return {
    receive(msg, ctx) {
      const invalid = invalidMessage(msg);
      if (invalid !== null) {
        const replyTo = replyToOf(msg);
        if (replyTo !== undefined) replyTo.tell(rejectionFor((msg as { type?: unknown }).type, invalid));
        else ctx.log.warn("planner-invalid-message", { code: invalid.code, field: invalid.field });
        return;
      }
      switch (msg.type) {
        case "join":
        case "leave":
        case "breaker": {
          let change: RosterChange;
          try {
            // A peer speaks for its own executors only: the path the roster holds (or, for a
            // join, the one it announces) must be one of its node's.
            const sender = ctx.sender;
            if (sender.kind === "peer") {
              const path = msg.type === "join" ? msg.executor.path : roster.entries.get(msg.executor)?.info.path;
              if (path !== undefined && !path.startsWith(`fed://${sender.node}/`)) {
                ctx.refused(`${msg.type} of executor ${msg.type === "join" ? msg.executor.id : msg.executor}`);
                throw new NotYourExecutor(msg.type === "join" ? msg.executor.id : msg.executor, `peer:${sender.node}`);
              }
            }
            change = msg.type === "join" ? joinExecutor(roster, msg.executor)
              : msg.type === "leave" ? leaveExecutor(roster, msg.executor)
              : setBreaker(roster, msg.executor, msg.state);
          } catch (error) {
            if (!(error instanceof PlannerError)) throw error;
            const field = "field" in error && typeof error.field === "string" ? `executor.${error.field}` : "executor";
            if (msg.replyTo !== undefined) msg.replyTo.tell({ type: "rejected", code: error.code, message: error.message, field });
            else ctx.log.warn("planner-change-rejected", { type: msg.type, code: error.code, field });
            return;
          }
          if (change.changed) {
            roster = change.roster;
            version++;
            reason = change.reason;
            plans.clear();
            const published = publication();
            for (const subscriber of subscribers.values()) subscriber.tell(published);
            ctx.log.info("planner-replanned", {
              version, reason,
              ...(published.type === "plan-published" ? { stages: published.plan.stages.length, bottleneckMs: published.plan.bottleneckMs } : { withdrawn: published.code }),
            });
          }
          msg.replyTo?.tell({ type: "accepted", version, changed: change.changed });
          return;
        }
        case "plan":
          msg.replyTo.tell(planFor(msg.region));
          return;
        case "subscribe":
          subscribers.set(msg.subscriber.path, msg.subscriber);
          msg.subscriber.tell(publication());
          return;
        case "unsubscribe":
          subscribers.delete(msg.subscriber);
          return;
        case "status": {
          const current = planFor(undefined);
          msg.replyTo.tell({
            type: "status", version, blocks: roster.blocks, ordered: roster.ordered, executors: statusOf(roster),
            ...(current.type === "plan" ? { plan: current.plan } : {}),
            subscribers: [...subscribers.keys()].sort(),
          });
          return;
        }
        case "select-round": {
          try {
            const selection = selectRound(msg.request as RoundSelectionRequest);
            ctx.log.info("planner-round-selected", { round: selection.round, outcome: selection.type, participants: selection.type === "selected" ? selection.participants.length : 0 });
            msg.replyTo.tell(selection);
          } catch (error) {
            if (!(error instanceof InvalidRoundRequest)) throw error;
            msg.replyTo.tell({ type: "rejected", code: "INVALID_REQUEST", message: error.message, field: `request.${error.field}` });
          }
          return;
        }
        default:
          assertNever(msg);
      }
    },
  };
}

/** The answer to a malformed message, in the reply shape its type promises. */
function rejectionFor(type: unknown, invalid: Invalid): unknown {
  return type === "plan"
    ? { type: "unplannable", code: invalid.code, message: invalid.message, field: invalid.field }
    : { type: "rejected", code: invalid.code, message: invalid.message, field: invalid.field };
}
