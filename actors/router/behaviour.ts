/**
 * The Router as an actor of its node's supervision tree (`user/node/router`): the HTTP API is an
 * edge that verifies a caller and asks it (protocol.ts); routing state, breakers, hedging, the
 * admission queue and the open streams live here, and a restart builds them afresh (open streams
 * of the old incarnation are stopped and settled in `stop`; released answers are in the node's
 * LMDB store, so a retried request id still gets its answer after a restart).
 *
 * It runs where the HTTP server runs (placement "local", the main thread), because it reads its
 * node's link states and metrics through `RouterArgs.node`; everything else it reaches by actor
 * path: every hospital's ShardExecutor (or its Planner's plan), this node's Accountant (as the
 * caller) and Aggregator. One message at a time, but an answer does not hold the mailbox: `receive`
 * starts the work and replies when it ends, so requests run concurrently up to `maxConcurrent`.
 */
import { randomUUID } from "node:crypto";
import { defineActor, describeSender, type ActorContext, type ActorRef, type Behavior } from "../../runtime/index.ts";
import { AccountantClient, type PrivacyEvent } from "../accountant/index.ts";
import { AggregatorClient } from "../aggregator/index.ts";
import type { PlannerMsg } from "../planner/protocol.ts";
import { deployPlan, Gpt2Tokenizer, readGpt2Config, routeFromPlan, type RouteStage, type ShardExecutorMsg } from "../shard-executor/index.ts";
import { Admission } from "./admission.ts";
import { FrontDoorError, InvalidRequestError, UnavailableError } from "./http/errors.ts";
import { ROLES, type InferenceStreamEvent, type NodeSpec, type Principal, type Role } from "./http/service.ts";
import { nodeStoreSlots, ReleasedAnswers } from "./released-answers.ts";
import { ROUTER_ACCESS, type RouterFailure, type RouterMsg, type RouterReply, type StreamReply } from "./protocol.ts";
import { DEFAULT_ROUTER, RouterService, type HospitalRoute, type RouterServiceOptions } from "./service.ts";
import type { StrategyName } from "./strategies.ts";

/** One hospital the Router may send answers to. */
export interface RouterHospital {
  readonly id: string;
  readonly region: string;
  readonly weight?: number;
  /** Its pipeline, when fixed. */
  readonly route?: readonly RouteStage[];
  /** The fed:// path of the Planner whose plans give its pipeline (followed while running). */
  readonly planner?: string;
}

/** What this node gives its Router that is not an actor: read by reference (placement "local"). */
export interface RouterNodeFacilities {
  /** The transport's link states: a hospital without a usable stream is not routed to. */
  readonly links?: () => readonly { readonly peer: string; readonly up: boolean; readonly lastDownReason?: string }[];
  /** The node's own Prometheus text (the actor system's metrics). */
  readonly metrics?: () => Promise<string>;
  /** Makes a node added at run time reachable (the transport learns its address). */
  readonly addPeer?: (node: NodeSpec) => void | Promise<void>;
}

export interface RouterArgs {
  readonly hospitals: readonly RouterHospital[];
  /** The model directory the tokenizer and the context (n_positions) are read from. */
  readonly modelDir: string;
  /** fed:// paths of this node's Accountant and Aggregator. */
  readonly accountant: string;
  readonly aggregator: string;
  readonly strategy?: StrategyName;
  readonly ensemble?: RouterServiceOptions["ensemble"];
  readonly openAiMode?: "single" | "ensemble";
  readonly singleQueryCost?: PrivacyEvent | null;
  readonly stepTimeoutMs?: number;
  readonly hedgeAfterMs?: number;
  readonly duplicateWaitMs?: number;
  /** Answers generated at once (default 64); more wait by priority, up to `maxQueued` (default 1,024). */
  readonly maxConcurrent?: number;
  readonly maxQueued?: number;
  /** A stream nobody pulled for this long is stopped and settled (default 60,000 ms). */
  readonly streamIdleMs?: number;
  /** The Planner path of a node added at run time: `{node}` is replaced by its id (default fed://{node}/user/node/planner). */
  readonly plannerOf?: string;
  readonly node?: RouterNodeFacilities;
}

export const DEFAULT_ROUTER_ACTOR = Object.freeze({ maxConcurrent: 64, maxQueued: 1_024, streamIdleMs: 60_000, plannerOf: "fed://{node}/user/node/planner" });

interface OpenStream {
  readonly owner: string;
  readonly events: AsyncIterator<InferenceStreamEvent>;
  readonly release: () => void;
  idle?: NodeJS.Timeout;
  /** A pull is being answered: a second one at the same time is refused. */
  busy: boolean;
}

