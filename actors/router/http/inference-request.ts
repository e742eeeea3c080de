/**
 * From a validated body, its headers and the caller to the service's InferenceRequest: the
 * idempotency key (`Idempotency-Key` header or `request_id` field, else a fresh UUID), the stop
 * sequences as a list, and the department charged, which is always the caller's own. Never reads
 * or logs the prompt.
 *
 * Departments (when the server knows the federation's, cluster.config.ts privacy.departments): a
 * department that does not exist is the request's error, 400 invalid_request; one that exists but
 * is not the caller's is 403 forbidden; so is a caller whose own department has no budget (no
 * answer, free or charged, for an account the federation cannot charge).
 */
import { randomUUID } from "node:crypto";
import { ForbiddenError, InvalidRequestError } from "./errors.ts";
import { requestId as requestIdSchema } from "./schemas.ts";
import type { Caller, InferenceRequest } from "./service.ts";

export const DEFAULT_INFERENCE = Object.freeze({ maxTokens: 256, priority: 3 });

/** The privacy fields every inference body may carry (seeds' names). */
export interface PrivacyFieldsBody {
  readonly max_tokens?: number | undefined;
  readonly temperature?: number | undefined;
  readonly top_p?: number | undefined;
  readonly privacy_budget?: number | undefined;
  readonly require_consensus?: boolean | undefined;
  readonly priority?: number | undefined;
  readonly department?: string | undefined;
  readonly request_id?: string | undefined;
  readonly region?: string | undefined;
  readonly stop?: string | readonly string[] | null | undefined;
}

/** The request id: header and field must agree when both are sent. */
export function resolveRequestId(header: string | string[] | undefined, field: string | undefined): string {
  if (Array.isArray(header)) throw new InvalidRequestError("Idempotency-Key", "send the header once");
  if (header !== undefined) {
    const parsed = requestIdSchema.safeParse(header);
    if (!parsed.success) throw new InvalidRequestError("Idempotency-Key", parsed.error.issues[0]!.message);
    if (field !== undefined && field !== header) throw new InvalidRequestError("request_id", "differs from the Idempotency-Key header; send one, or the same value in both");
    return header;
  }
  return field ?? randomUUID();
}

/**
 * Refuses a department that does not exist (400, when `known` is given) or that is not the
 * caller's (403); `mayReadOthers`: an admin reading another department's budget.
 */
export function checkDepartment(asked: string | undefined, caller: Caller, known: ReadonlySet<string> | undefined, mayReadOthers = false): void {
  if (asked === undefined) return;
  if (known !== undefined && !known.has(asked)) {
    throw new InvalidRequestError("department", `"${asked}" is not a department of this federation; its departments are ${[...known].join(", ")}`);
  }
  if (asked !== caller.department && !mayReadOthers) {
    throw new ForbiddenError(`department "${asked}" is not yours: your token is for "${caller.department}", the one department whose budget you may spend or read`);
  }
}

export function toInferenceRequest(
  body: PrivacyFieldsBody, prompt: string, caller: Caller, idempotencyHeader: string | string[] | undefined,
  extra: { readonly model?: string; readonly maxTokens?: number } = {}, departments?: ReadonlySet<string>,
): InferenceRequest {
  checkDepartment(body.department, caller, departments);
  if (departments !== undefined && !departments.has(caller.department)) {
    throw new ForbiddenError(`your account's department "${caller.department}" has no privacy budget in this federation (its departments are ${[...departments].join(", ")}): ` +
      "no answer can be charged to it; ask an administrator to move your account to one of them (fedrouter users add --replace)");
  }
  const stop = typeof body.stop === "string" ? [body.stop] : body.stop ?? [];
  return {
    requestId: resolveRequestId(idempotencyHeader, body.request_id),
    prompt,
    maxTokens: extra.maxTokens ?? body.max_tokens ?? DEFAULT_INFERENCE.maxTokens,
    ...(body.temperature === undefined ? {} : { temperature: body.temperature }),
    ...(body.top_p === undefined ? {} : { topP: body.top_p }),
    ...(body.privacy_budget === undefined ? {} : { privacyBudget: body.privacy_budget }),
    requireConsensus: body.require_consensus ?? false,
    priority: body.priority ?? DEFAULT_INFERENCE.priority,
    department: caller.department,
    ...(body.region === undefined ? {} : { region: body.region }),
    ...(extra.model === undefined ? {} : { model: extra.model }),
    ...(stop.length === 0 ? {} : { stop: [...stop] }),
  };
}
