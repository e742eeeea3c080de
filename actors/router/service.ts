/**
 * The Router's service behind the HTTP front door (FrontDoorService): it routes each request to
 * a hospital's pipeline (or, for consensus, to k hospitals and the Aggregator's DP vote),
 * charges the Accountant and answers. The parts it runs live beside it: idempotency.ts claims the
 * request id, charging.ts reserves and settles against the Accountant, generation.ts draws the
 * tokens (hedged, or by ensemble, under the breakers), failures.ts says whose fault a failure is.
 *
 * What is charged (README, "What ε means here"):
 * - A consensus answer is DP ensemble decoding: every released token is one GNMax vote over the
 *   hospitals' proposals. The worst case, max_tokens votes, is reserved before anything runs
 *   (a refusal is a 429 and nothing is generated); the tokens actually released are committed;
 *   nothing released is a release of the reservation. A hedge of the same request shares its
 *   one reservation, so it is never charged twice. With Confident-GNMax (`ensemble.confident`)
 *   every token is also a noisy threshold check, reserved and charged whether it passes or not;
 *   the first that fails ends the answer (finish_reason "stop", consensus_reached false).
 * - A single-pipeline answer comes from one hospital's model. Its per-query cost is what that
 *   model's privacy declares (`singleQueryCost`, default 0: a model trained with DP, or on no
 *   private data as the demo's randomly initialised ones, answers as free post-processing).
 *   A non-zero declared cost is reserved and committed like any other charge.
 *
 * Per-hospital circuit breakers (the runtime's CircuitBreaker) wrap every generation; an open
 * breaker takes that hospital out of routing, and `health` reports it. Only a hospital's own
 * failures count against its breaker (issue 15, failures.ts `classifyFailure`): a request's own fault (a
 * prompt past the model's context) is a 400, never retried on another hospital, never counted,
 * so that no user can open every breaker by asking badly.
 *
 * The model's context (issue 14). A prompt that leaves no position for an answer is refused (400)
 * before anything is reserved or routed; max_tokens is clamped to what the context leaves, as
 * OpenAI does (prompt + completion ≤ context; an answer that reaches the clamp finishes with
 * "length"), and the worst case reserved is the clamped one, so nobody is charged for tokens that
 * could never be generated.
 *
 * Idempotency (issue 11). A request is known by (user, request id), and that is looked at before
 * anything else (routing, reserving, the privacy_budget check), in ReleasedAnswers (idempotency.ts):
 * - answered before: the kept answer is served again, same text, same privacy_cost, charged
 *   nothing (post-processing of a released output);
 * - running in this process: the retry waits for it up to `duplicateWaitMs` and gets its answer,
 *   or 409 `in_progress`;
 * - refused, or failed with nothing released (its reservation released, as the Accountant
 *   confirmed): nothing is kept as answered and a retry runs afresh, under a new reservation key
 *   (`user:id#2`, …, charging.ts `reservationKey`: the Accountant never reserves one key twice);
 * - failed after part of its output was released and committed: a retry is told that this
 *   charge stands and to use a new id.
 * The Accountant's own duplicate answer is the last guard (a retry after a restart cut the
 * request short, or after its kept answer expired): a reservation this request did not create
 * is never released or committed here. Every commit and release reply is checked; a refusal is
 * an `unavailable` error, never ignored.
 */
import { Counter, Registry } from "prom-client";
import type { ActorRef } from "../../runtime/index.ts";
import { CircuitBreaker } from "../../runtime/index.ts";
import type { AccountantClient, PrivacyEvent } from "../accountant/index.ts";
import type { ShardExecutorMsg } from "../shard-executor/protocol.ts";
import { Pipeline, type RouteStage } from "../shard-executor/index.ts";
import type { Gpt2Tokenizer } from "../shard-executor/index.ts";
import {
  checkSigma, checkThreshold, confidentCharge, confidentReservation, ensembleCharge, ensembleReservation, type ConfidentThreshold, type EnsembleVote,
} from "../aggregator/index.ts";
import { ForbiddenError, InProgressError, InvalidRequestError, UnavailableError } from "./http/errors.ts";
import type {
  BudgetStatus, Principal, ConfigUpdate, FrontDoorService, HealthReport, InferenceRequest, InferenceResult, InferenceStreamEvent, InferenceSummary, NodeSpec,
} from "./http/service.ts";
import { reserve, settle, unfinished, type OutcomeSlot, type Settled } from "./charging.ts";
import { classifyFailure, isContextOverflow, toServiceError } from "./failures.ts";
import { ensembleTokens, hedgedTokens, type Hospitals, type ThresholdChecks } from "./generation.ts";
import { claimRequest } from "./idempotency.ts";
import { StopFilter } from "./stop-sequences.ts";
import { ReleasedAnswers, type Claim } from "./released-answers.ts";
import { choose, FRONT_DOOR_STRATEGIES, NoRoute, RouteStats, type Candidate, type FrontDoorStrategy, type StrategyName } from "./strategies.ts";

