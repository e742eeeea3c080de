/**
 * The standard normal quantile Φ⁻¹ from a log probability, accurate near both ends: the upper
 * tail is taken as −expm1(log p), never as 1 − p, so Φ⁻¹(p^{1/m}) for m = 10⁶ keeps its digits.
 * Never draws randomness; pure arithmetic.
 *
 * Wichura, "Algorithm AS 241: The Percentage Points of the Normal Distribution", Applied
 * Statistics 37 (1988) 477–484, PPND16 (relative error about 1e-16): a rational function in
 * q = p − ½ for |q| ≤ 0.425, otherwise in r = √(−log(tail)) on r ≤ 5 and r > 5. Coefficients as
 * printed there, constant term first.
 */

const CENTRAL_NUMERATOR = [3.3871328727963666080, 1.3314166789178437745e2, 1.9715909503065514427e3, 1.3731693765509461125e4, 4.5921953931549871457e4, 6.7265770927008700853e4, 3.3430575583588128105e4, 2.5090809287301226727e3];
const CENTRAL_DENOMINATOR = [1, 4.2313330701600911252e1, 6.8718700749205790830e2, 5.3941960214247511077e3, 2.1213794301586595867e4, 3.9307895800092710610e4, 2.8729085735721942674e4, 5.2264952788528545610e3];
const NEAR_NUMERATOR = [1.42343711074968357734, 4.63033784615654529590, 5.76949722146069140550, 3.64784832476320460504, 1.27045825245236838258, 2.41780725177450611770e-1, 2.27238449892691845833e-2, 7.74545014278341407640e-4];
const NEAR_DENOMINATOR = [1, 2.05319162663775882187, 1.67638483018380384940, 6.89767334985100004550e-1, 1.48103976427480074590e-1, 1.51986665636164571966e-2, 5.47593808499534494600e-4, 1.05075007164441684324e-9];
const FAR_NUMERATOR = [6.65790464350110377720, 5.46378491116411436990, 1.78482653991729133580, 2.96560571828504891230e-1, 2.65321895265761230930e-2, 1.24266094738807843860e-3, 2.71155556874348757815e-5, 2.01033439929228813265e-7];
const FAR_DENOMINATOR = [1, 5.99832206555887937690e-1, 1.36929880922735805310e-1, 1.48753612908506148525e-2, 7.86869131145613259100e-4, 1.84631831751005468180e-5, 1.42151175831644588870e-7, 2.04426310338993978564e-15];

function horner(coefficients: readonly number[], x: number): number {
  let value = coefficients[coefficients.length - 1]!;
  for (let i = coefficients.length - 2; i >= 0; i--) value = value * x + coefficients[i]!;
  return value;
}

/**
 * The x with ln Φ(x) = logProbability, for logProbability ≤ 0 (−Infinity → −Infinity, 0 → Infinity).
 * @example normalQuantileOfLog(Math.log(0.975)); // 1.9599639845400536 (Φ⁻¹(0.975) = 1.959963984540054…)
 */
export function normalQuantileOfLog(logProbability: number): number {
  if (!(logProbability <= 0)) return Number.NaN; // NaN or a log probability above 0
  if (logProbability === 0) return Infinity;
  if (logProbability === -Infinity) return -Infinity;
  const p = Math.exp(logProbability);
  const q = p - 0.5;
  if (Math.abs(q) <= 0.425) {
    const r = 0.180625 - q * q;
    return (q * horner(CENTRAL_NUMERATOR, r)) / horner(CENTRAL_DENOMINATOR, r);
  }
  const lower = q < 0;
  const logTail = lower ? logProbability : Math.log(-Math.expm1(logProbability));
  const r = Math.sqrt(-logTail);
  const value = r <= 5 ? horner(NEAR_NUMERATOR, r - 1.6) / horner(NEAR_DENOMINATOR, r - 1.6) : horner(FAR_NUMERATOR, r - 5) / horner(FAR_DENOMINATOR, r - 5);
  return lower ? -value : value;
}
