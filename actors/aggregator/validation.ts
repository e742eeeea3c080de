/**
 * Validation of what reaches the Aggregator from outside (other threads, other hospitals): a
 * message is checked whole, with zod and bounded sizes, before any noise is drawn, so a
 * malformed field is a typed answer naming the field and never a crash. A field of the wrong
 * type or out of range gets the code of that field (INVALID_VOTES, INVALID_SIGMA,
 * INVALID_THRESHOLD, INVALID_VOCAB_SIZE; confident.sigma1 and confident.threshold likewise);
 * anything else malformed is INVALID_REQUEST.
 */
import { z } from "zod";
import type { AggregatorReplyCode } from "./errors.ts";
import { MAX_PROPOSERS, MAX_SIGMA, MAX_VOCAB_SIZE, MIN_SIGMA } from "./gnmax.ts";

const ref = z.custom<unknown>((v) => typeof (v as { tell?: unknown } | null)?.tell === "function", "must be an actor ref");

const schemas = {
  vote: z.strictObject({
    type: z.literal("vote"),
    votes: z.array(z.number().int().min(0).max(MAX_VOCAB_SIZE)).min(1).max(MAX_PROPOSERS),
    sigma: z.number().finite(),
    threshold: z.number().finite().min(0).optional(),
    vocabSize: z.number().int().min(2).max(MAX_VOCAB_SIZE),
    confident: z.strictObject({ threshold: z.number().finite().min(0), sigma1: z.number().finite().min(MIN_SIGMA).max(MAX_SIGMA) }).optional(),
    replyTo: ref,
  }),
  // The request's fields are checked where they are used: the coordinator refuses a bad config
  // (TRAINING_REFUSED), the model loader a bad directory; here only the shape and the bounds.
  train: z.strictObject({
    type: z.literal("train"),
    request: z.strictObject({
      hospitals: z.array(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/)).min(1).max(64),
      modelDir: z.string().min(1).max(4_096),
      outDir: z.string().min(1).max(4_096).optional(),
      install: z.boolean().optional(),
      ckksBundle: z.string().min(1).max(4_096).optional(),
      part: z.union([z.strictObject({ kind: z.literal("all") }), z.strictObject({ kind: z.literal("last"), blocks: z.number().int().min(1).max(1_024), head: z.boolean().optional() })]).optional(),
      config: z.record(z.string(), z.unknown()),
    }),
    replyTo: ref,
  }),
  "training-status": z.strictObject({ type: z.literal("training-status"), replyTo: ref }),
} as const;

const FIELD_CODES: Readonly<Record<string, AggregatorReplyCode>> = {
  votes: "INVALID_VOTES", sigma: "INVALID_SIGMA", threshold: "INVALID_THRESHOLD", vocabSize: "INVALID_VOCAB_SIZE",
  "confident.sigma1": "INVALID_SIGMA", "confident.threshold": "INVALID_THRESHOLD",
};

export interface Invalid {
  readonly code: AggregatorReplyCode;
  readonly message: string;
  readonly field: string;
}

/** null when `msg` is a well-formed AggregatorMsg; otherwise what is wrong with it. */
export function invalidMessage(msg: unknown): Invalid | null {
  const type = (msg as { type?: unknown } | null)?.type;
  if (typeof type !== "string" || !Object.hasOwn(schemas, type)) {
    const shown = typeof type === "string" ? JSON.stringify(type.slice(0, 40)) : typeof type;
    return { code: "INVALID_REQUEST", message: `unknown message type ${shown}; expected one of ${Object.keys(schemas).join(", ")}`, field: "type" };
  }
  const parsed = schemas[type as keyof typeof schemas].safeParse(msg);
  if (parsed.success) return null;
  const issue = parsed.error.issues[0]!;
  const field = issue.path.map(String).join(".");
  const head = String(issue.path[0] ?? "");
  const code = FIELD_CODES[head === "confident" ? issue.path.slice(0, 2).map(String).join(".") : head] ?? "INVALID_REQUEST";
  return { code, message: `${type}.${field || "(message)"}: ${issue.message}`, field };
}

/** The message's reply ref, when it has one that looks usable. */
export function replyToOf(msg: unknown): { tell(reply: unknown): void } | undefined {
  const replyTo = (msg as { replyTo?: { tell?: unknown } } | null)?.replyTo;
  return typeof replyTo?.tell === "function" ? (replyTo as { tell(reply: unknown): void }) : undefined;
}
