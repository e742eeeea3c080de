/**
 * The CKKS secure aggregation's error classes: parameters it cannot use, updates it cannot
 * encrypt, bytes that are not a ciphertext (or one for other parameters), a secret key offered
 * to the Aggregator, and threshold decryption without enough valid shares. Each has a stable
 * `code`; messages name the field, the value and the fix, and never carry an update's values.
 */
import { FedrouterError, registerErrors } from "../../errors/index.ts";

/** A CKKS parameter set (or a bound derived from it) that cannot do what was asked. */
export class InvalidCkksParameters extends FedrouterError {
  readonly code = "CKKS_INVALID_PARAMETERS";
  constructor(readonly field: string, readonly reason: string) {
    super(`CKKS parameters: ${field} ${reason}`);
  }
}

/** An update that cannot be encrypted: empty, not finite, above the clipping bound, or too long. */
export class InvalidUpdate extends FedrouterError {
  readonly code = "CKKS_INVALID_UPDATE";
  constructor(readonly field: string, readonly reason: string) {
    super(`${field} ${reason}`);
  }
}

/** Bytes that do not parse as a SEAL ciphertext (or share) of the expected shape. Never a crash. */
export class MalformedCiphertext extends FedrouterError {
  readonly code = "CKKS_MALFORMED_CIPHERTEXT";
  constructor(readonly what: string, readonly reason: string) {
    super(`${what} is not a valid SEAL CKKS object: ${reason}`);
  }
}

/** A well-formed ciphertext made under other parameters (its parms id is not this context's). */
export class CiphertextMismatch extends FedrouterError {
  readonly code = "CKKS_PARAMETER_MISMATCH";
  constructor(readonly what: string, readonly expected: string, readonly actual: string) {
    super(`${what} was made for parameters ${actual}, not this context's ${expected}: encrypt it with this round's public bundle`);
  }
}

/** Bytes handed to the Aggregator's side that are a secret key (or a share of one): refused, never loaded. */
export class SecretKeyRefused extends FedrouterError {
  readonly code = "CKKS_SECRET_KEY_REFUSED";
  constructor(readonly what: string) {
    super(`${what} holds secret-key material; the Aggregator never takes a secret key or a key share (give it the public bundle only)`);
  }
}

/** Threshold decryption asked with fewer than t shares, duplicate hospitals, or shares of other ciphertexts. */
export class NotEnoughShares extends FedrouterError {
  readonly code = "CKKS_NOT_ENOUGH_SHARES";
  constructor(readonly have: number, readonly need: number, readonly reason: string) {
    super(`threshold decryption needs ${need} distinct hospitals' decryption shares, got ${have}: ${reason}`);
  }
}

/** A key share or decryption share that does not belong here: wrong hospital index, wrong shape, wrong key. */
export class InvalidShare extends FedrouterError {
  readonly code = "CKKS_INVALID_SHARE";
  constructor(readonly field: string, readonly reason: string) {
    super(`${field} ${reason}`);
  }
}

/**
 * A decryptor will not decrypt an aggregate it cannot check: not the sum of the contributions it
 * was shown, its own ciphertext missing or there twice, a contribution repeated, too few of them,
 * or a second decryption of one round.
 */
export class AggregateUnverified extends FedrouterError {
  readonly code = "CKKS_AGGREGATE_UNVERIFIED";
  constructor(readonly field: string, readonly reason: string) {
    super(`the aggregate to decrypt is refused: ${field} ${reason}`);
  }
}

registerErrors({
  CKKS_AGGREGATE_UNVERIFIED: (f) => new AggregateUnverified(f.string("field"), f.string("reason")),
  CKKS_INVALID_PARAMETERS: (f) => new InvalidCkksParameters(f.string("field"), f.string("reason")),
  CKKS_INVALID_UPDATE: (f) => new InvalidUpdate(f.string("field"), f.string("reason")),
  CKKS_MALFORMED_CIPHERTEXT: (f) => new MalformedCiphertext(f.string("what"), f.string("reason")),
  CKKS_PARAMETER_MISMATCH: (f) => new CiphertextMismatch(f.string("what"), f.string("expected"), f.string("actual")),
  CKKS_SECRET_KEY_REFUSED: (f) => new SecretKeyRefused(f.string("what")),
  CKKS_NOT_ENOUGH_SHARES: (f) => new NotEnoughShares(f.number("have"), f.number("need"), f.string("reason")),
  CKKS_INVALID_SHARE: (f) => new InvalidShare(f.string("field"), f.string("reason")),
});
