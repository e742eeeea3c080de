/**
 * What an ensemble decoding costs, as Accountant events: GNMax(σ) once per released token,
 * composed; with Confident-GNMax, also a thresholdCheck(σ₁) per check made, passed or not.
 * Reserve the worst case (every one of maxTokens checked and released) before the first vote;
 * commit what was checked and released. Never computes an ε: the Accountant derives it from the event.
 */
import { composed, gnmax, selfComposed, thresholdCheck, type PrivacyEvent } from "../../privacy/index.ts";
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

/**
 * Confident-GNMax's worst case: each of maxTokens tokens checked (σ₁) and released (σ).
 * @example confidentReservation(4, 2, 16); // composed(selfComposed(thresholdCheck(2), 16), selfComposed(gnmax(4), 16))
 */
export function confidentReservation(sigma: number, sigma1: number, maxTokens: number): PrivacyEvent {
  checkSigma(sigma);
  checkSigma(sigma1);
  checkTokenCount(maxTokens, "maxTokens", 1);
  return composed(selfComposed(thresholdCheck(sigma1), maxTokens), selfComposed(gnmax(sigma), maxTokens));
}

/**
 * What a Confident-GNMax decoding released: `checks` threshold checks (every vote made one,
 * including the one that abstained) and `released` GNMax releases (released ≤ checks); null
 * when nothing was checked, so nothing left the system: release the reservation instead.
 * @example confidentCharge(4, 2, 1, 0); // composed(selfComposed(thresholdCheck(2), 1)): refused at the first token, one check
 */
export function confidentCharge(sigma: number, sigma1: number, checks: number, released: number): PrivacyEvent | null {
  checkSigma(sigma);
  checkSigma(sigma1);
  checkTokenCount(checks, "checks", 0);
  checkTokenCount(released, "released", 0);
  if (released > checks) throw new InvalidEnsembleRequest("released", `${released} releases need as many threshold checks, only ${checks} were made`);
  if (checks === 0) return null;
  return composed(selfComposed(thresholdCheck(sigma1), checks), ...(released === 0 ? [] : [selfComposed(gnmax(sigma), released)]));
}
