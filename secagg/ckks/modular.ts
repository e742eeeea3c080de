/**
 * Arithmetic modulo the RNS primes q_j (< 2^61) on BigUint64Arrays, and the randomness threshold
 * decryption needs: uniform residues (Shamir coefficients) and uniform smudging integers, all
 * from node:crypto. Never uses Math.random and never reduces a biased sample (rejection instead).
 *
 * Hand-written, not a library: the shares live in SEAL's RNS/NTT layout (limb j holds the key
 * mod q_j), and no maintained npm package does vector arithmetic mod arbitrary 60-bit primes.
 * BigInt keeps it exact; the vectors are K·N = 16,384 long, so this costs milliseconds per share.
 */
import { randomFillSync } from "node:crypto";

/** a^e mod q. */
export function powMod(a: bigint, e: bigint, q: bigint): bigint {
  let result = 1n;
  let base = ((a % q) + q) % q;
  for (let exp = e; exp > 0n; exp >>= 1n) {
    if (exp & 1n) result = (result * base) % q;
    base = (base * base) % q;
  }
  return result;
}

/** a⁻¹ mod a prime q (Fermat). */
export function invMod(a: bigint, q: bigint): bigint {
  return powMod(a, q - 2n, q);
}

/**
 * The Lagrange coefficient λ_i of hospital index i (≥ 1) for the set `indices`, at x = 0, mod q:
 * Π_{j ≠ i} j / (j − i). Σ λ_i f(i) = f(0) for every polynomial f of degree < |indices|.
 */
export function lagrangeAtZero(i: number, indices: readonly number[], q: bigint): bigint {
  let num = 1n;
  let den = 1n;
  for (const j of indices) {
    if (j === i) continue;
    num = (num * BigInt(j)) % q;
    den = (den * ((((BigInt(j) - BigInt(i)) % q) + q) % q)) % q;
  }
  return (num * invMod(den, q)) % q;
}

/** `count` residues uniform in [0, q), by rejection from 64-bit words masked to q's bit length. */
export function uniformResidues(count: number, q: bigint): BigUint64Array {
  const out = new BigUint64Array(count);
  const mask = (1n << BigInt(q.toString(2).length)) - 1n;
  const words = new BigUint64Array(Math.max(64, count + (count >> 2)));
  let filled = 0;
  while (filled < count) {
    randomFillSync(words);
    for (let w = 0; w < words.length && filled < count; w++) {
      const v = words[w]! & mask;
      if (v < q) out[filled++] = v; // accepted with probability > 1/2: q has the top bit of the mask set
    }
  }
  return out;
}

/** Fills a typed array with random bytes: node:crypto's randomFillSync, or a seeded stand-in in tests. */
export type RandomFill = (buffer: BigUint64Array | Uint32Array) => unknown;

/** `count` integers uniform in [−2^bits, 2^bits] (bits ≤ 62), as signed BigInt64s. */
export function uniformSigned(count: number, bits: number, fill: RandomFill = randomFillSync): BigInt64Array {
  const out = new BigInt64Array(count);
  const span = (1n << BigInt(bits + 1)) + 1n; // 2^(bits+1) + 1 values
  const mask = (1n << BigInt(bits + 2)) - 1n;
  const half = 1n << BigInt(bits);
  const words = new BigUint64Array(Math.max(64, count * 2));
  let filled = 0;
  while (filled < count) {
    fill(words);
    for (let w = 0; w < words.length && filled < count; w++) {
      const v = words[w]! & mask;
      if (v < span) out[filled++] = v - half; // accepted with probability just over 1/2
    }
  }
  return out;
}

/**
 * A signed integer polynomial in RNS form: limb j holds each coefficient mod q_j (non-negative),
 * the layout SEAL uses for a coefficient-form polynomial: K limbs of N.
 */
export function toRns(coefficients: BigInt64Array, primes: readonly bigint[]): BigUint64Array {
  const n = coefficients.length;
  const out = new BigUint64Array(n * primes.length);
  primes.forEach((q, j) => {
    for (let k = 0; k < n; k++) {
      const c = coefficients[k]!;
      out[j * n + k] = c >= 0n ? c % q : q - ((-c) % q);
    }
  });
  // -c ≡ 0 mod q gives q: fold it back to 0.
  primes.forEach((q, j) => {
    for (let k = 0; k < n; k++) if (out[j * n + k] === q) out[j * n + k] = 0n;
  });
  return out;
}

/** out[j·N + k] = a[j·N + k] · scalar_j mod q_j, limb by limb. */
export function scaleLimbs(a: BigUint64Array, scalars: readonly bigint[], primes: readonly bigint[], n: number): BigUint64Array {
  const out = new BigUint64Array(a.length);
  primes.forEach((q, j) => {
    const s = scalars[j]!;
    for (let k = j * n; k < (j + 1) * n; k++) out[k] = (a[k]! * s) % q;
  });
  return out;
}

