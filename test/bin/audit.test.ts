import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { open } from "lmdb";
import { toJsonLines, verifyAudit, type AuditEntry } from "../../actors/accountant/audit.ts";
import { gaussian } from "../../privacy/index.ts";
import { entryOfRecord, recordOfEntry, writeAuditTrail } from "../fixtures/node-store.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const ACTOR = "user/accountant";
const T0 = Date.UTC(2026, 2, 1); // 2026-03-01T00:00Z
const HOUR_MS = 3_600_000;

/** Runs the real CLI; never throws on a non-zero exit. */
function fedrouter(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ["--import", "tsx", "bin/fedrouter.ts", ...args], { cwd: ROOT, timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stdout, stderr });
    });
  });
}

/** A 10-entry trail as the Accountant writes it (one event and the anchor per persist), one entry an hour. */
function writeTrail(dir: string): Promise<AuditEntry[]> {
  return writeAuditTrail(dir, ACTOR, Array.from({ length: 10 }, (_, i) => ({
    atMs: T0 + i * HOUR_MS, actor: "u-17", action: i % 2 ? "commit" as const : "reserve" as const, user: "u-17", department: "radiology",
    reservation: `r-${i >> 1}`, event: gaussian(1.5), cost: { epsilon: 0.1, delta: 1e-7 }, remaining: { epsilon: 5 - i * 0.1, delta: 1e-5 },
  })));
}

