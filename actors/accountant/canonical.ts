/**
 * Canonical msgpack over JSON-like values. Hand-written (not msgpackr) because a hash needs a
 * byte-exact, deterministic encoding, which msgpackr does not promise: object keys sorted by
 * code unit, undefined rejected, integers in the smallest msgpack int form, other finite
 * numbers as float64 (0xcb), strings UTF-8.
 */
import { InvalidAuditEntry } from "./errors.ts";

export function canonicalMsgpack(value: unknown): Uint8Array {
  const w = new Writer();
  const at: (string | number)[] = [];
  enc(value, w, at);
  return w.bytes();
}

/** A growable byte buffer: audit entries are hashed on the hot path, so no number[] and no per-string encoder. */
class Writer {
  #buf = Buffer.allocUnsafe(512);
  #len = 0;
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
  /** Big-endian unsigned integer of `bytes` bytes (≤ 4). */
  uint(n: number, bytes: number): void {
    this.#room(bytes);
    this.#buf.writeUIntBE(n, this.#len, bytes);
    this.#len += bytes;
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
    if (v.length < 32 && this.#ascii(v)) return;
    const n = Buffer.byteLength(v, "utf8");
    if (n < 32) this.byte(0xa0 | n);
    else if (n < 0x100) { this.byte(0xd9); this.byte(n); }
    else if (n < 0x10000) { this.byte(0xda); this.uint(n, 2); }
    else { this.byte(0xdb); this.uint(n, 4); }
    this.#room(n);
    this.#len += this.#buf.write(v, this.#len, n, "utf8");
  }
  /** Short ASCII strings (ids, kinds, keys: nearly all of an audit entry), byte by byte; false if not ASCII. */
  #ascii(v: string): boolean {
    const n = v.length;
    this.#room(n + 1);
    const buf = this.#buf;
    let at = this.#len + 1;
    for (let i = 0; i < n; i++) {
      const c = v.charCodeAt(i);
      if (c >= 0x80) return false;
      buf[at++] = c;
    }
    buf[this.#len] = 0xa0 | n;
    this.#len = at;
    return true;
  }
  bytes(): Uint8Array {
    return new Uint8Array(this.#buf.buffer, this.#buf.byteOffset, this.#len);
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
        else { w.byte(0xcf); w.bigUint64(BigInt(v)); }
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
      const keys = Object.keys(v).sort();
      const n = keys.length;
      if (n < 16) w.byte(0x80 | n); else if (n < 0x10000) { w.byte(0xde); w.uint(n, 2); } else { w.byte(0xdf); w.uint(n, 4); }
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
