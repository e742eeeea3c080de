/**
 * Validation of what reaches the Planner from outside (other threads, other hospitals): a
 * message is checked whole, with zod, before the roster sees it, so a malformed field is a typed
 * answer naming the field and never a half-applied change or a crash. A cost that is not a
 * finite number of ms from 0 to MAX_COST_MS is INVALID_CALIBRATION; anything else malformed is
 * INVALID_REQUEST. Whether blockMs has the model's length is the roster's check (it knows L).
 */
import { z } from "zod";
import { parsePath } from "../../runtime/index.ts";
import type { PlannerErrorCode } from "./errors.ts";
import { MAX_BLOCKS, MAX_COST_MS } from "./partition.ts";
import type { PlannerMsg } from "./protocol.ts";

/** More regions than any federation has; bounds the work of a malicious join. */
const MAX_REGIONS = 256;
const MAX_LINKS = 4_096;

const id = z.string().min(1).max(128).regex(/^[\x21-\x7e]+$/, "must be 1..128 printable ASCII characters without spaces");
const path = z.string().max(1_024).refine((p) => {
  try {
    parsePath(p);
    return true;
  } catch {
    return false;
  }
}, "must be an actor path fed://<node>/<segment>/…");
const ms = z.number().min(0).max(MAX_COST_MS);
const ref = z.custom<unknown>((v) => typeof (v as { tell?: unknown } | null)?.tell === "function", "must be an actor ref");
const subscriberRef = z.custom<unknown>((v) => typeof (v as { tell?: unknown } | null)?.tell === "function" && typeof (v as { path?: unknown }).path === "string", "must be an actor ref with a path");

const executorInfo = z.strictObject({
  id,
  path,
  regions: z.array(id).max(MAX_REGIONS).optional(),
  blockMs: z.array(ms).max(MAX_BLOCKS),
  linkMs: z.union([ms, z.record(id, ms).refine((r) => Object.keys(r).length <= MAX_LINKS, `at most ${MAX_LINKS} links`)]),
  order: z.number().finite().optional(),
});

const breakerState = z.enum(["open", "half-open", "closed"]);

const schemas = {
  join: z.strictObject({ type: z.literal("join"), executor: executorInfo, replyTo: ref.optional() }),
  leave: z.strictObject({ type: z.literal("leave"), executor: id, replyTo: ref.optional() }),
  breaker: z.strictObject({ type: z.literal("breaker"), executor: id, state: breakerState, replyTo: ref.optional() }),
  plan: z.strictObject({ type: z.literal("plan"), region: id.optional(), replyTo: ref }),
  subscribe: z.strictObject({ type: z.literal("subscribe"), subscriber: subscriberRef }),
  unsubscribe: z.strictObject({ type: z.literal("unsubscribe"), subscriber: z.string().min(1).max(1_024) }),
  status: z.strictObject({ type: z.literal("status"), replyTo: ref }),
  // The request's values are checked by checkRoundRequest (rounds.ts), which names the field.
  "select-round": z.strictObject({ type: z.literal("select-round"), request: z.record(z.string(), z.unknown()), replyTo: ref }),
} as const;

export interface Invalid {
  readonly code: PlannerErrorCode;
  readonly message: string;
  readonly field: string;
}

/** null when `msg` is a well-formed PlannerMsg; otherwise what is wrong with it. */
export function invalidMessage(msg: unknown): Invalid | null {
  const type = (msg as { type?: unknown } | null)?.type;
  if (typeof type !== "string" || !Object.hasOwn(schemas, type)) {
    return { code: "INVALID_REQUEST", message: `unknown message type ${describeType(type)}; expected one of ${Object.keys(schemas).join(", ")}`, field: "type" };
  }
  const parsed = schemas[type as keyof typeof schemas].safeParse(msg);
  if (parsed.success) return null;
  const issue = parsed.error.issues[0]!;
  const field = issue.path.map(String).join(".");
  const cost = type === "join" && (issue.path[1] === "blockMs" || issue.path[1] === "linkMs");
  return {
    code: cost ? "INVALID_CALIBRATION" : "INVALID_REQUEST",
    message: `${type}.${field || "(message)"}: ${issue.message}${cost ? `; a measured time is a finite number of ms from 0 to ${MAX_COST_MS} (blockMs: one per block, at most ${MAX_BLOCKS}; linkMs: one, or one per next executor id)` : ""}`,
    field,
  };
}

function describeType(type: unknown): string {
  return typeof type === "string" ? JSON.stringify(type.slice(0, 40)) : typeof type;
}

/** The message's reply ref, when it has one that looks usable. */
export function replyToOf(msg: unknown): { tell(reply: unknown): void } | undefined {
  const replyTo = (msg as { replyTo?: { tell?: unknown } } | null)?.replyTo;
  return typeof replyTo?.tell === "function" ? (replyTo as { tell(reply: unknown): void }) : undefined;
}

export type { PlannerMsg };
