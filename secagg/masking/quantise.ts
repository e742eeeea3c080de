/**
 * Fixed-point quantisation of clipped float updates into the ring Z_{2^32}, and back. Never
 * quantises an update, nor accepts parameters, under which the sum of n clients could leave the
 * signed range [−2^31, 2^31): the sum would wrap and decode to a wrong value without a sign.
 *
 * Ring and scale. Each coordinate x (a float32, |x| ≤ C because ‖x‖₂ ≤ C) becomes
 * q = round(x · 2^f), a signed integer stored in a Uint32Array as q mod 2^32 (two's complement:
 * the typed array's own ToUint32 wraps negatives). Sums are taken mod 2^32; the ring sum S of m
 * clients decodes as the signed 32-bit integer S | 0, divided by 2^f.
 *
 * Overflow bound. |q| ≤ Q = round(C · (1 + NORM_TOLERANCE) · 2^f) per client and coordinate, so
 * |Σ q| ≤ m · Q ≤ n · Q. The parameters are accepted only if n · Q ≤ 2^31 − 1; then the signed
 * representative of the ring sum is the true integer sum. NORM_TOLERANCE (1e-6, about 16 float32
 * ulps) lets an update that a caller clipped in float32 arithmetic, and lands a few ulps above C,
 * through; the quantiser still refuses any coordinate whose |q| exceeds Q, so the bound holds for
 * every accepted input whatever its norm says.
 *
 * Error bound. Rounding to nearest moves each coordinate by at most 2^−(f+1); the decoded sum of m
 * clients is within m · 2^−(f+1) of the exact sum of their float inputs, coordinate by coordinate
 * (the division by 2^f is exact in float64, since |S| < 2^31). With n = 10 and C = 1, f = 27 and
 * the bound is 10 · 2^−28 ≈ 3.7e−8, below float32's own spacing near 1 (1.2e−7) and far below the
 * DP noise added to the sum.
 *
 * Rounding. round(y) is Math.round's: nearest, ties toward +∞, i.e. floor of the exact y + 1/2;
 * the quantiser computes floor(y + 0.5) in float64, which is the same for every float32 x and
 * integer 0 ≤ f ≤ 31. y = x · 2^f is exact (a power-of-two scaling) with at most 24 significant
 * bits: if 2^e ≤ |y| < 2^(e+1), y is a multiple of 2^(e−23), so y + 1/2 is a multiple of
 * 2^min(e−23, −1) below 2^(max(e, −1) + 2) in magnitude — at most 53 bits, an exact float64 sum,
 * for −29 ≤ e ≤ 50. For |y| < 2^−29, 0.5 + y rounds into (0, 1) and both give 0 (or −0, which an
 * Int32 store makes 0). For |y| ≥ 2^51 both exceed every bound Q < 2^31 and the coordinate is refused.
 *
 * Written by hand rather than taken from a library: it is a multiply, a round and a typed-array
 * store per coordinate, and the overflow check is specific to this protocol's n and C.
 */
import { InvalidUpdate, OverflowRisk } from "./errors.ts";

/** Relative slack on C for float32 clipping round-off; the per-coordinate check keeps the bound exact. */
export const NORM_TOLERANCE = 1e-6;
const MAX_SIGNED = 2 ** 31 - 1;

/** Q: the largest |round(x · 2^f)| an accepted coordinate may have. */
export function maxQuantised(clipNorm: number, fractionalBits: number): number {
  return Math.round(clipNorm * (1 + NORM_TOLERANCE) * 2 ** fractionalBits);
}

/** n · Q, the largest |sum| n clients can produce in one coordinate. */
export function worstCaseSum(maxClients: number, clipNorm: number, fractionalBits: number): number {
  return maxClients * maxQuantised(clipNorm, fractionalBits);
}

