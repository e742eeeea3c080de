/**
 * Driving a generation through a pipeline of ShardExecutors: one `step` per token into the
 * first stage of the route (the prompt at position 0, then each sampled token), the answer
 * coming back along the chain from the last stage. Tokens stream to the caller as an RxJS
 * Observable; several generations run at once, so with one stage per thread (or hospital) the
 * stages overlap, each working on another sequence's step.
 *
 * A stage that fails mid-generation (it crashed or restarted and lost the sequence's cache, it
 * is unreachable, it missed the deadline) ends that generation with a typed
 * `PipelineStepFailed` naming the stage, calls `onStageFailure` (the place to tell the Planner,
 * which re-plans), and frees the sequence on the stages that still hold it. Every step has a
 * deadline, so nothing waits forever. Unsubscribing stops the generation after the step in
 * flight.
 */
import { Observable } from "rxjs";
import { randomUUID } from "node:crypto";
import type { ActorRef } from "../../runtime/index.ts";
import { FedrouterError, registerErrors } from "../../errors/index.ts";
import type { ShardExecutorErrorCode, ShardExecutorMsg, StepFailed, StepMsg, StepReply } from "./protocol.ts";
import type { SamplingOptions } from "./sampling.ts";

/** One stage of a route: the executor's path and, from a plan, the blocks it should run. */
export interface RouteStage {
  readonly path: string;
  readonly from?: number;
  readonly to?: number;
  /** The Planner's id of the executor, reported on failure (default: the path). */
  readonly executor?: string;
}

/** The route of a Planner plan (its stages, in order, with the blocks each should run). */
export function routeFromPlan(plan: { readonly stages: readonly { readonly executor: string; readonly path: string; readonly from: number; readonly to: number }[] }): RouteStage[] {
  return plan.stages.map(({ executor, path, from, to }) => ({ executor, path, from, to }));
}

export interface GenerateRequest {
  /** Id of the sequence on every stage (default: a random UUID). */
  readonly sequence?: string;
  /** Prompt token ids (at least one). */
  readonly prompt: readonly number[];
  /** Tokens to generate at most. */
  readonly maxTokens: number;
  readonly sampling?: SamplingOptions;
  /** Token ids that end the generation (emitted, then stop); e.g. GPT-2's <|endoftext|> 50256. */
  readonly stopTokens?: readonly number[];
  /** Hidden states between stages as float32 (default) or float16. */
  readonly activations?: "f32" | "f16";
  /** Deadline of each token's step through the whole route (default 30,000 ms). */
  readonly stepTimeoutMs?: number;
}

export interface GeneratedToken {
  readonly sequence: string;
  /** 0 for the first generated token. */
  readonly index: number;
  readonly token: number;
  /** The position the token occupies in the sequence. */
  readonly position: number;
}

export interface PipelineOptions {
  /** A ref to an executor by its fed:// path (e.g. `system.ref`). */
  readonly lookup: (path: string) => ActorRef<ShardExecutorMsg>;
  /** The route, or where to read the current one (a plan) when each generation starts. */
  readonly route: readonly RouteStage[] | (() => readonly RouteStage[]);
  /** Called once per failed generation with the failure and the stage's executor id. */
  readonly onStageFailure?: (failure: PipelineStepFailed) => void;
}

export const DEFAULT_STEP_TIMEOUT_MS = 30_000;
/** Extra time the driver gives a step past its deadline, for the chain's own typed answer to arrive first. */
const REPLY_GRACE_MS = 1_000;

/** A generation failed at a stage; `stageCode` is the ShardExecutor code of the failure (STAGE_UNREACHABLE also when the first stage did not answer). */
export class PipelineStepFailed extends FedrouterError {
  readonly code = "PIPELINE_STEP_FAILED";
  constructor(
    readonly sequence: string,
    /** fed:// path of the stage that failed. */
    readonly stage: string,
    /** Its Planner id, when the route came from a plan. */
    readonly executor: string,
    readonly stageCode: ShardExecutorErrorCode,
    readonly detail: string,
    /** Tokens the caller received before the failure. */
    readonly generated: number,
  ) {
    super(`sequence ${sequence} failed at ${stage} after ${generated} tokens: ${stageCode}: ${detail}`);
  }
}

