/**
 * The Aggregator's public face: the actor (`aggregator`, its protocol and a typed client), GNMax
 * over a whole vocabulary (`noisyArgmax`) and PATE's Confident-GNMax (`confidentArgmax`), DP
 * ensemble decoding across hospitals (`ensembleGenerate`), what it costs as Accountant events,
 * and its error classes.
 */
export { aggregator, DEFAULT_AGGREGATOR } from "./behaviour.ts";
export { AggregatorClient, type VoteRequest } from "./client.ts";
export * from "./protocol.ts";
export {
  noisyArgmax, unvotedTop, secureGnmaxNoise, checkVotes, checkSigma, checkThreshold, checkVocabSize,
  DEFAULT_GNMAX, GPT2_VOCAB_SIZE, MAX_PROPOSERS, MAX_VOCAB_SIZE, MIN_SIGMA, MAX_SIGMA,
  type GnmaxNoise, type GnmaxOptions, type GnmaxResult,
} from "./gnmax.ts";
export { ensembleReservation, ensembleCharge, confidentReservation, confidentCharge, MAX_ENSEMBLE_TOKENS } from "./accounting.ts";
export { confidentArgmax, type ConfidentThreshold, type ConfidentResult } from "./confident.ts";
export {
  ensembleGenerate, DEFAULT_ENSEMBLE, type Proposer, type EnsembleRequest, type EnsembleToken, type EnsembleAbstention, type EnsembleStep,
  type EnsembleVote, type VoteParams, type VoteResult,
} from "./ensemble.ts";
export {
  AggregatorError, InvalidVotes, InvalidSigma, InvalidThreshold, InvalidVocabSize, InvalidEnsembleRequest, EnsembleUnavailable, VoteRejected,
  AGGREGATOR_ERROR_CODES, type AggregatorErrorCode, type AggregatorReplyCode,
} from "./errors.ts";
// DP-FedAvg rounds (the coordinator's side): what a round costs and who pays, masked or plain sums, noise, the server step.
export {
  TrainingCoordinator, TrainingRefused,
  type TrainingConfig, type LocalTrainingConfig, type RoundOffer, type PrepareReply, type RoundStart, type TrainReport,
  type TrainingParticipant, type SelectRound, type RoundProgress, type CoordinatorOptions, type TrainingOutcome,
} from "./training/coordinator.ts";
// The Aggregator's training job (train / training-status): types only, the job itself loads on the first `train`.
export type { InstallOutcome, TrainingJobRequest, TrainingJobStatus } from "./training/job.ts";
