/**
 * The Accountant's tamper-evident audit trail (SPEC §5): a hash chain of entries. Pure — the
 * ledger stores entries in its journal. Each hash = SHA-256(prevHash bytes ‖ canonical msgpack
 * of the entry without `hash`). Entries carry no request content (only its sha256) and no free
 * text except `detail` (≤ 200 chars, no newlines). Besides the ledger's changes the trail records
 * what operators did on the node ("operator-action": who, what, on which target; never a body).
 *
 * What verifyAudit detects: an edited entry, a deleted, swapped or reordered entry, a removed
 * first entry. Truncation at the TAIL leaves a valid shorter chain: it is detectable only with
 * an anchor, `expectedLastHash`, kept by the caller outside the trail.
 */
import { createHash } from "node:crypto";
import type { PrivacyEvent } from "../../privacy/index.ts";
import { canonicalMsgpack, decodeCanonical, encodedKey, sealEntry, sha256OfSortedMap, type EncodedKey } from "./canonical.ts";
import { InvalidAuditEntry } from "./errors.ts";
import { isOwner } from "./ledger-types.ts";
import { MAX_ID_CHARS } from "./protocol.ts";

export const GENESIS_HASH = "0".repeat(64);
export const AUDIT_ACTIONS = ["reserve", "commit", "release", "refuse", "expire", "reset", "set-budget", "operator-action"] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];
export const MAX_DETAIL = 200;
const MAX_ID = MAX_ID_CHARS;
/** An operator action's target: an actor path or a breaker target, as long as the Admin service takes. */
export const MAX_TARGET = 1_024;

export interface AuditEntry {
  seq: number;
  atMs: number;
  /** Who: a user id, an operator (its certificate CN), "user:<id>" for an admin user, or "accountant". */
  actor: string;
  action: AuditAction;
  /** operator-action: what the operator did ("restart", "tell", "force-breaker", …). */
  operation?: string;
  /** operator-action: what it was done to (an actor path, a breaker target). */
  target?: string;
  /** operator-action: the type of the message an operator sent, never its body. */
  messageType?: string;
  /** reserve: who made the reservation ("local:<node>", "user:<id>", "peer:<node>"); absent in entries written before owners were recorded. */
  owner?: string;
  user?: string;
  department?: string;
  requestId?: string;
  /** The reservation (ledger charge id) this entry is about. */
  reservation?: string;
  /** The caller's idempotency key of a reserve. */
  key?: string;
  /** sha256 hex of the request content — never the content. */
  contentHash?: string;
  event?: PrivacyEvent;
  cost?: { epsilon: number; delta: number };
  remaining?: { epsilon: number; delta: number };
  /** set-budget: the new limit of `user` (when set) or of `department`. */
  limit?: { epsilon: number; delta: number };
  detail?: string;
  prevHash: string;
  hash: string;
}
export type AuditFields = Omit<AuditEntry, "seq" | "prevHash" | "hash">;

export type AuditVerdict =
  | { ok: true; count: number; lastHash: string }
  /** firstBad: the seq written in the first entry that fails; index: its 0-based position in the input. */
  | { ok: false; firstBad: number; index: number; reason: "edited" | "deleted-or-reordered" | "truncated-head" | "bad-genesis" | "malformed"; detail: string };

/** A SHA-256 in lowercase hex: an entry's hash and prevHash, a request's content hash. */
export const SHA256_HEX = /^[0-9a-f]{64}$/;
/** Every field an entry may have, in the order an export prints them. */
const ORDER = [
  "seq", "atMs", "actor", "action", "operation", "target", "messageType", "owner", "user", "department", "requestId", "reservation", "key", "contentHash",
  "event", "cost", "remaining", "limit", "detail", "prevHash", "hash",
] as const satisfies readonly (keyof AuditEntry)[];
const KEYS = new Set<string>(ORDER);
const ACTIONS = new Set<string>(AUDIT_ACTIONS);
/** The fields an entry's hash covers, in canonical (code unit) order, each with its msgpack key bytes. */
const HASHED: readonly EncodedKey[] = ORDER.filter((k) => k !== "hash").sort().map(encodedKey);
const HASH_KEY = encodedKey("hash");
const KIND = /^[a-zA-Z]{1,32}$/;
const NEWLINE = /[\r\n\u2028\u2029]/;

