/**
 * The Accountant's own error class: an audit entry it cannot record. Never a refusal for lack of
 * budget — that is a reply value. The errors of the privacy mathematics (InvalidPrivacyParameter,
 * UnsupportedPrivacyEvent) live in privacy/errors.ts.
 */
import { FedrouterError, registerErrors } from "../../errors/index.ts";

/** An audit entry or canonical value that cannot be recorded: wrong type, too long, not encodable. */
export class InvalidAuditEntry extends FedrouterError {
  readonly code = "INVALID_AUDIT_ENTRY";
  constructor(readonly field: string, readonly reason: string) {
    super(`audit field ${field} is invalid: ${reason}`);
  }
}

registerErrors({ INVALID_AUDIT_ENTRY: (f) => new InvalidAuditEntry(f.string("field"), f.string("reason")) });
