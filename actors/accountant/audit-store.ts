/**
 * The Accountant's audit trail as it lies in a node store: read it, verify it against the
 * journal layout and its anchor, export it as JSON lines. Never creates an actor store: an
 * unknown id is refused, not opened (opening would write an empty record).
 *
 * Layout (written by the Accountant): actor store `user/accountant` by default; each operation
 * appends one journal event, an AuditEntry whose `seq` is its journal seq (1, 2, 3, …), and
 * writes the state `{ auditHead, auditCount }` in the same transaction. An entry is stored as its
 * canonical msgpack bytes (audit.ts `sealAudit`; a msgpack bin in the journal), trails written
 * before that as a msgpack object; both read alike (`auditEntryOf`). That state is the
 * anchor audit.ts asks for: without it, a trail cut at its tail would still verify.
 */
import { FedrouterError, registerErrors } from "../../errors/index.ts";
import { auditEntryOf, hashEntry, toJsonLines, verifyAudit, type AuditEntry, type AuditVerdict } from "./audit.ts";
import type { JournalEntry, NodeStore } from "../../runtime/persistence/index.ts";

export const DEFAULT_AUDIT_ACTOR = "user/accountant";

/** What the Accountant keeps in its actor state, beside the trail. */
export interface AuditAnchor {
  /** Hash of the last entry. */
  auditHead: string;
  auditCount: number;
}

/** The trail cannot be read: no such actor store, or a record that is not an audit entry. */
export class AuditStoreError extends FedrouterError {
  readonly code = "AUDIT_STORE";
  constructor(readonly path: string, readonly actorId: string, message: string, readonly knownIds: readonly string[] = []) {
    super(message);
  }
}

registerErrors({
  AUDIT_STORE: (f) => new AuditStoreError(f.string("path"), f.string("actorId"), f.string("message"), f.value("knownIds") as string[] | undefined),
});

/**
 * The entries (lazily, in journal order; each iteration reads afresh) and the anchor, or
 * undefined when the actor state holds none.
 * @example
 * const { entries, anchor } = readAuditTrail(store); // throws AuditStoreError for an unknown id
 * for (const entry of entries) console.log(entry.seq, entry.action);
 */
export function readAuditTrail(store: NodeStore, actorId = DEFAULT_AUDIT_ACTOR): { entries: Iterable<AuditEntry>; anchor: AuditAnchor | undefined } {
  const { journal, state } = openTrail(store, actorId);
  const entries: Iterable<AuditEntry> = {
    *[Symbol.iterator]() {
      for (const { event } of journal()) yield auditEntryOf(event) as AuditEntry;
    },
  };
  return { entries, anchor: anchorOf(state) };
}

/**
 * verifyAudit over the journal, anchored on the actor state, plus what only the store shows:
 * a journal that skips a seq (a deleted record), a record whose entry.seq is not its journal
 * seq (swapped or moved), a value that is not an object, and a journal shorter or longer than
 * `auditCount`. `firstBad` is the journal seq of the first bad record (where the problem is a
 * missing record, the first one after it); `index` its 0-based position in the journal.
 * @example
 * const verdict = verifyStoredAudit(store);
 * if (!verdict.ok) console.log(`broken at seq ${verdict.firstBad} (${verdict.reason}): ${verdict.detail}`);
 */
export function verifyStoredAudit(store: NodeStore, actorId = DEFAULT_AUDIT_ACTOR): AuditVerdict {
  const { journal, state } = openTrail(store, actorId);
  const anchor = anchorOf(state);
  const scan: Scan = { records: 0, lastSeq: 0, lastHash: undefined, problem: undefined };
  const verdict = verifyAudit(scanJournal(journal(), scan), anchor ? { expectedLastHash: anchor.auditHead } : {});
  // A failure at a record the scan handed over (index < records) is the earliest one; the
  // scan's last record is that one, so its journal seq names it.
  if (!verdict.ok && verdict.index < scan.records) return { ...verdict, firstBad: scan.lastSeq };
  if (scan.problem) return scan.problem;
  const count = scan.records;
  const at = { firstBad: count + 1, index: count } as const;
  if (state === undefined) {
    return count === 0 ? verdict : { ok: false, ...at, reason: "malformed", detail: `the actor state holds no anchor { auditHead, auditCount } for its ${count} entries: a cut tail would go unseen` };
  }
  if (!anchor) return { ok: false, ...at, reason: "malformed", detail: "the actor state is not an anchor { auditHead, auditCount }" };
  if (count < anchor.auditCount) {
    return { ok: false, ...at, reason: "deleted-or-reordered", detail: `the journal ends at seq ${count} but the anchor records ${anchor.auditCount} entries: the last ${anchor.auditCount - count} are missing (tail truncation)` };
  }
  if (count > anchor.auditCount) {
    return { ok: false, firstBad: anchor.auditCount + 1, index: anchor.auditCount, reason: "deleted-or-reordered", detail: `the journal holds ${count} entries but the anchor records ${anchor.auditCount}: seq ${anchor.auditCount + 1} onwards were not written by the Accountant` };
  }
  if (!verdict.ok) {
    // Same length, another head: the entries were rewritten with fresh hashes, or the anchor was.
    return { ok: false, firstBad: Math.max(count, 1), index: Math.max(count - 1, 0), reason: "edited", detail: `the chain is whole but ends in ${short(scan.lastHash)}, not the anchor's head ${short(anchor.auditHead)}: the trail or its anchor was rewritten` };
  }
  return verdict;
}