/** True for a value the trail takes as an id (actor, user, department…): 1..128 printable ASCII characters, no spaces. */
export function isAuditId(v: unknown): boolean {
  return isPrintableId(v, MAX_ID);
}

/** A string of 1..`maxLength` printable ASCII characters without spaces (the rule of every id the Accountant takes). */
export function isPrintableId(v: unknown, maxLength: number): boolean {
  return typeof v === "string" && v.length > 0 && v.length <= maxLength && printable(v);
}

function bad(field: string, reason: string): never {
  throw new InvalidAuditEntry(field, reason);
}
function checkId(field: string, v: unknown, required: boolean, maxLength = MAX_ID): void {
  if (v === undefined) { if (required) bad(field, "required"); return; }
  if (!isPrintableId(v, maxLength)) bad(field, `must be 1..${maxLength} printable non-space ASCII characters`);
}
/** /^[\x21-\x7e]+$/.test(v) for a non-empty string, without the regex machinery (code units, as the regex without /u). */
function printable(v: string): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}
function checkPair(field: string, v: unknown): void {
  if (v === undefined) return;
  const p = v as { epsilon?: unknown; delta?: unknown };
  if (typeof v !== "object" || v === null || Object.keys(v).length !== 2 || typeof p.epsilon !== "number" || typeof p.delta !== "number" || !Number.isFinite(p.epsilon) || !Number.isFinite(p.delta))
    bad(field, "must be { epsilon, delta } of finite numbers");
}
function checkEvent(v: unknown, depth = 0): void {
  if (depth > 32 || typeof v !== "object" || v === null) bad("event", "must be a PrivacyEvent");
  for (const k in v) {
    if (!Object.hasOwn(v, k)) continue; // Object.entries' keys: own and enumerable, in the same order
    const x = (v as Record<string, unknown>)[k];
    if (k === "kind") { if (typeof x !== "string" || !KIND.test(x)) bad("event.kind", "must be a kind name"); }
    else if (k === "event") checkEvent(x, depth + 1);
    else if (k === "events") { if (!Array.isArray(x)) bad("event.events", "must be an array"); x.forEach((e) => checkEvent(e, depth + 1)); }
    else if (typeof x !== "number" || !Number.isFinite(x)) bad(`event.${k}`, "must be a finite number");
  }
}

/** The containsText guard: throws InvalidAuditEntry on any field of the wrong type or holding free text. */
export function checkAuditFields(f: AuditFields): void {
  for (const k in f) if (Object.hasOwn(f, k) && (!KEYS.has(k) || k === "seq" || k === "prevHash" || k === "hash")) bad(k, "unknown field"); // Object.keys(f), without the array
  if (typeof f.atMs !== "number" || !Number.isSafeInteger(f.atMs) || f.atMs < 0) bad("atMs", "must be a non-negative integer of ms");
  checkId("actor", f.actor, true);
  if (!ACTIONS.has(f.action)) bad("action", `must be one of ${AUDIT_ACTIONS.join(", ")}`);
  checkId("operation", f.operation, false);
  checkId("target", f.target, false, MAX_TARGET);
  checkId("messageType", f.messageType, false);
  if (f.owner !== undefined && !isOwner(f.owner)) bad("owner", `must be "local:<node>", "user:<id>" or "peer:<node>" (an id of 1..${MAX_ID} printable non-space ASCII characters)`);
  checkId("user", f.user, false);
  checkId("department", f.department, false);
  checkId("requestId", f.requestId, false);
  checkId("reservation", f.reservation, false);
  checkId("key", f.key, false);
  if (f.contentHash !== undefined && (typeof f.contentHash !== "string" || !SHA256_HEX.test(f.contentHash))) bad("contentHash", "must be 64 lowercase hex digits (sha256), never the content");
  if (f.event !== undefined) checkEvent(f.event);
  checkPair("cost", f.cost);
  checkPair("remaining", f.remaining);
  checkPair("limit", f.limit);
  if (f.detail !== undefined && (typeof f.detail !== "string" || f.detail.length > MAX_DETAIL || NEWLINE.test(f.detail))) bad("detail", `must be a string of at most ${MAX_DETAIL} characters without newlines`);
}

