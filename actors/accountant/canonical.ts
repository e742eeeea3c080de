/**
 * Canonical msgpack over JSON-like values. Hand-written (not msgpackr) because a hash needs a
 * byte-exact, deterministic encoding, which msgpackr does not promise: object keys sorted by
 * code unit, undefined rejected, integers in the smallest msgpack int form, other finite
 * numbers as float64 (0xcb), strings UTF-8. The decoder reads back exactly this subset: the
 * Accountant stores each audit entry as these bytes (sealEntry), so that an entry is encoded
 * once, for its hash and for the disk.
 */
import { createHash, hash as oneShotHash, type Hash } from "node:crypto";
import { InvalidAuditEntry } from "./errors.ts";

export function canonicalMsgpack(value: unknown): Uint8Array {
  const w = new Writer();
  const at: (string | number)[] = [];
  enc(value, w, at);
  return w.bytes();
}

/** An empty SHA-256 to copy: `copy()` skips createHash's option parsing, same digest. */
const SHA256: Hash = createHash("sha256");
/**
 * SHA-256 hex of `data`: crypto.hash (Node ≥ 20.12) in one call, without a Hash object — a
 * third of copy().update().digest() on an entry's few hundred bytes; the copy on older Nodes.
 */
const sha256Hex: (data: Uint8Array) => string = typeof oneShotHash === "function"
  ? (data) => oneShotHash("sha256", data, "hex")
  : (data) => SHA256.copy().update(data).digest("hex");
/** One writer for every hash on this thread: its bytes are hashed before the next call reuses it. */
let shared: Writer | undefined;

/**
 * SHA-256 hex of (the bytes of `prefixHex`, as Buffer.from(prefixHex, "hex") decodes them) ‖
 * (canonical msgpack of the map `keys[i] → values[i]`, keys already sorted by code unit, no
 * value undefined): an audit entry's hash, in one buffer and one update, without building the
 * body object or sorting its keys again. Nested values are encoded by the generic encoder.
 */
export function sha256OfSortedMap(prefixHex: string, keys: readonly EncodedKey[], values: readonly unknown[], n: number): string {
  encodeSortedMap(prefixHex, keys, values, n, undefined);
  return sha256Hex(shared!.view());
}

/**
 * The hash as sha256OfSortedMap computes it, and the canonical msgpack of the same map with
 * `hashKey → hash` added in its sorted place: the entry as it is stored, from the bytes already
 * encoded for the hash (spliced, not encoded again). `hashKey` must not be among `keys`.
 */
export function sealEntry(prefixHex: string, keys: readonly EncodedKey[], values: readonly unknown[], n: number, hashKey: EncodedKey): { hash: string; bytes: Uint8Array } {
  const split = encodeSortedMap(prefixHex, keys, values, n, hashKey.name);
  const hashed = shared!.view();
  const hash = sha256Hex(hashed);
  const bodyStart = (prefixHex.length >>> 1) + mapHeaderBytes(n);
  const head = mapHeaderBytes(n + 1);
  const bytes = Buffer.allocUnsafe(head + (hashed.length - bodyStart) + hashKey.bytes.length + 2 + hash.length);
  let at = writeMapHeader(bytes, n + 1);
  at += hashed.copy(bytes, at, bodyStart, split);
  bytes.set(hashKey.bytes, at);
  at += hashKey.bytes.length;
  bytes[at++] = 0xd9; // str 8: a SHA-256 hex is 64 ASCII characters
  bytes[at++] = hash.length;
  at += bytes.write(hash, at, "latin1");
  hashed.copy(bytes, at, split);
  return { hash, bytes };
}

/**
 * Encodes prefix ‖ map into the shared writer; returns the offset where a key `splitBefore` would
 * sort among `keys` (the end when it sorts last; -1 without one).
 */
function encodeSortedMap(prefixHex: string, keys: readonly EncodedKey[], values: readonly unknown[], n: number, splitBefore: string | undefined): number {
  const w = (shared ??= new Writer());
  w.reset();
  w.hex(prefixHex);
  w.mapHeader(n);
  const at: (string | number)[] = [];
  let split = -1;
  for (let i = 0; i < n; i++) {
    const k = keys[i]!;
    if (split < 0 && splitBefore !== undefined && k.name > splitBefore) split = w.length;
    w.raw(k.bytes);
    at.push(k.name);
    enc(values[i], w, at);
    at.pop();
  }
  return split < 0 && splitBefore !== undefined ? w.length : split;
}

