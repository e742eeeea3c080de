/**
 * The HTTP edge's side of the Router protocol: a FrontDoorService whose every call is an ask of
 * the Router actor, made as the verified caller (`as: user`), with the actor's typed failures
 * rebuilt as the front door's error classes (so the HTTP layer answers the same status and body
 * as if it had called the service in place). A streamed answer is pulled one event per ask; the
 * consumer leaving (`return()`) cancels it, and the Router settles what was released.
 */
import type { ActorRef, Sender } from "../../runtime/index.ts";
import {
  BudgetExceededError, ForbiddenError, FrontDoorError, InProgressError, InvalidRequestError, NotFoundError, UnavailableError,
} from "./http/errors.ts";
import type {
  BudgetStatus, ConfigUpdate, FrontDoorService, HealthReport, InferenceRequest, InferenceResult, InferenceStreamEvent, NodeSpec, Principal,
} from "./http/service.ts";
import type { RouterFailure, RouterMsg, RouterReply, RouterStatus, StreamReply } from "./protocol.ts";

/** How long an edge waits for the Router's answer to one ask (default: a whole answer's worth). */
export const DEFAULT_ROUTER_CLIENT = Object.freeze({ answerTimeoutMs: 10 * 60_000, quickTimeoutMs: 10_000, healthCacheMs: 250 });

/** A Router failure as the front door error it was (a defect's stays a plain Error: a 500). */
export function errorFromRouter(failure: RouterFailure): Error {
  const f = failure as Record<string, unknown>;
  const n = (k: string) => (typeof f[k] === "number" ? (f[k] as number) : undefined);
  const s = (k: string) => (typeof f[k] === "string" ? (f[k] as string) : "");
  switch (failure.code) {
    case "privacy_budget_exceeded":
      return new BudgetExceededError({ remaining: n("remaining") ?? 0, needed: n("needed") ?? 0, scope: f.scope === "department" ? "department" : "user", ...(n("resetsAtMs") === undefined ? {} : { resetsAtMs: n("resetsAtMs")! }), message: failure.message });
    case "unavailable":
      return new UnavailableError(s("reason") || failure.message, n("retryAfterSeconds"));
    case "in_progress":
      return new InProgressError(s("requestId"), n("waitedMs") ?? 0);
    case "invalid_request": {
      const status = n("statusCode");
      return new InvalidRequestError(s("field"), s("reason") || failure.message, status === 408 || status === 413 || status === 414 || status === 415 || status === 417 || status === 431 ? status : 400);
    }
    case "forbidden":
      return new ForbiddenError(failure.message);
    case "not_found":
      return new NotFoundError(failure.message);
    default:
      return new Error(failure.message);
  }
}

function userSender(caller: Principal): Sender {
  return { kind: "user", user: caller.userId, role: caller.role, department: caller.department };
}

function unwrap<T>(reply: RouterReply<T>): T {
  if (reply.type === "failed") throw errorFromRouter(reply.error);
  return reply.value;
}

/** An ask that found no Router (restarting, stopped) is a 503, not a 500: the node is not ready. */
function unreachable(error: unknown): never {
  if (error instanceof FrontDoorError) throw error;
  const code = (error as { code?: unknown } | null)?.code;
  throw new UnavailableError(`the router did not answer (${typeof code === "string" ? code : "failed"}): ${error instanceof Error ? error.message : String(error)}`, 1);
}

export class RouterClient implements FrontDoorService {
  /** The last health report and when it was asked (monotonic ms): probes within `healthCacheMs` share it. */
  #health: { readonly atMs: number; readonly report: Promise<HealthReport> } | undefined;

  /**
   * `healthCacheMs`: a health report is reused for this long (default 250 ms), and concurrent
   * probes share one ask, so a flood of probes (load balancers, Kubernetes, a monitoring loop)
   * costs the Router and the Accountant one check per window; 0 asks every time.
   */
  constructor(readonly ref: ActorRef<RouterMsg>, private readonly options: { answerTimeoutMs?: number; quickTimeoutMs?: number; healthCacheMs?: number } = {}) {}

