/**
 * The Router's service behind the HTTP front door (FrontDoorService): it routes each request to
 * a hospital's pipeline (or, for consensus, to k hospitals and the Aggregator's DP vote),
 * charges the Accountant and answers.
 *
 * What is charged (README, "What ε means here"):
 * - A consensus answer is DP ensemble decoding: every released token is one GNMax vote over the
 *   hospitals' proposals. The worst case, max_tokens votes, is reserved before anything runs
 *   (a refusal is a 429 and nothing is generated); the tokens actually released are committed;
 *   nothing released is a release of the reservation. One reservation per (user, request id),
 *   so a retry or a hedge of the same request is never charged twice.
 * - A single-pipeline answer comes from one hospital's model. Its per-query cost is what that
 *   model's privacy declares (`singleQueryCost`, default 0: a model trained with DP, or on no
 *   private data as the demo's randomly initialised ones, answers as free post-processing).
 *   A non-zero declared cost is reserved and committed like any other charge.
 *
 * Per-hospital circuit breakers (the runtime's CircuitBreaker) wrap every generation; an open
 * breaker takes that hospital out of routing, and `health` reports it.
 */
import { createHash } from "node:crypto";
import type { Observable } from "rxjs";
import { Counter, Registry } from "prom-client";
import type { ActorRef } from "../../runtime/index.ts";
import { CircuitBreaker } from "../../runtime/index.ts";
import type { AccountantClient, PrivacyEvent, RemainingBudget } from "../accountant/index.ts";
import type { ShardExecutorMsg } from "../shard-executor/protocol.ts";
import { Pipeline, type RouteStage } from "../shard-executor/pipeline.ts";
import type { Gpt2Tokenizer } from "../shard-executor/tokenizer.ts";
import { ensembleCharge, ensembleGenerate, ensembleReservation, type EnsembleVote, type Proposer } from "../aggregator/index.ts";
import { BudgetExceededError, InvalidRequestError, UnavailableError } from "./http/errors.ts";
import type {
  BudgetStatus, Caller, ConfigUpdate, FrontDoorService, HealthReport, InferenceRequest, InferenceResult, InferenceStreamEvent, InferenceSummary, NodeSpec,
} from "./http/service.ts";
import { choose, NoRoute, RouteStats, STRATEGIES, type Candidate, type StrategyName } from "./strategies.ts";

/** GPT-2's <|endoftext|>: a generation stops once it is produced. */
const END_OF_TEXT = 50_256;

export interface HospitalRoute {
  readonly id: string;
  readonly region: string;
  readonly weight?: number;
  /** The hospital's executor pipeline (one stage holding the whole model, or several). */
  readonly route: readonly RouteStage[];
}

export interface RouterServiceOptions {
  /** This node's id (the answer's node_id for consensus answers). */
  readonly nodeId: string;
  readonly hospitals: readonly HospitalRoute[];
  readonly lookup: (path: string) => ActorRef<ShardExecutorMsg>;
  readonly accountant: AccountantClient;
  /** The Aggregator's vote (AggregatorClient.voter()): the noise is drawn there. */
  readonly vote: EnsembleVote;
  readonly tokenizer: Gpt2Tokenizer;
  /** Single-pipeline routing (default least-outstanding). */
  readonly strategy?: StrategyName;
  readonly ensemble?: { readonly sigma?: number; readonly k?: number; readonly threshold?: number };
  /** ε of a single-pipeline answer, as its model's privacy declares (default null: free). */
  readonly singleQueryCost?: PrivacyEvent | null;
  readonly stepTimeoutMs?: number;
  /** How the OpenAI-compatible endpoints answer when the request names no require_consensus (default "single"). */
  readonly openAiMode?: "single" | "ensemble";
  /** A single answer whose first token takes longer than this is hedged on a second hospital (default 5,000 ms). */
  readonly hedgeAfterMs?: number;
  /** Extra Prometheus text (e.g. the actor system's metrics). */
  readonly metrics?: () => Promise<string>;
}

export const DEFAULT_ROUTER = Object.freeze({ strategy: "least-outstanding" as StrategyName, sigma: 2, k: 3, stepTimeoutMs: 30_000, hedgeAfterMs: 5_000 });

