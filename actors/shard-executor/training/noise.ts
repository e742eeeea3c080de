/**
 * Gaussian noise vectors for DP-SGD. The default, `secureGaussianVector`, draws every coordinate
 * from privacy/noise.ts's exact discrete Gaussian (Canonne–Kamath–Steinke 2020) on node:crypto:
 * privacy/ offers only a scalar sampler, so this loops over it, on a grid of σ·2⁻²⁰ (a power of
 * two: ≥ 2²⁰ grid steps per σ, far above the 1024 that privacy/noise.ts requires). A noise value
 * of up to 2²³ grid steps is exact in float32, so the noise itself carries no floating-point
 * artefact (Mironov 2012); it is then added to the clipped gradient sum in float32, as Opacus adds
 * its noise. Never seeded: `seededGaussianVector` exists for tests and benchmarks only, and its
 * noise protects nothing (anyone with the seed can subtract it).
 */
import { gaussianNoise } from "../../../privacy/index.ts";
import { seededNormal } from "../random.ts";

/** `length` independent draws of N(0, σ²) (σ = 0: zeros). */
export type GaussianVectorSampler = (length: number, sigma: number) => Float32Array;

/** The grid for σ: the power of two 2^(⌊log₂ σ⌋ − 20). */
export function noiseGranularity(sigma: number): number {
  return 2 ** (Math.floor(Math.log2(sigma)) - 20);
}

/**
 * Exact discrete Gaussian noise from node:crypto, coordinate by coordinate.
 * @example secureGaussianVector(4, 1.5); // four draws of N(0, 1.5²), each a multiple of 2⁻²⁰
 */
export const secureGaussianVector: GaussianVectorSampler = (length, sigma) => {
  const out = new Float32Array(length);
  if (sigma === 0) return out;
  const options = { granularity: noiseGranularity(sigma) };
  for (let i = 0; i < length; i++) out[i] = gaussianNoise(sigma, options);
  return out;
};

/**
 * Reproducible N(0, σ²) (Box–Muller over mulberry32). For tests and benchmarks only: NOT private.
 * @example seededGaussianVector(7)(3, 1); // the same three numbers every time
 */
export function seededGaussianVector(seed: number): GaussianVectorSampler {
  const normal = seededNormal(seed);
  return (length, sigma) => {
    const out = new Float32Array(length);
    if (sigma === 0) return out;
    for (let i = 0; i < length; i++) out[i] = normal() * sigma;
    return out;
  };
}
