/**
 * The Planner's error classes: why a set of executors cannot be planned (none eligible, a
 * calibration the optimiser cannot trust, more executors than the exact search can afford).
 * Each has a stable `code`; callers branch on it, never on the message. Messages name the
 * executor, the field, the value and the fix, and never carry request content.
 */
import { FedrouterError, registerErrors } from "../../errors/index.ts";

/** Every code a Planner reply can carry (docs/errors.md lists them; a test keeps both equal). */
export const PLANNER_ERROR_CODES = ["INVALID_REQUEST", "NO_EXECUTORS", "INVALID_CALIBRATION", "TOO_MANY_EXECUTORS", "UNKNOWN_EXECUTOR", "FORBIDDEN"] as const;
export type PlannerErrorCode = (typeof PLANNER_ERROR_CODES)[number];

export abstract class PlannerError extends FedrouterError {
  abstract override readonly code: PlannerErrorCode;
}

/** No executor is eligible: none joined, all left or have an open breaker, or none may serve the region. */
export class NoExecutors extends PlannerError {
  readonly code = "NO_EXECUTORS";
  constructor(readonly blocks: number, readonly region?: string) {
    super(region === undefined
      ? `no executor is eligible to run the ${blocks} blocks (none joined, or every one left or has an open breaker); start a ShardExecutor and have it join`
      : `no executor allowed for region "${region}" is eligible to run the ${blocks} blocks; add an executor whose regions include "${region}", or wait for its breaker to close`);
  }
}

/**
 * A calibration the optimiser cannot use: a block count below 1 (or above MAX_BLOCKS), a
 * blockMs table of the wrong length, a negative, NaN or infinite cost, a duplicate executor id.
 */
export class InvalidCalibration extends PlannerError {
  readonly code = "INVALID_CALIBRATION";
  constructor(readonly field: string, readonly value: unknown, readonly reason: string, readonly executor?: string) {
    super(`${executor === undefined ? "" : `executor ${executor}: `}${field} = ${describe(value)} is invalid: ${reason}`);
  }
}

/** More executors than the exact unordered search handles (see MAX_UNORDERED_EXECUTORS in partition.ts). */
export class TooManyExecutors extends PlannerError {
  readonly code = "TOO_MANY_EXECUTORS";
  constructor(readonly count: number, readonly max: number) {
    super(`${count} executors is more than the exact unordered planner handles (at most ${max}); plan an ordered chain (ordered: true), or group executors`);
  }
}

/** A leave or breaker change named an executor that never joined (or already left). */
export class UnknownExecutor extends PlannerError {
  readonly code = "UNKNOWN_EXECUTOR";
  constructor(readonly executor: string) {
    super(`executor ${executor} has not joined this planner (or has left); join it first`);
  }
}

/** A peer node changed the membership of an executor that is not its own. */
export class NotYourExecutor extends PlannerError {
  readonly code = "FORBIDDEN";
  constructor(readonly executor: string, readonly sender: string) {
    super(`${sender} may only join, leave or report the breakers of its own executors, not ${executor}`);
  }
}

// NotYourExecutor is left out: its code, FORBIDDEN, is the runtime's (it arrives as a RemoteError).
registerErrors({
  NO_EXECUTORS: (f) => new NoExecutors(f.number("blocks"), f.optionalString("region")),
  INVALID_CALIBRATION: (f) => new InvalidCalibration(f.string("field"), f.value("value"), f.string("reason"), f.optionalString("executor")),
  TOO_MANY_EXECUTORS: (f) => new TooManyExecutors(f.number("count"), f.number("max")),
  UNKNOWN_EXECUTOR: (f) => new UnknownExecutor(f.string("executor")),
});

function describe(value: unknown): string {
  if (typeof value === "number") return String(value);
  if (Array.isArray(value)) return `an array of ${value.length}`;
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 40 ? `${text.slice(0, 40)}…` : text;
}
