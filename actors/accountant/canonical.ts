/**
 * Canonical msgpack over JSON-like values. Hand-written (not msgpackr) because a hash needs a
 * byte-exact, deterministic encoding, which msgpackr does not promise: object keys sorted by
 * code unit, undefined rejected, integers in the smallest msgpack int form, other finite
 * numbers as float64 (0xcb), strings UTF-8.
 */
import { InvalidAuditEntry } from "./errors.ts";

export function canonicalMsgpack(value: unknown): Uint8Array {
  const out: number[] = [];
  enc(value, out, new Set(), "$");
  return Uint8Array.from(out);
}

function u(out: number[], n: number, bytes: number): void {
  for (let i = bytes - 1; i >= 0; i--) out.push(Math.floor(n / 2 ** (8 * i)) & 0xff);
}

function enc(v: unknown, out: number[], seen: Set<object>, path: string): void {
  if (v === null) { out.push(0xc0); return; }
  if (v === true) { out.push(0xc3); return; }
  if (v === false) { out.push(0xc2); return; }
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new InvalidAuditEntry(path, `${v} is not finite`);
    if (Number.isSafeInteger(v) && !Object.is(v, -0)) {
      if (v >= 0) {
        if (v < 128) out.push(v);
        else if (v < 0x100) { out.push(0xcc); u(out, v, 1); }
        else if (v < 0x10000) { out.push(0xcd); u(out, v, 2); }
        else if (v < 0x100000000) { out.push(0xce); u(out, v, 4); }
        else { out.push(0xcf); const b = new DataView(new ArrayBuffer(8)); b.setBigUint64(0, BigInt(v)); out.push(...new Uint8Array(b.buffer)); }
      } else {
        if (v >= -32) out.push(v & 0xff);
        else if (v >= -128) { out.push(0xd0, v & 0xff); }
        else if (v >= -32768) { out.push(0xd1); u(out, v & 0xffff, 2); }
        else if (v >= -2147483648) { out.push(0xd2); u(out, v >>> 0, 4); }
        else { out.push(0xd3); const b = new DataView(new ArrayBuffer(8)); b.setBigInt64(0, BigInt(v)); out.push(...new Uint8Array(b.buffer)); }
      }
      return;
    }
    const b = new DataView(new ArrayBuffer(8)); b.setFloat64(0, v);
    out.push(0xcb, ...new Uint8Array(b.buffer)); return;
  }
  if (typeof v === "string") {
    const s = new TextEncoder().encode(v); const n = s.length;
    if (n < 32) out.push(0xa0 | n);
    else if (n < 0x100) out.push(0xd9, n);
    else if (n < 0x10000) { out.push(0xda); u(out, n, 2); }
    else { out.push(0xdb); u(out, n, 4); }
    for (const x of s) out.push(x);
    return;
  }
  if (typeof v === "object") {
    if (seen.has(v)) throw new InvalidAuditEntry(path, "cycle");
    seen.add(v);
    if (Array.isArray(v)) {
      const n = v.length;
      if (n < 16) out.push(0x90 | n); else if (n < 0x10000) { out.push(0xdc); u(out, n, 2); } else { out.push(0xdd); u(out, n, 4); }
      v.forEach((x, i) => enc(x, out, seen, `${path}[${i}]`));
    } else {
      const proto = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) throw new InvalidAuditEntry(path, "not a plain object");
      const keys = Object.keys(v).sort();
      const n = keys.length;
      if (n < 16) out.push(0x80 | n); else if (n < 0x10000) { out.push(0xde); u(out, n, 2); } else { out.push(0xdf); u(out, n, 4); }
      for (const k of keys) { enc(k, out, seen, path); enc((v as Record<string, unknown>)[k], out, seen, `${path}.${k}`); }
    }
    seen.delete(v);
    return;
  }
  throw new InvalidAuditEntry(path, `${typeof v} cannot be encoded`);
}
