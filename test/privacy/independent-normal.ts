/**
 * A standard normal CDF and the analytic Gaussian mechanism's δ(ε), written independently of
 * privacy/ (no shared code), so that tests can check the library against them.
 */

/** erfc by the all-positive series erf = (2/√π)e^{−x²}Σ 2ⁿx^{2n+1}/(2n+1)!! below 2, Lentz's continued fraction above. */
export function erfc(x: number): number {
  if (x < 0) return 2 - erfc(-x);
  if (x < 2) {
    let term = x, sum = x;
    for (let n = 1; n < 200 && term > 1e-18 * sum; n++) { term *= (2 * x * x) / (2 * n + 1); sum += term; }
    return 1 - (2 / Math.sqrt(Math.PI)) * Math.exp(-x * x) * sum;
  }
  // erfc(x) = e^{−x²}/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))), modified Lentz.
  const tiny = 1e-300;
  let f = x, c = x, d = 0;
  for (let n = 1; n < 500; n++) {
    const a = n / 2;
    d = x + a * d; d = Math.abs(d) < tiny ? tiny : d; d = 1 / d;
    c = x + a / c; c = Math.abs(c) < tiny ? tiny : c;
    const step = c * d;
    f *= step;
    if (Math.abs(step - 1) < 1e-16) break;
  }
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
}

export const phi = (x: number): number => 0.5 * erfc(-x / Math.SQRT2);

/** Balle & Wang 2018, Thm 8: δ(ε) = Φ(Δ/2σ − εσ/Δ) − eᵉΦ(−Δ/2σ − εσ/Δ). */
export const gaussianDelta = (epsilon: number, sigma: number, sensitivity = 1): number =>
  phi(sensitivity / (2 * sigma) - (epsilon * sigma) / sensitivity) - Math.exp(epsilon) * phi(-sensitivity / (2 * sigma) - (epsilon * sigma) / sensitivity);

/** The smallest ε with δ(ε) ≤ delta for the Gaussian mechanism of σ (Δ = 1), by bisection. */
export function exactGaussianEpsilon(delta: number, sigma: number): number {
  let low = 0, high = 1;
  while (gaussianDelta(high, sigma) > delta) { low = high; high *= 2; }
  for (let i = 0; i < 200; i++) {
    const mid = (low + high) / 2;
    if (gaussianDelta(mid, sigma) > delta) low = mid; else high = mid;
  }
  return high;
}
