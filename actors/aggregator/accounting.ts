/**
 * What an ensemble decoding costs, as Accountant events: GNMax(σ) once per released token,
 * composed. Reserve the worst case (every one of maxTokens released) before the first vote;
 * commit what was released. Never computes an ε: the Accountant derives it from the event.
 */
import { gnmax, selfComposed, type PrivacyEvent } from "../../privacy/index.ts";
import { InvalidEnsembleRequest } from "./errors.ts";
import { checkSigma } from "./gnmax.ts";

/** The most tokens one ensemble request may generate (and reserve for). */
export const MAX_ENSEMBLE_TOKENS = 4_096;

/** Throws InvalidEnsembleRequest unless count is a whole number from min to MAX_ENSEMBLE_TOKENS. */
export function checkTokenCount(count: number, field: string, min: number): void {
  if (!Number.isInteger(count) || count < min || count > MAX_ENSEMBLE_TOKENS) {
    throw new InvalidEnsembleRequest(field, `${count} must be a whole number from ${min} to ${MAX_ENSEMBLE_TOKENS}`);
  }
}

/**
 * The event to reserve before generating: maxTokens GNMax releases at σ.
 * @example ensembleReservation(20, 16); // { kind: "selfComposed", event: { kind: "gnmax", sigma: 20 }, count: 16 }
 */
export function ensembleReservation(sigma: number, maxTokens: number): PrivacyEvent {
  checkSigma(sigma);
  checkTokenCount(maxTokens, "maxTokens", 1);
  return selfComposed(gnmax(sigma), maxTokens);
}

/**
 * The event to commit for the tokens actually released, or null for none: then nothing left the
 * system, so release the reservation instead of committing.
 * @example ensembleCharge(20, 3); // selfComposed(gnmax(20), 3); ensembleCharge(20, 0) → null
 */
export function ensembleCharge(sigma: number, released: number): PrivacyEvent | null {
  checkSigma(sigma);
  checkTokenCount(released, "released", 0);
  return released === 0 ? null : selfComposed(gnmax(sigma), released);
}