/** The entry's own key/values minus `hash`, undefined fields dropped. */
function body(e: Omit<AuditEntry, "hash"> & { hash?: string }): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const k in e) {
    const v = (e as Record<string, unknown>)[k];
    if (k !== "hash" && v !== undefined && Object.hasOwn(e, k)) o[k] = v;
  }
  return o;
}

export function hashEntry(e: Omit<AuditEntry, "hash"> & { hash?: string }): string {
  const entryBody = body(e);
  for (const k in entryBody) if (!KEYS.has(k)) return createHash("sha256").update(Buffer.from(e.prevHash, "hex")).update(canonicalMsgpack(entryBody)).digest("hex"); // a field this version does not know
  return hashKnown(entryBody, e.prevHash);
}

/** Scratch for hashKnown: the values of one entry's present fields, in HASHED order. */
const keysScratch: EncodedKey[] = [];
const valuesScratch: unknown[] = [];

/**
 * SHA-256(prevHash bytes ‖ canonical msgpack of `entryBody`) for a body holding only fields in
 * ORDER, none undefined: the same bytes as canonicalMsgpack(entryBody) (keys in code unit order,
 * which HASHED already is), encoded in one reused buffer (canonical.ts).
 */
function hashKnown(entryBody: Record<string, unknown>, prevHash: string): string {
  const n = gather(entryBody);
  try {
    return sha256OfSortedMap(prevHash, keysScratch, valuesScratch, n);
  } finally {
    valuesScratch.fill(undefined); // hold no entry's values past its hash
  }
}

/** Fills the scratch with the body's present fields in HASHED order; returns how many. */
function gather(entryBody: Record<string, unknown>): number {
  let n = 0;
  for (const key of HASHED) {
    const v = entryBody[key.name];
    if (v === undefined) continue;
    keysScratch[n] = key;
    valuesScratch[n++] = v;
  }
  return n;
}

export function appendAudit(prev: AuditEntry | undefined, fields: AuditFields): AuditEntry {
  return sealAudit(prev, fields).entry;
}

/**
 * appendAudit, and the entry as it is stored: its canonical msgpack, `hash` included, spliced
 * from the bytes the hash was computed over (so an entry is encoded once on the Accountant's
 * hot path). auditEntryOf reads these bytes back into the entry.
 */
export function sealAudit(prev: AuditEntry | undefined, fields: AuditFields): { entry: AuditEntry; bytes: Uint8Array } {
  checkAuditFields(fields); // also: no field outside ORDER, so the hash covers every field
  const entry = body(fields as AuditEntry);
  entry.seq = prev ? prev.seq + 1 : 1;
  entry.prevHash = prev ? prev.hash : GENESIS_HASH;
  const n = gather(entry); // body() left out undefined fields: it is the body
  try {
    const sealed = sealEntry(entry.prevHash as string, keysScratch, valuesScratch, n, HASH_KEY);
    entry.hash = sealed.hash;
    return { entry: entry as unknown as AuditEntry, bytes: sealed.bytes };
  } finally {
    valuesScratch.fill(undefined);
  }
}