/**
 * The entries with `fromMs <= atMs <= toMs` as JSON lines (toJsonLines), one string per line,
 * read lazily: a caller can write a trail of any length with constant memory. Checks the
 * actor id at once; throws AuditStoreError on a record that is not an object.
 */
export function streamStoredAudit(store: NodeStore, opts: { actorId?: string; fromMs?: number; toMs?: number } = {}): Iterable<string> {
  const actorId = opts.actorId ?? DEFAULT_AUDIT_ACTOR;
  const { entries } = readAuditTrail(store, actorId);
  const window = { fromMs: opts.fromMs, toMs: opts.toMs };
  return (function* () {
    for (const entry of entries) {
      if (typeof entry !== "object" || entry === null) {
        throw new AuditStoreError(store.path, actorId, `${store.path}#${actorId}: a journal record is not an audit entry; run \`fedrouter audit verify\``);
      }
      const line = toJsonLines([entry], window); // "" when outside the window
      if (line) yield line;
    }
  })();
}

/**
 * The whole export as one string; see streamStoredAudit for the lazy form.
 * @example
 * exportStoredAudit(store, { fromMs: Date.parse("2026-03-01T00:00:00Z") }); // '{"seq":12,…}\n…'
 */
export function exportStoredAudit(store: NodeStore, opts: { actorId?: string; fromMs?: number; toMs?: number } = {}): string {
  return [...streamStoredAudit(store, opts)].join("");
}

/** Opens a known actor store only: `store.actor` on an unknown id would create its record. */
function openTrail(store: NodeStore, actorId: string): { journal: () => Iterable<JournalEntry>; state: unknown } {
  const known = store.actorIds();
  if (!known.includes(actorId)) {
    const listed = known.length ? `it holds ${known.map((id) => `"${id}"`).join(", ")}` : "it holds none";
    throw new AuditStoreError(store.path, actorId, `${store.path} has no actor store "${actorId}" (${listed}): pick the Accountant's id`, known);
  }
  const actor = store.actor<unknown>(actorId, { durability: "sync" });
  return { journal: () => actor.journal(), state: actor.state() };
}

function anchorOf(state: unknown): AuditAnchor | undefined {
  const s = state as Partial<AuditAnchor> | undefined;
  if (typeof s !== "object" || s === null || typeof s.auditHead !== "string" || !Number.isSafeInteger(s.auditCount) || s.auditCount! < 0) return undefined;
  return { auditHead: s.auditHead, auditCount: s.auditCount! };
}

type Failure = Extract<AuditVerdict, { ok: false }>;
interface Scan {
  /** Records handed to verifyAudit so far. */
  records: number;
  /** Journal seq and hash of the last record handed over. */
  lastSeq: number;
  lastHash: string | undefined;
  /** A problem at a record not handed over (the scan stops there). */
  problem: Failure | undefined;
}

/**
 * The journal's entries for verifyAudit, stopping at the first record in the wrong place.
 * A misplaced record whose hash no longer matches is handed over all the same, so that
 * verifyAudit calls it "edited" (what was done to it) rather than "moved".
 */
function* scanJournal(journal: Iterable<JournalEntry>, scan: Scan): Generator<AuditEntry> {
  const records = journal[Symbol.iterator]();
  try {
    for (;;) {
      let next: IteratorResult<JournalEntry>;
      try {
        next = records.next();
      } catch (error) {
        // An undecodable record is a finding, not an outage: the trail cannot be vouched for.
        scan.problem = { ok: false, firstBad: scan.lastSeq + 1, index: scan.records, reason: "malformed", detail: `the journal record after seq ${scan.lastSeq} cannot be read: ${(error as Error).message}` };
        return;
      }
      if (next.done) return;
      const { seq } = next.value;
      const stop = (reason: Failure["reason"], detail: string) => {
        scan.problem = { ok: false, firstBad: seq, index: scan.records, reason, detail };
      };
      let event: unknown;
      try {
        event = auditEntryOf(next.value.event);
      } catch (error) {
        return stop("malformed", `journal seq ${seq} holds bytes that are not an audit entry: ${(error as Error).message}`);
      }
      const entry = event as AuditEntry;
      if (typeof event !== "object" || event === null || Array.isArray(event)) return stop("malformed", `journal seq ${seq} holds ${Array.isArray(event) ? "an array" : typeof event}, not an audit entry`);
      const expected = scan.lastSeq + 1;
      const misplaced = seq !== expected
        ? `the journal has no record at seq ${expected}${seq > expected + 1 ? `..${seq - 1}` : ""} (deleted): seq ${seq} follows seq ${scan.lastSeq}`
        : entry.seq !== seq
          ? `journal seq ${seq} holds the entry of seq ${String(entry.seq)} (swapped or moved)`
          : undefined;
      if (misplaced && hashMatches(entry)) return stop("deleted-or-reordered", misplaced);
      scan.records++;
      scan.lastSeq = seq;
      scan.lastHash = entry.hash;
      yield entry;
    }
  } finally {
    records.return?.(); // verifyAudit may stop early: let the read transaction go
  }
}

function hashMatches(entry: AuditEntry): boolean {
  try {
    return typeof entry.hash === "string" && typeof entry.prevHash === "string" && hashEntry(entry) === entry.hash;
  } catch {
    return false;
  }
}

function short(hash: string | undefined): string {
  return hash === undefined ? "nothing" : `${hash.slice(0, 12)}…`;
}
