/**
 * The privacy library's public face: differential-privacy mathematics with no actor, no I/O and
 * no clock in it — privacy events (what happened), the RDP and PLD accountants (how to count
 * it), composition theorems, noise calibration, exact noise samplers on node:crypto, the
 * standard normal, and the error classes they throw. The Accountant and the Aggregator import it
 * from here. Never imports anything of ours from outside privacy/: it is publishable on its own.
 */
export * from "./events.ts";
export { InvalidPrivacyParameter, UnsupportedPrivacyEvent } from "./errors.ts";
export {
  RdpAccountant, DEFAULT_RDP_ORDERS, computeRdp, epsilonConverter, rdpToEpsilon, rdpToDelta,
  rdpGaussian, rdpLaplace, rdpPureDp, rdpSubsampledGaussian, effectiveNoiseMultiplier,
} from "./rdp.ts";
export {
  PldAccountant, DEFAULT_PLD_OPTIONS, MAX_GRID_COARSENINGS, MAX_VALUE_DISCRETIZATION_INTERVAL, gaussianPld, laplacePld, pureDpPld,
  type PldAccountantOptions, type PrivacyLossDistribution,
} from "./pld.ts";
export { basicComposition, advancedComposition, optimalHomogeneousComposition } from "./composition.ts";
export {
  analyticGaussianSigma, classicGaussianSigma, gaussianDelta, gaussianEpsilon, laplaceScale, noiseMultiplierFor, DEFAULT_NOISE_SEARCH,
  type NoiseMultiplierRequest,
} from "./calibration.ts";
export {
  addGaussianNoise, addLaplaceNoise, gaussianNoise, laplaceNoise, discreteGaussian, discreteLaplace, cryptoRandomSource,
  DEFAULT_NOISE_OPTIONS, MIN_SIGMA_STEPS, type NoiseOptions, type RandomSource,
} from "./noise.ts";
export { erf, erfc, erfcx, logErfc, normalCdf, logNormalCdf } from "./normal.ts";
export { normalQuantileOfLog } from "./normal-quantile.ts";
