/**
 * A data.mdb that is not whole LMDB is refused with a PersistenceError before lmdb-js opens it:
 * lmdb-js itself ends the process on such a file (SIGSEGV or SIGBUS, checked for each case below
 * before the check existed), so a node restored from a bad copy crashed in a loop, saying nothing.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PersistenceError } from "../../../runtime/errors.ts";
import { openNodeStore } from "../../../runtime/persistence/index.ts";
import { checkLmdbDataFile } from "../../../runtime/persistence/lmdb-file.ts";

const NODE_STORE = fileURLToPath(new URL("../../../runtime/persistence/index.ts", import.meta.url));

/** A real environment with a few hundred journal entries, as a node leaves it. */
async function writtenEnvironment(dir: string): Promise<Buffer> {
  const store = openNodeStore({ path: dir });
  const actor = store.actor<{ n: number }>("user/ledger", { durability: "sync" });
  for (let i = 1; i <= 300; i++) await actor.persist({ state: { n: i }, events: [{ i, pad: "x".repeat(200) }] });
  await store.close();
  return readFileSync(join(dir, "data.mdb"));
}

test("data.mdb files that are not whole LMDB are each refused by name; a whole one, or one whose second meta page is torn, opens", async () => {
  const root = mkdtempSync(join(tmpdir(), "fedrouter-lmdb-file-"));
  try {
    const good = join(root, "good");
    const bytes = await writtenEnvironment(good);
    assert.doesNotThrow(() => checkLmdbDataFile(good));
    assert.doesNotThrow(() => checkLmdbDataFile(join(root, "none-yet")), "no data.mdb yet: a new environment");
    const pageSize = bytes.readUInt32LE(0x30);
    assert.equal(pageSize & (pageSize - 1), 0, "the page size is read where this LMDB keeps it");
    const cases: [string, Buffer, RegExp][] = [
      ["zeros", Buffer.alloc(100_000), /is not an LMDB file \(its meta page has magic 0x00000000, not 0xbeefc0de\)/],
      ["text", Buffer.from("hello"), /is 5 bytes, shorter than an LMDB header/],
      ["header cut", bytes.subarray(0, 30), /is 30 bytes, shorter than an LMDB header/],
      ["one page", bytes.subarray(0, pageSize), /is cut short: \d+ bytes, where its last page \(\d+\) ends at byte \d+/],
      ["two pages", bytes.subarray(0, 2 * pageSize), /is cut short: \d+ bytes, where its last page \(\d+\) ends at byte \d+/],
      ["other version", Buffer.concat([bytes.subarray(0, 0x1c), Buffer.from([7, 0, 0, 0]), bytes.subarray(0x20)]), /is LMDB data version 7, which this lmdb-js \(version 2\) does not read/],
    ];
    for (const [name, content, reason] of cases) {
      const dir = join(root, name.replace(/ /g, "-"));
      mkdirSync(dir);
      writeFileSync(join(dir, "data.mdb"), content);
      assert.throws(() => openNodeStore({ path: dir }), (error: unknown) => error instanceof PersistenceError && reason.test(error.message) && error.message.includes(join(dir, "data.mdb")) && /restore the directory from a backup/.test(error.message), name);
    }
    // lmdb-js reads the newer meta page and tolerates a second one that does not parse (one being written): so do we.
    const torn = join(root, "torn-second-meta");
    mkdirSync(torn);
    const tornBytes = Buffer.from(bytes);
    tornBytes.writeUInt32LE(0, pageSize + 0x18);
    writeFileSync(join(torn, "data.mdb"), tornBytes);
    const store = openNodeStore({ path: torn });
    try {
      assert.equal(store.actor<{ n: number }>("user/ledger", { durability: "sync" }).state()?.n, 300);
    } finally {
      await store.close();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("a node opening a data.mdb of zeros ends with the PersistenceError, not a signal", { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "fedrouter-lmdb-file-"));
  try {
    writeFileSync(join(dir, "data.mdb"), Buffer.alloc(64 * 1024));
    const script = `const { openNodeStore } = await import(${JSON.stringify(NODE_STORE)}); try { openNodeStore({ path: ${JSON.stringify(dir)} }); } catch (e) { console.error(e.code + ": " + e.message); process.exit(3); }`;
    const { code, signal, stderr } = await new Promise<{ code: number | null; signal: string | null; stderr: string }>((resolve) => {
      const child = execFile(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { timeout: 50_000 }, (_error, _stdout, err) => resolve({ code: child.exitCode, signal: child.signalCode, stderr: err }));
    });
    assert.deepEqual({ code, signal }, { code: 3, signal: null }, stderr);
    assert.match(stderr, /^PERSISTENCE_ERROR: .*data\.mdb is not an LMDB file/m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
