/**
 * CKKS parameters for summing clipped model updates, and what they guarantee: slots per
 * ciphertext, bytes per ciphertext, the largest sum that still decodes, and the precision left
 * after threshold decryption's smudging noise. Never accepts a set SEAL would not call 128-bit
 * secure (SEAL's default table, HomomorphicEncryption.org standard, ternary secrets).
 *
 * Why these numbers (the defaults):
 * - N = 8192: 4096 real slots per ciphertext, and SEAL's 128-bit table allows 218 bits of modulus.
 * - coeff modulus [60, 60, 40]: ciphertexts live at the data level q0·q1 (≈ 2^120); the last
 *   prime is SEAL's special prime (keys only). Only additions are done, so one data level is all
 *   we need, and 160 ≤ 218 keeps the 128-bit level.
 * - scale Δ = 2^90: a sum of n ≤ 20 updates with |x| ≤ C encodes to coefficients ≤ Δ·n·C
 *   (the inverse canonical embedding does not grow the largest value), which must stay under
 *   q0·q1/2 ≈ 2^119 with the smudging noise: n·C ≤ 2^26 leaves 2 bits of margin (C ≤ 3.3 M at n = 20).
 * - smudging noise: each decryption share adds a polynomial with coefficients uniform in
 *   [−2^62, 2^62] (see threshold.ts); it costs 2^62·√(t/3)·√(N/2)/Δ ≈ 2^-21 (t = 10) per
 *   coordinate, so sums keep an absolute precision better than 2^-16 ≈ 1.5e-5.
 */
import type { Context, PublicSeal, SEALLibrary } from "../../native-bindings/seal.ts";
import { InvalidCkksParameters } from "./errors.ts";

export interface CkksParameters {
  /** N, a power of two: N/2 real values per ciphertext. */
  readonly polyModulusDegree: number;
  /** Bit sizes of the primes, data primes first; the last is SEAL's special (key-only) prime. */
  readonly coeffModulusBits: readonly number[];
  /** log2 of the CKKS scale Δ. */
  readonly scaleBits: number;
  /** C: every coordinate of an update must satisfy |x| ≤ C (the DP clipping bound is a bound on it). */
  readonly clip: number;
  /** The most updates one aggregate may sum (n). */
  readonly maxSummands: number;
  /** log2 of the smudging bound B: each decryption share adds noise uniform in [−B, B] per coefficient. */
  readonly smudgingBits: number;
}

export const DEFAULT_CKKS_PARAMETERS = {
  polyModulusDegree: 8192,
  coeffModulusBits: [60, 60, 40],
  scaleBits: 90,
  clip: 1,
  maxSummands: 20,
  smudgingBits: 62,
} as const satisfies CkksParameters;

/** What a parameter set gives, derived (never stored), so docs, tests and the bench quote the same numbers. */
export interface CkksGuarantees {
  readonly slots: number;
  /** Bytes of one saved ciphertext at the data level, compression none (header included). */
  readonly ciphertextBytes: number;
  /** log2 of the data modulus q0·…·q(K−1) (an upper bound: each prime is below 2^bits). */
  readonly dataModulusBits: number;
  /** The largest n·C this set can sum and still decode. */
  readonly maxSumMagnitude: number;
  /** Absolute error bound per coordinate of a decrypted sum of `maxSummands` with threshold decryption by up to `maxSummands` shares. */
  readonly absoluteError: number;
  /** −log2(absoluteError): bits of precision after the binary point. */
  readonly precisionBits: number;
  readonly securityBits: 128;
}

/** SEAL's 128-bit table (CoeffModulus.MaxBitCount at tc128), restated so a set can be checked before loading SEAL. */
const MAX_BITS_128: Readonly<Record<number, number>> = { 1024: 27, 2048: 54, 4096: 109, 8192: 218, 16384: 438, 32768: 881 };

