import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { fastSmudgingApplies, toRns, uniformSigned, uniformSignedRns, type RandomFill } from "../../../secagg/ckks/modular.ts";

/** Test-only, NOT secure: the same seeded bytes whatever the view (mulberry32), so two samplers can be fed one stream. */
function seededFill(seed: number): RandomFill {
  let s = seed >>> 0;
  return (buffer) => {
    const bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    for (let i = 0; i < bytes.length; i++) {
      s = (s + 0x6d2b79f5) >>> 0;
      let t = Math.imul(s ^ (s >>> 15), s | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      bytes[i] = (t ^ (t >>> 14)) & 0xff;
    }
  };
}

// SEAL's default data primes at N = 8192, [60, 60, 40]; then a 50-bit and a 36-bit odd modulus (the reduction needs no primality).
const PRIMES_60 = [1152921504606830593n, 1152921504606748673n];
const SMALL_PRIMES = [1125899906826241n, 68719403009n];

test("the smudging noise without BigInts is exactly toRns(uniformSigned(…)) for the same random bytes (property, every width)", () => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 62 }), fc.integer(), fc.boolean(), fc.integer({ min: 1, max: 300 }), (bits, seed, small, count) => {
    const primes = small ? SMALL_PRIMES : PRIMES_60;
    const expected = toRns(uniformSigned(count, bits, seededFill(seed)), primes);
    const out = new Uint32Array(2 * count * primes.length);
    uniformSignedRns(count, bits, primes, out, seededFill(seed));
    assert.deepEqual(new BigUint64Array(out.buffer), expected, `bits ${bits}, fast path ${fastSmudgingApplies(bits, primes)}`);
  }), { numRuns: 300, seed: 5 });
});

test("the fast path is the one taken at the default parameters (62 bits over two 60-bit primes), and the extremes ±2^62 reduce exactly", () => {
  assert.ok(fastSmudgingApplies(62, PRIMES_60));
  assert.ok(!fastSmudgingApplies(62, SMALL_PRIMES.slice(1)), "2^62 / q ≥ 2^20: the BigInt path");
  // Every word 0xFFFF…: masked to 2^64 − 1, rejected; then words that are exactly 0 (−2^62) and 2^63 (+2^62).
  const words = [0xffffffff, 0xffffffff, 0, 0, 0, 0x80000000];
  let call = 0;
  const fill: RandomFill = (buffer) => {
    const u32 = new Uint32Array(buffer.buffer, buffer.byteOffset, buffer.byteLength / 4);
    u32.fill(0);
    if (call++ === 0) u32.set(words);
  };
  const out = new Uint32Array(2 * 2 * PRIMES_60.length);
  uniformSignedRns(2, 62, PRIMES_60, out, fill);
  const got = new BigUint64Array(out.buffer);
  PRIMES_60.forEach((q, j) => {
    assert.equal(got[j * 2], (q - ((1n << 62n) % q)) % q, "−2^62");
    assert.equal(got[j * 2 + 1], (1n << 62n) % q, "+2^62");
  });
});
