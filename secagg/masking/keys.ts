/**
 * The protocol's key material, all from node:crypto: X25519 key pairs exchanged as raw 32-byte
 * public keys, HKDF-SHA256 seeds bound to the round and to the two client ids, and AES-256-GCM
 * sealing of Shamir shares between two clients. Never puts a KeyObject or a private key into
 * anything that leaves the process; never derives two uses from one secret under the same label.
 */
import { createCipheriv, createDecipheriv, createHash, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, randomBytes, timingSafeEqual, type KeyObject } from "node:crypto";

export const PUBLIC_KEY_BYTES = 32;
export const PRIVATE_KEY_BYTES = 32;
/** b_u, the self-mask seed, and every derived seed. */
export const SEED_BYTES = 32;
const GCM_IV_BYTES = 12;
const GCM_TAG_BYTES = 16;
/** Bytes a sealed message adds to its plaintext: the IV and the tag. */
export const SEAL_OVERHEAD = GCM_IV_BYTES + GCM_TAG_BYTES;

// DER framings of a raw X25519 key (RFC 8410): node:crypto imports and exports raw keys through them.
const SPKI_PREFIX = Buffer.from("302a300506032b656e032100", "hex");
const PKCS8_PREFIX = Buffer.from("302e020100300506032b656e04220420", "hex");

/** Labels keep every derivation apart (HKDF's `info`), with the version so a v2 never collides. */
export const LABELS = {
  pairwiseMask: "fedrouter/secagg/v1/pairwise-mask",
  selfMask: "fedrouter/secagg/v1/self-mask",
  shareKey: "fedrouter/secagg/v1/share-key",
  selfMaskCommitment: "fedrouter/secagg/v1/self-mask-commitment",
  graph: "fedrouter/secagg/v1/harary-graph",
} as const;

export interface X25519KeyPair {
  /** Raw, 32 bytes: what goes into messages. */
  readonly publicKey: Uint8Array;
  /** Never leaves the client. */
  readonly privateKey: KeyObject;
}

export function generateX25519(): X25519KeyPair {
  const { publicKey, privateKey } = generateKeyPairSync("x25519");
  return { publicKey: rawPublicKey(publicKey), privateKey };
}

function rawPublicKey(key: KeyObject): Uint8Array {
  const der = key.export({ format: "der", type: "spki" });
  return new Uint8Array(der.subarray(der.length - PUBLIC_KEY_BYTES));
}

/** The raw 32 bytes of a private key: what is Shamir-shared so that a dropped client's masks can be removed. */
export function rawPrivateKey(key: KeyObject): Uint8Array {
  const der = key.export({ format: "der", type: "pkcs8" });
  return new Uint8Array(der.subarray(der.length - PRIVATE_KEY_BYTES));
}

export function privateKeyFromRaw(raw: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, raw]), format: "der", type: "pkcs8" });
}

/** The raw public key of a private key: checks a reconstructed key against the one advertised. */
export function publicKeyOf(privateKey: KeyObject): Uint8Array {
  return rawPublicKey(createPublicKey(privateKey));
}

/**
 * X25519(private, peer) as 32 bytes. Throws (node:crypto's error) for a peer key of a small
 * subgroup, whose shared secret OpenSSL refuses as all zeros; callers turn that into their own error.
 */
export function agree(privateKey: KeyObject, peerPublicKey: Uint8Array): Uint8Array {
  const publicKey = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, peerPublicKey]), format: "der", type: "spki" });
  return new Uint8Array(diffieHellman({ privateKey, publicKey }));
}

/** label ‖ len(roundId) ‖ roundId ‖ len(a) ‖ a ‖ …: unambiguous, so no two contexts share bytes. */
export function context(label: string, roundId: string, ...ids: readonly string[]): Buffer {
  const parts = [label, roundId, ...ids].map((s) => Buffer.from(s, "utf8"));
  const out = Buffer.alloc(parts.reduce((n, p) => n + 2 + p.length, 0));
  let at = 0;
  for (const part of parts) {
    at = out.writeUInt16BE(part.length, at);
    at += part.copy(out, at);
  }
  return out;
}

/** HKDF-SHA256 (RFC 5869) of `secret` under `info`, 32 bytes; the salt is empty (the secret is already uniform, RFC 5869 §3.1). */
export function deriveSeed(secret: Uint8Array, info: Buffer): Uint8Array {
  return new Uint8Array(hkdfSync("sha256", secret, new Uint8Array(0), info, SEED_BYTES));
}

/** The seed of the mask two clients share: both derive it, ids in the one protocol order, so it is the same on both sides. */
export function pairwiseSeed(sharedSecret: Uint8Array, roundId: string, lowId: string, highId: string): Uint8Array {
  return deriveSeed(sharedSecret, context(LABELS.pairwiseMask, roundId, lowId, highId));
}

/** The seed of client u's self mask, from its Shamir-shared b_u. */
export function selfMaskSeed(b: Uint8Array, roundId: string, clientId: string): Uint8Array {
  return deriveSeed(b, context(LABELS.selfMask, roundId, clientId));
}

/** A commitment to b_u that the server checks the reconstructed seed against (SHA-256 of a uniform 32-byte secret hides it). */
export function selfMaskCommitment(b: Uint8Array, roundId: string, clientId: string): Uint8Array {
  return new Uint8Array(createHash("sha256").update(context(LABELS.selfMaskCommitment, roundId, clientId)).update(b).digest());
}

export function randomSeed(): Uint8Array {
  return new Uint8Array(randomBytes(SEED_BYTES));
}

/**
 * AES-256-GCM under a key derived from X25519(from, to), with the round and both ids as
 * associated data: a share sealed for v opens only with v's private key, in this round, from u.
 * Output: IV (12) ‖ ciphertext ‖ tag (16).
 */
export function seal(key: Uint8Array, aad: Buffer, plaintext: Uint8Array): Uint8Array {
  const iv = randomBytes(GCM_IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return new Uint8Array(Buffer.concat([iv, body, cipher.getAuthTag()]));
}

/** The plaintext, or null when the tag does not verify (wrong key, wrong context, altered bytes). */
export function open(key: Uint8Array, aad: Buffer, sealed: Uint8Array): Uint8Array | null {
  if (sealed.length < SEAL_OVERHEAD) return null;
  const iv = sealed.subarray(0, GCM_IV_BYTES);
  const tag = sealed.subarray(sealed.length - GCM_TAG_BYTES);
  const decipher = createDecipheriv("aes-256-gcm", key, iv);
  decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  try {
    const body = decipher.update(sealed.subarray(GCM_IV_BYTES, sealed.length - GCM_TAG_BYTES));
    return new Uint8Array(Buffer.concat([body, decipher.final()]));
  } catch {
    return null;
  }
}

/** The key and associated data of the share channel from → to. */
export function shareChannel(sharedSecret: Uint8Array, roundId: string, from: string, to: string): { key: Uint8Array; aad: Buffer } {
  const aad = context(LABELS.shareKey, roundId, from, to);
  return { key: deriveSeed(sharedSecret, aad), aad };
}

/** Constant-time equality of two byte strings (false for different lengths). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