/** A front door error as it crosses (code, message, own fields); anything else is a defect and says nothing more. */
export function failureOf(error: unknown): RouterFailure {
  if (error instanceof FrontDoorError) {
    const fields: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(error)) if (value !== undefined && typeof value !== "function") fields[key] = value;
    return { ...fields, code: error.code, message: error.message };
  }
  return { code: "internal_error", message: "the router failed to handle this request" };
}

export const router = defineActor(import.meta.url, "router", (args: RouterArgs): Behavior<RouterMsg> => {
  let service: RouterService | undefined;
  let admission: Admission | undefined;
  const streams = new Map<string, OpenStream>();
  /** The plan version each planned hospital's route comes from. */
  const planVersions = new Map<string, number>();
  /** Which hospital each Planner subscription speaks for, by the Planner's path. */
  const plannerHospital = new Map<string, string>();
  const streamIdleMs = args.streamIdleMs ?? DEFAULT_ROUTER_ACTOR.streamIdleMs;

  function principal(ctx: ActorContext<RouterMsg>): Principal | undefined {
    const sender = ctx.sender;
    if (sender.kind !== "user") return undefined;
    if (!(ROLES as readonly string[]).includes(sender.role)) return undefined;
    return { userId: sender.user, role: sender.role as Role, department: sender.department };
  }

  function reply<T>(replyTo: ActorRef<RouterReply<T>>, work: () => Promise<T>, ctx: ActorContext<RouterMsg>): void {
    work().then(
      (value) => replyTo.tell({ type: "ok", value }),
      (error: unknown) => {
        if (!(error instanceof FrontDoorError)) ctx.log.error("router-request-failed", { reason: error instanceof Error ? error.message : String(error) });
        replyTo.tell({ type: "failed", error: failureOf(error) });
      },
    );
  }

  function closeStream(id: string, ctx: ActorContext<RouterMsg>): void {
    const open = streams.get(id);
    if (open === undefined) return;
    streams.delete(id);
    clearTimeout(open.idle);
    // return() settles what was released (service.ts); its failure is the service's to count.
    void Promise.resolve(open.events.return?.()).catch((error: unknown) => ctx.log.warn("router-stream-close-failed", { reason: error instanceof Error ? error.message : String(error) })).finally(open.release);
  }

  function armIdle(id: string, open: OpenStream, ctx: ActorContext<RouterMsg>): void {
    clearTimeout(open.idle);
    open.idle = setTimeout(() => {
      ctx.log.warn("router-stream-idle", { stream: id, idleMs: streamIdleMs });
      closeStream(id, ctx);
    }, streamIdleMs);
    open.idle.unref?.();
  }

  /** Pulls the next event of an open stream and answers with it. */
  function pull(id: string, open: OpenStream, replyTo: ActorRef<StreamReply>, ctx: ActorContext<RouterMsg>): void {
    open.busy = true;
    clearTimeout(open.idle);
    open.events.next().then(
      (step) => {
        open.busy = false;
        if (step.done) {
          streams.delete(id);
          open.release();
          replyTo.tell({ type: "end", stream: id });
          return;
        }
        armIdle(id, open, ctx);
        replyTo.tell({ type: "event", stream: id, event: step.value });
      },
      (error: unknown) => {
        streams.delete(id);
        open.release();
        if (!(error instanceof FrontDoorError)) ctx.log.error("router-stream-failed", { reason: error instanceof Error ? error.message : String(error) });
        replyTo.tell({ type: "failed", stream: id, error: failureOf(error) });
      },
    );
  }

  async function followPlanner(hospital: string, plannerPath: string, ctx: ActorContext<RouterMsg>): Promise<void> {
    plannerHospital.set(plannerPath, hospital);
    ctx.lookup<PlannerMsg>(plannerPath).tell({ type: "subscribe", subscriber: ctx.self });
  }

  /**
   * The hospitals whose pipeline the sender's Planner gives: a plan names no Planner, but its
   * sender is the node the Planner runs on (the runtime says so, the message cannot).
   */
  function hospitalsPlannedBy(ctx: ActorContext<RouterMsg>): string[] {
    const from = ctx.sender.kind === "peer" ? ctx.sender.node : ctx.node;
    return [...plannerHospital].filter(([plannerPath]) => plannerPath.startsWith(`fed://${from}/`)).map(([, hospital]) => hospital);
  }

  return {
    async start(ctx) {
      const [tokenizer, { positions }] = await Promise.all([Gpt2Tokenizer.fromDirectory(args.modelDir), readGpt2Config(args.modelDir)]);
      const hospitals: HospitalRoute[] = args.hospitals.map((h) => ({ id: h.id, region: h.region, ...(h.weight === undefined ? {} : { weight: h.weight }), route: h.route ?? [] }));
      service = new RouterService({
        nodeId: ctx.node,
        hospitals,
        lookup: (path) => ctx.lookup<ShardExecutorMsg>(path),
        accountant: new AccountantClient(ctx.lookup(args.accountant)),
        vote: new AggregatorClient(ctx.lookup(args.aggregator)).voter(),
        tokenizer,
        contextTokens: positions,
        ...(args.strategy ? { strategy: args.strategy } : {}),
        ...(args.ensemble ? { ensemble: args.ensemble } : {}),
        ...(args.openAiMode ? { openAiMode: args.openAiMode } : {}),
        ...(args.singleQueryCost !== undefined ? { singleQueryCost: args.singleQueryCost } : {}),
        ...(args.stepTimeoutMs !== undefined ? { stepTimeoutMs: args.stepTimeoutMs } : {}),
        ...(args.hedgeAfterMs !== undefined ? { hedgeAfterMs: args.hedgeAfterMs } : {}),
        ...(args.duplicateWaitMs !== undefined ? { duplicateWaitMs: args.duplicateWaitMs } : {}),
        ...(args.node?.metrics ? { metrics: args.node.metrics } : {}),
        ...(args.node?.links ? { links: args.node.links } : {}),
        ...(ctx.store === undefined ? {} : { answers: new ReleasedAnswers(nodeStoreSlots(ctx.store as Parameters<typeof nodeStoreSlots>[0])) }),
      });
      admission = new Admission(args.maxConcurrent ?? DEFAULT_ROUTER_ACTOR.maxConcurrent, args.maxQueued ?? DEFAULT_ROUTER_ACTOR.maxQueued);
      for (const h of args.hospitals) if (h.planner !== undefined) await followPlanner(h.id, h.planner, ctx);
    },

    receive(msg, ctx) {
      const svc = service!;
      switch (msg.type) {
        case "infer": {
          const caller = principal(ctx);
          if (caller === undefined) return void msg.replyTo.tell({ type: "failed", error: { code: "forbidden", message: `${describeSender(ctx.sender)} is not a user this node verified` } });
          return reply(msg.replyTo, async () => {
            const release = await admission!.acquire(msg.request.priority);
            try {
              return await svc.infer(msg.request, caller);
            } finally {
              release();
            }
          }, ctx);
        }
        case "stream": {
          const caller = principal(ctx);
          if (caller === undefined) return void msg.replyTo.tell({ type: "failed", stream: "", error: { code: "forbidden", message: `${describeSender(ctx.sender)} is not a user this node verified` } });
          const id = randomUUID();
          admission!.acquire(msg.request.priority).then(
            (release) => {
              const open: OpenStream = { owner: caller.userId, events: svc.inferStream(msg.request, caller)[Symbol.asyncIterator](), release, busy: false };
              streams.set(id, open);
              pull(id, open, msg.replyTo, ctx);
            },
            (error: unknown) => msg.replyTo.tell({ type: "failed", stream: id, error: failureOf(error) }),
          );
          return;
        }
        case "pull": {
          const open = streams.get(msg.stream);
          const caller = principal(ctx);
          if (open === undefined || caller === undefined || open.owner !== caller.userId) {
            if (open !== undefined) ctx.refused(`stream ${msg.stream} is not ${describeSender(ctx.sender)}'s`);
            return void msg.replyTo.tell({ type: "failed", stream: msg.stream, error: { code: "invalid_request", message: `no open stream ${msg.stream} of yours (ended, idle past ${streamIdleMs} ms, or the router restarted)`, field: "stream" } });
          }
          if (open.busy) return void msg.replyTo.tell({ type: "failed", stream: msg.stream, error: { code: "invalid_request", message: `stream ${msg.stream} is already being pulled`, field: "stream" } });
          return pull(msg.stream, open, msg.replyTo, ctx);
        }
        case "cancel": {
          const open = streams.get(msg.stream);
          const caller = principal(ctx);
          if (open === undefined) return;
          if (caller === undefined || open.owner !== caller.userId) return ctx.refused(`stream ${msg.stream} is not ${describeSender(ctx.sender)}'s`);
          return closeStream(msg.stream, ctx);
        }
        case "budget": {
          const caller = principal(ctx);
          if (ctx.sender.kind === "user" && caller === undefined) return void msg.replyTo.tell({ type: "failed", error: { code: "forbidden", message: `${describeSender(ctx.sender)} has no known role` } });
          return reply(msg.replyTo, () => svc.budget(msg.userId, msg.department, caller), ctx);
        }
        case "health":
          return void svc.health().then((report) => msg.replyTo.tell(report), (error: unknown) => msg.replyTo.tell({ live: true, ready: false, checks: { router: { ok: false, detail: error instanceof Error ? error.message : String(error) } } }));
        case "add-node": {
          const caller = principal(ctx);
          if (caller === undefined) return void msg.replyTo.tell({ type: "failed", error: { code: "forbidden", message: `${describeSender(ctx.sender)} is not a user this node verified` } });
          return reply(msg.replyTo, async () => {
            if (args.node?.addPeer === undefined) throw new UnavailableError("this node's transport cannot add peers at run time; add the hospital to cluster.config.ts and restart");
            try {
              await args.node.addPeer(msg.node);
            } catch (error) {
              const invalid = error as { code?: unknown; field?: unknown; reason?: unknown };
              if (invalid.code !== "INVALID_ARGUMENT") throw error;
              throw new InvalidRequestError(invalid.field === "address" ? "endpoint" : "node_id", String(invalid.reason));
            }
            const added = await svc.addNode(msg.node);
            await followPlanner(msg.node.nodeId, (args.plannerOf ?? DEFAULT_ROUTER_ACTOR.plannerOf).replace("{node}", msg.node.nodeId), ctx);
            ctx.log.info("router-node-added", { node: msg.node.nodeId, by: caller.userId });
            return added;
          }, ctx);
        }
        case "update-config": {
          const caller = principal(ctx);
          if (caller === undefined) return void msg.replyTo.tell({ type: "failed", error: { code: "forbidden", message: `${describeSender(ctx.sender)} is not a user this node verified` } });
          return reply(msg.replyTo, async () => {
            const limit = msg.update.performance?.maxConcurrentRequests;
            if (limit !== undefined && !(Number.isSafeInteger(limit) && limit >= 1)) throw new InvalidRequestError("performance.max_concurrent_requests", `must be an integer ≥ 1, got ${limit}`);
            const applied = await svc.updateConfig(msg.update, caller);
            if (limit !== undefined) admission!.setLimit(limit);
            return { ...applied, performance: { maxConcurrentRequests: admission!.limit } };
          }, ctx);
        }
        case "metrics":
          return void svc.metrics().then((text) => msg.replyTo.tell(text), (error: unknown) => msg.replyTo.tell(`# router metrics failed: ${error instanceof Error ? error.message : String(error)}\n`));
        case "status":
          return msg.replyTo.tell({
            strategy: svc.strategy,
            hospitals: svc.hospitals().map((h) => ({ ...h, ...(planVersions.has(h.id) ? { planVersion: planVersions.get(h.id)! } : {}) })),
            running: admission!.running, queued: admission!.queued, maxConcurrent: admission!.limit, streams: streams.size, registered: svc.registered(),
          });
        case "plan-published": {
          const planned = hospitalsPlannedBy(ctx);
          if (planned.length === 0) return ctx.log.warn("router-plan-unknown", { from: describeSender(ctx.sender), version: msg.plan.version });
          const route = routeFromPlan(msg.plan);
          for (const hospital of planned) {
            // A plan of one stage is the hospital's executor holding every block: used as it comes.
            // A plan across executors is deployed first (each loads its blocks), then routed to.
            const apply = (stages: readonly RouteStage[]) => {
              if ((planVersions.get(hospital) ?? -1) > msg.plan.version) return; // an older plan deployed late
              planVersions.set(hospital, msg.plan.version);
              svc.updateRoute(hospital, stages);
              ctx.log.info("router-route-updated", { hospital, version: msg.plan.version, stages: stages.length, reason: msg.plan.reason });
            };
            if (route.length <= 1) {
              apply(route);
              continue;
            }
            svc.updateRoute(hospital, [], `deploying plan v${msg.plan.version}`);
            deployPlan(msg.plan, (path) => ctx.lookup<ShardExecutorMsg>(path)).then(apply, (error: unknown) => {
              ctx.log.warn("router-plan-deploy-failed", { hospital, version: msg.plan.version, reason: error instanceof Error ? error.message : String(error) });
              svc.updateRoute(hospital, [], `plan v${msg.plan.version} could not be deployed`);
            });
          }
          return;
        }
        case "plan-withdrawn": {
          for (const hospital of hospitalsPlannedBy(ctx)) {
            if ((planVersions.get(hospital) ?? -1) > msg.version) continue;
            planVersions.set(hospital, msg.version);
            svc.updateRoute(hospital, [], `its Planner withdrew the plan (${msg.code}: ${msg.message})`);
          }
          return;
        }
      }
    },

    async stop(ctx) {
      for (const id of [...streams.keys()]) closeStream(id, ctx);
      for (const plannerPath of plannerHospital.keys()) ctx.lookup<PlannerMsg>(plannerPath).tell({ type: "unsubscribe", subscriber: ctx.path });
    },
  };
}, { access: ROUTER_ACCESS });

export { DEFAULT_ROUTER };
