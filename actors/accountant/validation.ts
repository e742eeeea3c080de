/**
 * Validation of what reaches the Accountant from outside (other threads, other hospitals): a
 * message is checked whole, with zod, before the ledger sees it, so a malformed field is a
 * `rejected` reply naming the field and the ledger never half-applies a request. Identifiers
 * follow the audit trail's rule (1..MAX_ID_CHARS printable ASCII characters, no spaces), so
 * whatever the ledger accepts the trail can record.
 */
import { MAX_ID_CHARS, MAX_RESERVATION_KEY_CHARS } from "./protocol.ts";
import { z } from "zod";
import { isPrintableId, MAX_DETAIL, MAX_TARGET, SHA256_HEX } from "./audit.ts";
import { exactEventFields, type PrivacyEvent } from "../../privacy/index.ts";
import type { AccountantMsg, Rejected } from "./protocol.ts";

const MAX_EVENT_DEPTH = 16;
const MAX_COMPOSED = 1_024;

// The bounds live in protocol.ts (another folder may read them there); re-exported for this module's users.
export { MAX_ID_CHARS, MAX_RESERVATION_KEY_CHARS };

const idOf = (maxChars: number) =>
  z.string().check((ctx) => {
    const v = ctx.value;
    if (v.length === 0 || v.length > maxChars) ctx.issues.push({ code: "custom", input: v, message: `must be 1..${maxChars} printable ASCII characters without spaces (got ${v.length})` });
    else if (!/^[\x21-\x7e]+$/.test(v)) ctx.issues.push({ code: "custom", input: v, message: `must be 1..${maxChars} printable ASCII characters without spaces` });
  });
const id = idOf(MAX_ID_CHARS);
const key = idOf(MAX_RESERVATION_KEY_CHARS);
const target = z.string().min(1).max(MAX_TARGET).regex(/^[\x21-\x7e]+$/, "must be printable ASCII without spaces (an actor path or a breaker target)");
/** A short note on one line, in printable ASCII: room for a reason, not for a message body. */
const detail = z.string().max(MAX_DETAIL).regex(/^[\x20-\x7e]*$/, "must be printable ASCII on one line");
const num = z.number().finite();
const count = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);

const event: z.ZodType<PrivacyEvent> = z.lazy(() =>
  z.discriminatedUnion("kind", [
    z.strictObject({ kind: z.literal("gaussian"), sigma: num, sensitivity: num }),
    z.strictObject({ kind: z.literal("laplace"), scale: num, sensitivity: num }),
    z.strictObject({ kind: z.literal("exponential"), epsilon: num }),
    z.strictObject({ kind: z.literal("gnmax"), sigma: num }),
    z.strictObject({ kind: z.literal("thresholdCheck"), sigma: num }),
    z.strictObject({ kind: z.literal("poissonSampled"), samplingRate: num, event }),
    z.strictObject({ kind: z.literal("selfComposed"), event, count }),
    z.strictObject({ kind: z.literal("composed"), events: z.array(event).min(1).max(MAX_COMPOSED) }),
  ]),
) as z.ZodType<PrivacyEvent>;

const ref = z.custom<unknown>((v) => typeof (v as { tell?: unknown } | null)?.tell === "function", "must be an actor ref");

const schemas = {
  reserve: z.strictObject({ type: z.literal("reserve"), key, user: id, department: id, event, requestId: id.optional(), contentHash: z.string().regex(SHA256_HEX, "must be a sha256 in lowercase hex").optional(), replyTo: ref }),
  commit: z.strictObject({ type: z.literal("commit"), reservation: id, actual: event, replyTo: ref }),
  release: z.strictObject({ type: z.literal("release"), reservation: id, noisyOutputReleased: z.boolean(), replyTo: ref }),
  budget: z.strictObject({ type: z.literal("budget"), user: id, department: id.optional(), replyTo: ref }),
  history: z.strictObject({ type: z.literal("history"), user: id, period: id.optional(), replyTo: ref }),
  setBudget: z.strictObject({ type: z.literal("setBudget"), scope: z.enum(["user", "department"]), name: id, epsilon: z.number().finite().min(0), replyTo: ref }),
  report: z.strictObject({ type: z.literal("report"), period: id.optional(), replyTo: ref }),
  tick: z.strictObject({ type: z.literal("tick") }),
  operatorAction: z.strictObject({ type: z.literal("operatorAction"), operator: id, action: id, target, messageType: id.optional(), detail: detail.optional(), replyTo: ref }),
} as const satisfies { readonly [T in AccountantMsg["type"]]: z.ZodType };

function depthOf(v: unknown, depth = 0): number {
  if (depth > MAX_EVENT_DEPTH || typeof v !== "object" || v === null) return depth;
  let max = depth;
  for (const x of Object.values(v)) max = Math.max(max, depthOf(x, depth + 1));
  return max;
}