/** Throws InvalidCkksParameters naming the first field that cannot work; returns the guarantees. */
export function checkParameters(params: CkksParameters): CkksGuarantees {
  const n = params.polyModulusDegree;
  const maxBits = MAX_BITS_128[n];
  if (maxBits === undefined) throw new InvalidCkksParameters("polyModulusDegree", `= ${n} must be one of ${Object.keys(MAX_BITS_128).join(", ")}`);
  const bits = params.coeffModulusBits;
  if (bits.length < 2) throw new InvalidCkksParameters("coeffModulusBits", `has ${bits.length} primes; give at least one data prime and the special prime`);
  if (bits.some((b) => !Number.isInteger(b) || b < 20 || b > 60)) throw new InvalidCkksParameters("coeffModulusBits", `= [${bits.join(", ")}] must be whole bit sizes from 20 to 60 (SEAL's limit)`);
  const totalBits = bits.reduce((a, b) => a + b, 0);
  if (totalBits > maxBits) throw new InvalidCkksParameters("coeffModulusBits", `total ${totalBits} bits exceeds ${maxBits}, SEAL's 128-bit limit for N = ${n}`);
  if (!Number.isInteger(params.scaleBits) || params.scaleBits < 20) throw new InvalidCkksParameters("scaleBits", `= ${params.scaleBits} must be a whole number ≥ 20`);
  if (!Number.isInteger(params.maxSummands) || params.maxSummands < 1 || params.maxSummands > 1024) throw new InvalidCkksParameters("maxSummands", `= ${params.maxSummands} must be a whole number from 1 to 1024`);
  if (!(params.clip > 0) || !Number.isFinite(params.clip)) throw new InvalidCkksParameters("clip", `= ${params.clip} must be a finite number > 0`);
  if (!Number.isInteger(params.smudgingBits) || params.smudgingBits < 0 || params.smudgingBits > 62) throw new InvalidCkksParameters("smudgingBits", `= ${params.smudgingBits} must be a whole number from 0 to 62`);
  const dataBits = bits.slice(0, -1).reduce((a, b) => a + b, 0);
  // Coefficients must stay below q/2: the message (≤ Δ·n·C) plus up to maxSummands smudging terms (≤ B each), with 2 bits to spare.
  const headroomBits = dataBits - 1 - 2;
  const maxSumMagnitude = 2 ** (headroomBits - params.scaleBits);
  const noiseBits = params.smudgingBits + Math.log2(params.maxSummands);
  if (noiseBits >= headroomBits) throw new InvalidCkksParameters("smudgingBits", `= ${params.smudgingBits} leaves no room under the data modulus (2^${dataBits})`);
  if (params.maxSummands * params.clip > maxSumMagnitude) {
    throw new InvalidCkksParameters("clip", `× maxSummands = ${params.maxSummands * params.clip} exceeds 2^${headroomBits - params.scaleBits} = ${maxSumMagnitude}, the largest sum that decodes at scale 2^${params.scaleBits} (lower scaleBits or clip)`);
  }
  const slots = n / 2;
  const limbs = bits.length - 1;
  // Smudging per coordinate: each share's noise has std B/√3 per coefficient; a slot's real part
  // sums N coefficients with weights cos(·), variance N/2 times that. 12 standard deviations of
  // t = maxSummands shares bound every coordinate of every ciphertext with failure odds far below 1e-9.
  const smudgingStd = (2 ** params.smudgingBits / Math.sqrt(3)) * Math.sqrt(slots) * Math.sqrt(params.maxSummands) / 2 ** params.scaleBits;
  // SEAL's encoder rounds in double precision: ~2^-50 of the largest value, with log2(N) FFT stages.
  const encodingError = params.maxSummands * params.clip * 2 ** -50 * Math.log2(n);
  const absoluteError = 12 * smudgingStd + encodingError + 2 ** -(params.scaleBits - 20);
  return {
    slots,
    ciphertextBytes: CIPHERTEXT_OVERHEAD_BYTES + 2 * limbs * n * 8,
    dataModulusBits: dataBits,
    maxSumMagnitude,
    absoluteError,
    precisionBits: -Math.log2(absoluteError),
    securityBits: 128,
  };
}

/** SEAL's headers and metadata around a ciphertext's coefficients (see seal-format.ts). */
export const CIPHERTEXT_OVERHEAD_BYTES = 16 + 32 + 1 + 8 * 5 + 16 + 8;

/** How many ciphertexts an update of `length` values fills. */
export function ciphertextCount(length: number, slots: number): number {
  return Math.ceil(length / slots);
}

/** The CKKS context for a parameter set, from a whole or public SEAL; 128-bit security enforced by SEAL. */
export function buildContext(seal: PublicSeal | SEALLibrary, params: CkksParameters): Context {
  checkParameters(params);
  const parms = seal.EncryptionParameters(seal.SchemeType.ckks);
  parms.setPolyModulusDegree(params.polyModulusDegree);
  parms.setCoeffModulus(seal.CoeffModulus.Create(params.polyModulusDegree, Int32Array.from(params.coeffModulusBits)));
  const context = seal.Context(parms, true, seal.SecurityLevel.tc128);
  if (!context.parametersSet()) throw new InvalidCkksParameters("coeffModulusBits", `= [${params.coeffModulusBits.join(", ")}]: SEAL refused the set at N = ${params.polyModulusDegree} (primes of these sizes ≡ 1 mod 2N not found, or not 128-bit secure)`);
  return context;
}

/** Data-level primes (the ciphertexts' RNS moduli), as BigInts, from a context. */
export function dataPrimes(context: Context): bigint[] {
  return Array.from(context.firstContextData.parms.coeffModulus, (q) => BigInt(q));
}

/** The data level's parms id as 64 hex digits: how ciphertexts name the parameters they were made for. */
export function parmsIdHex(context: Context): string {
  return hexOfParmsId(context.firstParmsId.values);
}

export function hexOfParmsId(values: ArrayLike<bigint>): string {
  return Array.from(values, (v: bigint) => v.toString(16).padStart(16, "0")).join("");
}
