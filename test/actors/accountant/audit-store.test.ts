import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { asBinary, open } from "lmdb";
import { appendAudit, toJsonLines, type AuditEntry, type AuditFields } from "../../../actors/accountant/audit.ts";
import { AuditStoreError, exportStoredAudit, readAuditTrail, verifyStoredAudit } from "../../../actors/accountant/audit-store.ts";
import { dpSgd, gaussian, gnmax } from "../../../privacy/index.ts";
import { openNodeStore } from "../../../runtime/persistence/index.ts";
import { entryOfRecord, recordOfEntry, writeAuditTrail, type RecordFormat } from "../../fixtures/node-store.ts";

const ACTOR = "user/accountant";
const T0 = Date.UTC(2026, 2, 1, 8); // 2026-03-01T08:00Z
const MINUTE_MS = 60_000;
const USERS = [["u-17", "radiology"], ["u-4", "oncology"], ["u-9", "cardiology"]] as const;
const EVENTS = [gaussian(1.2), dpSgd(0.01, 1.1, 100), gnmax(40)];

/** Entry i of a day's trail: a reserve, then its commit, or a refusal for lack of budget. */
function fields(i: number): AuditFields {
  const [user, department] = USERS[i % USERS.length]!;
  const event = EVENTS[i % EVENTS.length]!;
  const base = { atMs: T0 + i * MINUTE_MS, actor: user, user, department, event };
  const cost = { epsilon: 0.05 + (i % 4) * 0.01, delta: 1e-7 };
  const remaining = { epsilon: 8 - i * 0.1, delta: 1e-5 - i * 1e-7 };
  const reservation = `r-${i - (i % 3)}`;
  switch (i % 3) {
    case 0:
      return { ...base, action: "reserve", requestId: `req-${i}`, key: `k-${i}`, reservation, contentHash: createHash("sha256").update(`prompt ${i}`).digest("hex"), cost, remaining };
    case 1:
      return { ...base, action: "commit", reservation, cost, remaining };
    default:
      return { ...base, action: "refuse", requestId: `req-${i}`, cost: { epsilon: 9, delta: 1e-6 }, remaining, detail: "BUDGET_EXCEEDED" };
  }
}

/** Writes `count` entries exactly as the Accountant lays them out: one event and the anchor per persist. */
function writeTrail(dir: string, count = 30, format: RecordFormat = "bytes"): Promise<AuditEntry[]> {
  return writeAuditTrail(dir, ACTOR, Array.from({ length: count }, (_, i) => fields(i)), format);
}