/** Every value of `a` is below its limb's prime (what SEAL's is_valid_for checks, done before SEAL sees it). */
export function inRange(a: BigUint64Array, primes: readonly bigint[], n: number): boolean {
  for (let j = 0; j < primes.length; j++) {
    const q = primes[j]!;
    for (let k = j * n; k < (j + 1) * n; k++) if (a[k]! >= q) return false;
  }
  return true;
}

const TWO32 = 4294967296;

/**
 * uniformSigned(count, bits) then toRns(…, primes), without a BigInt per coefficient: the same
 * rejection sampling on the same random words (so the same integers for the same random bytes),
 * reduced mod each q_j in exact double arithmetic on 32-bit halves. Writes limb j, coefficient k
 * as the little-endian u64 at out[2·(j·count + k)] (low half) and out[2·(j·count + k) + 1].
 *
 * Exactness: a value |e| ≤ 2^bits is (mh, ml), mh < 2^31; its quotient by q_j is m ≤ 2^bits / q_j,
 * and every product m·(q_j's 32-bit halves) stays below 2^53 when m < 2^20 (checked by
 * fastSmudgingApplies); the double estimate of m is off by at most one, fixed by one compare.
 * Falls back to the BigInt path when the check fails (bits < 32, or primes below 2^(bits − 20)).
 */
export function uniformSignedRns(count: number, bits: number, primes: readonly bigint[], out: Uint32Array, fill: RandomFill = randomFillSync): void {
  if (out.length !== 2 * count * primes.length) throw new RangeError(`uniformSignedRns: out holds ${out.length} words, not 2·${count}·${primes.length}`);
  if (!fastSmudgingApplies(bits, primes)) {
    const rns = toRns(uniformSigned(count, bits, fill), primes);
    out.set(new Uint32Array(rns.buffer, rns.byteOffset, rns.length * 2));
    return;
  }
  const k = primes.length;
  const qh = primes.map((q) => Number(q >> 32n));
  const ql = primes.map((q) => Number(q & 0xffffffffn));
  const qf = primes.map((q) => Number(q));
  // Accept v (bits + 2 bits) below 2^(bits+1) + 1, as uniformSigned does: hi < spanHi, or v = 2^(bits+1) exactly.
  const maskHi = 2 ** (bits + 2 - 32) - 1;
  const spanHi = 2 ** (bits + 1 - 32);
  const halfHi = 2 ** (bits - 32);
  const words = new Uint32Array(2 * Math.max(64, count * 2));
  let filled = 0;
  while (filled < count) {
    fill(words);
    for (let w = 0; w < words.length && filled < count; w += 2) {
      const lo = words[w]!;
      const hi = (words[w + 1]! & maskHi) >>> 0; // & yields an int32: >>> 0 reads it unsigned again
      if (hi > spanHi || (hi === spanHi && lo !== 0)) continue;
      // e = v − 2^bits, as a sign and a magnitude (mh, ml) with ml < 2^32.
      let negative: boolean;
      let mh: number;
      let ml: number;
      if (hi >= halfHi) {
        negative = false;
        mh = hi - halfHi;
        ml = lo;
      } else {
        negative = true;
        mh = halfHi - hi - (lo === 0 ? 0 : 1);
        ml = lo === 0 ? 0 : TWO32 - lo;
      }
      for (let j = 0; j < k; j++) {
        const h = qh[j]!;
        const l = ql[j]!;
        // r = |e| − m·q_j, m the double estimate of |e| / q_j (exact or one too many or too few).
        const m = Math.floor((mh * TWO32 + ml) / qf[j]!);
        let rl = ml - m * l;
        let rh = mh - m * h;
        const borrow = Math.floor(rl / TWO32);
        rl -= borrow * TWO32;
        rh += borrow;
        if (rh < 0) {
          rl += l;
          rh += h;
          if (rl >= TWO32) { rl -= TWO32; rh += 1; }
        } else if (rh > h || (rh === h && rl >= l)) {
          rl -= l;
          rh -= h;
          if (rl < 0) { rl += TWO32; rh -= 1; }
        }
        if (negative && (rh !== 0 || rl !== 0)) {
          // q_j − r
          rl = l - rl;
          rh = h - rh;
          if (rl < 0) { rl += TWO32; rh -= 1; }
        }
        const at = 2 * (j * count + filled);
        out[at] = rl;
        out[at + 1] = rh;
      }
      filled++;
    }
  }
}

/** Whether uniformSignedRns's double arithmetic is exact for these sizes (see there). */
export function fastSmudgingApplies(bits: number, primes: readonly bigint[]): boolean {
  return bits >= 33 && bits <= 62 && primes.every((q) => q > 2n ** 32n && q < 2n ** 61n && (1n << BigInt(bits)) / q < 2n ** 20n);
}
