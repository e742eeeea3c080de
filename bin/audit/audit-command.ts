/**
 * `fedrouter audit verify` and `fedrouter audit export`: thin commands over
 * actors/accountant/audit-store.ts. Never creates a data directory or an LMDB environment:
 * one that is not there is refused (openNodeStore would create it).
 *
 * Exit codes: 0 the trail is intact (or exported), 1 the trail is broken, 2 it could not be
 * checked: no such directory or actor store, a bad option, a file that cannot be written.
 */
import { once } from "node:events";
import { createWriteStream, existsSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Writable } from "node:stream";
import { finished } from "node:stream/promises";
import { AuditStoreError, DEFAULT_AUDIT_ACTOR, streamStoredAudit, verifyStoredAudit } from "../../actors/accountant/audit-store.ts";
import { openNodeStore, type NodeStore } from "../../runtime/persistence/index.ts";

export const EXIT = { ok: 0, broken: 1, cannotCheck: 2 } as const;

export interface AuditVerifyOptions {
  dataDir: string;
  /** The Accountant's actor store id; DEFAULT_AUDIT_ACTOR when left out. */
  actor?: string;
}

export interface AuditExportOptions extends AuditVerifyOptions {
  /** ISO date (`2026-03-01`, `2026-03-01T12:00:00Z`) or epoch ms; entries with atMs ≥ it. */
  from?: string;
  /** Same forms; entries with atMs ≤ it. */
  to?: string;
  /** File to write; stdout when left out. */
  out?: string;
}

/** Where a command writes; the process's streams unless a caller passes its own. */
export interface CommandIo {
  stdout: Writable;
  stderr: Writable;
}

/** A refusal that names the option or path and the fix; exit 2. */
class CannotCheck extends Error {}

/** Prints `audit trail of <id> in <dir>: OK, …` or `…: BROKEN at entry seq N (reason): detail`. */
export async function runAuditVerify(opts: AuditVerifyOptions, io: CommandIo = process): Promise<number> {
  const actor = opts.actor ?? DEFAULT_AUDIT_ACTOR;
  return withStore("verify", opts.dataDir, io, (store) => {
    const verdict = verifyStoredAudit(store, actor);
    const trail = `audit trail of ${actor} in ${opts.dataDir}`;
    if (verdict.ok) {
      io.stdout.write(`${trail}: OK, ${verdict.count} ${verdict.count === 1 ? "entry" : "entries"}, head ${verdict.lastHash.slice(0, 12)}…\n`);
      return EXIT.ok;
    }
    io.stdout.write(`${trail}: BROKEN at entry seq ${verdict.firstBad} (${verdict.reason}): ${verdict.detail}\n`);
    return EXIT.broken;
  });
}

/** Writes the entries in [from, to] as JSON lines to `out` (then says how many) or to stdout. */
export async function runAuditExport(opts: AuditExportOptions, io: CommandIo = process): Promise<number> {
  const actor = opts.actor ?? DEFAULT_AUDIT_ACTOR;
  return withStore("export", opts.dataDir, io, async (store) => {
    const fromMs = parseInstant("--from", opts.from);
    const toMs = parseInstant("--to", opts.to);
    if (fromMs !== undefined && toMs !== undefined && fromMs > toMs) throw new CannotCheck(`--from ${opts.from} is after --to ${opts.to}`);
    const lines = streamStoredAudit(store, { actorId: actor, fromMs, toMs }); // checks the actor before a file is made
    if (opts.out === undefined) {
      await writeLines(lines, io.stdout);
      return EXIT.ok;
    }
    const file = createWriteStream(opts.out);
    try {
      await once(file, "open");
    } catch (error) {
      throw new CannotCheck(`--out ${opts.out} cannot be written: ${(error as Error).message}`);
    }
    try {
      const count = await writeLines(lines, file);
      file.end();
      await finished(file);
      io.stdout.write(`exported ${count} entries of ${actor} to ${opts.out}\n`);
      return EXIT.ok;
    } catch (error) {
      file.destroy();
      if (error instanceof AuditStoreError) throw error;
      throw new CannotCheck(`--out ${opts.out}: write failed: ${(error as Error).message}`);
    }
  });
}

/** Opens an existing environment, runs `command`, closes it; refusals become exit 2 on stderr. */
async function withStore(name: string, dataDir: string, io: CommandIo, command: (store: NodeStore) => number | Promise<number>): Promise<number> {
  let store: NodeStore | undefined;
  try {
    requireEnvironment(dataDir);
    store = openNodeStore({ path: dataDir });
    return await command(store);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (error instanceof CannotCheck || error instanceof AuditStoreError || code === "PERSISTENCE_ERROR" || code === "INVALID_ARGUMENT") {
      io.stderr.write(`fedrouter audit ${name}: ${(error as Error).message}\n`);
      return EXIT.cannotCheck;
    }
    throw error;
  } finally {
    await store?.close();
  }
}

function requireEnvironment(dataDir: string): void {
  if (!existsSync(dataDir)) throw new CannotCheck(`--data-dir ${dataDir} does not exist (give the node's LMDB directory, e.g. .data/hospital-a)`);
  if (!statSync(dataDir).isDirectory()) throw new CannotCheck(`--data-dir ${dataDir} is not a directory`);
  // lmdb-js keeps an environment in <dir>/data.mdb; without it, opening would create one.
  if (!existsSync(join(dataDir, "data.mdb"))) throw new CannotCheck(`--data-dir ${dataDir} holds no LMDB environment (no data.mdb): is it a node's data directory?`);
}

const ISO_INSTANT = /^(\d{4})-(\d{2})-(\d{2})(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2}))?$/;

/**
 * Epoch ms, or an ISO date: a bare date is 00:00 UTC; a time needs its zone (Z or ±hh:mm),
 * so that the same command means the same window on every machine.
 */
export function parseInstant(option: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  let ms = Number.NaN;
  if (/^\d{1,16}$/.test(value)) ms = Number(value);
  else {
    const m = ISO_INSTANT.exec(value);
    // Date.parse rolls 2026-02-30 over to March; a day past the month's end is refused instead.
    if (m && Number(m[3]) >= 1 && new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))).getUTCDate() === Number(m[3])) ms = Date.parse(value);
  }
  if (!Number.isSafeInteger(ms)) throw new CannotCheck(`${option} "${value}" is not an ISO date (2026-03-01, 2026-03-01T12:00:00Z) or epoch milliseconds`);
  return ms;
}

/** Writes with backpressure: a long trail never piles up in memory. */
/**
 * Writes the lines with backpressure. A reader that leaves early (`| head`) is not a failure:
 * the export stops quietly, as `git log | head` does (EPIPE would otherwise be an uncaught error
 * event on stdout). Any other write error is rethrown.
 */
async function writeLines(lines: Iterable<string>, sink: Writable): Promise<number> {
  let count = 0;
  let gone: NodeJS.ErrnoException | undefined;
  const onError = (error: NodeJS.ErrnoException) => {
    gone ??= error;
  };
  sink.on("error", onError);
  try {
    for (const line of lines) {
      if (gone !== undefined) break;
      count++;
      if (!sink.write(line)) {
        await Promise.race([once(sink, "drain"), new Promise((resolve) => sink.once("error", resolve))]).catch(() => undefined);
      }
    }
  } finally {
    sink.off("error", onError);
    // Later errors of a pipe already given up on (more EPIPEs of buffered writes) are ignored.
    if (gone !== undefined) sink.on("error", () => undefined);
  }
  if (gone !== undefined && gone.code !== "EPIPE") throw gone;
  return count;
}