/** Edits the raw LMDB journal of a copy of `pristine`, then verifies the copy through the node store. */
async function tampered(pristine: string, edit: (journal: ReturnType<ReturnType<typeof open>["openDB"]>) => void) {
  const dir = mkdtempSync(join(tmpdir(), "fedrouter-audit-copy-"));
  try {
    cpSync(pristine, dir, { recursive: true });
    const root = open({ path: dir, separateFlushed: true });
    try {
      const journal = root.openDB("journal", {});
      await journal.transaction(() => edit(journal));
    } finally {
      await root.close();
    }
    const store = openNodeStore({ path: dir });
    try {
      return verifyStoredAudit(store, ACTOR);
    } finally {
      await store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function withTrail(run: (pristine: string, entries: AuditEntry[]) => Promise<void>, format: RecordFormat = "bytes"): Promise<void> {
  const pristine = mkdtempSync(join(tmpdir(), "fedrouter-audit-"));
  try {
    await run(pristine, await writeTrail(pristine, 30, format));
  } finally {
    rmSync(pristine, { recursive: true, force: true });
  }
}

for (const format of ["bytes", "object"] as const) {
  test(`an intact stored trail of 30 entries verifies, ending at the anchor (entries stored as ${format})`, () => withTrail(async (pristine, entries) => {
    const store = openNodeStore({ path: pristine });
    try {
      assert.deepEqual(verifyStoredAudit(store), { ok: true, count: 30, lastHash: entries[29]!.hash });
      const { entries: read, anchor } = readAuditTrail(store);
      assert.deepEqual(anchor, { auditHead: entries[29]!.hash, auditCount: 30 });
      assert.deepEqual([...read], entries);
      assert.deepEqual([...read], entries, "iterable again");
    } finally {
      await store.close();
    }
  }, format));
}

for (const format of ["bytes", "object"] as const) {
  test(`tampering with the raw LMDB journal is named by seq and reason (entries stored as ${format})`, () => withTrail(async (pristine) => {
    const key = (seq: number) => [ACTOR, seq];
    const edited = await tampered(pristine, (journal) => {
      const entry = entryOfRecord(journal.get(key(12)));
      journal.put(key(12), recordOfEntry({ ...entry, cost: { epsilon: 0.001, delta: 1e-7 } }, format));
    });
    assert.deepEqual(pick(edited), { ok: false, firstBad: 12, reason: "edited" });

    const deleted = await tampered(pristine, (journal) => void journal.remove(key(9)));
    assert.deepEqual(pick(deleted), { ok: false, firstBad: 10, reason: "deleted-or-reordered" });
    assert.match(detail(deleted), /no record at seq 9 \(deleted\)/);

    const swapped = await tampered(pristine, (journal) => {
      const [five, six] = [journal.get(key(5)), journal.get(key(6))];
      journal.put(key(5), six);
      journal.put(key(6), five);
    });
    assert.deepEqual(pick(swapped), { ok: false, firstBad: 5, reason: "deleted-or-reordered" });
    assert.match(detail(swapped), /journal seq 5 holds the entry of seq 6/);

    const truncated = await tampered(pristine, (journal) => {
      for (const seq of [28, 29, 30]) journal.remove(key(seq));
    });
    assert.deepEqual(pick(truncated), { ok: false, firstBad: 28, reason: "deleted-or-reordered" });
    assert.match(detail(truncated), /ends at seq 27 but the anchor records 30 entries: the last 3 are missing \(tail truncation\)/);
  }, format));
}

for (const format of ["bytes", "object"] as const) {
  test(`a record moved and edited is called edited; values that are not entries, or not msgpack, are malformed (entries stored as ${format})`, () => withTrail(async (pristine) => {
    const key = (seq: number) => [ACTOR, seq];
    const movedAndEdited = await tampered(pristine, (journal) => {
      const entry = entryOfRecord(journal.get(key(7)));
      journal.put(key(7), recordOfEntry({ ...entry, seq: 8 }, format));
    });
    assert.deepEqual(pick(movedAndEdited), { ok: false, firstBad: 7, reason: "edited" });

    const notAnObject = await tampered(pristine, (journal) => void journal.put(key(3), "reserve u-17 0.05"));
    assert.deepEqual(pick(notAnObject), { ok: false, firstBad: 3, reason: "malformed" });
    assert.match(detail(notAnObject), /journal seq 3 holds string, not an audit entry/);

    const noHash = await tampered(pristine, (journal) => {
      const { hash: _, ...entry } = entryOfRecord(journal.get(key(4)));
      journal.put(key(4), recordOfEntry(entry, format));
    });
    assert.deepEqual(pick(noHash), { ok: false, firstBad: 4, reason: "malformed" });

    const garbage = await tampered(pristine, (journal) => void journal.put(key(2), asBinary(Buffer.from([0xc1, 0xc1]))));
    assert.deepEqual(pick(garbage), { ok: false, firstBad: 2, reason: "malformed" });
    assert.match(detail(garbage), /the journal record after seq 1 cannot be read/);

    // Valid msgpack (a bin) whose bytes are not a canonical entry: a map cut short, an ext type, bytes left over.
    for (const bytes of [[0x82, 0xa1, 0x61], [0xd4, 0x01, 0x00], [0x80, 0x00]]) {
      const notCanonical = await tampered(pristine, (journal) => void journal.put(key(6), Uint8Array.from(bytes)));
      assert.deepEqual(pick(notCanonical), { ok: false, firstBad: 6, reason: "malformed" }, `bytes ${bytes}`);
      assert.match(detail(notCanonical), /journal seq 6 holds bytes that are not an audit entry/);
    }
  }, format));
}

test("an entry appended past the anchor is detected, even though it chains", () => withTrail(async (pristine, entries) => {
  const extra = appendAudit(entries.at(-1), fields(30));
  const appended = await tampered(pristine, (journal) => void journal.put([ACTOR, 31], extra));
  assert.deepEqual(pick(appended), { ok: false, firstBad: 31, reason: "deleted-or-reordered" });
  assert.match(detail(appended), /holds 31 entries but the anchor records 30/);
}));

test("an unknown actor id is refused with the ids the store holds, and no record is created for it", () => withTrail(async (pristine) => {
  const store = openNodeStore({ path: pristine });
  try {
    for (const read of [() => verifyStoredAudit(store, "user/acountant"), () => readAuditTrail(store, "user/acountant"), () => exportStoredAudit(store, { actorId: "user/acountant" })]) {
      assert.throws(read, (error: unknown) => {
        assert.ok(error instanceof AuditStoreError);
        assert.equal(error.code, "AUDIT_STORE");
        assert.deepEqual(error.knownIds, [ACTOR]);
        assert.match(error.message, /no actor store "user\/acountant" \(it holds "user\/accountant"\)/);
        return true;
      });
    }
    assert.deepEqual(store.actorIds(), [ACTOR]);
  } finally {
    await store.close();
  }
}));

test("export with from/to returns exactly the entries in the window, one JSON object per line", () => withTrail(async (pristine, entries) => {
  const store = openNodeStore({ path: pristine });
  try {
    const fromMs = entries[9]!.atMs;
    const toMs = entries[19]!.atMs;
    const text = exportStoredAudit(store, { fromMs, toMs });
    assert.equal(text, toJsonLines(entries.slice(9, 20)));
    const lines = text.trimEnd().split("\n").map((line) => JSON.parse(line) as AuditEntry);
    assert.deepEqual(lines.map((e) => e.seq), Array.from({ length: 11 }, (_, i) => i + 10));
    assert.ok(lines.every((e) => e.atMs >= fromMs && e.atMs <= toMs));
    assert.equal(exportStoredAudit(store), toJsonLines(entries));
    assert.equal(exportStoredAudit(store, { fromMs: T0 + 365 * 24 * 60 * MINUTE_MS }), "");
  } finally {
    await store.close();
  }
}));

function pick(verdict: ReturnType<typeof verifyStoredAudit>) {
  return verdict.ok ? verdict : { ok: verdict.ok, firstBad: verdict.firstBad, reason: verdict.reason };
}
function detail(verdict: ReturnType<typeof verifyStoredAudit>): string {
  return verdict.ok ? "" : verdict.detail;
}
