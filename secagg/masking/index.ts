/**
 * Secure aggregation by pairwise masking (SecAgg, Bonawitz et al., CCS 2017; SecAgg+, Bell et al.,
 * CCS 2020) as a message-oriented library: `MaskingClient` and `MaskingServer` are state machines
 * over plain-data messages, with no actor, network or clock in them, so the coordinator drives them
 * over any transport. The server learns the sum of the surviving clients' clipped updates, never
 * one of them. Never returns a sum it could not unmask exactly: too few clients, a forged message
 * or a bad share is a typed error.
 */
export { MaskingClient } from "./client.ts";
export { MaskingServer, type MaskingResult } from "./server.ts";
export {
  resolveMaskingParams, isClientId, compareIds, DEFAULT_MASKING, MAX_CLIENTS, MAX_DIMENSION, MAX_SHARE_HOLDERS,
  type MaskingParams, type ResolvedMaskingParams,
} from "./params.ts";
export { quantiseInto, dequantise, safeFractionalBits, requireNoWrap, maxQuantised, worstCaseSum, quantisationErrorBound, NORM_TOLERANCE } from "./quantise.ts";
export { neighbourhoods, type Neighbourhoods } from "./graph.ts";
export { addMask, expandMask, type MaskSign } from "./mask.ts";
export type {
  AdvertiseKeys, ClientKeys, ClientMessage, KeyDirectory, MaskedInput, RevealedShare, ServerMessage, SharedKeys, ShareInbox, UnmaskRequest, UnmaskShares,
} from "./messages.ts";
export {
  MaskingError, InvalidMaskingParameter, OverflowRisk, InvalidUpdate, InvalidMaskingMessage, DuplicateMaskingMessage, UnknownMaskingSender,
  MaskingSenderMismatch, MaskingOutOfOrder, BelowThreshold, ShareDecryptionFailed, ReconstructionFailed, type MaskingErrorCode, type MaskingStage,
} from "./errors.ts";
