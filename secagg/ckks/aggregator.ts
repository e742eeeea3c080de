/**
 * The Aggregator's part of CKKS secure aggregation: checks every ciphertext it is sent and adds
 * them, holding only the public bundle and the public view of node-seal (PublicSeal: no
 * KeyGenerator, SecretKey, Decryptor, Encryptor or encoder). Never holds, loads or accepts a
 * secret key or a key share: bytes that are one are refused with SecretKeyRefused.
 *
 * This module imports no key generation and no decryption (test/secagg/ckks/aggregator-holds-
 * no-key.test.ts reads its import graph), so the Aggregator's thread can run it from
 * `loadPublicSeal()` alone. Malformed bytes are typed errors, checked field by field before SEAL
 * parses them (seal-format.ts), never a crash.
 */
import type { CipherText, Context, Evaluator, PublicSeal } from "../../native-bindings/seal.ts";
import { CiphertextMismatch, InvalidUpdate, MalformedCiphertext, SecretKeyRefused } from "./errors.ts";
import { isKeyShareBytes, keyIdOf, type PublicBundle } from "./keys.ts";
import { buildContext, checkParameters, ciphertextCount, parmsIdHex } from "./parameters.ts";
import { readCiphertextLayout, readPlaintextLayout } from "./seal-format.ts";
import type { EncryptedUpdate } from "./update.ts";

export class CkksAggregator {
  private constructor(
    private readonly seal: PublicSeal,
    private readonly context: Context,
    private readonly evaluator: Evaluator,
    readonly keyId: string,
    readonly parmsId: string,
    private readonly shape: { polyModulusDegree: number; coeffModulusSize: number; size: number; scale: number; slots: number },
  ) {}

  /**
   * Opens the Aggregator's side from the public bundle: refuses a bundle that carries secret
   * material or whose key id or parameters do not match what it claims.
   * @example
   * const aggregator = CkksAggregator.open(await loadPublicSeal(), bundle);
   * const sum = aggregator.add([encryptedA, encryptedB]);
   */
  static open(seal: PublicSeal, bundle: PublicBundle): CkksAggregator {
    refuseSecretMaterial(bundle.publicKey, "bundle.publicKey", { polyModulusDegree: bundle.parameters.polyModulusDegree, coeffModulusSize: bundle.parameters.coeffModulusBits.length - 1 });
    if (keyIdOf(bundle.publicKey) !== bundle.keyId) throw new MalformedCiphertext("bundle.publicKey", "its sha256 is not bundle.keyId");
    const guarantees = checkParameters(bundle.parameters);
    const context = buildContext(seal, bundle.parameters);
    const parmsId = parmsIdHex(context);
    if (parmsId !== bundle.parmsId) throw new CiphertextMismatch("bundle", parmsId, bundle.parmsId);
    const shape = {
      polyModulusDegree: bundle.parameters.polyModulusDegree,
      coeffModulusSize: bundle.parameters.coeffModulusBits.length - 1,
      size: 2,
      scale: 2 ** bundle.parameters.scaleBits,
      slots: guarantees.slots,
    };
    return new CkksAggregator(seal, context, seal.Evaluator(context), bundle.keyId, parmsId, shape);
  }

  /** Throws a typed error unless `bytes` is a ciphertext of this key's parameters, fresh or summed. */
  check(bytes: Uint8Array, what = "ciphertext"): void {
    this.load(bytes, what).delete();
  }

  /**
   * The homomorphic sum of updates of one length, ciphertext by ciphertext. Throws before adding
   * anything if one update is for another key, of another length, or has a bad ciphertext.
   */
  add(updates: readonly EncryptedUpdate[]): EncryptedUpdate {
    if (updates.length === 0) throw new InvalidUpdate("updates", "is empty; give at least one encrypted update");
    const length = updates[0]!.length;
    const count = ciphertextCount(length, this.shape.slots);
    updates.forEach((u, i) => {
      if (u.keyId !== this.keyId) throw new CiphertextMismatch(`updates[${i}]`, `key ${this.keyId}`, `key ${u.keyId}`);
      if (u.length !== length) throw new InvalidUpdate(`updates[${i}].length`, `= ${u.length}, not ${length} like updates[0]`);
      if (u.ciphertexts.length !== count) throw new InvalidUpdate(`updates[${i}].ciphertexts`, `has ${u.ciphertexts.length} ciphertexts; ${length} values need ${count}`);
      u.ciphertexts.forEach((bytes, c) => this.checkShape(bytes, `updates[${i}].ciphertexts[${c}]`));
    });
    const ciphertexts: Uint8Array[] = [];
    for (let c = 0; c < count; c++) {
      // Every shape was checked above: SEAL's load (and its coefficient check) is what is left.
      const sum = this.loadChecked(updates[0]!.ciphertexts[c]!, `updates[0].ciphertexts[${c}]`);
      for (let i = 1; i < updates.length; i++) {
        const term = this.loadChecked(updates[i]!.ciphertexts[c]!, `updates[${i}].ciphertexts[${c}]`);
        this.evaluator.add(sum, term, sum);
        term.delete();
      }
      ciphertexts.push(sum.saveArray(this.seal.ComprModeType.none));
      sum.delete();
    }
    return { keyId: this.keyId, length, ciphertexts };
  }

  /** Frees the SEAL objects. */
  close(): void {
    this.evaluator.delete();
    this.context.delete();
  }

  private checkShape(bytes: Uint8Array, what: string): void {
    refuseSecretMaterial(bytes, what, this.shape);
    const layout = readCiphertextLayout(bytes, what, this.shape);
    if (layout.parmsId !== this.parmsId) throw new CiphertextMismatch(what, this.parmsId, layout.parmsId);
    if (!layout.isNttForm) throw new MalformedCiphertext(what, "it is not in NTT form, as every CKKS ciphertext is");
    if (layout.scale !== this.shape.scale) throw new CiphertextMismatch(what, `scale 2^${Math.log2(this.shape.scale)}`, `scale ${layout.scale}`);
  }

  private load(bytes: Uint8Array, what: string): CipherText {
    this.checkShape(bytes, what);
    return this.loadChecked(bytes, what);
  }

  /** SEAL's load of bytes whose shape checkShape has passed. */
  private loadChecked(bytes: Uint8Array, what: string): CipherText {
    const ct = this.seal.CipherText();
    try {
      ct.loadArray(this.context, bytes); // SEAL checks every coefficient is below its prime
    } catch (error) {
      ct.delete();
      throw new MalformedCiphertext(what, `SEAL refused it (${sealMessage(error)})`);
    }
    return ct;
  }
}

/**
 * Refuses bytes that are secret material, whatever field they came in: a fedrouter key share
 * (magic FRKS), or SEAL bytes that parse as a Plaintext of the key level (K + 1 limbs of N
 * coefficients), which is exactly how SEAL saves a SecretKey.
 */
export function refuseSecretMaterial(bytes: Uint8Array, what: string, shape: { polyModulusDegree: number; coeffModulusSize: number }): void {
  if (isKeyShareBytes(bytes)) throw new SecretKeyRefused(what);
  let plain: { coeffCount: number } | undefined;
  try {
    plain = readPlaintextLayout(bytes, 0, what);
  } catch {
    return; // not a plaintext: the ciphertext checks say what it is
  }
  if (plain.coeffCount === shape.polyModulusDegree * (shape.coeffModulusSize + 1)) throw new SecretKeyRefused(what);
}

function sealMessage(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).slice(0, 200);
}
