/**
 * The front door's error classes and the one table that turns them into HTTP: status, and the
 * body `{ "error": { "type", "message", …fields } }`. A FrontDoorService throws the first four
 * (budget exhausted, no route, a request it cannot take, a request id still being answered); the
 * HTTP layer raises the others.
 * `code` is the body's `type`: stable, what clients branch on. A message never carries prompt text.
 */
import { FedrouterError } from "../../../errors/index.ts";

/** Every `error.type` the HTTP API answers with (docs/errors.md "The HTTP API" lists them; a test keeps both equal). */
export const HTTP_ERROR_TYPES = [
  "privacy_budget_exceeded", "unauthorized", "forbidden", "invalid_request", "unavailable", "in_progress", "rate_limited", "not_found", "internal_error",
] as const;
export type HttpErrorType = (typeof HTTP_ERROR_TYPES)[number];

/**
 * Not registered for the wire: a Router answers these as `failed` replies (failureOf), and its
 * RouterClient rebuilds them with the HTTP status each takes.
 */
export abstract class FrontDoorError extends FedrouterError {
  abstract override readonly code: HttpErrorType;
  abstract readonly statusCode: number;
  /** Extra fields of the error body, snake_case as on the wire. */
  fields(): Record<string, unknown> {
    return {};
  }
  /** Extra response headers (Retry-After, the remaining budget). */
  headers(): Record<string, string> {
    return {};
  }
}

/**
 * The request would spend more ε than the caller (or their department) has left: 429 with what
 * is left. Thrown by the service before anything is generated.
 *
 *   throw new BudgetExceededError({ remaining: 0.12, needed: 0.3, scope: "department", resetsAtMs: Date.UTC(2026, 11, 1) });
 */
export class BudgetExceededError extends FrontDoorError {
  readonly code = "privacy_budget_exceeded";
  readonly statusCode = 429;
  readonly remaining: number;
  readonly needed: number;
  readonly scope: "user" | "department";
  readonly resetsAtMs: number | undefined;
  constructor(details: { remaining: number; needed: number; scope?: "user" | "department"; resetsAtMs?: number; message?: string }) {
    const scope = details.scope ?? "user";
    super(details.message ?? `the ${scope} privacy budget has ε ${details.remaining} left and this request needs ${details.needed}` +
      `${details.resetsAtMs === undefined ? "" : `; it resets at ${new Date(details.resetsAtMs).toISOString()}`}; ask for a smaller max_tokens or privacy_budget, or wait for the reset`);
    this.remaining = details.remaining;
    this.needed = details.needed;
    this.scope = scope;
    this.resetsAtMs = details.resetsAtMs;
  }
  override fields(): Record<string, unknown> {
    return {
      remaining_budget: this.remaining, needed: this.needed, scope: this.scope,
      ...(this.resetsAtMs === undefined ? {} : { resets_at: new Date(this.resetsAtMs).toISOString() }),
    };
  }
  override headers(): Record<string, string> {
    const headers: Record<string, string> = { "x-fedrouter-remaining-budget": String(this.remaining) };
    if (this.resetsAtMs !== undefined) headers["retry-after"] = String(Math.max(1, Math.ceil((this.resetsAtMs - Date.now()) / 1000)));
    return headers;
  }
}

/** No route can serve the request now (no executor, every breaker open, the Accountant down): 503. */
export class UnavailableError extends FrontDoorError {
  readonly code = "unavailable";
  readonly statusCode = 503;
  constructor(readonly reason: string, readonly retryAfterSeconds?: number) {
    super(reason);
  }
  override headers(): Record<string, string> {
    return this.retryAfterSeconds === undefined ? {} : { "retry-after": String(Math.ceil(this.retryAfterSeconds)) };
  }
}

/**
 * A request whose id (Idempotency-Key or request_id) names one still being answered, which did not
 * end within the wait allowed: 409. Nothing was charged or released for it; retry with the same id
 * to get the first one's answer, charged once.
 *
 *   throw new InProgressError("q-17", 3_000);
 */
export class InProgressError extends FrontDoorError {
  readonly code = "in_progress";
  readonly statusCode = 409;
  constructor(readonly requestId: string, readonly waitedMs: number) {
    super(`request ${requestId} is still being answered${waitedMs > 0 ? ` (waited ${waitedMs} ms)` : ""}; retry with the same request id to get its answer, charged once`);
  }
  override fields(): Record<string, unknown> {
    return { request_id: this.requestId };
  }
  override headers(): Record<string, string> {
    return { "retry-after": "1" };
  }
}

