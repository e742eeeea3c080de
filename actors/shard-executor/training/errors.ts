/**
 * Local training's error classes: an option DP-SGD cannot run with, a corpus that cannot be
 * read, an update that does not fit the checkpoint it is applied to, a run cancelled by its
 * AbortSignal. Each has a stable `code` (docs/errors.md lists them). Messages name the field or
 * file, the value and the fix, and never quote corpus text: it is patient data.
 */
import { FedrouterError, registerErrors } from "../../../errors/index.ts";

/** A training option out of range: a non-positive clip norm, a sampling rate outside (0, 1]… */
export class InvalidTrainingOption extends FedrouterError {
  readonly code = "INVALID_TRAINING_OPTION";
  constructor(readonly field: string, readonly value: string, readonly reason: string) {
    super(`${field} = ${value} is invalid: ${reason}`);
  }
}

/** A corpus file or directory that cannot be used; `line` is set for a bad JSON line (1-based). */
export class CorpusError extends FedrouterError {
  readonly code = "BAD_TRAINING_CORPUS";
  constructor(readonly file: string, readonly reason: string, readonly line?: number) {
    super(`${file}${line === undefined ? "" : `:${line}`}: ${reason}`);
  }
}

/** A flat update (or its TrainableSpec) that does not match the checkpoint it is applied to. */
export class UpdateMismatch extends FedrouterError {
  readonly code = "TRAINING_UPDATE_MISMATCH";
  constructor(readonly field: string, readonly reason: string) {
    super(`${field}: ${reason}`);
  }
}

/** localTrain stopped because its AbortSignal fired; nothing was returned and every tensor was freed. */
export class TrainingAborted extends FedrouterError {
  readonly code = "TRAINING_ABORTED";
  constructor(readonly stepsDone: number, readonly reason: string) {
    super(`local training aborted after ${stepsDone} step(s): ${reason}`);
  }
}

registerErrors({
  INVALID_TRAINING_OPTION: (f) => new InvalidTrainingOption(f.string("field"), f.string("value"), f.string("reason")),
  BAD_TRAINING_CORPUS: (f) => new CorpusError(f.string("file"), f.string("reason"), f.optionalNumber("line")),
  TRAINING_UPDATE_MISMATCH: (f) => new UpdateMismatch(f.string("field"), f.string("reason")),
  TRAINING_ABORTED: (f) => new TrainingAborted(f.number("stepsDone"), f.string("reason")),
});

/** Throws InvalidTrainingOption unless `ok`. */
export function requireOption(ok: boolean, field: string, value: unknown, reason: string): void {
  if (!ok) throw new InvalidTrainingOption(field, typeof value === "string" ? JSON.stringify(value) : String(value), reason);
}
