/**
 * The wire bodies of the HTTP API as zod schemas, their bounds, and their conversion to the
 * service's types. Every body is checked whole before the service sees it; the first problem
 * becomes an InvalidRequestError naming the field (`max_tokens: …`). Messages never quote values
 * of free-text fields.
 */
import { z } from "zod";
import { InvalidRequestError } from "./errors.ts";
import { MAX_ID_CHARS } from "../../accountant/protocol.ts";
import { department, MAX_USER_ID_CHARS } from "./users.ts";
import { FRONT_DOOR_STRATEGIES } from "../strategies.ts";
import { MAX_STOP_CHARS, MAX_STOP_SEQUENCES } from "../stop-sequences.ts";

export interface HttpLimits {
  /** Largest request body; a larger one is 413 before it is parsed. */
  readonly bodyLimitBytes: number;
  /** Longest prompt, in characters (for chat: the prompt built from the messages). */
  readonly maxPromptChars: number;
  readonly maxTokens: number;
  /** Largest privacy_budget (ε) one request may offer to spend. */
  readonly maxPrivacyBudget: number;
  readonly maxMessages: number;
  /** Per-user (per IP before login) request limit: `max` requests per `windowMs`. */
  readonly rateLimit: { readonly max: number; readonly windowMs: number };
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = Object.freeze({
  bodyLimitBytes: 64 * 1024,
  maxPromptChars: 16_000,
  maxTokens: 1_024,
  maxPrivacyBudget: 10,
  maxMessages: 64,
  rateLimit: Object.freeze({ max: 60, windowMs: 60_000 }),
});

/**
 * The longest request id (`Idempotency-Key` or `request_id`): the Accountant's id bound, so the
 * id travels to it as the reserve's `requestId` unchanged. The reserve's key, `<user>:<id>`,
 * may then be longer than an id: the Router hashes such a key to fit (MAX_RESERVATION_KEY_CHARS).
 */
export const MAX_REQUEST_ID_CHARS = MAX_ID_CHARS;

/** An idempotency key: what a client may send as `Idempotency-Key` or `request_id`. */
export const requestId = z.string().regex(new RegExp(`^[\\x21-\\x7e]{1,${MAX_REQUEST_ID_CHARS}}$`), `must be 1..${MAX_REQUEST_ID_CHARS} printable ASCII characters without spaces`);

/** OpenAI's `stop`: one sequence or up to four, each 1..MAX_STOP_CHARS characters; null or [] for none. */
const stop = z.union([z.string(), z.array(z.string())]).nullable().optional().superRefine((value, ctx) => {
  const sequences = typeof value === "string" ? [value] : value ?? [];
  if (sequences.length > MAX_STOP_SEQUENCES) ctx.addIssue({ code: "custom", message: `at most ${MAX_STOP_SEQUENCES} stop sequences (got ${sequences.length})` });
  else if (sequences.some((s) => s.length === 0)) ctx.addIssue({ code: "custom", message: "a stop sequence must not be empty" });
  else if (sequences.some((s) => s.length > MAX_STOP_CHARS)) ctx.addIssue({ code: "custom", message: `a stop sequence must be at most ${MAX_STOP_CHARS} characters` });
});

/** The fields /v1/inference and the OpenAI endpoints share, with the seeds' names. */
function privacyFields(limits: HttpLimits) {
  return {
    stop,
    max_tokens: z.number().int().min(1).max(limits.maxTokens, `must be at most ${limits.maxTokens}`).optional(),
    temperature: z.number().min(0).max(2).optional(),
    privacy_budget: z.number().positive("must be a positive ε").max(limits.maxPrivacyBudget, `must be at most ${limits.maxPrivacyBudget}`).optional(),
    require_consensus: z.boolean().optional(),
    priority: z.number().int().min(1).max(5).optional(),
    department: department.optional(),
    request_id: requestId.optional(),
    /** Data residency: only hospitals of this region may serve the request. */
    region: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, "must be a region id (lowercase letters, digits, dashes)").optional(),
  };
}

const prompt = (limits: HttpLimits) => z.string().min(1, "must not be empty").max(limits.maxPromptChars, `must be at most ${limits.maxPromptChars} characters`);

export function inferenceBody(limits: HttpLimits) {
  return z.strictObject({ prompt: prompt(limits), ...privacyFields(limits) });
}

const textPart = z.strictObject({ type: z.literal("text"), text: z.string() });
const messageContent = z.union([z.string(), z.array(textPart).max(64)]);

