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
import { loadSeal, type CipherText, type CKKSEncoder, type Context, type Evaluator, type PlainText, type SEALLibrary } from "../../native-bindings/seal.ts";
import { CiphertextMismatch, InvalidShare, MalformedCiphertext, NotEnoughShares } from "./errors.ts";
import type { KeyShare, PublicBundle } from "./keys.ts";
import { lagrangeAtZero, scaleLimbs, uniformSignedRns } from "./modular.ts";
import { CIPHERTEXT_OVERHEAD_BYTES, buildContext, checkParameters, dataPrimes } from "./parameters.ts";
import { ciphertextPoly, ciphertextPolyBytes, readCiphertextLayout, readPlaintextLayout, writeCiphertextBytes, writePlaintext, writePlaintextBytes, type CiphertextLayout } from "./seal-format.ts";
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
  const product = seal.CipherText();
  const noise = seal.CipherText();
  const noiseWords = new Uint32Array(2 * 2 * k * n); // two polynomials e_a, e_b, RNS, as u32 halves
  // Scratch for the bytes SEAL loads (it copies them in): one allocation per share, not two per pair.
  const productBytes = new Uint8Array(CIPHERTEXT_OVERHEAD_BYTES + 2 * k * n * 8);
  const noiseBytes = new Uint8Array(productBytes.length);
  try {
    const parts: Uint8Array[] = [];
    const cts = aggregate.ciphertexts;
    for (let c = 0; c < cts.length;) {
      // Two ciphertexts a, b at once: (c1_a, c1_b) is one SEAL ciphertext, so one multiply_plain,
      // one NTT of (e_a, e_b) and one save serve both (SEAL works on every polynomial it holds).
      const a = aggregateLayout(cts[c]!, `aggregate.ciphertexts[${c}]`, shape, bundle);
      const next = c + 1 < cts.length ? aggregateLayout(cts[c + 1]!, `aggregate.ciphertexts[${c + 1}]`, shape, bundle) : undefined;
      const b = next !== undefined && next.scale === a.scale ? next : undefined;
      const what = b === undefined ? `aggregate.ciphertexts[${c}]` : `aggregate.ciphertexts[${c}] or [${c + 1}]`;
      const c1a = ciphertextPolyBytes(cts[c]!, a, 1);
      // Alone, a's c1 goes in twice: a ciphertext whose second polynomial is zero is "transparent" to SEAL.
      const c1b = b === undefined ? c1a : ciphertextPolyBytes(cts[c + 1]!, b, 1);
      const version = versionOf(cts[c]!);
      loadInto(product, context, writeCiphertextBytes({ ...a, parmsId: bundle.parmsId }, [c1a, c1b], ...version, productBytes), what, MalformedCiphertext);
      evaluator.multiplyPlain(product, sharePlain, product); // (c1_a·s'_i, c1_b·s'_i), scale Δ·1
      uniformSignedRns(n, bundle.parameters.smudgingBits, primes, noiseWords.subarray(0, 2 * k * n));
      uniformSignedRns(n, bundle.parameters.smudgingBits, primes, noiseWords.subarray(2 * k * n));
      writeCiphertextBytes({ ...a, parmsId: bundle.parmsId, isNttForm: false }, [new Uint8Array(noiseWords.buffer)], ...version, noiseBytes);
      noise.loadArray(context, noiseBytes);
      evaluator.cipherTransformToNtt(noise, noise); // (NTT(e_a), NTT(e_b))
      evaluator.add(product, noise, product);
      const saved = product.saveArray(seal.ComprModeType.none);
      const layout = readCiphertextLayout(saved, "share product", shape);
      parts.push(writePlaintextBytes({ parmsId: bundle.parmsId, scale: a.scale }, ciphertextPolyBytes(saved, layout, 0), ...version));
      if (b !== undefined) parts.push(writePlaintextBytes({ parmsId: bundle.parmsId, scale: b.scale }, ciphertextPolyBytes(saved, layout, 1), ...version));
      c += b === undefined ? 1 : 2;
    }
    return { keyId: bundle.keyId, index: keyShare.index, decryptors: set, aggregateDigest: digestOf(aggregate), parts };
  } finally {
    noiseWords.fill(0); // e_i is what keeps λ_i·s_i hidden in d_i: no copy of it outlives the share
    noiseBytes.fill(0);
    noise.delete();
    product.delete();
    sharePlain.delete();
  }
}

/** An aggregate ciphertext's layout, checked: this key's parameters, NTT form, two polynomials. */
function aggregateLayout(bytes: Uint8Array, what: string, shape: { polyModulusDegree: number; coeffModulusSize: number; size: number }, bundle: PublicBundle): CiphertextLayout {
  const layout = readCiphertextLayout(bytes, what, shape);
  if (layout.parmsId !== bundle.parmsId) throw new CiphertextMismatch(what, bundle.parmsId, layout.parmsId);
  if (!layout.isNttForm) throw new MalformedCiphertext(what, "it is not in NTT form, as every CKKS ciphertext is");
  if (layout.correctionFactor !== 1n) throw new MalformedCiphertext(what, `its correction factor is ${layout.correctionFactor}, not 1 as in CKKS`);
  return layout;
}

/** The SEAL version a byte string names in its header, to write our own bytes under the same. */
function versionOf(bytes: Uint8Array): [number, number] {
  return [bytes[3]!, bytes[4]!];
}

/** SEAL loads `bytes` into `target` (checking every coefficient is below its prime), or a typed error. */
function loadInto(target: CipherText | PlainText, context: Context, bytes: Uint8Array, what: string, Refusal: typeof MalformedCiphertext | typeof InvalidShare): void {
  try {
    target.loadArray(context, bytes);
  } catch (error) {
    const reason = `SEAL refused it (${error instanceof Error ? error.message : String(error)})`;
    throw Refusal === InvalidShare ? new InvalidShare(what, reason) : new MalformedCiphertext(what, reason);
  }
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
