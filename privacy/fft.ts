/**
 * Radix-2 complex FFT on Float64Arrays and the convolutions that compose privacy loss
 * distributions: linear convolution of two PMFs, and the k-fold self-convolution of one by
 * powering its spectrum on a window that a Chernoff bound sizes. Never lets a linear convolution
 * wrap around: its transform is at least a.length + b.length − 1 long.
 *
 * Two real sequences share one complex transform (x + i·y, split by Hermitian symmetry), so a
 * convolution costs two FFTs and the REMOVE and ADD halves of a PLD are convolved together for
 * three (two when squaring). Sparse or short inputs are convolved directly: the pure-ε PLD has
 * two atoms on a grid of 10⁴ points, and an FFT there would only add round-off.
 */

interface Twiddles {
  readonly cos: Float64Array;
  readonly sin: Float64Array;
  readonly reversed: Uint32Array;
}

const twiddleCache = new Map<number, Twiddles>();

function twiddlesFor(n: number): Twiddles {
  let table = twiddleCache.get(n);
  if (table !== undefined) return table;
  const cos = new Float64Array(n / 2);
  const sin = new Float64Array(n / 2);
  // Each twiddle straight from Math.cos/sin: a recurrence would drift by n·ulp over the table.
  for (let k = 0; k < n / 2; k++) {
    cos[k] = Math.cos((2 * Math.PI * k) / n);
    sin[k] = Math.sin((2 * Math.PI * k) / n);
  }
  const bits = Math.log2(n);
  const reversed = new Uint32Array(n);
  for (let i = 1; i < n; i++) reversed[i] = (reversed[i >> 1]! >> 1) | ((i & 1) << (bits - 1));
  table = { cos, sin, reversed };
  if (twiddleCache.size > 24) twiddleCache.clear();
  twiddleCache.set(n, table);
  return table;
}

/**
 * In-place FFT of (re, im); length a power of two. `inverse` transforms back and divides by n.
 * @example const re = Float64Array.of(1, 0, 0, 0), im = new Float64Array(4); fft(re, im); // re = [1, 1, 1, 1]
 */
export function fft(re: Float64Array, im: Float64Array, inverse = false): void {
  const n = re.length;
  if (n <= 1) return;
  const { cos, sin, reversed } = twiddlesFor(n);
  for (let i = 0; i < n; i++) {
    const j = reversed[i]!;
    if (j > i) {
      const tr = re[i]!; re[i] = re[j]!; re[j] = tr;
      const ti = im[i]!; im[i] = im[j]!; im[j] = ti;
    }
  }
  for (let p = 0; p < n; p += 2) { // size-2 butterflies: twiddle 1
    const xr = re[p + 1]!, xi = im[p + 1]!, yr = re[p]!, yi = im[p]!;
    re[p + 1] = yr - xr; im[p + 1] = yi - xi; re[p] = yr + xr; im[p] = yi + xi;
  }
  const sign = inverse ? 1 : -1;
  const stageCos = new Float64Array(n / 2);
  const stageSin = new Float64Array(n / 2);
  for (let size = 4; size <= n; size *= 2) {
    const half = size / 2;
    const step = n / size;
    // This stage's twiddles, contiguous, so the butterfly loop reads memory in order.
    for (let j = 0; j < half; j++) { stageCos[j] = cos[j * step]!; stageSin[j] = sign * sin[j * step]!; }
    for (let start = 0; start < n; start += size) {
      for (let j = 0; j < half; j++) {
        const wr = stageCos[j]!, wi = stageSin[j]!;
        const p = start + j, q = p + half;
        const rq = re[q]!, iq = im[q]!, rp = re[p]!, ip = im[p]!;
        const xr = rq * wr - iq * wi, xi = rq * wi + iq * wr;
        re[q] = rp - xr; im[q] = ip - xi; re[p] = rp + xr; im[p] = ip + xi;
      }
    }
  }
  if (inverse) for (let i = 0; i < n; i++) { re[i] = re[i]! / n; im[i] = im[i]! / n; }
}

/** Smallest power of two ≥ n (and ≥ 1). */
export const nextPowerOfTwo = (n: number): number => 2 ** Math.ceil(Math.log2(Math.max(1, n)));

function nonZeroIndices(a: Float64Array): Uint32Array {
  let count = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== 0) count++;
  const out = new Uint32Array(count);
  for (let i = 0, j = 0; i < a.length; i++) if (a[i] !== 0) out[j++] = i;
  return out;
}

