/**
 * From a validated body, its headers and the caller to the service's InferenceRequest: the
 * idempotency key (`Idempotency-Key` header or `request_id` field, else a fresh UUID) and the
 * department charged, which is always the caller's own. Never reads or logs the prompt.
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

export function toInferenceRequest(
  body: PrivacyFieldsBody, prompt: string, caller: Caller, idempotencyHeader: string | string[] | undefined,
  extra: { readonly model?: string; readonly maxTokens?: number } = {},
): InferenceRequest {
  if (body.department !== undefined && body.department !== caller.department) {
    throw new ForbiddenError(`department "${body.department}" is not yours: your token is for "${caller.department}", whose budget this request is charged to`);
  }
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
  };
}
