/**
 * One secure sum end to end: every hospital encrypts its clipped update (in a piscina pool, or in
 * this thread), the Aggregator adds the ciphertexts holding the public bundle only, and the
 * decryptors (t or more hospitals, each with its own key share) send decryption shares that
 * combine into the sum. Never gives the Aggregator a key share; never decrypts with fewer than t.
 *
 * In a federation the three parts run in different processes: this function is the whole flow in
 * one place, for tests, the benchmark and a single-process demo.
 */
import { loadPublicSeal } from "../../native-bindings/seal.ts";
import { CkksAggregator } from "./aggregator.ts";
import { encryptUpdate } from "./encrypt.ts";
import type { CkksEncryptionPool } from "./encrypt-pool.ts";
import type { KeyShare, PublicBundle } from "./keys.ts";
import { combineShares, decryptionShare } from "./threshold.ts";

export interface SecureSumInput {
  readonly bundle: PublicBundle;
  /** One clipped update per hospital, all of one length. */
  readonly updates: readonly (Float32Array | Float64Array)[];
  /** The key shares of the hospitals that decrypt (at least t; their indices form the decryptor set). */
  readonly decryptorShares: readonly KeyShare[];
  /** Encrypt in this pool; without one, in this thread. */
  readonly pool?: CkksEncryptionPool;
}

/**
 * Σ updates, as float64, within CkksGuarantees.absoluteError of the exact sum per coordinate.
 * @example
 * const { bundle, shares } = await dealThresholdKeys({ parties: 3, threshold: 2 });
 * const sum = await secureSum({ bundle, updates: [a, b, c], decryptorShares: [shares[0], shares[2]] });
 */
export async function secureSum(input: SecureSumInput): Promise<Float64Array> {
  const { bundle, updates, decryptorShares, pool } = input;
  const encrypted = await Promise.all(updates.map((u) => (pool ? pool.encrypt(bundle, u) : encryptUpdate(bundle, u))));
  const aggregator = CkksAggregator.open(await loadPublicSeal(), bundle);
  const aggregate = (() => {
    try {
      return aggregator.add(encrypted);
    } finally {
      aggregator.close();
    }
  })();
  const decryptors = decryptorShares.map((s) => s.index);
  const shares = [];
  for (const keyShare of decryptorShares) shares.push(await decryptionShare(bundle, keyShare, decryptors, aggregate));
  return combineShares(bundle, aggregate, shares);
}
