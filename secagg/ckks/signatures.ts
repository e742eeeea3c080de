/**
 * Signed contributions: each hospital signs what it encrypted for a round (Ed25519, node:crypto)
 * with a key from the key ceremony, and a decryptor accepts an aggregate only when every
 * contribution it is shown carries a valid signature by a distinct hospital of the ceremony.
 *
 * Why: verify.ts makes every decryptor's own update part of whatever is decrypted, but without
 * signatures the Aggregator could still add encryptions of its own (values it chose, under the
 * public key) as if they came from hospitals: pass a quorum with one real update, or steer the
 * model. With them, a contribution is a hospital's or it is refused, and no hospital counts twice.
 * The Aggregator can still leave honest contributions out, as if they had dropped out.
 *
 * What is signed: "fedrouter-ckks-contribution/v1", the round id, the key id and digestOf(update)
 * (the ciphertexts, length-prefixed), NUL-separated: a signature is for one update of one round.
 */
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from "node:crypto";
import { AggregateUnverified } from "./errors.ts";
import { digestOf, type EncryptedUpdate } from "./update.ts";

/** A hospital's signature over its contribution to a round. */
export interface ContributionSignature {
  /** The hospital (its id in the ceremony's signer list). */
  readonly by: string;
  /** Ed25519 over contributionMessage(roundId, update). */
  readonly signature: Uint8Array;
}

/** The ceremony's signers: hospital id → its Ed25519 public key (SPKI DER, base64). */
export type Signers = Readonly<Record<string, string>>;

const DOMAIN = "fedrouter-ckks-contribution/v1";

export function contributionMessage(roundId: string, update: EncryptedUpdate): Buffer {
  return Buffer.from(`${DOMAIN}\0${roundId}\0${update.keyId}\0${digestOf(update)}`, "utf8");
}

export function signContribution(privateKey: KeyObject, by: string, roundId: string, update: EncryptedUpdate): ContributionSignature {
  return { by, signature: new Uint8Array(sign(null, contributionMessage(roundId, update), privateKey)) };
}

/** An Ed25519 private key from its PEM (PKCS#8), as `fedrouter keys ckks` writes it. */
export function signingKeyOf(pem: string): KeyObject {
  const key = createPrivateKey(pem);
  if (key.asymmetricKeyType !== "ed25519") throw new TypeError(`a ${key.asymmetricKeyType} key: contributions are signed with Ed25519`);
  return key;
}

/**
 * Throws AggregateUnverified unless contribution i carries signatures[i], by a hospital of
 * `signers`, valid for `roundId` and that contribution, and no hospital signed two of them.
 */
export function verifyContributionSignatures(signers: Signers, roundId: string, contributions: readonly EncryptedUpdate[], signatures: readonly (ContributionSignature | undefined)[]): void {
  const seen = new Set<string>();
  contributions.forEach((update, i) => {
    const signed = signatures[i];
    if (signed === undefined || typeof signed.by !== "string" || !(signed.signature instanceof Uint8Array)) {
      throw new AggregateUnverified(`contributions[${i}]`, "carries no hospital's signature: this federation's contributions are signed");
    }
    const spki = Object.hasOwn(signers, signed.by) ? signers[signed.by] : undefined;
    if (spki === undefined) throw new AggregateUnverified(`contributions[${i}]`, `is signed by "${signed.by.slice(0, 64)}", not a hospital of the key ceremony`);
    if (seen.has(signed.by)) throw new AggregateUnverified(`contributions[${i}]`, `is a second contribution signed by ${signed.by}`);
    seen.add(signed.by);
    const key = createPublicKey({ key: Buffer.from(spki, "base64"), format: "der", type: "spki" });
    if (!verify(null, contributionMessage(roundId, update), key, signed.signature)) {
      throw new AggregateUnverified(`contributions[${i}]`, `has a signature by ${signed.by} that does not verify for this round and these ciphertexts`);
    }
  });
}