/**
 * A journal record as an entry: the canonical bytes sealAudit stored, decoded; a record written
 * as an object (before entries were stored as bytes) as it is. Throws InvalidAuditEntry on bytes
 * that are not canonical msgpack.
 */
export function auditEntryOf(record: unknown): unknown {
  return record instanceof Uint8Array ? decodeCanonical(record) : record;
}

export function verifyAudit(entries: Iterable<AuditEntry>, opts: { expectedLastHash?: string } = {}): AuditVerdict {
  let prev: AuditEntry | undefined;
  let count = 0;
  for (const e of entries) {
    const at = typeof e?.seq === "number" ? e.seq : count + 1;
    if (typeof e !== "object" || e === null || !Number.isSafeInteger(e.seq) || typeof e.hash !== "string" || !SHA256_HEX.test(e.hash) || typeof e.prevHash !== "string" || !SHA256_HEX.test(e.prevHash))
      return { ok: false, firstBad: at, index: count, reason: "malformed", detail: `entry #${count + 1} lacks a valid seq, hash or prevHash` };
    let h: string;
    try {
      h = hashEntry(e);
    } catch (err) {
      return { ok: false, firstBad: at, index: count, reason: "malformed", detail: `entry seq ${e.seq} cannot be encoded: ${(err as Error).message}` };
    }
    if (h !== e.hash) return { ok: false, firstBad: e.seq, index: count, reason: "edited", detail: `entry seq ${e.seq}: hash does not match its content` };
    if (prev === undefined) {
      if (e.seq !== 1 || e.prevHash !== GENESIS_HASH) {
        const reason = e.seq !== 1 ? "truncated-head" : "bad-genesis";
        return { ok: false, firstBad: e.seq, index: count, reason, detail: `first entry is seq ${e.seq} with prevHash ${e.prevHash.slice(0, 12)}…; expected seq 1 after the genesis hash` };
      }
    } else if (e.seq !== prev.seq + 1 || e.prevHash !== prev.hash) {
      return { ok: false, firstBad: e.seq, index: count, reason: "deleted-or-reordered", detail: `entry seq ${e.seq} does not follow seq ${prev.seq}` };
    }
    prev = e;
    count++;
  }
  const lastHash = prev ? prev.hash : GENESIS_HASH;
  if (opts.expectedLastHash !== undefined && opts.expectedLastHash !== lastHash)
    return { ok: false, firstBad: count + 1, index: count, reason: "deleted-or-reordered", detail: `chain ends at seq ${count} with a hash other than the anchor: entries after it are missing (tail truncation)` };
  return { ok: true, count, lastHash };
}

/** `v` with every object's keys in sorted order, recursively: JSON.stringify of it is the same for any field order. */
export function stable(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stable);
  if (typeof v === "object" && v !== null) {
    const o: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) o[k] = stable((v as Record<string, unknown>)[k]);
    return o;
  }
  return v;
}

/**
 * Export: one JSON object per line (entry fields in a fixed order, nested keys sorted), filtered
 * by atMs ∈ [fromMs, toMs]. Fields this version does not know follow, sorted: an export never
 * drops a field, so every line still hashes to its `hash`.
 */
export function toJsonLines(entries: Iterable<AuditEntry>, opts: { fromMs?: number; toMs?: number } = {}): string {
  const lines: string[] = [];
  for (const e of entries) {
    if (opts.fromMs !== undefined && e.atMs < opts.fromMs) continue;
    if (opts.toMs !== undefined && e.atMs > opts.toMs) continue;
    const fields = e as unknown as Record<string, unknown>;
    const o: Record<string, unknown> = {};
    for (const k of ORDER) { const v = fields[k]; if (v !== undefined) o[k] = stable(v); }
    for (const k of Object.keys(fields).filter((k) => !KEYS.has(k)).sort()) { const v = fields[k]; if (v !== undefined) o[k] = stable(v); }
    lines.push(JSON.stringify(o));
  }
  return lines.length ? lines.join("\n") + "\n" : "";
}
