/**
 * The DP-FedAvg coordinator's mathematics and durable round state, as a library with no actor in
 * it (the Aggregator actor wires it): clipping, central noise from an exact discrete Gaussian on
 * node:crypto, server optimisers (FedAvg, FedAdam, FedYogi), adaptive clipping, Byzantine-robust
 * aggregation, the privacy cost of training, chunking for transport, and the round's life on
 * LMDB. Imports privacy/, errors/ and runtime/persistence only; never sees a masked update's
 * contents (secure aggregation hands it the sum).
 */
export { InvalidModelUpdate, InvalidTrainingParameter, TooManyByzantine, ChunkRejected, InvalidRoundTransition, UnknownRound } from "./errors.ts";
export { clip, checkUpdate, l2Norm, addInto, type ClipResult, type ParameterVector } from "./clip.ts";
export { cryptoRandomWords, seededRandomWords, uniformBelow, type RandomWords } from "./random-words.ts";
export { sampleDiscreteGaussian, fillDiscreteGaussian, MAX_SCALE_STEPS } from "./discrete-gaussian.ts";
export {
  addCentralNoise, noisyMeanUpdate, centralNoisePlan, defaultGranularity, MIN_SIGMA_STEPS, SNAP_MARGIN,
  type CentralNoiseOptions, type NoisySum,
} from "./central-noise.ts";
export {
  applyServerStep, initialOptimizerState, DEFAULT_SERVER_OPTIMIZER, type ServerOptimizer, type ServerOptimizerState,
} from "./server-optimizer.ts";
export {
  clipIndicator, nextClipNorm, updateNoiseMultiplier, defaultCountNoiseStd, DEFAULT_ADAPTIVE_CLIPPING,
  type AdaptiveClippingConfig, type ClipNormStep,
} from "./adaptive-clipping.ts";
export { coordinateMedian, trimmedMean, krum, multiKrum, type KrumResult } from "./robust-aggregation.ts";
export {
  roundEvent, trainingEpsilon, maxRounds, DEFAULT_ROUND_LIMIT, type TrainingEpsilon, type TrainingPrivacyRequest, type MaxRoundsRequest,
} from "./privacy-cost.ts";
export {
  chunkPayload, chunkCount, Reassembler, DEFAULT_CHUNKING, MAX_CHUNK_BYTES, type Chunk, type ChunkKind, type ReassemblyProgress,
} from "./chunking.ts";
export {
  planRound, advanceRound, recoveryDecision, type RoundPlan, type RoundRecord, type RoundStatus, type RoundAction, type ModelHead, type RecoveryDecision,
} from "./round-state.ts";
export {
  openRoundStore, RoundStore, type ModelCheckpoint, type ApplyStep, type ApplyResult, type RecoveredRound, type RoundStoreOptions,
} from "./round-store.ts";