export interface HospitalRoute {
  readonly id: string;
  readonly region: string;
  /** Its share of single answers under the `weighted` strategy (default 1). */
  readonly weight?: number;
  /**
   * The hospital's executor pipeline (one stage holding the whole model, or several). Empty: not
   * routable until `updateRoute` gives one (the Router actor does, from the hospital's Planner).
   */
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
  /**
   * DP ensemble decoding: GNMax σ, hospitals per vote, the noisy-count threshold of
   * consensus_reached; with `confident`, PATE's Confident-GNMax: each token only after a noisy
   * check of the top count against `threshold` (noise `sigma1`), an answer ending where one fails.
   */
  readonly ensemble?: { readonly sigma?: number; readonly k?: number; readonly threshold?: number; readonly confident?: ConfidentThreshold };
  /** ε of a single-pipeline answer, as its model's privacy declares (default null: free). */
  readonly singleQueryCost?: PrivacyEvent | null;
  readonly stepTimeoutMs?: number;
  /** How the OpenAI-compatible endpoints answer when the request names no require_consensus (default "single"). */
  readonly openAiMode?: "single" | "ensemble";
  /** A single answer whose first token takes longer than this is hedged on a second hospital (default 5,000 ms). */
  readonly hedgeAfterMs?: number;
  /** Extra Prometheus text (e.g. the actor system's metrics). */
  readonly metrics?: () => Promise<string>;
  /**
   * The federation links of this node (the transport's `peers()`): a hospital whose link has no
   * usable stream is not routed to and makes `/health/ready` say so. Absent: links are not checked.
   */
  readonly links?: () => readonly { readonly peer: string; readonly up: boolean; readonly lastDownReason?: string }[];
  /**
   * The answers released and the requests running, by (user, request id). Default: kept in
   * memory only; the front door passes one over its node's LMDB store, so retries survive a restart.
   */
  readonly answers?: ReleasedAnswers;
  /** How long a retry of a request still running waits for its answer before a 409 in_progress (default 3,000 ms; 0: at once). */
  readonly duplicateWaitMs?: number;
  /**
   * The model's context in positions (config.json `n_positions`; the front door reads it from the
   * model directory its tokenizer comes from). A prompt of this many tokens or more is a 400
   * before anything runs, and max_tokens is clamped to the rest. Absent: the executors' own
   * CONTEXT_EXCEEDED says it, a 400 before the first token and the end of the answer
   * (finish_reason "length") after it; in neither case a hospital's failure.
   */
  readonly contextTokens?: number;
}

/** A hospital as the service holds it: its current route (a Planner may change it), why it has none, its pipeline and breaker. */
interface HospitalEntry {
  readonly spec: HospitalRoute;
  route: readonly RouteStage[];
  why: string;
  readonly pipeline: Pipeline;
  readonly breaker: CircuitBreaker;
}

export const DEFAULT_ROUTER = Object.freeze({ strategy: "least-outstanding" as FrontDoorStrategy, sigma: 2, k: 3, stepTimeoutMs: 30_000, hedgeAfterMs: 5_000, duplicateWaitMs: 3_000 });

