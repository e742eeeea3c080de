import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { CkksEncryptionPool, DEFAULT_CKKS_PARAMETERS, InvalidUpdate, checkParameters, dealThresholdKeys, secureSum, type Deal } from "../../../secagg/ckks/index.ts";

/** Test-only, NOT secure: a seeded generator (mulberry32) so that a failure can be replayed. */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function updates(count: number, length: number, clip: number, seed: number): Float32Array[] {
  const random = seeded(seed);
  return Array.from({ length: count }, () => Float32Array.from({ length }, () => (2 * random() - 1) * clip));
}

function exactSum(values: readonly Float32Array[]): Float64Array {
  const out = new Float64Array(values[0]!.length);
  for (const v of values) for (let i = 0; i < v.length; i++) out[i]! += v[i]!;
  return out;
}

function maxAbsError(a: Float64Array, b: Float64Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

const guarantees = checkParameters(DEFAULT_CKKS_PARAMETERS);
let deal: Deal;
let pool: CkksEncryptionPool;

before(async () => {
  deal = await dealThresholdKeys({ parties: 10, threshold: 6 });
  pool = new CkksEncryptionPool({ threads: 2, ciphertextsPerTask: 1 });
});
after(() => pool.close());

test("the documented guarantees of the default parameters: 4096 slots, 128-bit, precision better than 2^-16", () => {
  assert.equal(guarantees.slots, 4096);
  assert.equal(guarantees.securityBits, 128);
  assert.ok(guarantees.precisionBits >= 16, `precision ${guarantees.precisionBits} bits`);
  assert.ok(guarantees.maxSumMagnitude >= DEFAULT_CKKS_PARAMETERS.maxSummands * DEFAULT_CKKS_PARAMETERS.clip);
});

test("10 hospitals' updates of 3,000 values sum, through the Aggregator and 6-of-10 threshold decryption, within the documented precision", async () => {
  const values = updates(10, 3_000, DEFAULT_CKKS_PARAMETERS.clip, 1);
  const sum = await secureSum({ bundle: deal.bundle, updates: values, decryptorShares: deal.shares.slice(0, 6) });
  assert.equal(sum.length, 3_000);
  const error = maxAbsError(sum, exactSum(values));
  assert.ok(error <= guarantees.absoluteError, `max error ${error} > documented ${guarantees.absoluteError}`);
  assert.ok(error > 0, "the sum carries the smudging noise (an exact sum would mean no noise was added)");
});

test("an update longer than one ciphertext (2 full + 1 partial, 9,000 values) encrypted in the piscina pool sums within the documented precision", async () => {
  const values = updates(4, 2 * 4096 + 808, DEFAULT_CKKS_PARAMETERS.clip, 2);
  const sum = await secureSum({ bundle: deal.bundle, updates: values, decryptorShares: deal.shares.slice(3, 9), pool });
  assert.equal(sum.length, values[0]!.length);
  const error = maxAbsError(sum, exactSum(values));
  assert.ok(error <= guarantees.absoluteError, `max error ${error} > documented ${guarantees.absoluteError}`);
});

test("the pool and this thread encrypt to ciphertexts of the same shape, ceil(d / slots) of them", async () => {
  const [value] = updates(1, 4097, 1, 3);
  const pooled = await pool.encrypt(deal.bundle, value!);
  assert.equal(pooled.ciphertexts.length, 2);
  for (const ct of pooled.ciphertexts) assert.equal(ct.length, guarantees.ciphertextBytes);
});

test("an update above the clipping bound or not finite is refused with InvalidUpdate naming the coordinate", async () => {
  const big = new Float32Array(10);
  big[7] = 1.5;
  await assert.rejects(pool.encrypt(deal.bundle, big), (e: unknown) => e instanceof InvalidUpdate && e.field === "update[7]");
  const nan = new Float32Array(10);
  nan[3] = Number.NaN;
  await assert.rejects(pool.encrypt(deal.bundle, nan), (e: unknown) => e instanceof InvalidUpdate && e.code === "CKKS_INVALID_UPDATE" && /finite/.test(e.message));
});