/**
 * The hot messages, reserve and commit, checked by hand first: true only for a message the zod
 * schema above also accepts (a property test holds the two together), false for anything in
 * doubt, which then goes to zod for the verdict and the message naming the field. Why by hand:
 * zod's parse was 6 % of the Accountant's thread under load, building a copy of each message
 * that nothing reads; this check allocates nothing.
 */
export function clearlyValid(msg: unknown): boolean {
  if (typeof msg !== "object" || msg === null) return false;
  const m = msg as Record<string, unknown>;
  if (typeof (m.replyTo as { tell?: unknown } | null)?.tell !== "function") return false;
  let own = 0;
  for (const k in m) if (Object.hasOwn(m, k)) own++;
  if (m.type === "reserve") {
    let expected = 6;
    if (Object.hasOwn(m, "requestId")) { expected++; if (m.requestId !== undefined && !isPrintableId(m.requestId, MAX_ID_CHARS)) return false; }
    if (Object.hasOwn(m, "contentHash")) { expected++; if (m.contentHash !== undefined && !(typeof m.contentHash === "string" && SHA256_HEX.test(m.contentHash))) return false; }
    return own === expected && isPrintableId(m.key, MAX_RESERVATION_KEY_CHARS) && isPrintableId(m.user, MAX_ID_CHARS) && isPrintableId(m.department, MAX_ID_CHARS) && isEvent(m.event, 0);
  }
  if (m.type === "commit") return own === 4 && isPrintableId(m.reservation, MAX_ID_CHARS) && isEvent(m.actual, 0);
  return false;
}

const isNum = (v: unknown): boolean => typeof v === "number" && Number.isFinite(v);

/** An event of exactly its kind's fields (EVENT_FIELDS), nested no deeper than the gate allows. */
function isEvent(v: unknown, depth: number): boolean {
  const fields = depth < MAX_EVENT_DEPTH ? exactEventFields(v) : undefined;
  if (fields === undefined) return false;
  const e = v as Record<string, unknown>;
  for (const f of fields) {
    const x = e[f];
    if (f === "event") { if (!isEvent(x, depth + 1)) return false; }
    else if (f === "events") { if (!isEventList(x, depth + 1)) return false; }
    else if (f === "count") { if (!(Number.isSafeInteger(x) && (x as number) >= 1)) return false; }
    else if (!isNum(x)) return false;
  }
  return true;
}

function isEventList(v: unknown, depth: number): boolean {
  if (!Array.isArray(v) || v.length < 1 || v.length > MAX_COMPOSED) return false;
  for (const x of v) if (!isEvent(x, depth + 1)) return false;
  return true;
}

/** null when `msg` is a well-formed AccountantMsg; otherwise the rejection to send back. */
export function invalidMessage(msg: unknown): Rejected | null {
  return clearlyValid(msg) ? null : schemaRejection(msg);
}

/** invalidMessage by the zod schemas alone: the reference the hand check is held to. */
export function schemaRejection(msg: unknown): Rejected | null {
  const type = (msg as { type?: unknown } | null)?.type;
  if (typeof type !== "string" || !Object.hasOwn(schemas, type)) {
    return { type: "rejected", code: "INVALID_REQUEST", message: `unknown message type ${JSON.stringify(type)}; expected one of ${Object.keys(schemas).join(", ")}`, field: "type" };
  }
  const eventField = type === "commit" ? "actual" : "event";
  if (depthOf((msg as Record<string, unknown>)[eventField]) > MAX_EVENT_DEPTH) {
    return { type: "rejected", code: "INVALID_REQUEST", message: `${eventField} is nested deeper than ${MAX_EVENT_DEPTH} levels`, field: eventField };
  }
  const parsed = schemas[type as keyof typeof schemas].safeParse(msg);
  if (parsed.success) return null;
  const issue = parsed.error.issues[0]!;
  const field = issue.path.map(String).join(".");
  const unknownKind = issue.path.at(-1) === "kind";
  return {
    type: "rejected",
    code: unknownKind ? "UNSUPPORTED_PRIVACY_EVENT" : "INVALID_REQUEST",
    message: unknownKind ? `${field}: no accountant here counts this kind of privacy event` : `${type}.${field || "(message)"}: ${issue.message}`,
    field,
  };
}

/** The message's reply ref, when it has one that looks usable. */
export function replyToOf(msg: unknown): { tell(reply: unknown): void } | undefined {
  const replyTo = (msg as { replyTo?: { tell?: unknown } } | null)?.replyTo;
  return typeof replyTo?.tell === "function" ? (replyTo as { tell(reply: unknown): void }) : undefined;
}

export type { AccountantMsg };
