/**
 * Validation of what reaches a ShardExecutor from other threads and hospitals: each message is
 * checked whole with zod before the stage sees it, so a malformed step is a typed INVALID_STEP
 * naming the field, and sizes are bounded before anything is allocated.
 */
import { z } from "zod";

/** Positions one step may carry (GPT-2's context is 1,024; larger models stay below this). */
const MAX_STEP_ROWS = 8_192;
/** Values of hidden states one step may carry: rows × d_model. */
const MAX_HIDDEN_VALUES = MAX_STEP_ROWS * 8_192;
const MAX_ROUTE = 64;

const id = z.string().min(1).max(128).regex(/^[\x21-\x7e]+$/, "must be printable ASCII without spaces");
const path = z.string().min(1).max(1_024);
const block = z.number().int().min(0).max(100_000);
const ref = z.custom<unknown>((v) => typeof (v as { tell?: unknown } | null)?.tell === "function", "must be an actor ref");
const hidden = z.discriminatedUnion("dtype", [
  z.strictObject({ dtype: z.literal("f32"), data: z.custom<Float32Array>((v) => v instanceof Float32Array && v.length <= MAX_HIDDEN_VALUES, `must be a Float32Array of at most ${MAX_HIDDEN_VALUES} values`) }),
  z.strictObject({ dtype: z.literal("f16"), data: z.custom<Uint16Array>((v) => v instanceof Uint16Array && v.length <= MAX_HIDDEN_VALUES, `must be a Uint16Array of at most ${MAX_HIDDEN_VALUES} values`) }),
]);
const sampling = z.strictObject({ temperature: z.number().optional(), topK: z.number().optional(), topP: z.number().optional(), seed: z.number().optional() });

const schemas = {
  step: z.strictObject({
    type: z.literal("step"), sequence: id, position: z.number().int().min(0).max(1_000_000),
    tokens: z.array(z.number().int().min(0)).min(1).max(MAX_STEP_ROWS).optional(), hidden: hidden.optional(),
    blocks: z.strictObject({ from: block, to: block }).optional(),
    route: z.array(z.strictObject({ path, from: block.optional(), to: block.optional() })).max(MAX_ROUTE),
    sampling: sampling.optional(), activations: z.enum(["f32", "f16"]).optional(), deadlineMs: z.number().finite(), replyTo: ref,
  }).refine((m) => (m.tokens === undefined) !== (m.hidden === undefined), { message: "a step carries exactly one of tokens and hidden", path: ["tokens"] }),
  end: z.strictObject({ type: z.literal("end"), sequence: id, route: z.array(z.object({ path })).max(MAX_ROUTE).optional() }),
  info: z.strictObject({ type: z.literal("info"), replyTo: ref }),
  calibrate: z.strictObject({ type: z.literal("calibrate"), tokens: z.number().int().min(1).max(1_000).optional(), replyTo: ref }),
  load: z.strictObject({ type: z.literal("load"), from: block, to: block, replyTo: ref }),
  defect: z.strictObject({ type: z.literal("defect") }),
} as const;

/** null when `msg` is a well-formed ShardExecutorMsg; otherwise why not, naming the field. */
export function invalidExecutorMessage(msg: unknown): string | null {
  const type = (msg as { type?: unknown } | null)?.type;
  if (typeof type !== "string" || !Object.hasOwn(schemas, type)) return `unknown message type ${JSON.stringify(type)}; expected one of ${Object.keys(schemas).join(", ")}`;
  const result = schemas[type as keyof typeof schemas].safeParse(msg);
  if (result.success) return null;
  const issue = result.error.issues[0]!;
  return `${issue.path.join(".") || "message"}: ${issue.message}`;
}