test("audit verify: OK on an intact trail (exit 0), BROKEN naming the seq on a tampered one (exit 1), exit 2 without a store", { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "fedrouter-audit-cli-"));
  try {
    const intact = join(dir, "intact");
    const entries = await writeTrail(intact);
    const ok = await fedrouter("audit", "verify", "--data-dir", intact);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, `audit trail of ${ACTOR} in ${intact}: OK, 10 entries, head ${entries[9]!.hash.slice(0, 12)}…\n`);

    const broken = join(dir, "broken");
    cpSync(intact, broken, { recursive: true });
    const root = open({ path: broken, separateFlushed: true });
    const journal = root.openDB("journal", {});
    await journal.put([ACTOR, 4], recordOfEntry({ ...entryOfRecord(journal.get([ACTOR, 4])), department: "oncology" }));
    await root.close();
    const bad = await fedrouter("audit", "verify", "--data-dir", broken);
    assert.equal(bad.code, 1, bad.stderr);
    assert.match(bad.stdout, /: BROKEN at entry seq 4 \(edited\): entry seq 4: hash does not match its content\n$/);

    const missing = join(dir, "nowhere");
    const none = await fedrouter("audit", "verify", "--data-dir", missing);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /--data-dir .*nowhere does not exist/);
    assert.ok(!existsSync(missing), "no directory is created");

    const empty = mkdtempSync(join(dir, "empty-"));
    const notLmdb = await fedrouter("audit", "verify", "--data-dir", empty);
    assert.equal(notLmdb.code, 2);
    assert.match(notLmdb.stderr, /holds no LMDB environment/);

    const unknown = await fedrouter("audit", "verify", "--data-dir", intact, "--actor", "user/ledger");
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /no actor store "user\/ledger" \(it holds "user\/accountant"\)/);

    const noDir = await fedrouter("audit", "verify");
    assert.equal(noDir.code, 2);
    assert.match(noDir.stderr, /--data-dir/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("audit export: the window [--from, --to] to --out or stdout, as JSON lines; a bad --from exits 2 naming it", { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "fedrouter-audit-cli-"));
  try {
    const data = join(dir, "data");
    const entries = await writeTrail(data);
    const out = join(dir, "audit.jsonl");
    const toFile = await fedrouter("audit", "export", "--data-dir", data, "--from", "2026-03-01T02:00:00Z", "--to", String(T0 + 6 * HOUR_MS), "--out", out);
    assert.equal(toFile.code, 0, toFile.stderr);
    assert.equal(toFile.stdout, `exported 5 entries of ${ACTOR} to ${out}\n`);
    const written = readFileSync(out, "utf8");
    assert.equal(written, toJsonLines(entries.slice(2, 7)));
    assert.deepEqual(written.trimEnd().split("\n").map((line) => (JSON.parse(line) as AuditEntry).seq), [3, 4, 5, 6, 7]);

    const toStdout = await fedrouter("audit", "export", "--data-dir", data, "--from", "2026-03-01");
    assert.equal(toStdout.code, 0, toStdout.stderr);
    assert.equal(toStdout.stdout, toJsonLines(entries));

    for (const [option, value] of [["--from", "yesterday"], ["--to", "2026-02-30"], ["--to", "2026-03-01T12:00"]] as const) {
      const bad = await fedrouter("audit", "export", "--data-dir", data, option, value);
      assert.equal(bad.code, 2, `${option} ${value}`);
      assert.match(bad.stderr, new RegExp(`${option} "${value}" is not an ISO date`));
    }
    const reversed = await fedrouter("audit", "export", "--data-dir", data, "--from", "2026-03-02", "--to", "2026-03-01");
    assert.equal(reversed.code, 2);
    assert.match(reversed.stderr, /--from 2026-03-02 is after --to 2026-03-01/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("audit export prints operator actions and reservation owners in full, and verify passes on a trail that has them", { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "fedrouter-audit-cli-"));
  try {
    const data = join(dir, "data");
    const entries = await writeAuditTrail(data, ACTOR, [
      { atMs: T0, actor: "ops-1", action: "operator-action", operation: "restart", target: "fed://hospital-a/user/node/router", messageType: "reload", detail: "after the config change" },
      { atMs: T0 + HOUR_MS, actor: "u-17", action: "reserve", owner: "peer:hospital-b", user: "u-17", department: "radiology", reservation: `res-${"ab".repeat(16)}`, key: "q1", event: gaussian(1.5), cost: { epsilon: 0.1, delta: 1e-5 }, remaining: { epsilon: 4.9, delta: 1e-5 } },
      { atMs: T0 + 2 * HOUR_MS, actor: "user:ada", action: "set-budget", department: "radiology", limit: { epsilon: 8, delta: 1e-5 } },
    ]);
    const verify = await fedrouter("audit", "verify", "--data-dir", data);
    assert.equal(verify.code, 0, verify.stderr);
    assert.match(verify.stdout, /: OK, 3 entries, head /);
    const exported = await fedrouter("audit", "export", "--data-dir", data);
    assert.equal(exported.code, 0, exported.stderr);
    const lines = exported.stdout.trimEnd().split("\n");
    assert.equal(lines[0], `{"seq":1,"atMs":${T0},"actor":"ops-1","action":"operator-action","operation":"restart","target":"fed://hospital-a/user/node/router","messageType":"reload","detail":"after the config change","prevHash":"${"0".repeat(64)}","hash":"${entries[0]!.hash}"}`);
    assert.match(lines[1]!, /^\{"seq":2,"atMs":\d+,"actor":"u-17","action":"reserve","owner":"peer:hospital-b","user":"u-17",/);
    // Nothing is dropped: the exported lines are the entries, and they still verify.
    const back = lines.map((line) => JSON.parse(line) as AuditEntry);
    assert.deepEqual(back, JSON.parse(JSON.stringify(entries)));
    assert.equal(verifyAudit(back).ok, true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("audit export into a reader that leaves early (| head -1) ends quietly with exit 0, no EPIPE crash (issue 14)", { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "fedrouter-audit-cli-"));
  try {
    const data = join(dir, "data");
    // Enough entries that the export outlives the reader's pipe buffer.
    await writeAuditTrail(data, ACTOR, Array.from({ length: 3_000 }, (_, i) => ({
      atMs: T0 + i * 1_000, actor: "u-17", action: "reserve" as const, user: "u-17", department: "radiology",
      reservation: `res-${String(i).padStart(32, "0")}`, key: `k-${i}`, event: gaussian(1.5), cost: { epsilon: 0.001, delta: 1e-7 }, remaining: { epsilon: 5, delta: 1e-5 },
    })));
    const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile("bash", ["-o", "pipefail", "-c", `"${process.execPath}" --import tsx bin/fedrouter.ts audit export --data-dir "${data}" | head -1`], { cwd: ROOT, timeout: 60_000 }, (error, stdout, stderr) =>
        resolve({ code: error ? (error as { code?: number }).code ?? 1 : 0, stdout, stderr }));
    });
    assert.equal(out.stdout.trim().split("\n").length, 1);
    assert.match(out.stdout, /^\{"seq":1,/);
    assert.doesNotMatch(out.stderr, /EPIPE|Unhandled|Error:/, out.stderr);
    assert.equal(out.code, 0, `the export exits 0 when its reader leaves: ${out.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("fedrouter --version prints the package's version; a missing data dir names the directory a hospital uses (issue 14)", { timeout: 60_000 }, async () => {
  const version = await fedrouter("--version");
  assert.equal(version.code, 0);
  assert.equal(version.stdout.trim(), JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version);
  const missing = await fedrouter("audit", "verify", "--data-dir", join(tmpdir(), "fedrouter-no-such-dir"));
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /e\.g\. \.data\/hospital-a/);
});
