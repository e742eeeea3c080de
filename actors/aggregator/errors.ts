/**
 * The Aggregator's error classes: what is wrong with a vote (the votes, σ, the threshold, the
 * vocabulary) or with an ensemble request, and why an ensemble could not go on. Each has a stable
 * `code`; callers branch on it, never on the message. Messages name the field, the value and the
 * fix, and never carry a vote or a token: those are derived from patient data.
 */
import { FedrouterError, registerErrors } from "../../errors/index.ts";

/** Every code a `rejected` vote reply can carry (docs/errors.md lists them; a test keeps both equal). */
export const AGGREGATOR_ERROR_CODES = ["INVALID_REQUEST", "INVALID_VOTES", "INVALID_SIGMA", "INVALID_THRESHOLD", "INVALID_VOCAB_SIZE"] as const;
export type AggregatorReplyCode = (typeof AGGREGATOR_ERROR_CODES)[number];

export type AggregatorErrorCode =
  | Exclude<AggregatorReplyCode, "INVALID_REQUEST">
  | "INVALID_ENSEMBLE_REQUEST"
  | "ENSEMBLE_UNAVAILABLE"
  | "VOTE_REJECTED";

export abstract class AggregatorError extends FedrouterError {
  abstract override readonly code: AggregatorErrorCode;
}

/** Votes the histogram cannot take: none, too many, or one that is not a token id of the vocabulary. */
export class InvalidVotes extends AggregatorError {
  readonly code = "INVALID_VOTES";
  constructor(readonly field: string, readonly reason: string) {
    super(`${field} is invalid: ${reason}`);
  }
}

/** A noise scale σ that is not a finite number in the range the secure sampler supports. */
export class InvalidSigma extends AggregatorError {
  readonly code = "INVALID_SIGMA";
  readonly field = "sigma";
  constructor(readonly value: number, readonly reason: string) {
    super(`sigma = ${value} is invalid: ${reason}`);
  }
}

/** A consensus threshold that is not a finite number ≥ 0. */
export class InvalidThreshold extends AggregatorError {
  readonly code = "INVALID_THRESHOLD";
  readonly field = "threshold";
  constructor(readonly value: number, readonly reason: string) {
    super(`threshold = ${value} is invalid: ${reason}`);
  }
}

/** A vocabulary size that is not a whole number from 2 to MAX_VOCAB_SIZE. */
export class InvalidVocabSize extends AggregatorError {
  readonly code = "INVALID_VOCAB_SIZE";
  readonly field = "vocabSize";
  constructor(readonly value: number, readonly reason: string) {
    super(`vocabSize = ${value} is invalid: ${reason}`);
  }
}

/** An ensemble request (or an accounting helper's argument) out of range: maxTokens, minProposers, the proposers, the prompt. */
export class InvalidEnsembleRequest extends AggregatorError {
  readonly code = "INVALID_ENSEMBLE_REQUEST";
  constructor(readonly field: string, readonly reason: string) {
    super(`${field} is invalid: ${reason}`);
  }
}

/**
 * An ensemble generation ended early: fewer than `minProposers` proposers are left, or the vote
 * itself failed. `released` tokens reached the subscriber before it: commit exactly
 * `ensembleCharge(sigma, released)` (or release the reservation when it is 0).
 */
export class EnsembleUnavailable extends AggregatorError {
  readonly code = "ENSEMBLE_UNAVAILABLE";
  constructor(readonly released: number, readonly proposers: number, readonly minProposers: number, readonly reason: string) {
    super(`the ensemble stopped after ${released} released token(s): ${reason}; ${proposers} proposer(s) left, at least ${minProposers} needed — commit the ${released} released token(s) and retry on other hospitals`);
  }
}

/** The Aggregator answered a vote with `rejected` (raised by AggregatorClient.voter for use in an ensemble). */
export class VoteRejected extends AggregatorError {
  readonly code = "VOTE_REJECTED";
  constructor(readonly replyCode: AggregatorReplyCode, readonly detail: string) {
    super(`the aggregator rejected the vote (${replyCode}): ${detail}`);
  }
}

registerErrors({
  INVALID_VOTES: (f) => new InvalidVotes(f.string("field"), f.string("reason")),
  INVALID_SIGMA: (f) => new InvalidSigma(f.number("value"), f.string("reason")),
  INVALID_THRESHOLD: (f) => new InvalidThreshold(f.number("value"), f.string("reason")),
  INVALID_VOCAB_SIZE: (f) => new InvalidVocabSize(f.number("value"), f.string("reason")),
  INVALID_ENSEMBLE_REQUEST: (f) => new InvalidEnsembleRequest(f.string("field"), f.string("reason")),
  ENSEMBLE_UNAVAILABLE: (f) => new EnsembleUnavailable(f.number("released"), f.number("proposers"), f.number("minProposers"), f.string("reason")),
  VOTE_REJECTED: (f) => new VoteRejected(f.string("replyCode") as AggregatorReplyCode, f.string("detail")),
});