/** Direct O(nnz·nnz) convolution, chosen when it is cheaper than an FFT of the output length. */
function directConvolution(a: Float64Array, b: Float64Array): Float64Array | null {
  const nzA = nonZeroIndices(a);
  const nzB = nonZeroIndices(b);
  const n = nextPowerOfTwo(a.length + b.length - 1);
  if (nzA.length * nzB.length > 6 * n * Math.log2(n)) return null;
  const out = new Float64Array(a.length + b.length - 1);
  for (const i of nzA) {
    const ai = a[i]!;
    for (const j of nzB) out[i + j] = out[i + j]! + ai * b[j]!;
  }
  return out;
}

/** Fills re/im with x + i·y, zero-padded to their length. */
function pack(re: Float64Array, im: Float64Array, x: Float64Array, y: Float64Array): void {
  re.fill(0); im.fill(0);
  re.set(x); im.set(y);
}

/**
 * Given Z = FFT(x + i·y), writes (X·U) + i·(Y·V) into (outRe, outIm), where X, Y are the
 * spectra of x, y (Hermitian split) and U, V those of u, v taken from W = FFT(u + i·v).
 */
function multiplySplit(zr: Float64Array, zi: Float64Array, wr: Float64Array, wi: Float64Array, outRe: Float64Array, outIm: Float64Array): void {
  const n = zr.length;
  for (let k = 0; k < n; k++) {
    const m = (n - k) & (n - 1);
    // X_k = (Z_k + conj Z_m)/2, Y_k = (Z_k - conj Z_m)/(2i); same split for W into U, V.
    const xr = (zr[k]! + zr[m]!) / 2, xi = (zi[k]! - zi[m]!) / 2;
    const yr = (zi[k]! + zi[m]!) / 2, yi = (zr[m]! - zr[k]!) / 2;
    const ur = (wr[k]! + wr[m]!) / 2, ui = (wi[k]! - wi[m]!) / 2;
    const vr = (wi[k]! + wi[m]!) / 2, vi = (wr[m]! - wr[k]!) / 2;
    const pr = xr * ur - xi * ui, pi = xr * ui + xi * ur; // X·U
    const sr = yr * vr - yi * vi, si = yr * vi + yi * vr; // Y·V
    outRe[k] = pr - si; // (X·U) + i·(Y·V)
    outIm[k] = pi + sr;
  }
}

/**
 * Linear convolution of two pairs at once: [a1 * b1, a2 * b2]. Squaring (a1 === b1 and
 * a2 === b2) costs two FFTs, otherwise three; a pair cheap enough to convolve directly is.
 */
export function convolvePairs(a1: Float64Array, b1: Float64Array, a2: Float64Array, b2: Float64Array): [Float64Array, Float64Array] {
  const direct1 = directConvolution(a1, b1);
  const direct2 = directConvolution(a2, b2);
  if (direct1 !== null || direct2 !== null) {
    return [direct1 ?? convolve(a1, b1), direct2 ?? convolve(a2, b2)];
  }
  const length1 = a1.length + b1.length - 1;
  const length2 = a2.length + b2.length - 1;
  const n = nextPowerOfTwo(Math.max(length1, length2));
  const zr = new Float64Array(n), zi = new Float64Array(n);
  pack(zr, zi, a1, a2);
  fft(zr, zi);
  let wr = zr, wi = zi;
  if (a1 !== b1 || a2 !== b2) {
    wr = new Float64Array(n); wi = new Float64Array(n);
    pack(wr, wi, b1, b2);
    fft(wr, wi);
  }
  const outRe = new Float64Array(n), outIm = new Float64Array(n);
  multiplySplit(zr, zi, wr, wi, outRe, outIm);
  fft(outRe, outIm, true);
  return [outRe.slice(0, length1), outIm.slice(0, length2)];
}

/**
 * Linear convolution a * b of real sequences (length a.length + b.length − 1).
 * @example convolve(Float64Array.of(1, 2), Float64Array.of(3, 4)); // ≈ [3, 10, 8]
 */
