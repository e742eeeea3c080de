/**
 * Threshold decryption of an aggregate: t of the n hospitals each turn their key share into a
 * decryption share, and anyone holding t of them for the same decryptor set recovers the sum.
 * Never reconstructs the secret key, and never decrypts with fewer than t distinct shares.
 *
 * The maths (SEAL keeps ciphertexts and keys in NTT form, limb j mod data prime q_j):
 *   CKKS decrypts (c0, c1) as c0 + c1·s = Δ·m + e. For a decryptor set S with |S| ≥ t, hospital
 *   i ∈ S scales its Shamir share by its Lagrange coefficient, s'_i = λ_{i,S}·s_i (so that
 *   Σ_{i∈S} s'_i = s exactly), and sends d_i = c1 ⊙ s'_i + NTT(e_i), with e_i a fresh smudging
 *   polynomial. Then c0 + Σ d_i = Δ·m + e + Σ e_i, a plaintext in NTT form that SEAL's encoder
 *   decodes: no secret key, no inverse NTT by hand. SEAL does the products and sums
 *   (multiply_plain, add, add_plain, transform_to_ntt); we only read and write its bytes.
 *   Applying λ before the noise (rather than to the shares afterwards) keeps the noise small:
 *   λ mod q is a huge residue, and λ·e_i would flood the message.
 *
 * Smudging, and its limits:
 * - e_i has coefficients uniform in [−B, B], B = 2^smudgingBits (62 by default), drawn with
 *   node:crypto. With t − 1 decryptors colluding, the honest share d_h minus what they know is
 *   (λ_h·c1)·s + e_h: an RLWE sample with uniform a = λ_h·c1 and error e_h, far wider than
 *   SEAL's σ = 3.2; each share is a fresh sample.
 * - The recovered sum carries e (the ciphertexts' noise, a function of the encryption randomness
 *   and of s) plus Σ e_i; releasing it exactly would let a decryptor solve for s (Li–Micciancio,
 *   EUROCRYPT 2021). Each honest e_i alone hides e up to statistical distance ≤ N·|e|∞ / B per
 *   ciphertext: with |e|∞ ≤ 2^23 (20 fresh encryptions, SEAL's 6σ-clipped errors, worst case)
 *   that is ≤ 2^-26 per ciphertext at N = 8192, B = 2^62. That is a heuristic-strength bound, not
 *   the 2^-40 of the flooding literature: raising B to 2^77 would need Δ ≥ 2^105 and a third data
 *   prime. Say so when quoting the protection.
 * - The noise costs precision: see parameters.ts (≈ 2^-21 per coordinate at t = 10).
 * - Shares are bound to one aggregate (its digest) and one decryptor set; a hospital should
 *   answer each (aggregate, set) once, or two shares for two sets leak the difference of noises.
 */
import { loadSeal, type CKKSEncoder, type Context, type Evaluator, type SEALLibrary } from "../../native-bindings/seal.ts";
import { InvalidShare, MalformedCiphertext, NotEnoughShares } from "./errors.ts";
import type { KeyShare, PublicBundle } from "./keys.ts";
import { lagrangeAtZero, scaleLimbs, toRns, uniformSigned } from "./modular.ts";
import { buildContext, checkParameters, dataPrimes } from "./parameters.ts";
import { ciphertextPoly, readCiphertextLayout, readPlaintextLayout, writeCiphertext, writePlaintext } from "./seal-format.ts";
import { digestOf, type EncryptedUpdate } from "./update.ts";

/** Hospital `index`'s decryption share of one aggregate, for one decryptor set. */
export interface DecryptionShare {
  readonly keyId: string;
  readonly index: number;
  /** The decryptor set S, ascending; every share combined must name the same set. */
  readonly decryptors: readonly number[];
  /** digestOf(aggregate): the share decrypts this aggregate and no other. */
  readonly aggregateDigest: string;
  /** One SEAL plaintext (NTT form, scale Δ) per ciphertext: d_i = c1 ⊙ λ_i·s_i + NTT(e_i). */
  readonly parts: readonly Uint8Array[];
}

interface DecryptionSession {
  readonly seal: SEALLibrary;
  readonly context: Context;
  readonly evaluator: Evaluator;
  readonly encoder: CKKSEncoder;
  readonly primes: readonly bigint[];
  readonly n: number;
}

const sessions = new Map<string, Promise<DecryptionSession>>();

/** This thread's SEAL objects for a bundle's key, made once (a context costs tens of milliseconds). */
function openSession(bundle: PublicBundle): Promise<DecryptionSession> {
  let session = sessions.get(bundle.keyId);
  if (session === undefined) {
    session = makeSession(bundle);
    sessions.set(bundle.keyId, session);
    session.catch(() => sessions.delete(bundle.keyId));
  }
  return session;
}