/** A request the driver refuses before sending anything. */
export class InvalidGenerateRequest extends FedrouterError {
  readonly code = "INVALID_GENERATE_REQUEST";
  constructor(readonly field: string, readonly reason: string) {
    super(`${field}: ${reason}`);
  }
}

registerErrors({
  PIPELINE_STEP_FAILED: (f) => new PipelineStepFailed(f.string("sequence"), f.string("stage"), f.string("executor"), f.string("stageCode") as ShardExecutorErrorCode, f.string("detail"), f.number("generated")),
  INVALID_GENERATE_REQUEST: (f) => new InvalidGenerateRequest(f.string("field"), f.string("reason")),
});

/**
 * @example
 * const pipeline = new Pipeline({ lookup: (p) => system.ref(p), route: [{ path: "fed://h-a/user/stage-0" }, { path: "fed://h-b/user/stage-1" }] });
 * pipeline.generate({ prompt: tokenizer.encode("The patient"), maxTokens: 16, sampling: { temperature: 0 } })
 *   .subscribe({ next: (t) => process.stdout.write(tokenizer.decode([t.token])), error: (e) => console.error(e.code, e.message) });
 */
export class Pipeline {
  constructor(private readonly options: PipelineOptions) {}

  /** A step-by-step session on the current route (see PipelineSession). */
  session(options: SessionOptions = {}, route: readonly RouteStage[] = typeof this.options.route === "function" ? this.options.route() : this.options.route): PipelineSession {
    return new PipelineSession(this.options, route, options);
  }

  generate(request: GenerateRequest): Observable<GeneratedToken> {
    return new Observable<GeneratedToken>((subscriber) => {
      let cancelled = false;
      let route: readonly RouteStage[];
      try {
        checkRequest(request);
        route = typeof this.options.route === "function" ? this.options.route() : this.options.route;
        if (route.length === 0) throw new InvalidGenerateRequest("route", "is empty: no executor can run this model now");
      } catch (error) {
        subscriber.error(error);
        return undefined;
      }
      const session = this.session({ ...request, sequence: request.sequence ?? randomUUID() }, route);
      const stop = new Set(request.stopTokens ?? []);
      const run = async () => {
        let token = await session.open(request.prompt);
        for (let index = 0; !cancelled; index++) {
          subscriber.next({ sequence: session.id, index, token, position: session.position });
          if (stop.has(token) || index + 1 >= request.maxTokens || cancelled) break;
          token = await session.next(token);
        }
      };
      run().then(
        () => { session.close(); subscriber.complete(); },
        (error) => { session.close(); subscriber.error(error); },
      );
      return () => { cancelled = true; };
    });
  }
}

export interface SessionOptions {
  /** Id of the sequence on every stage (default: a random UUID). */
  readonly sequence?: string;
  readonly sampling?: SamplingOptions;
  readonly activations?: "f32" | "f16";
  readonly stepTimeoutMs?: number;
}

/**
 * One sequence on a fixed route, step by step: `open` sends the prompt and resolves to the
 * token the last stage samples; `next(token)` appends a token — the one sampled, or another the
 * caller chose (an ensemble feeds every hospital the token the Aggregator released) — and
 * resolves to the following one. One step at a time. A failed step rejects with
 * PipelineStepFailed (and calls `onStageFailure`); `close` frees the sequence on every stage.
 */
export class PipelineSession {
  readonly id: string;
  /** Positions every stage holds for this sequence. */
  position = 0;
  #tokens = 0;
  #busy = false;
  #closed = false;

  constructor(
    private readonly options: PipelineOptions,
    private readonly route: readonly RouteStage[],
    private readonly request: SessionOptions,
  ) {
    if (route.length === 0) throw new InvalidGenerateRequest("route", "is empty: no executor can run this model now");
    if (request.stepTimeoutMs !== undefined && !(request.stepTimeoutMs > 0)) throw new InvalidGenerateRequest("stepTimeoutMs", "must be > 0");
    this.id = request.sequence ?? randomUUID();
    const [head, ...rest] = route;
    this.#head = head!;
    this.#rest = rest.map(({ path, from, to }) => ({ path, ...(from !== undefined ? { from } : {}), ...(to !== undefined ? { to } : {}) }));
  }

