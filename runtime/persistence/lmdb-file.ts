/**
 * A look at an LMDB data file before lmdb-js opens it. lmdb-js 3.5 does not refuse a data.mdb
 * that is not a whole LMDB file: it ends the process — a segmentation fault for zeros, random
 * bytes, a header cut short, a first meta page with another magic or data version; a bus error
 * for a file cut after its meta pages (each checked by hand). A node whose directory was
 * restored from a bad copy would then crash in a loop with no word of why. No library reads
 * LMDB's header for us, so this reads the two fields that decide it, and the store refuses the
 * file with a PersistenceError naming what is wrong.
 *
 * The layout read (LMDB's mdb.master3, which lmdb-js builds; checked against files it wrote):
 * page 0 and page 1 are meta pages; in each, after a 24-byte page header, the MDB_meta: magic
 * 0xBEEFC0DE (u32), data version (u32), address (u64), map size (u64), then the free-list DB
 * record whose first u32 is the page size, … `mm_last_pg` (u64) at 0x90 and `mm_txnid` (u64) at
 * 0x98. Native byte order: little-endian on every platform lmdb-js ships for. LMDB opens with
 * the meta of the larger txnid, whose last page must lie within the file.
 */
import { closeSync, openSync, readSync, statSync } from "node:fs";
import { join } from "node:path";
import { PersistenceError } from "../errors.ts";

/** A data.mdb that is not whole LMDB: restarting will not mend it (a launcher exits 2, not 1). */
export class DataFileUnreadable extends PersistenceError {}

const MAGIC = 0xbeefc0de;
/** MDB_DATA_VERSION of the LMDB lmdb-js builds (a data file it writes says 2). */
const DATA_VERSION = 2;
const META = { magic: 0x18, version: 0x1c, pageSize: 0x30, lastPage: 0x90, txnid: 0x98, end: 0xa0 } as const;

interface Meta { readonly pageSize: number; readonly lastPage: bigint; readonly txnid: bigint }

/**
 * Throws DataFileUnreadable (a PersistenceError) when `dir`/data.mdb exists and is not an LMDB file lmdb-js can open
 * whole; a missing or empty file is a new environment and passes.
 * @example
 * checkLmdbDataFile(".data/node-a"); // throws: ".data/node-a/data.mdb is cut short: …"
 */
export function checkLmdbDataFile(dir: string): void {
  const file = join(dir, "data.mdb");
  let size: number;
  try {
    size = statSync(file).size;
  } catch {
    return; // none yet: LMDB creates it
  }
  if (size === 0) return;
  const refuse = (why: string) => new DataFileUnreadable(dir, `${file} ${why}; restore the directory from a backup, or move it away to start empty`);
  const first = readAt(file, 0, META.end);
  if (first.length < META.end) throw refuse(`is ${size} bytes, shorter than an LMDB header: not an LMDB file, or cut short`);
  // LMDB 0.9's layout (a 16-byte page header, data version 1), which lmdb-js reads with its
  // own older build: left to lmdb-js, as this file only knows the layout of the LMDB it writes.
  if (first.readUInt32LE(META.magic - 8) === MAGIC && first.readUInt32LE(META.version - 8) === 1) return;
  const meta0 = metaOf(first);
  if (typeof meta0 === "string") throw refuse(meta0);
  // The second meta page: LMDB takes the newer of the two (a torn one, being written, is skipped as LMDB skips it).
  const meta1 = metaOf(readAt(file, meta0.pageSize, META.end));
  const newest = typeof meta1 === "string" || meta1.txnid <= meta0.txnid ? meta0 : meta1;
  const needed = (newest.lastPage + 1n) * BigInt(newest.pageSize);
  if (BigInt(size) < needed) throw refuse(`is cut short: ${size} bytes, where its last page (${newest.lastPage}) ends at byte ${needed}`);
}

/** The meta page at the start of `bytes`, or why it is not one. */
function metaOf(bytes: Buffer): Meta | string {
  if (bytes.length < META.end) return "has no second meta page: cut short";
  const magic = bytes.readUInt32LE(META.magic);
  if (magic !== MAGIC) return `is not an LMDB file (its meta page has magic 0x${magic.toString(16).padStart(8, "0")}, not 0x${MAGIC.toString(16)})`;
  const version = bytes.readUInt32LE(META.version);
  if (version !== DATA_VERSION) return `is LMDB data version ${version}, which this lmdb-js (version ${DATA_VERSION}) does not read`;
  const pageSize = bytes.readUInt32LE(META.pageSize);
  if (pageSize < 512 || pageSize > 65_536 || (pageSize & (pageSize - 1)) !== 0) return `has a meta page with page size ${pageSize}, not a power of two from 512 to 65536`;
  return { pageSize, lastPage: bytes.readBigUInt64LE(META.lastPage), txnid: bytes.readBigUInt64LE(META.txnid) };
}

function readAt(file: string, offset: number, length: number): Buffer {
  const fd = openSync(file, "r");
  try {
    const buffer = Buffer.alloc(length);
    const read = readSync(fd, buffer, 0, length, offset);
    return buffer.subarray(0, read);
  } finally {
    closeSync(fd);
  }
}