const mapHeaderBytes = (n: number): number => (n < 16 ? 1 : n < 0x10000 ? 3 : 5);
function writeMapHeader(buf: Buffer, n: number): number {
  if (n < 16) { buf[0] = 0x80 | n; return 1; }
  if (n < 0x10000) { buf[0] = 0xde; buf.writeUInt16BE(n, 1); return 3; }
  buf[0] = 0xdf;
  buf.writeUInt32BE(n, 1);
  return 5;
}

/** A map key with its msgpack string bytes, encoded once. */
export interface EncodedKey { readonly name: string; readonly bytes: Uint8Array }

export function encodedKey(name: string): EncodedKey {
  const w = new Writer();
  w.string(name);
  return { name, bytes: Uint8Array.from(w.bytes()) };
}

/** A growable byte buffer: audit entries are hashed on the hot path, so no number[] and no per-string encoder. */
class Writer {
  #buf = Buffer.allocUnsafe(512);
  #len = 0;
  reset(): void {
    this.#len = 0;
  }
  get length(): number {
    return this.#len;
  }
  #room(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#len + n));
    this.#buf.copy(next, 0, 0, this.#len);
    this.#buf = next;
  }
  byte(b: number): void {
    this.#room(1);
    this.#buf[this.#len++] = b;
  }
  /** Big-endian unsigned integer of `bytes` bytes (≤ 4), byte by byte (writeUIntBE's checks cost more than the write). */
  uint(n: number, bytes: number): void {
    this.#room(bytes);
    const buf = this.#buf;
    let at = this.#len + bytes;
    this.#len = at;
    for (let i = 0; i < bytes; i++) {
      buf[--at] = n & 0xff;
      n = Math.floor(n / 256);
    }
  }
  bigUint64(n: bigint): void {
    this.#room(8);
    this.#buf.writeBigUInt64BE(n, this.#len);
    this.#len += 8;
  }
  bigInt64(n: bigint): void {
    this.#room(8);
    this.#buf.writeBigInt64BE(n, this.#len);
    this.#len += 8;
  }
  float64(v: number): void {
    this.#room(8);
    this.#buf.writeDoubleBE(v, this.#len);
    this.#len += 8;
  }
  /** A string's msgpack header and UTF-8 bytes. */
  string(v: string): void {
    if (v.length < 0x100 && this.#ascii(v)) return;
    const n = Buffer.byteLength(v, "utf8");
    if (n < 32) this.byte(0xa0 | n);
    else if (n < 0x100) { this.byte(0xd9); this.byte(n); }
    else if (n < 0x10000) { this.byte(0xda); this.uint(n, 2); }
    else { this.byte(0xdb); this.uint(n, 4); }
    this.#room(n);
    this.#len += this.#buf.write(v, this.#len, n, "utf8");
  }
  /**
   * ASCII strings under 256 characters (ids, kinds, keys, hashes: nearly all of an audit entry),
   * byte by byte: one byte per character, so the header is the one the UTF-8 path would write
   * (0xa0|n, or 0xd9 n). False, with nothing written, if not ASCII.
   */
  #ascii(v: string): boolean {
    const n = v.length;
    const head = n < 32 ? 1 : 2;
    this.#room(n + head);
    const buf = this.#buf;
    let at = this.#len + head;
    for (let i = 0; i < n; i++) {
      const c = v.charCodeAt(i);
      if (c >= 0x80) return false;
      buf[at++] = c;
    }
    if (head === 1) buf[this.#len] = 0xa0 | n;
    else { buf[this.#len] = 0xd9; buf[this.#len + 1] = n; }
    this.#len = at;
    return true;
  }
  /** The bytes of a hex string, as Buffer.from(hex, "hex") decodes them (up to the first non-hex pair). */
  hex(v: string): void {
    this.#room(v.length >>> 1);
    this.#len += this.#buf.write(v, this.#len, "hex");
  }
  raw(bytes: Uint8Array): void {
    const n = bytes.length;
    this.#room(n);
    const buf = this.#buf;
    let at = this.#len;
    for (let i = 0; i < n; i++) buf[at++] = bytes[i]!; // a few bytes: a loop beats set()'s call
    this.#len = at;
  }
  mapHeader(n: number): void {
    if (n < 16) this.byte(0x80 | n); else if (n < 0x10000) { this.byte(0xde); this.uint(n, 2); } else { this.byte(0xdf); this.uint(n, 4); }
  }
  bytes(): Uint8Array {
    return new Uint8Array(this.#buf.buffer, this.#buf.byteOffset, this.#len);
  }
  /** The bytes written so far, as a view valid until the next write. */
  view(): Buffer {
    return this.#buf.subarray(0, this.#len);
  }
}

/** Where a value sits, e.g. `$.event.sigma`: built only for an error. */
const pathOf = (at: readonly (string | number)[]): string => "$" + at.map((k) => (typeof k === "number" ? `[${k}]` : `.${k}`)).join("");

/** Deeper than this is a cycle or an abuse: audit values are a few levels deep. */
const MAX_DEPTH = 64;

function enc(v: unknown, w: Writer, at: (string | number)[]): void {
  if (v === null) { w.byte(0xc0); return; }
  if (v === true) { w.byte(0xc3); return; }
  if (v === false) { w.byte(0xc2); return; }
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new InvalidAuditEntry(pathOf(at), `${v} is not finite`);
    if (Number.isSafeInteger(v) && !Object.is(v, -0)) {
      if (v >= 0) {
        if (v < 128) w.byte(v);
        else if (v < 0x100) { w.byte(0xcc); w.uint(v, 1); }
        else if (v < 0x10000) { w.byte(0xcd); w.uint(v, 2); }
        else if (v < 0x100000000) { w.byte(0xce); w.uint(v, 4); }
        else { w.byte(0xcf); w.uint(Math.floor(v / 0x100000000), 4); w.uint(v % 0x100000000, 4); } // = bigUint64(BigInt(v)), without the BigInt
      } else {
        if (v >= -32) w.byte(v & 0xff);
        else if (v >= -128) { w.byte(0xd0); w.byte(v & 0xff); }
        else if (v >= -32768) { w.byte(0xd1); w.uint(v & 0xffff, 2); }
        else if (v >= -2147483648) { w.byte(0xd2); w.uint(v >>> 0, 4); }
        else { w.byte(0xd3); w.bigInt64(BigInt(v)); }
      }
      return;
    }
    w.byte(0xcb);
    w.float64(v);
    return;
  }
  if (typeof v === "string") { w.string(v); return; }
  if (typeof v === "object") {
    if (at.length >= MAX_DEPTH) throw new InvalidAuditEntry(pathOf(at.slice(0, 8)), `nested deeper than ${MAX_DEPTH} levels (a cycle?)`);
    if (Array.isArray(v)) {
      const n = v.length;
      if (n < 16) w.byte(0x90 | n); else if (n < 0x10000) { w.byte(0xdc); w.uint(n, 2); } else { w.byte(0xdd); w.uint(n, 4); }
      for (let i = 0; i < n; i++) {
        at.push(i);
        enc(v[i], w, at);
        at.pop();
      }
    } else {
      const proto = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) throw new InvalidAuditEntry(pathOf(at), "not a plain object");
      const keys = sortKeys(Object.keys(v));
      const n = keys.length;
      w.mapHeader(n);
      for (const k of keys) {
        w.string(k);
        at.push(k);
        enc((v as Record<string, unknown>)[k], w, at);
        at.pop();
      }
    }
    return;
  }
  throw new InvalidAuditEntry(pathOf(at), `${typeof v} cannot be encoded`);
}

/**
 * `keys.sort()`: the same order (strings by UTF-16 code unit, which `<` compares), by insertion
 * for the few keys of an audit value ({ epsilon, delta }, an event), where sort()'s set-up costs
 * more than the sorting.
 */
function sortKeys(keys: string[]): string[] {
  const n = keys.length;
  if (n > 12) return keys.sort();
  for (let i = 1; i < n; i++) {
    const k = keys[i]!;
    let j = i - 1;
    while (j >= 0 && keys[j]! > k) {
      keys[j + 1] = keys[j]!;
      j--;
    }
    keys[j + 1] = k;
  }
  return keys;
}

/** Deeper than this in stored bytes is not an audit entry. */
const MAX_DECODE_DEPTH = 64;

/**
 * The value of canonical msgpack bytes (what canonicalMsgpack or sealEntry wrote): maps as
 * plain objects, arrays, integers, float64, strings, nil and booleans. Anything else — another
 * msgpack type, a truncated value, bytes left over — throws InvalidAuditEntry: the caller reads
 * it as a malformed record, never as an entry. By hand rather than msgpackr's unpack, which
 * would take any msgpack type, keep the last of a repeated key and read a 64-bit integer (every
 * atMs) as a BigInt, all without a word.
 * @example
 * decodeCanonical(canonicalMsgpack({ b: 1, a: [2.5, "x"] })); // { a: [2.5, "x"], b: 1 }
 */
export function decodeCanonical(bytes: Uint8Array): unknown {
  const r = { buf: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), at: 0 };
  const value = dec(r, 0);
  if (r.at !== r.buf.length) throw new InvalidAuditEntry("$", `${r.buf.length - r.at} bytes after the value`);
  return value;
}

