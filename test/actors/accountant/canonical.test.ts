import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { canonicalMsgpack, decodeCanonical, encodedKey, sealEntry, sha256OfSortedMap } from "../../../actors/accountant/canonical.ts";
import { InvalidAuditEntry } from "../../../actors/accountant/errors.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

test("known byte vectors", () => {
  assert.equal(hex(canonicalMsgpack({ a: 1, b: [true, null, "x"] })), "82a16101a16293c3c0a178");
  assert.equal(hex(canonicalMsgpack(0)), "00");
  assert.equal(hex(canonicalMsgpack(127)), "7f");
  assert.equal(hex(canonicalMsgpack(128)), "cc80");
  assert.equal(hex(canonicalMsgpack(256)), "cd0100");
  assert.equal(hex(canonicalMsgpack(65536)), "ce00010000");
  assert.equal(hex(canonicalMsgpack(2 ** 32)), "cf0000000100000000");
  assert.equal(hex(canonicalMsgpack(-1)), "ff");
  assert.equal(hex(canonicalMsgpack(-32)), "e0");
  assert.equal(hex(canonicalMsgpack(-33)), "d0df");
  assert.equal(hex(canonicalMsgpack(-129)), "d1ff7f");
  assert.equal(hex(canonicalMsgpack(-40000)), "d2ffff63c0");
  assert.equal(hex(canonicalMsgpack(1.5)), "cb3ff8000000000000");
  assert.equal(hex(canonicalMsgpack(-0)), "cb8000000000000000");
  assert.equal(hex(canonicalMsgpack(false)), "c2");
  assert.equal(hex(canonicalMsgpack("é")), "a2c3a9");
  assert.equal(hex(canonicalMsgpack("x".repeat(32))), "d920" + "78".repeat(32));
  assert.equal(hex(canonicalMsgpack([])), "90");
  assert.equal(hex(canonicalMsgpack({})), "80");
});

test("deterministic regardless of key insertion order", () => {
  assert.deepEqual(canonicalMsgpack({ b: 2, a: { y: 1, x: 2 } }), canonicalMsgpack({ a: { x: 2, y: 1 }, b: 2 }));
});

test("rejects undefined, functions, NaN, Infinity, cycles, non-plain objects", () => {
  const cyc: Record<string, unknown> = {};
  cyc.self = cyc;
  for (const v of [undefined, () => 1, NaN, Infinity, -Infinity, { a: undefined }, [NaN], cyc, new Date(0), 1n, Symbol("s")]) {
    assert.throws(() => canonicalMsgpack(v), InvalidAuditEntry);
  }
  const shared = { a: 1 };
  assert.doesNotThrow(() => canonicalMsgpack([shared, shared])); // a DAG is not a cycle
});

function shuffle(v: unknown, rnd: () => number): unknown {
  if (Array.isArray(v)) return v.map((x) => shuffle(x, rnd));
  if (typeof v === "object" && v !== null) {
    const ks = Object.keys(v);
    for (let i = ks.length - 1; i > 0; i--) { const j = Math.floor(rnd() * (i + 1)); [ks[i], ks[j]] = [ks[j]!, ks[i]!]; }
    const o: Record<string, unknown> = {};
    for (const k of ks) o[k] = shuffle((v as Record<string, unknown>)[k], rnd);
    return o;
  }
  return v;
}

test("property: canonical(x) == canonical(shuffled structuredClone(x))", () => {
  const json = fc.jsonValue({ maxDepth: 4 }).filter((v) => !JSON.stringify(v).includes("__proto__"));
  fc.assert(fc.property(json, fc.integer(), (x, seed) => {
    let s = seed >>> 0;
    const rnd = () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
    assert.deepEqual(canonicalMsgpack(shuffle(structuredClone(x), rnd)), canonicalMsgpack(x));
  }), { numRuns: 300 });
});

const jsonLike = fc.jsonValue({ maxDepth: 4 }).filter((v) => !JSON.stringify(v).includes("__proto__"));

test("property: decodeCanonical reads back what canonicalMsgpack wrote, and encoding it again gives the same bytes", () => {
  fc.assert(fc.property(jsonLike, (x) => {
    const bytes = canonicalMsgpack(x);
    const back = decodeCanonical(bytes);
    assert.deepEqual(back, x);
    assert.deepEqual(canonicalMsgpack(back), bytes);
  }), { numRuns: 300 });
  for (const n of [2 ** 32, 2 ** 53 - 1, -(2 ** 31) - 1, -(2 ** 53) + 1, 1.5, -0, 1e-300]) assert.ok(Object.is(decodeCanonical(canonicalMsgpack(n)), n), `${n}`);
});

test("decodeCanonical refuses what the canonical encoder never writes, truncated values and trailing bytes", () => {
  const bad = [
    [0xc4, 0x01, 0x00], // bin
    [0xd4, 0x01, 0x00], // fixext
    [0xca, 0, 0, 0, 0], // float32
    [0x82, 0xa1, 0x61, 0x01], // a map cut short
    [0x81, 0x01, 0x02], // a key that is not a string
    [0x82, 0xa1, 0x61, 0x01, 0xa1, 0x61, 0x02], // a repeated key
    [0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // beyond safe integers
    [0xdd, 0xff, 0xff, 0xff, 0xff], // an array longer than the bytes
    [0x01, 0x02], // bytes left over
    [],
  ];
  for (const bytes of bad) assert.throws(() => decodeCanonical(Uint8Array.from(bytes)), InvalidAuditEntry, Buffer.from(bytes).toString("hex"));
});

test("property: sealEntry's bytes are the canonical map with the hash added, and its hash is sha256OfSortedMap's", () => {
  const names = fc.uniqueArray(fc.string({ minLength: 1, maxLength: 8 }).filter((k) => k !== "hash" && k !== "__proto__"), { maxLength: 20 });
  fc.assert(fc.property(names, fc.array(jsonLike, { minLength: 20, maxLength: 20 }), fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString("hex")), (unsorted, values, prev) => {
    const keys = [...unsorted].sort().map(encodedKey);
    const body: Record<string, unknown> = {};
    keys.forEach((k, i) => (body[k.name] = values[i]));
    const sealed = sealEntry(prev, keys, values, keys.length, encodedKey("hash"));
    assert.equal(sealed.hash, sha256OfSortedMap(prev, keys, values, keys.length));
    assert.deepEqual(Buffer.from(sealed.bytes), Buffer.from(canonicalMsgpack({ ...body, hash: sealed.hash })));
  }), { numRuns: 200 });
});