async function makeSession(bundle: PublicBundle): Promise<DecryptionSession> {
  const { seal } = await loadSeal();
  const context = buildContext(seal, bundle.parameters);
  return { seal, context, evaluator: seal.Evaluator(context), encoder: seal.CKKSEncoder(context), primes: dataPrimes(context), n: bundle.parameters.polyModulusDegree };
}

/** Checks a decryptor set: t to n distinct whole indices from 1 to n, returned ascending. */
export function decryptorSet(decryptors: readonly number[], bundle: Pick<PublicBundle, "threshold" | "parties">): number[] {
  const set = [...new Set(decryptors)].sort((a, b) => a - b);
  if (set.length !== decryptors.length) throw new InvalidShare("decryptors", `= [${decryptors.join(", ")}] names a hospital twice`);
  for (const i of set) if (!Number.isInteger(i) || i < 1 || i > bundle.parties) throw new InvalidShare("decryptors", `holds ${i}, not a hospital index from 1 to ${bundle.parties}`);
  if (set.length < bundle.threshold) throw new NotEnoughShares(set.length, bundle.threshold, `the decryptor set [${set.join(", ")}] is smaller than the threshold`);
  return set;
}

/**
 * Hospital `keyShare.index`'s decryption share of `aggregate` for the decryptor set `decryptors`
 * (which must include it). Runs in the hospital, which alone holds its key share.
 */
export async function decryptionShare(bundle: PublicBundle, keyShare: KeyShare, decryptors: readonly number[], aggregate: EncryptedUpdate): Promise<DecryptionShare> {
  const set = decryptorSet(decryptors, bundle);
  if (keyShare.keyId !== bundle.keyId || aggregate.keyId !== bundle.keyId) throw new InvalidShare("keyShare.keyId", "the key share, the bundle and the aggregate are not all of one key");
  if (!set.includes(keyShare.index)) throw new InvalidShare("decryptors", `= [${set.join(", ")}] does not include this hospital (${keyShare.index})`);
  const session = await openSession(bundle);
  const { seal, context, evaluator, primes, n } = session;
  const k = primes.length;
  if (keyShare.residues.length !== k * n) throw new InvalidShare("keyShare.residues", `has ${keyShare.residues.length} residues, not K·N = ${k * n}`);
  const lambdas = primes.map((q) => lagrangeAtZero(keyShare.index, set, q));
  const scaled = scaleLimbs(keyShare.residues, lambdas, primes, n);
  const sharePlain = seal.PlainText();
  sharePlain.loadArray(context, writePlaintext({ parmsId: bundle.parmsId, scale: 1, data: scaled }));
  scaled.fill(0n);
  const shape = { polyModulusDegree: n, coeffModulusSize: k, size: 2 };
  try {
    const parts = aggregate.ciphertexts.map((bytes, c) => {
      const what = `aggregate.ciphertexts[${c}]`;
      const layout = readCiphertextLayout(bytes, what, shape);
      const ct = seal.CipherText();
      try {
        ct.loadArray(context, bytes);
      } catch (error) {
        ct.delete();
        throw new MalformedCiphertext(what, `SEAL refused it (${error instanceof Error ? error.message : String(error)})`);
      }
      evaluator.multiplyPlain(ct, sharePlain, ct); // (c0·s'_i, c1·s'_i), scale Δ·1
      const noise = smudgingCiphertext(session, bundle, layout.scale);
      evaluator.add(ct, noise, ct);
      noise.delete();
      const product = ct.saveArray(seal.ComprModeType.none);
      ct.delete();
      const d = ciphertextPoly(product, readCiphertextLayout(product, "share product"), 1);
      return writePlaintext({ parmsId: bundle.parmsId, scale: layout.scale, data: d });
    });
    return { keyId: bundle.keyId, index: keyShare.index, decryptors: set, aggregateDigest: digestOf(aggregate), parts };
  } finally {
    sharePlain.delete();
  }
}

/** (0, e) with e uniform in [−B, B]^N, brought to NTT form by SEAL (c1 ≠ 0, so SEAL does not call it transparent). */
function smudgingCiphertext({ seal, context, evaluator, primes, n }: DecryptionSession, bundle: PublicBundle, scale: number) {
  const e = toRns(uniformSigned(n, bundle.parameters.smudgingBits), primes);
  const data = new BigUint64Array(2 * primes.length * n);
  data.set(e, primes.length * n);
  const ct = seal.CipherText();
  ct.loadArray(context, writeCiphertext({ parmsId: bundle.parmsId, isNttForm: false, polyModulusDegree: n, coeffModulusSize: primes.length, scale, data }));
  const ntt = seal.CipherText();
  evaluator.cipherTransformToNtt(ct, ntt);
  ct.delete();
  return ntt;
}