export class RouterService implements FrontDoorService {
  readonly #options: RouterServiceOptions;
  readonly #hospitals = new Map<string, HospitalEntry>();
  readonly #stats = new RouteStats();
  readonly #registered = new Map<string, NodeSpec>();
  #strategy: StrategyName;
  readonly #registry = new Registry();
  readonly #spent = new Counter({ name: "fedrouter_privacy_epsilon_committed_total", help: "ε committed for answers (each answer's own cost), by department and kind", labelNames: ["department", "kind"], registers: [this.#registry] });
  readonly #answers = new Counter({ name: "fedrouter_answers_total", help: "Inference requests by kind and outcome", labelNames: ["kind", "outcome"], registers: [this.#registry] });
  readonly #unkept = new Counter({ name: "fedrouter_answers_unkept_total", help: "Request outcomes the answer store failed to write: a retry after a restart does not find them", registers: [this.#registry] });
  readonly #released: ReleasedAnswers;
  /** The hospitals as generation sees them (generation.ts). */
  readonly #pool: Hospitals;

  constructor(options: RouterServiceOptions) {
    const context = options.contextTokens;
    if (context !== undefined && !(Number.isSafeInteger(context) && context >= 2)) throw new RangeError(`contextTokens must be an integer ≥ 2 (the model's n_positions), got ${context}`);
    const confident = options.ensemble?.confident;
    if (confident !== undefined) {
      checkSigma(confident.sigma1); // InvalidSigma, InvalidThreshold: a bad config fails the start, not each answer
      checkThreshold(confident.threshold);
    }
    this.#options = options;
    this.#released = options.answers ?? new ReleasedAnswers();
    this.#strategy = options.strategy ?? DEFAULT_ROUTER.strategy;
    for (const spec of options.hospitals) this.addHospital(spec);
    this.#pool = { get: (id) => this.#hospitals.get(id)!, stats: this.#stats, stepTimeoutMs: options.stepTimeoutMs ?? DEFAULT_ROUTER.stepTimeoutMs };
  }

