/**
 * The privacy library's error classes: defects in what a caller asked (a malformed parameter, an
 * event an accountant cannot count). Never a refusal for lack of budget — that is a reply value
 * of whoever keeps the budget (the Accountant). Messages name the field, the value and the fix,
 * and never carry a user's data.
 */
// The shared base comes from errors/, which imports nothing: privacy/ stays free of the runtime
// (it is pure mathematics, test/internals/import-boundaries.test.ts) and its errors are still
// FedrouterErrors with a code, rebuilt into their classes after they cross a thread or a node.
import { FedrouterError, registerErrors } from "../errors/index.ts";
import type { Unsupported } from "./events.ts";

/** A number the privacy maths cannot accept: a negative or NaN σ, ε, δ ≥ 1, q outside [0, 1]… */
export class InvalidPrivacyParameter extends FedrouterError {
  readonly code = "INVALID_PRIVACY_PARAMETER";
  constructor(readonly field: string, readonly value: number, readonly reason: string) {
    super(`${field} = ${value} is invalid: ${reason}`);
  }
}

/** `compose` was given an event that `check` rejects; call `check` first and do not charge it. */
export class UnsupportedPrivacyEvent extends FedrouterError {
  readonly code = "UNSUPPORTED_PRIVACY_EVENT";
  readonly eventKind: string;
  constructor(readonly unsupported: Unsupported) {
    super(`cannot account for a "${unsupported.event.kind}" event: ${unsupported.reason}; check() the event before compose(), or use another accountant`);
    this.eventKind = unsupported.event.kind;
  }
}

registerErrors({
  INVALID_PRIVACY_PARAMETER: (f) => new InvalidPrivacyParameter(f.string("field"), f.number("value"), f.string("reason")),
  UNSUPPORTED_PRIVACY_EVENT: (f) => new UnsupportedPrivacyEvent(f.value("unsupported") as Unsupported),
});

/** Throws InvalidPrivacyParameter unless `ok`; `reason` says what a valid value looks like. */
export function requireParameter(ok: boolean, field: string, value: number, reason: string): void {
  if (!ok) throw new InvalidPrivacyParameter(field, value, reason);
}