export function convolve(a: Float64Array, b: Float64Array): Float64Array {
  const direct = directConvolution(a, b);
  if (direct !== null) return direct;
  const length = a.length + b.length - 1;
  const n = nextPowerOfTwo(length);
  // a and b share one transform as a + i·b; C_k = A_k·B_k is Hermitian, so its inverse is real.
  const zr = new Float64Array(n), zi = new Float64Array(n);
  pack(zr, zi, a, b);
  fft(zr, zi);
  const outRe = new Float64Array(n), outIm = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    const m = (n - k) & (n - 1);
    const xr = (zr[k]! + zr[m]!) / 2, xi = (zi[k]! - zi[m]!) / 2;
    const yr = (zi[k]! + zi[m]!) / 2, yi = (zr[m]! - zr[k]!) / 2;
    outRe[k] = xr * yr - xi * yi;
    outIm[k] = xr * yi + xi * yr;
  }
  fft(outRe, outIm, true);
  return outRe.slice(0, length);
}

/**
 * The `count`-fold circular self-convolution, modulo n (a power of two ≥ each length), of one
 * real sequence or of two at once (a + i·b): each Fourier coefficient is raised to `count` by
 * repeated squaring, so the cost is two FFTs whatever the count (dp_accounting
 * `common.self_convolve`). Sums that reach past n wrap around: callers size n so that the mass
 * able to wrap is negligible, and charge it.
 */
export function selfConvolveCircular(a: Float64Array, b: Float64Array | null, count: number, n: number): [Float64Array, Float64Array | null] {
  const zr = new Float64Array(n), zi = new Float64Array(n);
  pack(zr, zi, a, b ?? new Float64Array(0));
  fft(zr, zi);
  const outRe = new Float64Array(n), outIm = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    const m = (n - k) & (n - 1);
    // With b: X_k = (Z_k + conj Z_m)/2 and Y_k = (Z_k − conj Z_m)/(2i); without, Z is X.
    const xr = b === null ? zr[k]! : (zr[k]! + zr[m]!) / 2, xi = b === null ? zi[k]! : (zi[k]! - zi[m]!) / 2;
    let pr = 1, pi = 0, br = xr, bi = xi;
    let qr = 1, qi = 0, cr = b === null ? 0 : (zi[k]! + zi[m]!) / 2, ci = b === null ? 0 : (zr[m]! - zr[k]!) / 2;
    for (let e = count; e > 0; e = Math.floor(e / 2)) {
      if (e % 2 === 1) {
        const t = pr * br - pi * bi; pi = pr * bi + pi * br; pr = t;
        const u = qr * cr - qi * ci; qi = qr * ci + qi * cr; qr = u;
      }
      const t = br * br - bi * bi; bi = 2 * br * bi; br = t;
      const u = cr * cr - ci * ci; ci = 2 * cr * ci; cr = u;
    }
    outRe[k] = b === null ? pr : pr - qi; // Xᶜ + i·Yᶜ
    outIm[k] = b === null ? pi : pi + qr;
  }
  fft(outRe, outIm, true);
  return [outRe, b === null ? null : outIm];
}

/**
 * Index range [low, high] of a `count`-fold sum of draws from `probs` (indices 0..n−1) outside
 * which each tail holds at most tailMass/2, by the Chernoff bound P(S ≥ u) ≤ e^{count·K(t) − tu}
 * with K the log-MGF (dp_accounting `common.compute_self_convolve_bounds`, over a wider set of
 * orders t: geometric from 1/(8n) to 512/n, so small and large counts both get a tight window).
 */
export function chernoffWindow(probs: Float64Array, count: number, tailMass: number): [number, number] {
  const n = probs.length;
  let low = 0, high = count * (n - 1);
  const logTail = Math.log(2 / tailMass);
  const support: number[] = [];
  const logProbs: number[] = [];
  for (let i = 0; i < n; i++) if (probs[i]! > 0) { support.push(i); logProbs.push(Math.log(probs[i]!)); }
  for (let k = -4; k <= 20; k++) {
    for (const t of [2 ** (k / 2) / (2 * n), -(2 ** (k / 2)) / (2 * n)]) {
      let max = Number.NEGATIVE_INFINITY;
      for (let j = 0; j < support.length; j++) max = Math.max(max, logProbs[j]! + t * support[j]!);
      let sum = 0;
      for (let j = 0; j < support.length; j++) sum += Math.exp(logProbs[j]! + t * support[j]! - max);
      const bound = (count * (max + Math.log(sum)) + logTail) / t;
      if (!Number.isFinite(bound)) continue;
      if (t > 0) high = Math.min(high, Math.ceil(bound));
      else low = Math.max(low, Math.floor(bound));
    }
  }
  return low <= high ? [low, high] : [0, count * (n - 1)];
}
