/**
 * What a decryptor checks before it turns its key share into a decryption share: that the
 * aggregate it is asked to decrypt is the homomorphic sum of the contributions it is shown, that
 * its own ciphertext is one of them (once), that no contribution is there twice, and that there
 * are at least `minContributions` (the threshold t) of them.
 *
 * Why: without it an Aggregator could have t hospitals decrypt one hospital's ciphertext alone
 * (or that ciphertext plus encryptions of zero, which it can make with the public key) and learn
 * that hospital's update. With it, every decryptor's own update is inside whatever is decrypted,
 * so a decrypted value always mixes the victim's update with every decryptor's; and since a
 * hospital answers one decryption per round (participant.ts), the Aggregator cannot decrypt a
 * second combination and subtract. What remains is what secure aggregation always allows: the
 * Aggregator may leave honest contributions out, as if they had dropped out.
 *
 * CKKS addition is exact modular addition, so the sum's bytes do not depend on the order of the
 * contributions: the decryptor re-adds them with the public view of node-seal (CkksAggregator,
 * no key) and compares digests.
 */
import { loadPublicSeal } from "../../native-bindings/seal.ts";
import { CkksAggregator } from "./aggregator.ts";
import { AggregateUnverified } from "./errors.ts";
import type { PublicBundle } from "./keys.ts";
import { digestOf, type EncryptedUpdate } from "./update.ts";

export interface AggregateCheck {
  /** Every contribution the Aggregator added, as it received them. */
  readonly contributions: readonly EncryptedUpdate[];
  /** digestOf this decryptor's own encrypted update, kept when it was sent. */
  readonly own: string;
  /** Fewer contributions are refused (default the bundle's threshold t). */
  readonly minContributions?: number;
}

/** Throws AggregateUnverified unless `aggregate` is the sum of `check.contributions`, its own among them. */
export async function verifyAggregate(bundle: PublicBundle, aggregate: EncryptedUpdate, check: AggregateCheck): Promise<void> {
  const { contributions, own } = check;
  const min = check.minContributions ?? bundle.threshold;
  if (!Array.isArray(contributions) || contributions.length < min) {
    throw new AggregateUnverified("contributions", `are ${Array.isArray(contributions) ? contributions.length : "missing"}; at least ${min} must be shown`);
  }
  const digests = contributions.map((c) => digestOf(c));
  const seen = new Set<string>();
  for (const [i, d] of digests.entries()) {
    if (seen.has(d)) throw new AggregateUnverified(`contributions[${i}]`, "repeats an earlier contribution");
    seen.add(d);
  }
  if (!seen.has(own)) throw new AggregateUnverified("contributions", "do not include this hospital's own encrypted update");
  const aggregator = CkksAggregator.open(await loadPublicSeal(), bundle);
  let sum: EncryptedUpdate;
  try {
    sum = aggregator.add(contributions);
  } finally {
    aggregator.close();
  }
  if (digestOf(sum) !== digestOf(aggregate)) throw new AggregateUnverified("aggregate", "is not the sum of the contributions shown");
}