interface Reader { readonly buf: Buffer; at: number }

function need(r: Reader, n: number): number {
  const at = r.at;
  if (at + n > r.buf.length) throw new InvalidAuditEntry("$", "truncated canonical msgpack");
  r.at = at + n;
  return at;
}

function dec(r: Reader, depth: number): unknown {
  if (depth > MAX_DECODE_DEPTH) throw new InvalidAuditEntry("$", `nested deeper than ${MAX_DECODE_DEPTH} levels`);
  const b = r.buf[need(r, 1)]!;
  if (b < 0x80) return b;
  if (b >= 0xe0) return b - 0x100;
  if ((b & 0xf0) === 0x80) return decMap(r, b & 0x0f, depth);
  if ((b & 0xf0) === 0x90) return decArray(r, b & 0x0f, depth);
  if ((b & 0xe0) === 0xa0) return decString(r, b & 0x1f);
  const buf = r.buf;
  switch (b) {
    case 0xc0: return null;
    case 0xc2: return false;
    case 0xc3: return true;
    case 0xcb: return buf.readDoubleBE(need(r, 8));
    case 0xcc: return buf[need(r, 1)]!;
    case 0xcd: return buf.readUInt16BE(need(r, 2));
    case 0xce: return buf.readUInt32BE(need(r, 4));
    case 0xcf: return safe(buf.readBigUInt64BE(need(r, 8)));
    case 0xd0: return buf.readInt8(need(r, 1));
    case 0xd1: return buf.readInt16BE(need(r, 2));
    case 0xd2: return buf.readInt32BE(need(r, 4));
    case 0xd3: return safe(buf.readBigInt64BE(need(r, 8)));
    case 0xd9: return decString(r, buf[need(r, 1)]!);
    case 0xda: return decString(r, buf.readUInt16BE(need(r, 2)));
    case 0xdb: return decString(r, buf.readUInt32BE(need(r, 4)));
    case 0xdc: return decArray(r, buf.readUInt16BE(need(r, 2)), depth);
    case 0xdd: return decArray(r, buf.readUInt32BE(need(r, 4)), depth);
    case 0xde: return decMap(r, buf.readUInt16BE(need(r, 2)), depth);
    case 0xdf: return decMap(r, buf.readUInt32BE(need(r, 4)), depth);
    default: throw new InvalidAuditEntry("$", `msgpack type 0x${b.toString(16)} is not in the canonical subset`);
  }
}

function safe(v: bigint): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new InvalidAuditEntry("$", `${v} is not a safe integer`);
  return n;
}

function decString(r: Reader, n: number): string {
  const at = need(r, n);
  return r.buf.toString("utf8", at, at + n);
}

function decArray(r: Reader, n: number, depth: number): unknown[] {
  if (n > r.buf.length - r.at) throw new InvalidAuditEntry("$", "truncated canonical msgpack");
  const out: unknown[] = [];
  for (let i = 0; i < n; i++) out.push(dec(r, depth + 1));
  return out;
}

function decMap(r: Reader, n: number, depth: number): Record<string, unknown> {
  if (n > r.buf.length - r.at) throw new InvalidAuditEntry("$", "truncated canonical msgpack");
  const out: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) {
    const key = dec(r, depth + 1);
    if (typeof key !== "string") throw new InvalidAuditEntry("$", "a map key that is not a string");
    if (key === "__proto__" || Object.hasOwn(out, key)) throw new InvalidAuditEntry("$", `map key ${JSON.stringify(key.slice(0, 40))} repeated or reserved`);
    out[key] = dec(r, depth + 1);
  }
  return out;
}
