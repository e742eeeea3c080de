/**
 * The error function and the standard normal CDF Φ, accurate to a few ulps far into the tails.
 * Never computes a tail probability as 1 − (something close to 1): tails come from erfc or, in
 * log space, from the scaled erfcx(x) = e^{x²}·erfc(x), so Φ(−40) and log Φ(−1e5) stay exact.
 *
 * Rational Chebyshev approximations of W. J. Cody, "Rational Chebyshev approximations for the
 * error function", Math. Comp. 23 (1969) 631–637, with the coefficients and interval breaks of
 * his CALERF (Netlib SPECFUN); relative error below 1e-16 on each interval before rounding.
 */

// |x| ≤ 0.46875: erf(x) = x·A(x²)/B(x²). Literals as printed in CALERF.
const A = [3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02, 3.20937758913846947e03, 1.85777706184603153e-1];
const B = [2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03, 2.84423683343917062e03];
// 0.46875 < x ≤ 4: erfcx(x) = C(x)/D(x).
const C = [
  5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01, 2.98635138197400131e02, 8.81952221241769090e02,
  1.71204761263407058e03, 2.05107837782607147e03, 1.23033935479799725e03, 2.15311535474403846e-8,
];
const D = [
  1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02, 1.62138957456669019e03, 3.29079923573345963e03,
  4.36261909014324716e03, 3.43936767414372164e03, 1.23033935480374942e03,
];
// x > 4: erfcx(x) = (1/√π − P(1/x²)/(x²·Q(1/x²)))/x.
const P = [
  3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1, 1.60837851487422766e-2, 6.58749161529837803e-4,
  1.63153871373020978e-2,
];
const Q = [2.56852019228982242e00, 1.87295284992346047e00, 5.27905102951428412e-1, 6.05183413124413191e-2, 2.33520497626869185e-3];

const THRESHOLD = 0.46875;
const ONE_OVER_SQRT_PI = 0.56418958354775628695;
/** Past this, erfc(x) underflows below the smallest normal double (CALERF's XBIG). */
const ERFC_UNDERFLOW = 26.543;
/** Past this, 1/√π/x is erfcx(x) to the last bit (CALERF's XHUGE). */
const ERFCX_ASYMPTOTIC = 6.71e7;

/** erf(x) for |x| ≤ 0.46875. */
function erfSmall(x: number): number {
  const z = x * x;
  let num = A[4]! * z;
  let den = z;
  for (let i = 0; i < 3; i++) {
    num = (num + A[i]!) * z;
    den = (den + B[i]!) * z;
  }
  return (x * (num + A[3]!)) / (den + B[3]!);
}

/** erfcx(y) = e^{y²}·erfc(y) for y > 0.46875. */
function erfcxLarge(y: number): number {
  if (y <= 4) {
    let num = C[8]! * y;
    let den = y;
    for (let i = 0; i < 7; i++) {
      num = (num + C[i]!) * y;
      den = (den + D[i]!) * y;
    }
    return (num + C[7]!) / (den + D[7]!);
  }
  if (y >= ERFCX_ASYMPTOTIC) return ONE_OVER_SQRT_PI / y;
  const z = 1 / (y * y);
  let num = P[5]! * z;
  let den = z;
  for (let i = 0; i < 4; i++) {
    num = (num + P[i]!) * z;
    den = (den + Q[i]!) * z;
  }
  return (ONE_OVER_SQRT_PI - (z * (num + P[4]!)) / (den + Q[4]!)) / y;
}

/**
 * e^{−y²} without the rounding error of forming y² first: Cody splits y = y₁ + (y − y₁) with
 * y₁ = ⌊16y⌋/16, so y₁² is exact and (y − y₁)(y + y₁) is small.
 */
function expMinusSquare(y: number): number {
  const y1 = Math.trunc(y * 16) / 16;
  return Math.exp(-y1 * y1) * Math.exp(-(y - y1) * (y + y1));
}

/**
 * The error function.
 * @example erf(0.5); // 0.5204998778130465
 */
