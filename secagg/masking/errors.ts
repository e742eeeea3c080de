/**
 * The masking protocol's error classes: a parameter set that could wrap the ring, an update the
 * quantiser cannot take, a message that is malformed, duplicated, forged, out of order or
 * undecryptable, too few clients left to unmask, and a secret whose shares do not reconstruct.
 * Each has a stable `code`; callers branch on it, never on the message. Messages name the
 * stage, the client id and the field, and never carry a key, a share or an update value.
 */
import { FedrouterError, registerErrors } from "../../errors/index.ts";

/** A stage of the protocol, as Bonawitz et al. (CCS 2017) number its rounds: 0 advertise, 1 share, 2 masked input, 3 unmask. */
export type MaskingStage = "advertiseKeys" | "shareKeys" | "maskedInput" | "unmasking";

export type MaskingErrorCode =
  | "SECAGG_INVALID_PARAMETER"
  | "SECAGG_OVERFLOW_RISK"
  | "SECAGG_INVALID_UPDATE"
  | "SECAGG_INVALID_MESSAGE"
  | "SECAGG_DUPLICATE_MESSAGE"
  | "SECAGG_UNKNOWN_SENDER"
  | "SECAGG_SENDER_MISMATCH"
  | "SECAGG_OUT_OF_ORDER"
  | "SECAGG_BELOW_THRESHOLD"
  | "SECAGG_DECRYPTION_FAILED"
  | "SECAGG_RECONSTRUCTION_FAILED";

export abstract class MaskingError extends FedrouterError {
  abstract override readonly code: MaskingErrorCode;
}

/** A protocol parameter out of range: n, t, d, C, f, k, the round id, a client id. */
export class InvalidMaskingParameter extends MaskingError {
  readonly code = "SECAGG_INVALID_PARAMETER";
  constructor(readonly field: string, readonly value: string, readonly reason: string) {
    super(`${field} = ${value} is invalid: ${reason}`);
  }
}

/**
 * n clients each contributing up to C·2^f (rounded) per coordinate could leave the signed range
 * of Z_{2^32}, [−2^31, 2^31): the decoded sum would be silently wrong, so the parameters are
 * refused. Lower `fractionalBits`, or leave it out to get the largest safe one.
 */
export class OverflowRisk extends MaskingError {
  readonly code = "SECAGG_OVERFLOW_RISK";
  constructor(readonly maxClients: number, readonly clipNorm: number, readonly fractionalBits: number, readonly worstCaseSum: number) {
    super(`${maxClients} clients × clip norm ${clipNorm} at 2^${fractionalBits} could reach ${worstCaseSum} per coordinate, beyond 2^31 − 1: the ring sum would wrap; use fewer fractional bits (or omit fractionalBits for the largest safe value)`);
  }
}

/** A client's update the quantiser refuses: wrong length, a NaN or ±∞, an L2 norm above the clip norm. */
export class InvalidUpdate extends MaskingError {
  readonly code = "SECAGG_INVALID_UPDATE";
  constructor(readonly clientId: string, readonly reason: string) {
    super(`client ${clientId}'s update is invalid: ${reason}`);
  }
}

/** A message whose shape is wrong: another round id, a key of the wrong length, a missing or extra share, a masked vector of the wrong length. */
export class InvalidMaskingMessage extends MaskingError {
  readonly code = "SECAGG_INVALID_MESSAGE";
  constructor(readonly stage: MaskingStage, readonly sender: string, readonly field: string, readonly reason: string) {
    super(`${stage} message from ${sender}: ${field} ${reason}`);
  }
}

/** A second message of a stage from the same client: the first one stands. */
export class DuplicateMaskingMessage extends MaskingError {
  readonly code = "SECAGG_DUPLICATE_MESSAGE";
  constructor(readonly stage: MaskingStage, readonly sender: string) {
    super(`client ${sender} already sent its ${stage} message this round; the first one stands`);
  }
}

/** A message from a client that is not (or no longer) in the round at this stage. */
export class UnknownMaskingSender extends MaskingError {
  readonly code = "SECAGG_UNKNOWN_SENDER";
  constructor(readonly stage: MaskingStage, readonly sender: string, readonly reason: string) {
    super(`${stage} message from ${sender} refused: ${reason}`);
  }
}

