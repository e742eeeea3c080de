/**
 * The key ceremony (trusted dealer): generates a CKKS key pair, Shamir-shares the secret key t of
 * n coefficient-wise over each data prime, hands out the public bundle and the shares, and
 * deletes the secret key. Never returns, stores or logs the secret key itself.
 *
 * Why this is sound: SEAL keeps s in NTT form, limb j = NTT_j(s) mod q_j. The NTT is linear, so
 * sharing each of the K·N residues with an independent degree-(t−1) polynomial over Z_{q_j}
 * shares s itself: Σ λ_i s_i = s for any t indices (Lagrange at 0), limb by limb. Fewer than t
 * shares are uniformly distributed whatever s is (Shamir 1979).
 *
 * Limits, said plainly: the dealer sees s while it deals (a distributed key generation would
 * avoid that; not built); "deletes" means the wasm object is freed and every JS copy overwritten
 * with zeros, which cannot vouch for copies the engine may have made.
 */
import { loadSeal } from "../../native-bindings/seal.ts";
import { InvalidCkksParameters } from "./errors.ts";
import { keyIdOf, type KeyShare, type PublicBundle } from "./keys.ts";
import { uniformResidues } from "./modular.ts";
import { DEFAULT_CKKS_PARAMETERS, buildContext, dataPrimes, parmsIdHex, type CkksParameters } from "./parameters.ts";
import { plaintextData, readPlaintextLayout } from "./seal-format.ts";

export interface DealOptions {
  readonly parameters?: CkksParameters;
  /** n: hospitals that get a key share (indices 1..n). */
  readonly parties: number;
  /** t: shares needed to decrypt, 1 ≤ t ≤ n. */
  readonly threshold: number;
}

export interface Deal {
  readonly bundle: PublicBundle;
  /** shares[i − 1] belongs to hospital index i. */
  readonly shares: readonly KeyShare[];
}

/**
 * @example
 * const { bundle, shares } = await dealThresholdKeys({ parties: 5, threshold: 3 });
 * // bundle goes to everyone (the Aggregator included); shares[i] to hospital i + 1 only.
 */
export async function dealThresholdKeys(options: DealOptions): Promise<Deal> {
  const parameters = options.parameters ?? DEFAULT_CKKS_PARAMETERS;
  const { parties, threshold } = options;
  if (!Number.isInteger(parties) || parties < 1 || parties > 255) throw new InvalidCkksParameters("parties", `= ${parties} must be a whole number from 1 to 255`);
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > parties) throw new InvalidCkksParameters("threshold", `= ${threshold} must be a whole number from 1 to parties (${parties})`);
  const { seal } = await loadSeal();
  const context = buildContext(seal, parameters);
  const keygen = seal.KeyGenerator(context);
  const secretKey = keygen.secretKey();
  const publicKeyObject = keygen.createPublicKey();
  const publicKey = publicKeyObject.saveArray(seal.ComprModeType.none);
  const secretBytes = secretKey.saveArray(seal.ComprModeType.none);
  publicKeyObject.delete();
  secretKey.delete();
  keygen.delete();

  const n = parameters.polyModulusDegree;
  const primes = dataPrimes(context);
  // SEAL saves a SecretKey as a Plaintext at the key level: K + 1 limbs of N, NTT form; the data level is limbs 0..K−1.
  const layout = readPlaintextLayout(secretBytes, 0, "the secret key");
  const secret = plaintextData(secretBytes, layout).subarray(0, primes.length * n);
  secretBytes.fill(0);
  const keyId = keyIdOf(publicKey);
  const parmsId = parmsIdHex(context);
  const shares = shamirShare(secret, primes, n, parties, threshold).map((residues, i): KeyShare => ({
    keyId, parmsId, index: i + 1, threshold, parties, polyModulusDegree: n, residues,
  }));
  secret.fill(0n);
  context.delete();
  return { bundle: { parameters, publicKey, keyId, parmsId, threshold, parties }, shares };
}

/** Shares[i] = f(i + 1) where f(0) = secret and f's other t − 1 coefficients are uniform mod q_j, per residue. */
export function shamirShare(secret: BigUint64Array, primes: readonly bigint[], n: number, parties: number, threshold: number): BigUint64Array[] {
  const shares = Array.from({ length: parties }, () => new BigUint64Array(secret.length));
  primes.forEach((q, j) => {
    const coefficients = Array.from({ length: threshold - 1 }, () => uniformResidues(n, q));
    for (let i = 1; i <= parties; i++) {
      const x = BigInt(i);
      const out = shares[i - 1]!;
      for (let k = 0; k < n; k++) {
        // Horner: ((a_{t−1}·x + a_{t−2})·x + … + a_1)·x + s
        let acc = 0n;
        for (let c = threshold - 2; c >= 0; c--) acc = ((acc + coefficients[c]![k]!) * x) % q;
        out[j * n + k] = (acc + secret[j * n + k]!) % q;
      }
    }
    for (const c of coefficients) c.fill(0n);
  });
  return shares;
}