export function erf(x: number): number {
  const y = Math.abs(x);
  if (Number.isNaN(x)) return Number.NaN;
  if (y <= THRESHOLD) return erfSmall(x);
  const tail = y >= ERFC_UNDERFLOW ? 0 : expMinusSquare(y) * erfcxLarge(y);
  return x > 0 ? 0.5 - tail + 0.5 : tail - 0.5 - 0.5;
}

/**
 * The complementary error function 1 − erf(x), with full relative accuracy for large x.
 * @example erfc(5); // 1.5374597944280349e-12
 */
export function erfc(x: number): number {
  const y = Math.abs(x);
  if (Number.isNaN(x)) return Number.NaN;
  if (y <= THRESHOLD) return 1 - erfSmall(x);
  const tail = y >= ERFC_UNDERFLOW ? 0 : expMinusSquare(y) * erfcxLarge(y);
  return x > 0 ? tail : 2 - tail;
}

/**
 * The scaled complementary error function e^{x²}·erfc(x): finite and smooth for all x ≥ −26.6.
 * @example erfcx(1e4); // ≈ 5.6418958e-5 (≈ 1/(x√π))
 */
export function erfcx(x: number): number {
  if (Number.isNaN(x)) return Number.NaN;
  const y = Math.abs(x);
  const scaled = y <= THRESHOLD ? Math.exp(x * x) * (1 - erfSmall(x)) : erfcxLarge(y);
  if (x >= 0 || y <= THRESHOLD) return scaled;
  // erfcx(−y) = 2e^{y²} − erfcx(y); the split keeps e^{y²} accurate (CALERF's negative branch).
  const y1 = Math.trunc(y * 16) / 16;
  const growth = Math.exp(y1 * y1) * Math.exp((y - y1) * (y + y1));
  return 2 * growth - scaled;
}

/** x² as an unevaluated sum hi + lo, exactly (Dekker 1971, with Veltkamp's split). */
function exactSquare(x: number): [hi: number, lo: number] {
  const hi = x * x;
  if (!Number.isFinite(hi) || Math.abs(x) > 1e150) return [hi, 0];
  const c = 134217729 * x; // 2^27 + 1
  const xh = c - (c - x);
  const xl = x - xh;
  return [hi, xh * xh - hi + 2 * xh * xl + xl * xl];
}

/**
 * log erfc(x), finite for every finite x (erfc itself underflows past x ≈ 26.5).
 * @example logErfc(30); // −903.0309914...
 */
export function logErfc(x: number): number {
  if (Number.isNaN(x)) return Number.NaN;
  if (x === Infinity) return -Infinity;
  if (x <= THRESHOLD) return Math.log(erfc(x));
  const [hi, lo] = exactSquare(x);
  return Math.log(erfcxLarge(x)) - hi - lo;
}

/**
 * Φ(x), the standard normal CDF, with full relative accuracy in the lower tail (down to ≈ −37.5,
 * where it underflows; use logNormalCdf beyond).
 * @example normalCdf(-10); // 7.619853024160527e-24
 */
export function normalCdf(x: number): number {
  if (Number.isNaN(x)) return Number.NaN;
  if (x < -1) {
    // Φ(x) = ½·erfcx(−x/√2)·e^{−x²/2}; erfcx is smooth, so rounding x/√2 costs nothing, and
    // e^{−x²/2} is taken from the exact square.
    const [hi, lo] = exactSquare(x);
    return 0.5 * erfcx(-x * Math.SQRT1_2) * Math.exp(-hi / 2) * Math.exp(-lo / 2);
  }
  return 0.5 * erfc(-x * Math.SQRT1_2);
}

/**
 * log Φ(x), accurate for all x: ≈ −x²/2 − log(−x√(2π)) far in the lower tail, ≈ −Φ(−x) in the upper.
 * @example logNormalCdf(-40); // −804.6084420137538
 */
export function logNormalCdf(x: number): number {
  if (Number.isNaN(x)) return Number.NaN;
  if (x === -Infinity) return -Infinity;
  if (x < -1) {
    const [hi, lo] = exactSquare(x);
    return Math.log(0.5 * erfcx(-x * Math.SQRT1_2)) - hi / 2 - lo / 2;
  }
  if (x < 0) return Math.log(normalCdf(x));
  return Math.log1p(-normalCdf(-x));
}