/** A request the service cannot take (an unknown department, a model it does not serve): 400 naming the field. */
export class InvalidRequestError extends FrontDoorError {
  readonly code = "invalid_request";
  constructor(readonly field: string, readonly reason: string, readonly statusCode: 400 | 408 | 413 | 414 | 415 | 417 | 431 = 400) {
    super(field === "" ? reason : `${field}: ${reason}`);
  }
  override fields(): Record<string, unknown> {
    return this.field === "" ? {} : { param: this.field };
  }
}

/** A body in a Content-Encoding the server does not decode: 415 with Accept-Encoding, as RFC 9110 (15.5.16) asks. */
export class UnsupportedEncodingError extends InvalidRequestError {
  constructor(reason: string) {
    super("Content-Encoding", reason, 415);
  }
  override headers(): Record<string, string> {
    return { "accept-encoding": "identity" };
  }
}

/** No token, or one that does not verify (expired, wrong key, `alg: none`, unknown issuer or audience): 401. */
export class UnauthorizedError extends FrontDoorError {
  readonly code = "unauthorized";
  readonly statusCode = 401;
  override headers(): Record<string, string> {
    return { "www-authenticate": 'Bearer realm="fedrouter"' };
  }
}

/** A valid token whose role or department does not allow this: 403. */
export class ForbiddenError extends FrontDoorError {
  readonly code = "forbidden";
  readonly statusCode = 403;
}

/** The caller sent more requests than the per-user limit allows in the window: 429. */
export class RateLimitedError extends FrontDoorError {
  readonly code = "rate_limited";
  readonly statusCode = 429;
  constructor(readonly max: number, readonly retryAfterMs: number) {
    super(`more than ${max} requests in the rate-limit window; retry in ${Math.ceil(retryAfterMs / 1000)} s`);
  }
  override headers(): Record<string, string> {
    return { "retry-after": String(Math.max(1, Math.ceil(this.retryAfterMs / 1000))) };
  }
}

export class NotFoundError extends FrontDoorError {
  readonly code = "not_found";
  readonly statusCode = 404;
}

/** A defect (the service threw something untyped): 500, with no detail leaked to the client. */
export class InternalError extends FrontDoorError {
  readonly code = "internal_error";
  readonly statusCode = 500;
  constructor() {
    super("the server failed to handle this request; it has been logged");
  }
}

/** The wire form of an error: `{ error: { type, message, …fields } }`. */
export function errorBody(error: FrontDoorError): { error: Record<string, unknown> } {
  return { error: { type: error.code, message: error.message, ...error.fields() } };
}

/**
 * Any error a request handler meets, as a FrontDoorError: ours pass through; fastify's own client
 * errors (body too large, bad JSON, wrong content type) become invalid_request with their status;
 * anything else is an InternalError (the caller logs the original).
 */
export function toFrontDoorError(error: unknown): FrontDoorError {
  if (error instanceof FrontDoorError) return error;
  const fastifyError = error as { code?: unknown; statusCode?: unknown; message?: unknown } | null;
  const status = typeof fastifyError?.statusCode === "number" ? fastifyError.statusCode : 500;
  if (fastifyError?.code === "FST_ERR_CTP_BODY_TOO_LARGE") return new InvalidRequestError("", `the request body is larger than the limit; send less (${String(fastifyError.message)})`, 413);
  if (fastifyError?.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") return new InvalidRequestError("", "the body must be JSON (Content-Type: application/json)", 415);
  // The parser's own message can quote the body (prompt text): never echo it.
  if (error instanceof SyntaxError || fastifyError?.code === "FST_ERR_CTP_INVALID_JSON_BODY") return new InvalidRequestError("", "the body is not valid JSON");
  if (fastifyError?.code === "FST_ERR_CTP_EMPTY_JSON_BODY") return new InvalidRequestError("", "the body is empty; send a JSON object");
  // fastify's message quotes the whole path, which may be kilobytes: never echo it.
  if (fastifyError?.code === "FST_ERR_BAD_URL") return new InvalidRequestError("", "the path holds a malformed percent-escape (% must be followed by two hex digits); encode it again");
  if (status === 404) return new NotFoundError(String(fastifyError?.message ?? "not found"));
  if (status >= 400 && status < 500) return new InvalidRequestError("", `the request could not be read: ${String(fastifyError?.message ?? "")}`);
  return new InternalError();
}
