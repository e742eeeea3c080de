/**
 * The federated-training library's error classes: what is wrong with an update, a training
 * parameter, a transport chunk or a round transition. Each has a stable `code`; callers branch on
 * it, never on the message. Messages name the field, the value and the fix, and never carry a
 * coordinate of an update (updates are derived from patient data).
 */
import { FedrouterError, registerErrors } from "../errors/index.ts";

/** An update the coordinator cannot take: wrong length, a NaN or ±∞ coordinate, not a Float32Array. */
export class InvalidModelUpdate extends FedrouterError {
  readonly code = "INVALID_MODEL_UPDATE";
  constructor(readonly field: string, readonly reason: string) {
    super(`${field} is not a usable model update: ${reason}`);
  }
}

/** A training hyper-parameter out of range: a clip norm ≤ 0, a noise multiplier < 0, β outside [0, 1), q outside (0, 1]… */
export class InvalidTrainingParameter extends FedrouterError {
  readonly code = "INVALID_TRAINING_PARAMETER";
  constructor(readonly field: string, readonly value: number, readonly reason: string) {
    super(`${field} = ${value} is invalid: ${reason}`);
  }
}

/** A Byzantine-robust aggregator given too few updates for the number f of Byzantine clients it must tolerate. */
export class TooManyByzantine extends FedrouterError {
  readonly code = "TOO_MANY_BYZANTINE";
  constructor(readonly aggregator: string, readonly updates: number, readonly byzantine: number, readonly minUpdates: number) {
    super(`${aggregator} cannot tolerate f = ${byzantine} Byzantine updates among n = ${updates}: it needs n ≥ ${minUpdates}; wait for more updates or lower f`);
  }
}

/** A transport chunk the reassembler refuses: another round, out of order, a duplicate, too large, a bad hash. */
export class ChunkRejected extends FedrouterError {
  readonly code = "CHUNK_REJECTED";
  constructor(readonly roundId: string, readonly field: string, readonly reason: string) {
    super(`chunk of round "${roundId}" rejected (${field}): ${reason}`);
  }
}

/** A round asked to do what its status does not allow (apply a round still collecting, submit to an applied one…). */
export class InvalidRoundTransition extends FedrouterError {
  readonly code = "INVALID_ROUND_TRANSITION";
  constructor(readonly roundId: string, readonly status: string, readonly action: string, readonly reason: string) {
    super(`round "${roundId}" is ${status}: cannot ${action}: ${reason}`);
  }
}

/** A round id the round store has never planned. */
export class UnknownRound extends FedrouterError {
  readonly code = "UNKNOWN_ROUND";
  constructor(readonly roundId: string) {
    super(`no round "${roundId}" in the round store; plan it first`);
  }
}

registerErrors({
  INVALID_MODEL_UPDATE: (f) => new InvalidModelUpdate(f.string("field"), f.string("reason")),
  INVALID_TRAINING_PARAMETER: (f) => new InvalidTrainingParameter(f.string("field"), f.number("value"), f.string("reason")),
  TOO_MANY_BYZANTINE: (f) => new TooManyByzantine(f.string("aggregator"), f.number("updates"), f.number("byzantine"), f.number("minUpdates")),
  CHUNK_REJECTED: (f) => new ChunkRejected(f.string("roundId"), f.string("field"), f.string("reason")),
  INVALID_ROUND_TRANSITION: (f) => new InvalidRoundTransition(f.string("roundId"), f.string("status"), f.string("action"), f.string("reason")),
  UNKNOWN_ROUND: (f) => new UnknownRound(f.string("roundId")),
});

/** Throws InvalidTrainingParameter unless `ok`; `reason` says what a valid value looks like. */
export function requireTraining(ok: boolean, field: string, value: number, reason: string): void {
  if (!ok) throw new InvalidTrainingParameter(field, value, reason);
}