/** A field OpenAI defines that we take only at its default, refused otherwise as not supported (never as unknown). */
const onlyZero = (why: string) => z.number().min(-2).max(2).refine((v) => v === 0, `is not supported (only 0): ${why}`).nullable().optional();

/** The OpenAI request fields both completion endpoints accept besides their own. */
const openAiOptions = {
  top_p: z.number().gt(0).max(1).optional(),
  n: z.number().int().min(1).refine((v) => v === 1, { error: (issue) => `${String(issue.input)} choices are not supported: one choice per request (send n: 1, or leave n out)` }).nullable().optional(),
  presence_penalty: onlyZero("sampling here is temperature and top_p"),
  frequency_penalty: onlyZero("sampling here is temperature and top_p"),
  stream: z.boolean().optional(),
  stream_options: z.strictObject({ include_usage: z.boolean().optional() }).nullable().optional(),
  user: z.string().max(128).optional(),
};

export function chatBody(limits: HttpLimits) {
  return z.strictObject({
    model: z.string().min(1).max(128),
    messages: z.array(z.strictObject({
      role: z.enum(["system", "developer", "user", "assistant"]),
      content: messageContent,
      name: z.string().max(64).optional(),
    })).min(1, "must hold at least one message").max(limits.maxMessages, `must hold at most ${limits.maxMessages} messages`),
    max_completion_tokens: z.number().int().min(1).max(limits.maxTokens, `must be at most ${limits.maxTokens}`).optional(),
    ...openAiOptions,
    ...privacyFields(limits),
  });
}

export function completionBody(limits: HttpLimits) {
  return z.strictObject({
    model: z.string().min(1).max(128),
    prompt: prompt(limits),
    ...openAiOptions,
    ...privacyFields(limits),
  });
}

export const tokenBody = z.union([
  z.strictObject({ username: z.string().min(1).max(MAX_USER_ID_CHARS), password: z.string().min(1).max(1_024) }),
  // The seeds' form: { user_id, password }.
  z.strictObject({ user_id: z.string().min(1).max(MAX_USER_ID_CHARS), password: z.string().min(1).max(1_024) }),
]);

export const nodeBody = z.strictObject({
  node_id: z.string().regex(/^[\x21-\x7e]{1,128}$/, "must be 1..128 printable ASCII characters without spaces"),
  endpoint: z.url().max(512),
  compute_capacity: z.string().max(128).optional(),
  specializations: z.array(department).max(64).optional(),
  security_level: z.enum(["LOW", "MEDIUM", "HIGH"]).optional(),
  region: z.string().regex(/^[\x21-\x7e]{1,64}$/, "must be 1..64 printable ASCII characters").optional(),
});

const epsilon = z.number().positive().max(1_000);
export const configBody = z.strictObject({
  privacy: z.strictObject({
    epsilon_per_query: epsilon.optional(),
    max_budget_per_user: epsilon.optional(),
    delta: z.number().gt(0).lt(1).optional(),
    departments: z.record(department, epsilon).optional(),
  }).optional(),
  performance: z.strictObject({ max_concurrent_requests: z.number().int().min(1).max(100_000).optional() }).optional(),
  routing: z.strictObject({
    strategy: z.enum(FRONT_DOOR_STRATEGIES).optional(),
  }).optional(),
});

/** `body` checked against `schema`, or InvalidRequestError naming the first bad field. */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  if (body === undefined || body === null || typeof body !== "object" || Array.isArray(body)) {
    throw new InvalidRequestError("", "the body must be a JSON object");
  }
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  // A union of object shapes reports its branches; the first branch's first issue names a field.
  const inner = issue.code === "invalid_union" ? issue.errors[0]?.[0] : undefined;
  const chosen = inner ?? issue;
  const field = [...issue.path, ...(inner?.path ?? [])].map(String).join(".");
  if (chosen.code === "unrecognized_keys") {
    const keys = chosen.keys.map((k) => JSON.stringify(k.slice(0, 40))).join(", ");
    // The seeds' clients send user_id; here the user is the token's subject, never a body field.
    const hint = chosen.keys.includes("user_id") ? " (the user is the bearer token's subject)" : "";
    return failField(field === "" ? chosen.keys[0]!.slice(0, 40) : `${field}.${chosen.keys[0]!.slice(0, 40)}`, `unknown field${chosen.keys.length > 1 ? "s" : ""} ${keys}${hint}`);
  }
  return failField(field, chosen.message);
}

function failField(field: string, message: string): never {
  throw new InvalidRequestError(field, message);
}