  /** Routes to one more hospital (or replaces one of the same id, keeping its breaker). */
  addHospital(spec: HospitalRoute): void {
    if (spec.weight !== undefined && !(Number.isFinite(spec.weight) && spec.weight > 0)) throw new RangeError(`hospital ${spec.id}: weight must be a positive number, got ${spec.weight}`);
    const known = this.#hospitals.get(spec.id);
    const entry: HospitalEntry = {
      spec, route: spec.route, why: spec.route.length === 0 ? "no plan yet" : "",
      pipeline: new Pipeline({ lookup: this.#options.lookup, route: (): readonly RouteStage[] => entry.route }),
      breaker: known?.breaker ?? new CircuitBreaker(`hospital:${spec.id}`, { window: { kind: "count", size: 10 }, minimumCalls: 3, openDurationMs: 10_000, halfOpenProbes: 1 }),
    };
    this.#hospitals.set(spec.id, entry);
  }

  /**
   * A hospital's pipeline changed (its Planner published a plan): generations started from now
   * run on `route`; an empty route takes the hospital out of routing, `why` says why (health).
   */
  updateRoute(id: string, route: readonly RouteStage[], why = ""): boolean {
    const entry = this.#hospitals.get(id);
    if (entry === undefined) return false;
    entry.route = route;
    entry.why = route.length === 0 ? why || "no plan" : "";
    return true;
  }

  /** The hospitals and their routes, for the Router's status. */
  hospitals(): { id: string; region: string; weight?: number; breaker: string; stages: number }[] {
    return [...this.#hospitals.values()].map(({ spec, route, breaker }) => ({ id: spec.id, region: spec.region, ...(spec.weight === undefined ? {} : { weight: spec.weight }), breaker: breaker.state, stages: route.length }));
  }

  get strategy(): StrategyName {
    return this.#strategy;
  }

  async infer(request: InferenceRequest, caller: Principal): Promise<InferenceResult> {
    let response = "";
    let summary: InferenceSummary | undefined;
    for await (const event of this.inferStream(request, caller)) {
      if (event.type === "text") response += event.text;
      else summary = event.summary;
    }
    return { response, ...summary! };
  }

  async *inferStream(request: InferenceRequest, caller: Principal): AsyncGenerator<InferenceStreamEvent> {
    // Before anything else (routing, reserving, the privacy_budget check): what is this request id?
    const claim = await this.#claim(request, caller);
    if (claim.type === "replay") {
      const { outcome } = claim;
      if (outcome.kind === "spent") {
        throw new InvalidRequestError("request_id", `request ${request.requestId} ended before its answer was complete (a hospital failed or the client went away) and ε ${outcome.cost} was charged for what was released; that charge stands: use a new request id to ask again`);
      }
      this.#answers.inc({ kind: this.#consensus(request) ? "consensus" : "single", outcome: "replayed" });
      // A released answer again: post-processing, no ε. One text event (a single-chunk stream).
      if (outcome.text.length > 0) yield { type: "text", text: outcome.text };
      yield { type: "done", summary: { ...outcome.summary, replayed: true } };
      return;
    }
    const slot: OutcomeSlot = { outcome: null };
    let finished = false;
    try {
      const summary = yield* this.#answer(request, caller, claim.attempt, slot);
      finished = true;
      // Kept (on disk, when the store is durable) before the caller sees `done` — unless no ε rides
      // on it (a free answer): then served from memory now and written behind (FinishOptions).
      const free = slot.outcome?.kind === "answered" && slot.outcome.summary.privacyCost === 0;
      if ((await claim.finish(slot.outcome, { waitForDisk: !free, onLateError: () => this.#unkept.inc() })) !== undefined) this.#unkept.inc();
      yield { type: "done", summary };
    } finally {
      // Failed, refused, or left by its consumer: keep what a retry must meet (nothing, a charge, a fresh attempt).
      if (!finished && (await claim.finish(slot.outcome)) !== undefined) this.#unkept.inc();
    }
  }

  /**
   * One run of a request: route, reserve, generate (yielding text as it is released), settle.
   * Sets `slot.outcome` to what a retry must meet, and returns the summary.
   */
  async *#answer(asked: InferenceRequest, caller: Principal, attempt: number, slot: OutcomeSlot): AsyncGenerator<InferenceStreamEvent, InferenceSummary> {
    const prompt = this.#options.tokenizer.encode(asked.prompt);
    const consensus = this.#consensus(asked);
    const kind = consensus ? "consensus" : "single";
    // Before any reservation, routing or breaker: a prompt that cannot fit is the caller's error.
    let request: InferenceRequest;
    // Stop sequences (issue 14): text is released only up to the first; generation ends at the token that completes it.
    let stops: StopFilter;
    try {
      request = { ...asked, maxTokens: this.#boundedMaxTokens(prompt.length, asked.maxTokens) };
      stops = new StopFilter(asked.stop ?? []);
      this.#requireKnownRegion(asked.region);
    } catch (error) {
      this.#answers.inc({ kind, outcome: "invalid_request" });
      throw error;
    }
    const sigma = this.#options.ensemble?.sigma ?? DEFAULT_ROUTER.sigma;
    let nodes = this.#route(consensus, [], request.region);
    // Confident-GNMax: every token is a threshold check and a release (the worst case reserved);
    // what is committed is the checks made (a refused one too) and the releases made.
    const confident = this.#options.ensemble?.confident;
    const checks: ThresholdChecks = { made: 0, abstained: false };
    const worstCase = !consensus ? this.#options.singleQueryCost ?? null
      : confident === undefined ? ensembleReservation(sigma, request.maxTokens) : confidentReservation(sigma, confident.sigma1, request.maxTokens);
    const admitted = worstCase === null ? undefined : await reserve(this.#accountant(caller), request, caller, worstCase, attempt, slot, asked.maxTokens);
    const tokens: number[] = [];
    // Charges reflect only what was released: the tokens generated, whatever ended the stream.
    const actual = () => (!consensus ? (tokens.length > 0 ? worstCase : null)
      : confident === undefined ? ensembleCharge(sigma, tokens.length) : confidentCharge(sigma, confident.sigma1, Math.max(checks.made, tokens.length), tokens.length));
    let released = "";
    let emitted = 0;
    let margin = 1;
    let reached = false; // a single pipeline seeks no consensus
    let failed: unknown;
    let contextFull = false; // the executors' context ended the answer (a context this router was not told)
    let ended = false; // false while the consumer may still leave (return() at a yield)
    const tried: string[] = [];
    const served = { id: nodes[0]! };
    try {
      try {
        // A single answer whose hospital fails before its first token is retried on another one
        // (at most two more): the same reservation, so never a second charge.
        for (;;) {
          served.id = nodes[0]!;
          const stream = consensus ? this.#ensemble(nodes, prompt, request, checks) : this.#single(nodes[0]!, prompt, request, served);
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
                emitted = tokens.length;
                const step = stops.push(piece);
                if (step.text.length > 0) {
                  yield { type: "text", text: step.text };
                  released += step.text;
                }
                if (step.stopped) break;
              }
            }
            break;
          } catch (error) {
            tried.push(nodes[0]!);
            // Only a hospital's own failure is worth another hospital: the request's would repeat there.
            if (consensus || tokens.length > 0 || tried.length >= 3 || classifyFailure(error) !== "peer") throw error;
            try {
              nodes = this.#route(false, tried, request.region);
            } catch {
              throw error;
            }
          }
        }
      } catch (error) {
        // The context is full after some answer: it ends there, as OpenAI's "length" (issue 14).
        if (tokens.length > 0 && isContextOverflow(error)) contextFull = true;
        else failed = error;
      }
      ended = true;
    } finally {
      if (!ended) {
        // The consumer went away mid-stream: commit what was released. Nobody is left to hear of
        // a refusal, so it is counted (an open reservation is committed at its worst case when it expires).
        await settle(this.#accountant(caller), admitted, actual(), request, caller).then(
          (settled) => {
            this.#count(kind, request, settled, "abandoned");
            slot.outcome = unfinished(settled, attempt);
          },
          () => this.#answers.inc({ kind, outcome: "unsettled" }),
        );
      }
    }
    const settled = await settle(this.#accountant(caller), admitted, actual(), request, caller);
    const error = failed === undefined ? undefined : toServiceError(failed);
    this.#count(kind, request, settled, error !== undefined ? error.code : checks.abstained ? "abstained" : "answered");
    if (error !== undefined) {
      slot.outcome = unfinished(settled, attempt);
      throw error;
    }
    // The tokens of an unfinished character, then what the stop filter held back, unless a stop ended it.
    const last = stops.stopped ? { text: "", stopped: true } : stops.push(this.#options.tokenizer.decode(tokens.slice(emitted)));
    const rest = last.text + (last.stopped ? "" : stops.flush());
    const summary: InferenceSummary = {
      privacyCost: settled.cost, remainingBudget: settled.remaining, nodeId: consensus ? this.#options.nodeId : served.id,
      // A single model's answer took no vote: no consensus to report.
      // An ensemble that abstained (Confident-GNMax) ended the answer for want of a consensus.
      consensusReached: consensus ? reached && !checks.abstained : null, confidenceScore: consensus ? margin : null,
      finishReason: !last.stopped && (contextFull || tokens.length >= request.maxTokens) ? "length" : "stop",
      usage: { promptTokens: prompt.length, completionTokens: tokens.length },
    };
    // Answered and charged: from here a retry gets this text back, even if the consumer leaves now.
    slot.outcome = { kind: "answered", text: released + rest, summary };
    if (rest.length > 0) yield { type: "text", text: rest };
    return summary;
  }

  /**
   * The max_tokens this request runs with: what it asked, clamped to what the model's context
   * leaves after the prompt (prompt + completion ≤ context, as OpenAI counts; the executors could
   * sample one token more, never fed back, and we keep to the simpler rule). A prompt that
   * leaves nothing is an InvalidRequestError, naming its tokens and the context.
   */
  #boundedMaxTokens(promptTokens: number, maxTokens: number): number {
    if (promptTokens === 0) throw new InvalidRequestError("prompt", "encodes to no tokens");
    const context = this.#options.contextTokens;
    if (context === undefined) return maxTokens;
    if (promptTokens >= context) {
      throw new InvalidRequestError("prompt", `encodes to ${promptTokens} tokens, the model's context is ${context} positions for prompt and answer together: shorten it to at most ${context - 1} tokens`);
    }
    return Math.min(maxTokens, context - promptTokens);
  }

  /**
   * The first thing a request does: claim its (user, request id) (idempotency.ts). Replays what is
   * kept, waits up to `duplicateWaitMs` for the same request running in this process (then 409
   * in_progress, counted here), or returns the claim to run it.
   */
  async #claim(request: InferenceRequest, caller: Principal): Promise<Extract<Claim, { type: "run" | "replay" }>> {
    try {
      return await claimRequest(this.#released, request, caller, this.#options.duplicateWaitMs ?? DEFAULT_ROUTER.duplicateWaitMs);
    } catch (error) {
      if (error instanceof InProgressError) this.#answers.inc({ kind: this.#consensus(request) ? "consensus" : "single", outcome: "in_progress" });
      throw error;
    }
  }

  /** Whether a request is answered by DP ensemble decoding (the OpenAI endpoints follow privacy.mode). */
  #consensus(request: InferenceRequest): boolean {
    return request.requireConsensus || (request.model !== undefined && this.#options.openAiMode === "ensemble");
  }

  #count(kind: "consensus" | "single", request: InferenceRequest, settled: Settled, outcome: string): void {
    if (settled.cost > 0) this.#spent.inc({ department: request.department, kind }, settled.cost);
    this.#answers.inc({ kind, outcome });
  }

  /** A user's budget; with `caller`, read as that caller (the Accountant lets a user read only their own, unless admin). */
  async budget(userId: string, department?: string, caller?: Principal): Promise<BudgetStatus> {
    const reply = await (caller === undefined ? this.#options.accountant : this.#accountant(caller)).budget(userId, department);
    if (reply.type === "rejected" && reply.code === "FORBIDDEN") throw new ForbiddenError(reply.message);
    if (reply.type !== "budget") throw new InvalidRequestError(reply.field ?? "user_id", reply.message);
    return {
      userId, period: reply.period, totalBudget: reply.user.limit, consumed: reply.user.spent, remaining: reply.user.remaining,
      nextRefreshMs: reply.resetsAtMs,
      ...(reply.department ? { department: { name: reply.department.name, totalBudget: reply.department.limit, consumed: reply.department.spent, remaining: reply.department.remaining } } : {}),
    };
  }

  async health(): Promise<HealthReport> {
    const checks: Record<string, { ok: boolean; detail?: string }> = {};
    const accountant = await this.#options.accountant.budget("health-probe").then((r) => r.type === "budget" || r.code === "UNKNOWN_USER", () => false);
    checks.accountant = accountant ? { ok: true } : { ok: false, detail: "the Accountant did not answer" };
    let routable = 0;
    const down = this.#linksDown();
    for (const [id, h] of this.#hospitals) {
      const state = h.breaker.state;
      const ok = state !== "open" && state !== "forced-open";
      checks[`breaker:${id}`] = ok ? { ok, detail: state } : { ok, detail: `${state}: requests are not routed to ${id}` };
      const reason = down.get(id);
      if (reason !== undefined) checks[`link:${id}`] = { ok: false, detail: `no usable stream to ${id} (${reason}): requests are not routed to it` };
      const planned = h.route.length > 0;
      if (!planned) checks[`route:${id}`] = { ok: false, detail: `${h.why}: requests are not routed to ${id}` };
      if (ok && reason === undefined && planned) routable++;
    }
    return { live: true, ready: accountant && routable > 0, checks };
  }

  /**
   * A hospital added at run time: routed once its pipeline is known (`updateRoute`; the Router
   * actor subscribes to its Planner). The caller (the Router actor) has made its node reachable.
   */
  async addNode(node: NodeSpec): Promise<NodeSpec> {
    this.#registered.set(node.nodeId, node);
    if (!this.#hospitals.has(node.nodeId)) this.addHospital({ id: node.nodeId, region: node.region ?? "default", route: [] });
    return node;
  }

  registered(): string[] {
    return [...this.#registered.keys()];
  }

  async updateConfig(update: ConfigUpdate, caller: Principal): Promise<ConfigUpdate> {
    // Fields of the seeds' config API that nothing here can honour are refused, not ignored.
    const fixed: Record<string, string> = {
      epsilonPerQuery: "epsilon_per_query: a request's cost is its mechanism's (GNMax per released token), not a setting; bound it per request with privacy_budget",
      maxBudgetPerUser: "max_budget_per_user: users' budgets are the Accountant's (cluster.config.ts); change one with the REPL's setBudget, which is audited",
      delta: "delta: δ is fixed for the ledger's life (cluster.config.ts privacy.delta): every ε already composed was computed at it",
    };
    for (const [field, reason] of Object.entries(fixed)) {
      if ((update.privacy as Record<string, unknown> | undefined)?.[field] !== undefined) throw new InvalidRequestError(`privacy.${reason.slice(0, reason.indexOf(":"))}`, `cannot be changed at run time: ${reason.slice(reason.indexOf(":") + 2)}`);
    }
    const strategy = update.routing?.strategy;
    if (strategy !== undefined) {
      if (!(FRONT_DOOR_STRATEGIES as readonly string[]).includes(strategy)) {
        throw new InvalidRequestError("routing.strategy", `must be one of ${FRONT_DOOR_STRATEGIES.join(", ")}`);
      }
      this.#strategy = strategy as StrategyName;
    }
    for (const [name, epsilon] of Object.entries(update.privacy?.departments ?? {})) {
      const reply = await this.#accountant(caller).setBudget("department", name, epsilon);
      if (reply.type === "rejected" && reply.code === "FORBIDDEN") throw new ForbiddenError(reply.message);
      if (reply.type !== "budget-set") throw new InvalidRequestError(`privacy.departments.${name}`, reply.message);
    }
    return { routing: { strategy: this.#strategy }, ...(update.privacy?.departments ? { privacy: { departments: update.privacy.departments } } : {}) };
  }

  async metrics(): Promise<string> {
    return `${(await this.#options.metrics?.()) ?? ""}\n${await this.#registry.metrics()}`;
  }

  /**
   * The Accountant as the caller: it checks that a user reserves, settles and reads only for
   * themselves (and sets budgets only as an admin), whatever this service's code would do.
   */
  #accountant(caller: Principal) {
    return this.#options.accountant.as({ kind: "user", user: caller.userId, role: caller.role, department: caller.department });
  }

  /** Hospitals whose federation link has no usable stream now, with the reason. */
  #linksDown(): Map<string, string> {
    const down = new Map<string, string>();
    for (const link of this.#options.links?.() ?? []) if (!link.up) down.set(link.peer, link.lastDownReason ?? "down");
    return down;
  }

  /**
   * A region no hospital of the federation has is the caller's mistake (a typo): 400 naming the
   * regions there are, never the 503 of a region whose hospitals cannot answer now, which a client
   * (the OpenAI SDK among them) would retry in vain.
   */
  #requireKnownRegion(region: string | undefined): void {
    if (region === undefined) return;
    const regions = new Set([...this.#hospitals.values()].map(({ spec }) => spec.region));
    if (!regions.has(region)) {
      throw new InvalidRequestError("region", `${JSON.stringify(region)} is not a region of this federation; its regions are ${[...regions].sort().join(", ")}`);
    }
  }

  /** The hospitals for one request: one by the strategy, or k for consensus. */
  #route(consensus: boolean, exclude: readonly string[] = [], region?: string): string[] {
    const down = this.#linksDown();
    const candidates: Candidate[] = [...this.#hospitals.values()].map(({ spec, breaker, route }) => ({
      id: spec.id, region: spec.region, ...(spec.weight ? { weight: spec.weight } : {}),
      // A hospital without a usable stream or without a plan is out, as with an open breaker: an ask to it fails at once.
      breakerOpen: breaker.state === "open" || breaker.state === "forced-open" || down.has(spec.id) || route.length === 0,
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

  /** One hospital's answer, hedged on a second one past `hedgeAfterMs` (generation.ts). */
  #single(hospital: string, prompt: readonly number[], request: InferenceRequest, served: { id: string }) {
    return hedgedTokens(this.#pool, hospital, prompt, request, served, {
      afterMs: this.#options.hedgeAfterMs ?? DEFAULT_ROUTER.hedgeAfterMs,
      route: (exclude) => this.#route(false, exclude, request.region),
    });
  }

  /** A DP ensemble's answer over `hospitals`, voted by the Aggregator (generation.ts); `checks` counts Confident-GNMax's threshold checks. */
  #ensemble(hospitals: readonly string[], prompt: readonly number[], request: InferenceRequest, checks: ThresholdChecks) {
    const { sigma = DEFAULT_ROUTER.sigma, threshold, confident } = this.#options.ensemble ?? {};
    return ensembleTokens(this.#pool, hospitals, prompt, request, { sigma, threshold, confident, checks, vote: this.#options.vote });
  }
}