/** Throws OverflowRisk unless n clients at clip norm C and 2^f cannot wrap the signed ring. */
export function requireNoWrap(maxClients: number, clipNorm: number, fractionalBits: number): void {
  const worst = worstCaseSum(maxClients, clipNorm, fractionalBits);
  if (!(worst <= MAX_SIGNED)) throw new OverflowRisk(maxClients, clipNorm, fractionalBits, worst);
}

/**
 * The largest f in [0, 31] whose worst case fits; OverflowRisk (reported at f = 0) when none does.
 * @example
 * safeFractionalBits(10, 1); // 27: 10 · 2^27 < 2^31 ≤ 10 · 2^28
 */
export function safeFractionalBits(maxClients: number, clipNorm: number): number {
  for (let f = 31; f >= 0; f--) {
    if (worstCaseSum(maxClients, clipNorm, f) <= MAX_SIGNED) return f;
  }
  throw new OverflowRisk(maxClients, clipNorm, 0, worstCaseSum(maxClients, clipNorm, 0));
}

/** The documented bound on |decoded sum − exact float sum| per coordinate for `clients` contributors. */
export function quantisationErrorBound(clients: number, fractionalBits: number): number {
  return clients * 2 ** -(fractionalBits + 1);
}

/**
 * Writes round(x · 2^f) mod 2^32 into `out` (which must have x's length). Throws InvalidUpdate for
 * a non-finite coordinate, an L2 norm above C · (1 + NORM_TOLERANCE), or a coordinate above Q.
 */
export function quantiseInto(update: Float32Array, out: Uint32Array, clipNorm: number, fractionalBits: number, clientId: string): void {
  if (!(update instanceof Float32Array)) throw new InvalidUpdate(clientId, "must be a Float32Array");
  if (update.length !== out.length) throw new InvalidUpdate(clientId, `has ${update.length} coordinates, the round expects ${out.length}`);
  const scale = 2 ** fractionalBits;
  const limit = maxQuantised(clipNorm, fractionalBits);
  requireNoWrap(1, clipNorm, fractionalBits);
  // An Int32 view of the same bytes: storing a signed q there is q mod 2^32 in two's complement, on
  // the JIT's fast path (a negative double stored into a Uint32Array is not).
  const view = new Int32Array(out.buffer, out.byteOffset, out.length);
  let squares = 0;
  for (let i = 0; i < update.length; i++) {
    const x = update[i]!;
    squares += x * x;
    // Math.round(x · 2^f) written as floor(x · 2^f + 0.5): the same value for every float32 x (the
    // header's "Rounding"), without the data-dependent branch V8 compiles Math.round to, which the
    // random fractions of an update mispredict half the time (12.5 → 3.9 ms for d = 1 M here).
    const q = Math.floor(x * scale + 0.5);
    // Written so that NaN fails it too.
    if (!(q <= limit && q >= -limit)) {
      if (q !== q) throw new InvalidUpdate(clientId, `coordinate ${i} is not a finite number`);
      if (!Number.isFinite(q)) throw new InvalidUpdate(clientId, `coordinate ${i} is ±Infinity`);
      throw new InvalidUpdate(clientId, `coordinate ${i} rounds to ${q}, beyond ±${limit} = round(C · 2^f); clip before quantising`);
    }
    view[i] = q;
  }
  const norm = Math.sqrt(squares);
  if (norm > clipNorm * (1 + NORM_TOLERANCE)) throw new InvalidUpdate(clientId, `L2 norm ${norm} exceeds the clip norm ${clipNorm}; clip before quantising`);
}

/** The ring sum decoded: each entry read as a signed 32-bit integer and divided by 2^f. */
export function dequantise(ringSum: Uint32Array, fractionalBits: number): Float64Array {
  const inverse = 2 ** -fractionalBits;
  const signed = new Int32Array(ringSum.buffer, ringSum.byteOffset, ringSum.length);
  const out = new Float64Array(ringSum.length);
  for (let i = 0; i < signed.length; i++) out[i] = signed[i]! * inverse;
  return out;
}