/**
 * The decrypted sum: checks that `shares` are from every member of one decryptor set of at least
 * t hospitals, for this aggregate, then adds them to c0 and decodes. Needs no key.
 */
export async function combineShares(bundle: PublicBundle, aggregate: EncryptedUpdate, shares: readonly DecryptionShare[]): Promise<Float64Array> {
  const first = shares[0];
  if (first === undefined) throw new NotEnoughShares(0, bundle.threshold, "no shares were given");
  const set = decryptorSet(first.decryptors, bundle);
  const digest = digestOf(aggregate);
  const seen = new Set<number>();
  shares.forEach((share, i) => {
    if (share.keyId !== bundle.keyId) throw new InvalidShare(`shares[${i}].keyId`, "is not this bundle's key");
    if (share.aggregateDigest !== digest) throw new InvalidShare(`shares[${i}].aggregateDigest`, "is for another aggregate");
    if (share.decryptors.length !== set.length || share.decryptors.some((d, j) => d !== set[j])) throw new InvalidShare(`shares[${i}].decryptors`, `= [${share.decryptors.join(", ")}], not the set [${set.join(", ")}] of shares[0]`);
    if (!set.includes(share.index) || seen.has(share.index)) throw new InvalidShare(`shares[${i}].index`, `= ${share.index} is outside the set or given twice`);
    if (share.parts.length !== aggregate.ciphertexts.length) throw new InvalidShare(`shares[${i}].parts`, `has ${share.parts.length} parts for ${aggregate.ciphertexts.length} ciphertexts`);
    seen.add(share.index);
  });
  if (seen.size < set.length) throw new NotEnoughShares(seen.size, set.length, `the set [${set.join(", ")}] needs a share from each member; missing ${set.filter((i) => !seen.has(i)).join(", ")}`);
  return sumShares(bundle, aggregate, shares);
}

/**
 * c0 + Σ d_i, decoded, with no check of who sent what: the step combineShares guards. Exported
 * so that a test can show that a share missing from the set leaves noise, not the sum.
 */
export async function sumShares(bundle: PublicBundle, aggregate: EncryptedUpdate, shares: readonly DecryptionShare[]): Promise<Float64Array> {
  const session = await openSession(bundle);
  const { seal, context, evaluator, encoder, primes, n } = session;
  const slots = checkParameters(bundle.parameters).slots;
  const out = new Float64Array(aggregate.length);
  const shape = { polyModulusDegree: n, coeffModulusSize: primes.length, size: 2 };
  aggregate.ciphertexts.forEach((bytes, c) => {
    const what = `aggregate.ciphertexts[${c}]`;
    const layout = readCiphertextLayout(bytes, what, shape);
    const ct = seal.CipherText();
    try {
      ct.loadArray(context, bytes);
    } catch (error) {
      ct.delete();
      throw new MalformedCiphertext(what, `SEAL refused it (${error instanceof Error ? error.message : String(error)})`);
    }
    for (const [i, share] of shares.entries()) {
      const partBytes = share.parts[c]!;
      const part = readPlaintextLayout(partBytes, 0, `shares[${i}].parts[${c}]`);
      if (part.endOffset !== partBytes.length || part.parmsId !== layout.parmsId || part.coeffCount !== primes.length * n || part.scale !== layout.scale) throw new InvalidShare(`shares[${i}].parts[${c}]`, "is not a decryption share of this ciphertext's shape");
      const plain = seal.PlainText();
      try {
        plain.loadArray(context, partBytes);
      } catch (error) {
        plain.delete();
        ct.delete();
        throw new InvalidShare(`shares[${i}].parts[${c}]`, `SEAL refused it (${error instanceof Error ? error.message : String(error)})`);
      }
      evaluator.addPlain(ct, plain, ct);
      plain.delete();
    }
    const summed = ct.saveArray(seal.ComprModeType.none);
    ct.delete();
    const c0 = ciphertextPoly(summed, readCiphertextLayout(summed, "sum"), 0);
    const plain = seal.PlainText();
    plain.loadArray(context, writePlaintext({ parmsId: layout.parmsId, scale: layout.scale, data: c0 }));
    const values = encoder.decode(plain);
    plain.delete();
    const start = c * slots;
    out.set(values.subarray(0, Math.min(slots, aggregate.length - start)), start);
  });
  return out;
}
