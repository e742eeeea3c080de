/**
 * What the HTTP front door needs from the Router: the FrontDoorService interface and the plain
 * types it speaks (camelCase; the HTTP layer owns the snake_case wire names). The HTTP layer
 * authenticates, validates and bounds; the service reserves, routes, generates and commits.
 * The service never sees a malformed request, and the HTTP layer never charges budget.
 */

export const ROLES = ["doctor", "nurse", "researcher", "admin", "operator"] as const;
export type Role = (typeof ROLES)[number];

/**
 * Who is asking, as the Router sees them: the user the HTTP edge verified, which reaches the
 * Router actor as its message's sender (never as a field of the message).
 */
export interface Principal {
  /** The token's `sub`. */
  readonly userId: string;
  readonly role: Role;
  readonly department: string;
}

/** Who is asking, from a verified token. */
export interface Caller extends Principal {
  /** The token's `iss`: the local issuer or a configured identity provider (the rate limiter keys on it). */
  readonly issuer: string;
}

/** One inference, validated and bounded (see DEFAULT_HTTP_LIMITS). */
export interface InferenceRequest {
  /**
   * Idempotency key: the `Idempotency-Key` header, the `request_id` field, or a fresh UUID.
   * The service keys the request on (caller.userId, requestId): a retry with the same id is
   * charged once and answered with the first result (or told it is still in progress).
   */
  readonly requestId: string;
  readonly prompt: string;
  readonly maxTokens: number;
  readonly temperature?: number;
  readonly topP?: number;
  /** The most ε the caller lets this request spend; absent: the service's default. */
  readonly privacyBudget?: number;
  /** DP ensemble decoding across hospitals (SPEC §5, Aggregator). */
  readonly requireConsensus: boolean;
  /** 1 (lowest) … 5 (highest). */
  readonly priority: number;
  /** The department charged: the caller's own (the HTTP layer refuses another). */
  readonly department: string;
  /** Data residency: only hospitals of this region may serve it (every strategy honours it). */
  readonly region?: string;
  /** The OpenAI `model` field, when the request came through the OpenAI-compatible endpoints. */
  readonly model?: string;
  /**
   * Stop sequences (OpenAI's `stop`, 1..4 non-empty strings): the answer ends before the first
   * occurrence of any, with finish_reason "stop"; nothing from there on is released, and no
   * token is generated after the one that completed it (so none is charged).
   */
  readonly stop?: readonly string[];
}

/** What an inference cost and where it ran; everything of an InferenceResult except the text. */
export interface InferenceSummary {
  /** ε committed for this request. */
  readonly privacyCost: number;
  /** ε left to the caller after it (the tighter of user and department). */
  readonly remainingBudget: number;
  readonly nodeId: string;
  /** Whether the noisy top vote reached the majority threshold; null for a single model's answer (no vote was taken). */
  readonly consensusReached: boolean | null;
  /** The noisy vote margin of a consensus answer; null for a single model's answer. */
  readonly confidenceScore: number | null;
  readonly finishReason?: "stop" | "length";
  readonly usage?: { readonly promptTokens: number; readonly completionTokens: number };
  /** True when this is a kept answer served again for a retried request id (nothing charged again). */
  readonly replayed?: boolean;
}

export interface InferenceResult extends InferenceSummary {
  readonly response: string;
}

/**
 * A streamed inference. The service yields nothing until the request is admitted (budget
 * reserved, a route found), so an error it throws before the first event is still an HTTP
 * error status; after that, an error ends the stream with an error event. It yields text
 * pieces, then exactly one `done`. If the client goes away the HTTP layer calls `return()` on
 * the iterator: the service stops generating and commits what was released.
 */
export type InferenceStreamEvent =
  | { readonly type: "text"; readonly text: string }
  | { readonly type: "done"; readonly summary: InferenceSummary };

export interface ScopeBudget {
  readonly totalBudget: number;
  readonly consumed: number;
  readonly remaining: number;
}

export interface BudgetStatus extends ScopeBudget {
  readonly userId: string;
  /** The period these figures are for ("2026-12-02", "2026-W49", "2026-12"). */
  readonly period: string;
  /** When the period ends and budgets reset (the Accountant's `resetsAtMs`). */
  readonly nextRefreshMs: number;
  readonly department?: ScopeBudget & { readonly name: string };
}

export interface HealthCheck {
  readonly ok: boolean;
  readonly detail?: string;
}

export interface HealthReport {
  /** The process is serving (liveness). */
  readonly live: boolean;
  /** It can answer inferences now: actors up, at least one route with a closed breaker. */
  readonly ready: boolean;
  /** By component: "accountant", "planner", "breaker:hospital-b", … */
  readonly checks: Readonly<Record<string, HealthCheck>>;
}

/** A hospital node to add (`POST /v1/admin/nodes`, the seeds' fields). */
export interface NodeSpec {
  readonly nodeId: string;
  readonly endpoint: string;
  readonly computeCapacity?: string;
  readonly specializations?: readonly string[];
  readonly securityLevel?: "LOW" | "MEDIUM" | "HIGH";
  readonly region?: string;
}

/** A change of configuration (`PUT /v1/admin/config`); absent fields stay as they are. */
export interface ConfigUpdate {
  readonly privacy?: {
    readonly epsilonPerQuery?: number;
    readonly maxBudgetPerUser?: number;
    readonly delta?: number;
    /** ε limit per department for a period. */
    readonly departments?: Readonly<Record<string, number>>;
  };
  readonly performance?: { readonly maxConcurrentRequests?: number };
  readonly routing?: { readonly strategy?: string };
}

/**
 * The Router as the front door sees it. Errors a caller can act on are thrown as
 * BudgetExceededError (429), UnavailableError (503), InvalidRequestError (400) or
 * InProgressError (409: the request id is still being answered), from ./errors.ts; anything
 * else thrown is a defect and answers 500.
 */
export interface FrontDoorService {
  infer(request: InferenceRequest, caller: Principal): Promise<InferenceResult>;
  inferStream(request: InferenceRequest, caller: Principal): AsyncIterable<InferenceStreamEvent>;
  /** Budget of `userId` (and `department`, when named) in the current period. */
  /** With `caller`, the read is made as that caller (the Accountant refuses another user's budget to a non-admin). */
  budget(userId: string, department?: string, caller?: Principal): Promise<BudgetStatus>;
  health(): Promise<HealthReport>;
  /** Returns the node as registered. */
  addNode(node: NodeSpec, caller: Principal): Promise<NodeSpec>;
  /** Returns the configuration in force after the change. */
  updateConfig(update: ConfigUpdate, caller: Principal): Promise<ConfigUpdate>;
  /** Prometheus text exposition of the node's metrics (the HTTP layer appends its own). */
  metrics(): Promise<string>;
}