interface Admitted {
  readonly reservation?: string;
  readonly remaining?: RemainingBudget;
}

export class RouterService implements FrontDoorService {
  readonly #options: RouterServiceOptions;
  readonly #hospitals = new Map<string, { spec: HospitalRoute; pipeline: Pipeline; breaker: CircuitBreaker }>();
  readonly #stats = new RouteStats();
  readonly #registered = new Map<string, NodeSpec>();
  #strategy: StrategyName;
  readonly #registry = new Registry();
  readonly #spent = new Counter({ name: "fedrouter_privacy_epsilon_committed_total", help: "ε committed for answers (each answer's own cost), by department and kind", labelNames: ["department", "kind"], registers: [this.#registry] });
  readonly #answers = new Counter({ name: "fedrouter_answers_total", help: "Inference requests by kind and outcome", labelNames: ["kind", "outcome"], registers: [this.#registry] });

  constructor(options: RouterServiceOptions) {
    this.#options = options;
    this.#strategy = options.strategy ?? DEFAULT_ROUTER.strategy;
    for (const spec of options.hospitals) {
      this.#hospitals.set(spec.id, {
        spec,
        pipeline: new Pipeline({ lookup: options.lookup, route: spec.route }),
        breaker: new CircuitBreaker(`hospital:${spec.id}`, { window: { kind: "count", size: 10 }, minimumCalls: 3, openDurationMs: 10_000, halfOpenProbes: 1 }),
      });
    }
  }

  async infer(request: InferenceRequest, caller: Caller): Promise<InferenceResult> {
    let response = "";
    let summary: InferenceSummary | undefined;
    for await (const event of this.inferStream(request, caller)) {
      if (event.type === "text") response += event.text;
      else summary = event.summary;
    }
    return { response, ...summary! };
  }

  async *inferStream(request: InferenceRequest, caller: Caller): AsyncGenerator<InferenceStreamEvent> {
    const prompt = this.#options.tokenizer.encode(request.prompt);
    if (prompt.length === 0) throw new InvalidRequestError("prompt", "encodes to no tokens");
    // The OpenAI endpoints (request.model set) decode by ensemble when privacy.mode says so.
    const consensus = request.requireConsensus || (request.model !== undefined && this.#options.openAiMode === "ensemble");
    const sigma = this.#options.ensemble?.sigma ?? DEFAULT_ROUTER.sigma;
    let nodes = this.#route(consensus, [], request.region);
    const worstCase = consensus ? ensembleReservation(sigma, request.maxTokens) : this.#options.singleQueryCost ?? null;
    const admitted = worstCase === null ? {} : await this.#reserve(request, caller, worstCase);
    const tokens: number[] = [];
    let emitted = 0;
    let margin = 1;
    let reached = false; // a single pipeline seeks no consensus
    let failed: unknown;
    const tried: string[] = [];
    const served = { id: nodes[0]! };
    try {
      // A single answer whose hospital fails before its first token is retried on another one
      // (at most two more): the same reservation, so never a second charge.
      for (;;) {
        served.id = nodes[0]!;
        const stream = consensus ? this.#ensemble(nodes, prompt, request) : this.#single(nodes[0]!, prompt, request, served);
        try {
          for await (const step of stream) {
        tokens.push(step.token);
        if (step.margin !== undefined) margin = step.margin;
        if (step.consensusReached !== undefined) reached = step.consensusReached;
            // Byte-level BPE: a character may span tokens, so the tokens since the last piece are
            // decoded together and emitted once they end on a whole character (each token decoded
            // once or a few times, not the whole answer per token).
            const piece = this.#options.tokenizer.decode(tokens.slice(emitted));
            if (piece.length > 0 && !piece.endsWith("\uFFFD")) {
              yield { type: "text", text: piece };
              emitted = tokens.length;
            }
          }
          break;
        } catch (error) {
          tried.push(nodes[0]!);
          if (consensus || tokens.length > 0 || tried.length >= 3) throw error;
          try {
            nodes = this.#route(false, tried, request.region);
          } catch {
            throw error;
          }
        }
      }
    } catch (error) {
      failed = error;
    }
    // Charges reflect only what was released: the tokens generated, whatever ended the stream.
    const settled = await this.#settle(admitted, consensus ? ensembleCharge(sigma, tokens.length) : tokens.length > 0 ? worstCase : null, request, caller);
    const kind = consensus ? "consensus" : "single";
    if (settled.cost > 0) this.#spent.inc({ department: request.department, kind }, settled.cost);
    this.#answers.inc({ kind, outcome: failed === undefined ? "answered" : "unavailable" });
    if (failed !== undefined) throw asUnavailable(failed);
    const rest = this.#options.tokenizer.decode(tokens.slice(emitted));
    if (rest.length > 0) yield { type: "text", text: rest };
    yield {
      type: "done",
      summary: {
        privacyCost: settled.cost, remainingBudget: settled.remaining, nodeId: consensus ? this.#options.nodeId : served.id,
        consensusReached: reached, confidenceScore: margin,
        finishReason: tokens.length >= request.maxTokens ? "length" : "stop",
        usage: { promptTokens: prompt.length, completionTokens: tokens.length },
      },
    };
  }

  async budget(userId: string, department?: string): Promise<BudgetStatus> {
    const reply = await this.#options.accountant.budget(userId, department);
    if (reply.type !== "budget") throw new InvalidRequestError(reply.field ?? "user_id", reply.message);
    return {
      userId, period: reply.period, totalBudget: reply.user.limit, consumed: reply.user.spent, remaining: reply.user.remaining,
      lastRefreshMs: Date.now(), nextRefreshMs: reply.resetsAtMs,
      ...(reply.department ? { department: { name: reply.department.name, totalBudget: reply.department.limit, consumed: reply.department.spent, remaining: reply.department.remaining } } : {}),
    };
  }

  async health(): Promise<HealthReport> {
    const checks: Record<string, { ok: boolean; detail?: string }> = {};
    const accountant = await this.#options.accountant.budget("health-probe").then((r) => r.type === "budget" || r.code === "UNKNOWN_USER", () => false);
    checks.accountant = accountant ? { ok: true } : { ok: false, detail: "the Accountant did not answer" };
    let routable = 0;
    for (const [id, h] of this.#hospitals) {
      const state = h.breaker.state;
      const ok = state !== "open" && state !== "forced-open";
      if (ok) routable++;
      checks[`breaker:${id}`] = ok ? { ok, detail: state } : { ok, detail: `${state}: requests are not routed to ${id}` };
    }
    return { live: true, ready: accountant && routable > 0, checks };
  }

  async addNode(node: NodeSpec): Promise<NodeSpec> {
    // Registered for the operator's view; a node serves once its executors join a pipeline
    // (cluster.config.ts). Not built: starting routes to a node added at run time.
    this.#registered.set(node.nodeId, node);
    return node;
  }

  async updateConfig(update: ConfigUpdate, caller: Caller): Promise<ConfigUpdate> {
    const strategy = update.routing?.strategy;
    if (strategy !== undefined) {
      if (!(STRATEGIES as readonly string[]).includes(strategy) || strategy === "consensus") {
        throw new InvalidRequestError("routing.strategy", `must be one of ${STRATEGIES.filter((s) => s !== "consensus").join(", ")}`);
      }
      this.#strategy = strategy as StrategyName;
    }
    for (const [name, epsilon] of Object.entries(update.privacy?.departments ?? {})) {
      const reply = await this.#options.accountant.setBudget(caller.userId, "department", name, epsilon);
      if (reply.type !== "budget-set") throw new InvalidRequestError(`privacy.departments.${name}`, reply.message);
    }
    return { routing: { strategy: this.#strategy }, ...(update.privacy?.departments ? { privacy: { departments: update.privacy.departments } } : {}) };
  }

  async metrics(): Promise<string> {
    return `${(await this.#options.metrics?.()) ?? ""}\n${await this.#registry.metrics()}`;
  }

  /** The hospitals for one request: one by the strategy, or k for consensus. */
  #route(consensus: boolean, exclude: readonly string[] = [], region?: string): string[] {
    const candidates: Candidate[] = [...this.#hospitals.values()].map(({ spec, breaker }) => ({
      id: spec.id, region: spec.region, ...(spec.weight ? { weight: spec.weight } : {}), breakerOpen: breaker.state === "open" || breaker.state === "forced-open",
    }));
    // Consensus asks k hospitals, or as many as are reachable (at least one): the charge is per
    // released vote whatever k is, and the answer says how many voted.
    const reachable = candidates.filter((c) => !c.breakerOpen && (region === undefined || c.region === region)).length;
    const residency = region === undefined ? {} : { region };
    try {
      return choose(consensus ? "consensus" : this.#strategy, candidates.filter((c) => !exclude.includes(c.id)), consensus ? { k: Math.max(1, Math.min(this.#options.ensemble?.k ?? DEFAULT_ROUTER.k, reachable)), ...residency } : residency, this.#stats, Math.random);
    } catch (error) {
      if (error instanceof NoRoute) throw new UnavailableError(error.message);
      throw error;
    }
  }

  async #reserve(request: InferenceRequest, caller: Caller, event: PrivacyEvent): Promise<Admitted> {
    const contentHash = createHash("sha256").update(request.prompt).digest("hex");
    const reply = await this.#options.accountant.reserve({
      key: `${caller.userId}:${request.requestId}`, user: caller.userId, department: request.department, event, requestId: request.requestId, contentHash,
    }).catch((error: Error) => { throw new UnavailableError(`the Accountant did not answer: ${error.message}`); });
    if (reply.type === "refused") {
      throw new BudgetExceededError({ remaining: reply.remaining[reply.reason].epsilon, needed: reply.needed.epsilon, scope: reply.reason, resetsAtMs: reply.resetsAtMs });
    }
    if (reply.type === "rejected") throw new InvalidRequestError(reply.field ?? "request", reply.message);
    if (request.privacyBudget !== undefined && reply.cost.epsilon > request.privacyBudget) {
      await this.#options.accountant.release(reply.reservation, false);
      throw new InvalidRequestError("privacy_budget", `this request may cost up to ε ${reply.cost.epsilon.toFixed(4)} (max_tokens ${request.maxTokens}), more than the ${request.privacyBudget} allowed; lower max_tokens or raise privacy_budget`);
    }
    if (reply.duplicate) throw new InvalidRequestError("request_id", `request ${request.requestId} was admitted already; it is charged once — use a new request id for a new question`);
    return { reservation: reply.reservation, remaining: reply.remaining };
  }

  async #settle(admitted: Admitted, actual: PrivacyEvent | null, request: InferenceRequest, caller: Caller): Promise<{ cost: number; remaining: number }> {
    if (admitted.reservation === undefined) {
      const budget = await this.#options.accountant.budget(caller.userId, request.department);
      const remaining = budget.type === "budget" ? Math.min(budget.user.remaining, budget.department?.remaining ?? Infinity) : 0;
      return { cost: 0, remaining };
    }
    const reply = actual === null
      ? await this.#options.accountant.release(admitted.reservation, false)
      : await this.#options.accountant.commit(admitted.reservation, actual);
    if (reply.type === "rejected") throw new UnavailableError(`the Accountant refused to settle: ${reply.message}`);
    return { cost: reply.type === "committed" ? reply.cost.epsilon : 0, remaining: Math.min(reply.remaining.user.epsilon, reply.remaining.department.epsilon) };
  }

  #session(h: { pipeline: Pipeline }, request: InferenceRequest) {
    return h.pipeline.session({ sampling: sampling(request), stepTimeoutMs: this.#options.stepTimeoutMs ?? DEFAULT_ROUTER.stepTimeoutMs });
  }

  /**
   * One hospital's answer, hedged: if its first token has not come within `hedgeAfterMs`, the
   * same request is opened on a second hospital and the first to answer serves the rest; the
   * other is closed and its token discarded (never released, so never charged: the request
   * holds one reservation whatever runs).
   */
  async *#single(hospital: string, prompt: readonly number[], request: InferenceRequest, served: { id: string }): AsyncGenerator<{ token: number; margin?: number; consensusReached?: boolean }> {
    const open = (id: string) => {
      const h = this.#hospitals.get(id)!;
      const session = this.#session(h, request);
      this.#stats.started(id);
      const first = h.breaker.execute(() => session.open(prompt));
      first.catch(() => {}); // a hedge's loser may fail unobserved
      return { id, h, session, started: performance.now(), first };
    };
    const attempts = [open(hospital)];
    let hedge: NodeJS.Timeout | undefined;
    const hedged = new Promise<"hedge">((resolve) => (hedge = setTimeout(() => resolve("hedge"), this.#options.hedgeAfterMs ?? DEFAULT_ROUTER.hedgeAfterMs)));
    let winner: (typeof attempts)[number] | undefined;
    let token: number;
    try {
      const first = await Promise.race([attempts[0]!.first.then((t) => ({ t }), (error: unknown) => ({ error })), hedged]);
      if (first !== "hedge") {
        if ("error" in first) throw first.error;
        winner = attempts[0]!;
        token = first.t;
      } else {
        let other: string | undefined;
        try {
          other = this.#route(false, [hospital], request.region)[0];
        } catch {
          other = undefined; // nowhere to hedge to: wait for the first
        }
        if (other !== undefined) attempts.push(open(other));
        const won = await Promise.any(attempts.map((a) => a.first.then((t) => ({ a, t })))).catch((all: AggregateError) => { throw all.errors[0]; });
        winner = won.a;
        token = won.t;
      }
    } finally {
      clearTimeout(hedge);
      for (const a of attempts) {
        if (a === winner) continue;
        a.session.close();
        this.#stats.ended(a.id, performance.now() - a.started);
      }
    }
    const serving = winner!;
    served.id = serving.id;
    try {
      for (let i = 0; ; i++) {
        yield { token: token! };
        if (token! === END_OF_TEXT || i + 1 >= request.maxTokens) break;
        const previous = token!;
        token = await serving.h.breaker.execute(() => serving.session.next(previous));
      }
    } finally {
      serving.session.close();
      this.#stats.ended(serving.id, performance.now() - serving.started);
    }
  }

  async *#ensemble(hospitals: readonly string[], prompt: readonly number[], request: InferenceRequest): AsyncGenerator<{ token: number; margin?: number; consensusReached?: boolean }> {
    const proposers: Proposer[] = hospitals.map((id) => {
      const h = this.#hospitals.get(id)!;
      const session = this.#session(h, request);
      return {
        id,
        open: (p) => h.breaker.execute(() => session.open(p)),
        next: (t) => h.breaker.execute(() => session.next(t)),
        close: () => session.close(),
      };
    });
    const { sigma = DEFAULT_ROUTER.sigma, threshold } = this.#options.ensemble ?? {};
    const stream = ensembleGenerate(proposers, {
      prompt, maxTokens: request.maxTokens, sigma, ...(threshold === undefined ? {} : { threshold }), stopTokens: [END_OF_TEXT], minProposers: 1,
    }, this.#options.vote);
    for await (const t of observableToAsync(stream)) yield { token: t.token, margin: t.margin, consensusReached: t.consensusReached };
  }
}

function sampling(request: InferenceRequest): { temperature: number; topP?: number } {
  return { temperature: request.temperature ?? 0, ...(request.topP === undefined ? {} : { topP: request.topP }) };
}

function asUnavailable(error: unknown): Error {
  if (error instanceof BudgetExceededError || error instanceof InvalidRequestError || error instanceof UnavailableError) return error;
  return new UnavailableError(`no hospital could answer: ${(error as Error)?.message ?? String(error)}`);
}

/** An Observable as an async iterable (values queued; an error rethrown at its place). */
async function* observableToAsync<T>(source: Observable<T>): AsyncGenerator<T> {
  const queue: T[] = [];
  let done = false;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const subscription = source.subscribe({
    next: (v) => { queue.push(v); wake?.(); },
    error: (e) => { failure = e; done = true; wake?.(); },
    complete: () => { done = true; wake?.(); },
  });
  try {
    for (;;) {
      if (queue.length > 0) { yield queue.shift()!; continue; }
      if (done) break;
      await new Promise<void>((r) => (wake = r));
      wake = undefined;
    }
    if (failure !== undefined) throw failure;
  } finally {
    subscription.unsubscribe();
  }
}
