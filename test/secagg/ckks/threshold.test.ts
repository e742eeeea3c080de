import { before, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { CkksAggregator, DEFAULT_CKKS_PARAMETERS, InvalidShare, NotEnoughShares, checkParameters, combineShares, dealThresholdKeys, decodeKeyShare, decryptionShare, encodeKeyShare, encryptUpdate, type Deal, type EncryptedUpdate } from "../../../secagg/ckks/index.ts";
import { sumShares } from "../../../secagg/ckks/threshold.ts";
import { shamirShare } from "../../../secagg/ckks/dealer.ts";
import { lagrangeAtZero } from "../../../secagg/ckks/modular.ts";
import { loadPublicSeal } from "../../../native-bindings/seal.ts";

const N_PARTIES = 5;
const T = 3;
const LENGTH = 1_000;
let deal: Deal;
let aggregate: EncryptedUpdate;
let expected: Float64Array;
const precision = () => checkParameters(deal.bundle.parameters).absoluteError;

function maxAbsError(a: Float64Array, b: Float64Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

before(async () => {
  deal = await dealThresholdKeys({ parties: N_PARTIES, threshold: T });
  const updates = [0.25, -0.5, 0.75].map((v, h) => Float32Array.from({ length: LENGTH }, (_, i) => v * Math.cos(i + h)));
  expected = new Float64Array(LENGTH);
  for (const u of updates) for (let i = 0; i < LENGTH; i++) expected[i]! += u[i]!;
  const encrypted = await Promise.all(updates.map((u) => encryptUpdate(deal.bundle, u)));
  const aggregator = CkksAggregator.open(await loadPublicSeal(), deal.bundle);
  aggregate = aggregator.add(encrypted);
  aggregator.close();
});

async function decryptWith(set: readonly number[]): Promise<Float64Array> {
  const shares = [];
  for (const i of set) shares.push(await decryptionShare(deal.bundle, deal.shares[i - 1]!, set, aggregate));
  return combineShares(deal.bundle, aggregate, shares);
}

test("Shamir over each data prime: any t shares give the secret back with Lagrange coefficients at 0 (property)", () => {
  const q = (1n << 61n) - 1n; // a Mersenne prime, standing in for a data prime
  fc.assert(fc.property(fc.bigInt({ min: 0n, max: q - 1n }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 0, max: 3 }), (secret, t, extra) => {
    const parties = t + extra;
    const shares = shamirShare(BigUint64Array.of(secret), [q], 1, parties, t);
    const set = Array.from({ length: parties }, (_, i) => i + 1).slice(extra).slice(0, t);
    const recovered = set.reduce((acc, i) => (acc + lagrangeAtZero(i, set, q) * shares[i - 1]![0]!) % q, 0n);
    assert.equal(recovered, secret);
  }), { numRuns: 200, seed: 42 });
});

test("every t-of-n decryptor set decrypts the sum within the documented precision (all 10 sets of 3 of 5)", async () => {
  const sets: number[][] = [];
  for (let a = 1; a <= N_PARTIES; a++) for (let b = a + 1; b <= N_PARTIES; b++) for (let c = b + 1; c <= N_PARTIES; c++) sets.push([a, b, c]);
  assert.equal(sets.length, 10);
  for (const set of sets) {
    const error = maxAbsError(await decryptWith(set), expected);
    assert.ok(error <= precision(), `set [${set}] error ${error}`);
  }
});

test("a set of more than t decryptors (4 of 5) decrypts the sum too", async () => {
  assert.ok(maxAbsError(await decryptWith([1, 2, 4, 5]), expected) <= precision());
});

test("t − 1 shares are refused by count: no share is made for a set below the threshold, and combining a partial set is refused", async () => {
  await assert.rejects(decryptionShare(deal.bundle, deal.shares[0]!, [1, 2], aggregate), (e: unknown) => e instanceof NotEnoughShares && e.need === T && e.have === 2);
  const set = [1, 3, 5];
  const shares = [await decryptionShare(deal.bundle, deal.shares[0]!, set, aggregate), await decryptionShare(deal.bundle, deal.shares[2]!, set, aggregate)];
  await assert.rejects(combineShares(deal.bundle, aggregate, shares), (e: unknown) => e instanceof NotEnoughShares && e.have === 2 && e.code === "CKKS_NOT_ENOUGH_SHARES");
});

test("t − 1 shares, summed anyway, do not decrypt to the sum: every coordinate is off by far more than the precision", async () => {
  const set = [2, 3, 4];
  const shares = [];
  for (const i of set) shares.push(await decryptionShare(deal.bundle, deal.shares[i - 1]!, set, aggregate));
  const partial = await sumShares(deal.bundle, aggregate, shares.slice(0, T - 1));
  let close = 0;
  for (let i = 0; i < LENGTH; i++) if (Math.abs(partial[i]! - expected[i]!) <= 1) close++;
  // c1·s_missing is uniform mod q: each decoded coordinate is off by ~2^29 (q/Δ); being within 1 by chance has odds ~2^-28 per coordinate.
  assert.equal(close, 0, `${close} of ${LENGTH} coordinates came out near the sum`);
});

test("a share for another aggregate, a share given twice or one from outside the set is refused with InvalidShare", async () => {
  const set = [1, 2, 3];
  const shares = [];
  for (const i of set) shares.push(await decryptionShare(deal.bundle, deal.shares[i - 1]!, set, aggregate));
  await assert.rejects(combineShares(deal.bundle, aggregate, [shares[0]!, shares[0]!, shares[1]!]), InvalidShare);
  const other = { ...aggregate, length: LENGTH - 1 }; // another aggregate: its digest differs
  await assert.rejects(combineShares(deal.bundle, other, shares), (e: unknown) => e instanceof InvalidShare && e.field === "shares[0].aggregateDigest");
  await assert.rejects(decryptionShare(deal.bundle, deal.shares[4]!, set, aggregate), (e: unknown) => e instanceof InvalidShare && e.field === "decryptors");
});

test("a key share survives its byte form, which starts with the FRKS magic", () => {
  const bytes = encodeKeyShare(deal.shares[1]!);
  assert.deepEqual([...bytes.subarray(0, 4)], [0x46, 0x52, 0x4b, 0x53]);
  const back = decodeKeyShare(bytes);
  assert.equal(back.index, 2);
  assert.equal(back.keyId, deal.bundle.keyId);
  assert.deepEqual(back.residues, deal.shares[1]!.residues);
});

test("shares made two ciphertexts at a time decrypt every ciphertext of a 3-ciphertext aggregate (a pair, then one alone) on random inputs", async () => {
  const slots = checkParameters(deal.bundle.parameters).slots;
  // smudgingBits 0 as well: noise of ±1 leaves only the encoding error, so a misplaced polynomial could not hide in it.
  for (const parameters of [DEFAULT_CKKS_PARAMETERS, { ...DEFAULT_CKKS_PARAMETERS, smudgingBits: 0 }]) {
    const local = await dealThresholdKeys({ parties: 4, threshold: 3, parameters });
    const length = 2 * slots + 17;
    const updates = [1, 2].map(() => Float32Array.from({ length }, () => 2 * Math.random() - 1));
    const want = new Float64Array(length);
    for (const u of updates) for (let i = 0; i < length; i++) want[i]! += u[i]!;
    const encrypted = await Promise.all(updates.map((u) => encryptUpdate(local.bundle, u)));
    const aggregator = CkksAggregator.open(await loadPublicSeal(), local.bundle);
    const sum = aggregator.add(encrypted);
    aggregator.close();
    assert.equal(sum.ciphertexts.length, 3);
    const set = [1, 3, 4];
    const shares = [];
    for (const i of set) shares.push(await decryptionShare(local.bundle, local.shares[i - 1]!, set, sum));
    assert.ok(shares.every((s) => s.parts.length === 3));
    const bound = parameters.smudgingBits === 0 ? 1e-9 : checkParameters(parameters).absoluteError;
    const error = maxAbsError(await combineShares(local.bundle, sum, shares), want);
    assert.ok(error <= bound, `smudgingBits ${parameters.smudgingBits}: error ${error} > ${bound}`);
  }
});