  /** The first stage, and the rest of the route as every step carries it (built once, not per token). */
  readonly #head: RouteStage;
  readonly #rest: StepMsg["route"];

  /** Sends the prompt (position 0); resolves to the first sampled token. */
  open(prompt: readonly number[]): Promise<number> {
    if (this.position !== 0 || this.#tokens !== 0) return Promise.reject(new InvalidGenerateRequest("prompt", "the session is open already"));
    checkTokens("prompt", prompt);
    return this.#step(prompt);
  }

  /** Appends `token` after what the stages hold; resolves to the token sampled after it. */
  next(token: number): Promise<number> {
    if (this.position === 0) return Promise.reject(new InvalidGenerateRequest("token", "open the session with a prompt first"));
    checkTokens("token", [token]);
    return this.#step([token]);
  }

  /** Frees the sequence's caches on every stage (idempotent). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.options.lookup(this.#head.path).tell({ type: "end", sequence: this.id, route: this.#rest.map(({ path }) => ({ path })) });
  }

  async #step(tokens: readonly number[]): Promise<number> {
    if (this.#closed) throw new InvalidGenerateRequest("session", "is closed");
    if (this.#busy) throw new InvalidGenerateRequest("session", "has a step in flight: one at a time");
    this.#busy = true;
    const head = this.#head;
    const timeoutMs = this.request.stepTimeoutMs ?? DEFAULT_STEP_TIMEOUT_MS;
    const position = this.position;
    try {
      const reply = await this.options.lookup(head.path).ask<StepReply>((replyTo) => ({
        type: "step", sequence: this.id, position, tokens: [...tokens],
        ...(head.from !== undefined && head.to !== undefined ? { blocks: { from: head.from, to: head.to } } : {}),
        route: this.#rest,
        ...(position === 0 && this.request.sampling ? { sampling: this.request.sampling } : {}),
        ...(this.request.activations ? { activations: this.request.activations } : {}),
        deadlineMs: Date.now() + timeoutMs, replyTo,
      }), { timeoutMs: timeoutMs + REPLY_GRACE_MS }).catch((error: Error): StepFailed => ({ type: "step-failed", sequence: this.id, executor: head.path, code: "STAGE_UNREACHABLE", message: `did not answer: ${error.message}` }));
      if (reply.type === "step-failed") {
        const executor = this.route.find((s) => s.path === reply.executor)?.executor ?? reply.executor;
        const failure = new PipelineStepFailed(this.id, reply.executor, executor, reply.code, reply.message, this.#tokens);
        this.options.onStageFailure?.(failure);
        throw failure;
      }
      this.position = position + tokens.length;
      this.#tokens++;
      return reply.token;
    } finally {
      this.#busy = false;
    }
  }
}

function checkTokens(field: string, tokens: readonly number[]): void {
  if (!Array.isArray(tokens) || tokens.length === 0) throw new InvalidGenerateRequest(field, "needs at least one token id");
  if (tokens.some((id) => !Number.isSafeInteger(id) || id < 0)) throw new InvalidGenerateRequest(field, "token ids are integers ≥ 0");
}

function checkRequest(request: GenerateRequest): void {
  if (!Array.isArray(request.prompt) || request.prompt.length === 0) throw new InvalidGenerateRequest("prompt", "needs at least one token id");
  if (request.prompt.some((id) => !Number.isSafeInteger(id) || id < 0)) throw new InvalidGenerateRequest("prompt", "token ids are integers ≥ 0");
  if (!Number.isSafeInteger(request.maxTokens) || request.maxTokens < 1) throw new InvalidGenerateRequest("maxTokens", `${request.maxTokens} must be an integer ≥ 1`);
  if (request.stepTimeoutMs !== undefined && !(request.stepTimeoutMs > 0)) throw new InvalidGenerateRequest("stepTimeoutMs", "must be > 0");
}
