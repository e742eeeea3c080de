/**
 * An update (or a sum of updates) as it travels under CKKS: its length and its ciphertexts,
 * each SEAL bytes. Plain data, so that it crosses threads, msgpack frames and gRPC unchanged.
 * Never carries a key: the key it was made under is named by its id only.
 */
import { createHash } from "node:crypto";
import type { ContributionSignature } from "./signatures.ts";

export interface EncryptedUpdate {
  /** The public key's id (PublicBundle.keyId). */
  readonly keyId: string;
  /** d, the number of values; the last ciphertext's slots past d hold zeros. */
  readonly length: number;
  /** SEAL ciphertext bytes, compression none: ciphertext i holds values [i·slots, (i + 1)·slots). */
  readonly ciphertexts: readonly Uint8Array[];
  /** A contribution's hospital signature (signatures.ts), where the federation signs them; not part of the digest. */
  readonly signed?: ContributionSignature;
}

/** sha256 over the key id, the length and every ciphertext (length-prefixed): names one aggregate exactly. */
export function digestOf(update: EncryptedUpdate): string {
  const hash = createHash("sha256").update(update.keyId).update(String(update.length));
  const size = Buffer.alloc(8);
  for (const ct of update.ciphertexts) {
    size.writeBigUInt64LE(BigInt(ct.length));
    hash.update(size).update(ct);
  }
  return hash.digest("hex");
}
