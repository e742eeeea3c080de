/**
 * Whose fault a failed call to a hospital is (issue 15), and what the caller is told of a failed
 * run. Pure: an error in, a class or a service error out; it never retries, routes, counts
 * against a breaker or reads an error's message to decide (only its stable codes).
 *
 * The Router acts on the class: only a hospital's own ("peer") failures count against its
 * breaker (generation.ts, `guarded`) or are retried on another hospital (service.ts); the
 * caller's own are a 400.
 */
import type { ShardExecutorErrorCode } from "../shard-executor/protocol.ts";
import { PipelineStepFailed } from "../shard-executor/index.ts";
import { BudgetExceededError, ForbiddenError, InvalidRequestError, UnavailableError } from "./http/errors.ts";

/**
 * Whose fault a failed call to a hospital is (issue 15). The test: would the same request fail
 * the same way on every healthy hospital?
 * - "caller": yes, because of the request itself (a prompt past the model's context, a value a
 *   stage refuses). A 400; never retried on another hospital, never counted against a breaker,
 *   or one user's bad requests would take every hospital out of routing.
 * - "peer": no, it is this hospital's (unreachable, past the deadline, crashed, lost the
 *   sequence's cache, full, running other blocks than the plan). Counted against its breaker;
 *   a single answer that has released nothing is retried on another hospital.
 * - "internal": this node's own side (its driver, a defect). Not counted and not retried (it
 *   would fail the same there); a 503.
 * @example
 * classifyFailure(new PipelineStepFailed("s", "fed://h-b/user/node/shard-executor", "h-b", "CONTEXT_EXCEEDED", "…", 0)); // "caller"
 */
export type FailureClass = "caller" | "peer" | "internal";

/** Each ShardExecutor code's class: a new code is a compile error here until it is classified. */
export const STAGE_FAILURE_CLASS = Object.freeze({
  // Positions are the model's, the same on every hospital serving it: the request does not fit.
  CONTEXT_EXCEEDED: "caller",
  // The driver sends well-formed steps (pipeline.ts checks token ids first): what a stage still
  // finds invalid is the request's own values (sampling, a token id past the vocabulary).
  INVALID_STEP: "caller",
  SEQUENCE_LOST: "peer",
  TOO_MANY_SEQUENCES: "peer",
  WRONG_BLOCKS: "peer",
  STAGE_UNREACHABLE: "peer",
  DEADLINE_EXCEEDED: "peer",
  EXECUTOR_FAILED: "peer",
} satisfies Record<ShardExecutorErrorCode, FailureClass>);

/**
 * The class of `error`, read from its stable `code` (and the pipeline's `stageCode`), never its
 * message. A stage code this node does not know is the peer's (a newer hospital reports it);
 * anything untyped is internal.
 */
export function classifyFailure(error: unknown): FailureClass {
  const e = error as { readonly code?: unknown; readonly stageCode?: unknown; readonly field?: unknown } | null | undefined;
  switch (e?.code) {
    case "PIPELINE_STEP_FAILED":
      return Object.hasOwn(STAGE_FAILURE_CLASS, e.stageCode as string) ? STAGE_FAILURE_CLASS[e.stageCode as ShardExecutorErrorCode] : "peer";
    case "INVALID_GENERATE_REQUEST": // refused by the driver before sending: the prompt is the caller's, the rest ours
      return e.field === "prompt" ? "caller" : "internal";
    case "BREAKER_OPEN":
      return "peer";
    case "invalid_request":
      return "caller";
    default:
      return "internal";
  }
}

/** The executors' context was full: a sequence grew past the model's positions. */
export function isContextOverflow(error: unknown): error is PipelineStepFailed {
  return error instanceof PipelineStepFailed && error.stageCode === "CONTEXT_EXCEEDED";
}

/**
 * A failed run as its caller's error: ours pass through; the request's own fault is a 400 naming
 * what to change; a hospital's failure, or this node's, is a 503.
 */
export function toServiceError(error: unknown): BudgetExceededError | InvalidRequestError | UnavailableError | ForbiddenError {
  if (error instanceof BudgetExceededError || error instanceof InvalidRequestError || error instanceof UnavailableError || error instanceof ForbiddenError) return error;
  if (classifyFailure(error) === "caller") {
    if (isContextOverflow(error)) return new InvalidRequestError("prompt", `does not fit the model's context: ${error.detail}; shorten the prompt`);
    if (error instanceof PipelineStepFailed) return new InvalidRequestError("", `a hospital refused this request: ${error.stageCode}: ${error.detail}`);
    const reason = (error as { readonly reason?: unknown }).reason; // InvalidGenerateRequest's, without its field
    return new InvalidRequestError("prompt", typeof reason === "string" ? reason : String((error as Error)?.message ?? error));
  }
  return new UnavailableError(`no hospital could answer: ${(error as Error)?.message ?? String(error)}`);
}
