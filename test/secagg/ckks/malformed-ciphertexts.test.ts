import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { CiphertextMismatch, CkksAggregator, DEFAULT_CKKS_PARAMETERS, MalformedCiphertext, dealThresholdKeys, encryptUpdate, type Deal, type EncryptedUpdate } from "../../../secagg/ckks/index.ts";
import { readCiphertextLayout, writeCiphertext } from "../../../secagg/ckks/seal-format.ts";
import { FedrouterError } from "../../../errors/index.ts";
import { loadPublicSeal } from "../../../native-bindings/seal.ts";

let deal: Deal;
let other: Deal;
let update: EncryptedUpdate;
let aggregator: CkksAggregator;

before(async () => {
  deal = await dealThresholdKeys({ parties: 2, threshold: 1 });
  // Another parameter set (a different first prime size): a well-formed ciphertext, for the wrong context.
  other = await dealThresholdKeys({ parties: 2, threshold: 1, parameters: { ...DEFAULT_CKKS_PARAMETERS, coeffModulusBits: [59, 60, 40] } });
  update = await encryptUpdate(deal.bundle, Float32Array.from({ length: 64 }, (_, i) => Math.sin(i) / 2));
  aggregator = CkksAggregator.open(await loadPublicSeal(), deal.bundle);
});
after(() => aggregator.close());

const bytes = () => update.ciphertexts[0]!;
const refused = (candidate: Uint8Array) => {
  try {
    aggregator.check(candidate, "candidate");
    return null;
  } catch (error) {
    return error;
  }
};

test("our writer and SEAL's save agree byte for byte (the layout seal-format.ts reads is SEAL's)", () => {
  const layout = readCiphertextLayout(bytes(), "ct");
  const data = new BigUint64Array(layout.size * layout.coeffModulusSize * layout.polyModulusDegree);
  new Uint8Array(data.buffer).set(bytes().subarray(layout.dataOffset));
  const header = bytes();
  const rewritten = writeCiphertext({ ...layout, data }, header[3], header[4]);
  assert.deepEqual(rewritten, bytes());
});

test("truncated ciphertext bytes, at any length, are a MalformedCiphertext and the process goes on", () => {
  fc.assert(fc.property(fc.integer({ min: 0, max: bytes().length - 1 }), (cut) => {
    const error = refused(bytes().slice(0, cut));
    assert.ok(error instanceof MalformedCiphertext, `cut at ${cut}: ${String(error)}`);
  }), { numRuns: 200, seed: 7 });
});

test("any flipped byte is refused with a typed error or, if in the coefficients and still below the prime, accepted (a ciphertext of something else)", () => {
  fc.assert(fc.property(fc.integer({ min: 0, max: bytes().length - 1 }), fc.integer({ min: 1, max: 255 }), (at, xor) => {
    const mutated = bytes().slice();
    mutated[at]! ^= xor;
    const error = refused(mutated);
    const inCoefficients = at >= readCiphertextLayout(bytes(), "ct").dataOffset;
    if (error === null) assert.ok(inCoefficients, `a flip at ${at} (metadata) was accepted`);
    else assert.ok(error instanceof FedrouterError && ["CKKS_MALFORMED_CIPHERTEXT", "CKKS_PARAMETER_MISMATCH"].includes(error.code), `flip at ${at}: ${String(error)}`);
  }), { numRuns: 300, seed: 11 });
});

test("a coefficient at or above its prime is refused by SEAL's check, as a MalformedCiphertext", () => {
  const layout = readCiphertextLayout(bytes(), "ct");
  const mutated = bytes().slice();
  new DataView(mutated.buffer).setBigUint64(layout.dataOffset + 8 * 5, (1n << 64n) - 1n, true);
  const error = refused(mutated);
  assert.ok(error instanceof MalformedCiphertext && /SEAL refused/.test(error.message), String(error));
});

test("random bytes, empty bytes and a huge declared size are MalformedCiphertext, never a crash or an allocation", () => {
  fc.assert(fc.property(fc.uint8Array({ minLength: 0, maxLength: 4096 }), (random) => {
    assert.ok(refused(random) instanceof MalformedCiphertext);
  }), { numRuns: 200, seed: 3 });
  const huge = bytes().slice();
  new DataView(huge.buffer).setBigUint64(16 + 33, 1n << 40n, true); // size: 2^40 polynomials
  assert.ok(refused(huge) instanceof MalformedCiphertext);
});

test("a well-formed ciphertext of other parameters is a CiphertextMismatch naming both parms ids", async () => {
  const foreign = await encryptUpdate(other.bundle, new Float32Array(64)); // the same length as `update`: only the parameters differ
  const error = refused(foreign.ciphertexts[0]!);
  assert.ok(error instanceof CiphertextMismatch && error.expected === deal.bundle.parmsId && error.actual === other.bundle.parmsId, String(error));
  assert.throws(() => aggregator.add([update, { ...foreign, keyId: deal.bundle.keyId }]), CiphertextMismatch);
  assert.throws(() => aggregator.add([update, foreign]), (e: unknown) => e instanceof CiphertextMismatch && e.what === "updates[1]");
});

test("a compressed ciphertext is refused: fedrouter sends them uncompressed, so they can be checked before SEAL reads them", async () => {
  const { loadSeal } = await import("../../../native-bindings/seal.ts");
  const { seal } = await loadSeal();
  const { buildContext } = await import("../../../secagg/ckks/parameters.ts");
  const ct = seal.CipherText();
  ct.loadArray(buildContext(seal, deal.bundle.parameters), bytes());
  const error = refused(ct.saveArray(seal.ComprModeType.zstd));
  assert.ok(error instanceof MalformedCiphertext && /compressed/.test(error.message));
});