  get #answerMs(): number {
    return this.options.answerTimeoutMs ?? DEFAULT_ROUTER_CLIENT.answerTimeoutMs;
  }

  get #quickMs(): number {
    return this.options.quickTimeoutMs ?? DEFAULT_ROUTER_CLIENT.quickTimeoutMs;
  }

  async infer(request: InferenceRequest, caller: Principal): Promise<InferenceResult> {
    const reply = await this.ref.ask<RouterReply<InferenceResult>>((replyTo) => ({ type: "infer", request, replyTo }), { as: userSender(caller), timeoutMs: this.#answerMs }).catch(unreachable);
    return unwrap(reply);
  }

  async *inferStream(request: InferenceRequest, caller: Principal): AsyncGenerator<InferenceStreamEvent> {
    const as = userSender(caller);
    let reply = await this.ref.ask<StreamReply>((replyTo) => ({ type: "stream", request, replyTo }), { as, timeoutMs: this.#answerMs }).catch(unreachable);
    const stream = reply.stream;
    let ended = false;
    try {
      for (;;) {
        if (reply.type === "failed") {
          ended = true;
          throw errorFromRouter(reply.error);
        }
        if (reply.type === "end") {
          ended = true;
          return;
        }
        yield reply.event;
        reply = await this.ref.ask<StreamReply>((replyTo) => ({ type: "pull", stream, replyTo }), { as, timeoutMs: this.#answerMs }).catch(unreachable);
      }
    } finally {
      // The consumer left (or an ask failed): the Router stops generating and settles what was released.
      if (!ended) this.ref.tell({ type: "cancel", stream }, { as });
    }
  }

  async budget(userId: string, department?: string, caller?: Principal): Promise<BudgetStatus> {
    const reply = await this.ref.ask<RouterReply<BudgetStatus>>((replyTo) => ({ type: "budget", userId, ...(department === undefined ? {} : { department }), replyTo }), { ...(caller ? { as: userSender(caller) } : {}), timeoutMs: this.#quickMs }).catch(unreachable);
    return unwrap(reply);
  }

  health(): Promise<HealthReport> {
    const now = performance.now();
    const cached = this.#health;
    if (cached !== undefined && now - cached.atMs < (this.options.healthCacheMs ?? DEFAULT_ROUTER_CLIENT.healthCacheMs)) return cached.report;
    const report = this.ref.ask<HealthReport>((replyTo) => ({ type: "health", replyTo }), { timeoutMs: this.#quickMs }).catch((error: unknown): HealthReport => (
      { live: true, ready: false, checks: { router: { ok: false, detail: `the router did not answer: ${error instanceof Error ? error.message : String(error)}` } } }
    ));
    this.#health = { atMs: now, report };
    return report;
  }

  async addNode(node: NodeSpec, caller: Principal): Promise<NodeSpec> {
    return unwrap(await this.ref.ask<RouterReply<NodeSpec>>((replyTo) => ({ type: "add-node", node, replyTo }), { as: userSender(caller), timeoutMs: this.#quickMs }).catch(unreachable));
  }

  async updateConfig(update: ConfigUpdate, caller: Principal): Promise<ConfigUpdate> {
    return unwrap(await this.ref.ask<RouterReply<ConfigUpdate>>((replyTo) => ({ type: "update-config", update, replyTo }), { as: userSender(caller), timeoutMs: this.#quickMs }).catch(unreachable));
  }

  async metrics(): Promise<string> {
    return this.ref.ask<string>((replyTo) => ({ type: "metrics", replyTo }), { timeoutMs: this.#quickMs }).catch((error: unknown) => `# the router did not answer: ${error instanceof Error ? error.message : String(error)}\n`);
  }

  status(): Promise<RouterStatus> {
    return this.ref.ask<RouterStatus>((replyTo) => ({ type: "status", replyTo }), { timeoutMs: this.#quickMs });
  }
}