/** The message names a client other than the one the transport authenticated: a forgery or a confused relay. */
export class MaskingSenderMismatch extends MaskingError {
  readonly code = "SECAGG_SENDER_MISMATCH";
  constructor(readonly stage: MaskingStage, readonly claimed: string, readonly authenticated: string) {
    super(`${stage} message claims to come from ${claimed} but the transport authenticated ${authenticated}; refused`);
  }
}

/** A step called before its predecessor, twice, or after the round failed. */
export class MaskingOutOfOrder extends MaskingError {
  readonly code = "SECAGG_OUT_OF_ORDER";
  constructor(readonly party: string, readonly step: string, readonly state: string) {
    super(`${party} cannot ${step} in state "${state}"; each step runs once, in protocol order, on a round that has not failed`);
  }
}

/**
 * Fewer than t clients are left at a stage (or fewer than the share threshold hold shares of one
 * client's secret): the protocol stops rather than risk privacy or return a wrong sum. Start a
 * new round with the clients still there.
 */
export class BelowThreshold extends MaskingError {
  readonly code = "SECAGG_BELOW_THRESHOLD";
  constructor(readonly stage: MaskingStage, readonly alive: number, readonly threshold: number, readonly owner?: string) {
    super(owner === undefined
      ? `${stage}: only ${alive} client(s) left, the threshold is ${threshold}; the round cannot finish — start a new one`
      : `${stage}: only ${alive} share(s) of client ${owner}'s secret arrived, ${threshold} are needed; the round cannot finish — start a new one`);
  }
}

/** A sealed share that does not open: tampered, misrouted, or encrypted under another key. */
export class ShareDecryptionFailed extends MaskingError {
  readonly code = "SECAGG_DECRYPTION_FAILED";
  constructor(readonly from: string, readonly to: string) {
    super(`the share sealed by ${from} for ${to} does not decrypt (tampered, misrouted, or sealed under another key); the round must be abandoned`);
  }
}

/** Revealed shares that combine to something other than the committed secret: a client sent a wrong share. */
export class ReconstructionFailed extends MaskingError {
  readonly code = "SECAGG_RECONSTRUCTION_FAILED";
  constructor(readonly owner: string, readonly secret: "selfMask" | "maskingKey", readonly reason: string) {
    super(`client ${owner}'s ${secret === "selfMask" ? "self-mask seed" : "masking key"} did not reconstruct: ${reason}; no sum is returned`);
  }
}

registerErrors({
  SECAGG_INVALID_PARAMETER: (f) => new InvalidMaskingParameter(f.string("field"), f.string("value"), f.string("reason")),
  SECAGG_OVERFLOW_RISK: (f) => new OverflowRisk(f.number("maxClients"), f.number("clipNorm"), f.number("fractionalBits"), f.number("worstCaseSum")),
  SECAGG_INVALID_UPDATE: (f) => new InvalidUpdate(f.string("clientId"), f.string("reason")),
  SECAGG_INVALID_MESSAGE: (f) => new InvalidMaskingMessage(f.string("stage") as MaskingStage, f.string("sender"), f.string("field"), f.string("reason")),
  SECAGG_DUPLICATE_MESSAGE: (f) => new DuplicateMaskingMessage(f.string("stage") as MaskingStage, f.string("sender")),
  SECAGG_UNKNOWN_SENDER: (f) => new UnknownMaskingSender(f.string("stage") as MaskingStage, f.string("sender"), f.string("reason")),
  SECAGG_SENDER_MISMATCH: (f) => new MaskingSenderMismatch(f.string("stage") as MaskingStage, f.string("claimed"), f.string("authenticated")),
  SECAGG_OUT_OF_ORDER: (f) => new MaskingOutOfOrder(f.string("party"), f.string("step"), f.string("state")),
  SECAGG_BELOW_THRESHOLD: (f) => new BelowThreshold(f.string("stage") as MaskingStage, f.number("alive"), f.number("threshold"), f.optionalString("owner")),
  SECAGG_DECRYPTION_FAILED: (f) => new ShareDecryptionFailed(f.string("from"), f.string("to")),
  SECAGG_RECONSTRUCTION_FAILED: (f) => new ReconstructionFailed(f.string("owner"), f.string("secret") as "selfMask" | "maskingKey", f.string("reason")),
});
