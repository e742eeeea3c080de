/**
 * Threshold sharing of a client's two secrets (its masking private key s_u and its self-mask
 * seed b_u) with `shamir-secret-sharing`, Privy's audited GF(2^8) implementation: a 32-byte
 * secret becomes 33-byte shares, the last byte the share's x-coordinate. Never returns a
 * reconstruction it could not check: the library itself does not verify what it combines
 * (its README, "Security considerations" 2), so callers check the result against the advertised
 * public key or the committed hash of b_u.
 */
import { combine, split } from "shamir-secret-sharing";

/** A share of a 32-byte secret: 32 bytes of y-values and the x-coordinate. */
export const SHARE_BYTES = 33;

/**
 * `holders` shares of `secret`, any `threshold` of which rebuild it (2 ≤ threshold ≤ holders ≤ 255).
 * @example
 * const shares = await splitSecret(secret, 5, 3);
 * await combineShares([shares[0]!, shares[2]!, shares[4]!]); // secret
 */
export async function splitSecret(secret: Uint8Array, holders: number, threshold: number): Promise<Uint8Array[]> {
  // The library checks `constructor === Uint8Array`, which a Buffer fails: hand it a plain copy.
  return split(Uint8Array.from(secret), holders, threshold);
}

/**
 * The secret that `shares` (at least the threshold of them, from one split) rebuild, or the
 * reason they cannot: a wrong length, an x-coordinate of 0 or twice. The value is unchecked.
 */
export async function combineShares(shares: readonly Uint8Array[]): Promise<Uint8Array | { reason: string }> {
  if (shares.length < 2) return { reason: `${shares.length} share(s) given, at least 2 needed` };
  const xs = new Set<number>();
  for (const share of shares) {
    if (share.length !== SHARE_BYTES) return { reason: `a share has ${share.length} bytes, expected ${SHARE_BYTES}` };
    const x = share[SHARE_BYTES - 1]!;
    if (x === 0) return { reason: "a share has x-coordinate 0" };
    if (xs.has(x)) return { reason: `two shares have x-coordinate ${x}` };
    xs.add(x);
  }
  return combine(shares.map((share) => Uint8Array.from(share)));
}
