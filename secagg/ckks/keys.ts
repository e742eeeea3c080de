/**
 * What the key ceremony hands out: the public bundle (parameters and public key, for the
 * hospitals that encrypt and the Aggregator that adds) and one key share per hospital (a Shamir
 * share of the secret key, for threshold decryption). Plain data, with a byte form for each, so
 * that a key share can always be recognised, and refused, wherever only public data belongs.
 */
import { createHash } from "node:crypto";
import type { CkksParameters } from "./parameters.ts";
import { InvalidShare, MalformedCiphertext } from "./errors.ts";

/** Everything public about a round's key: enough to encrypt (hospitals) and to add (the Aggregator). */
export interface PublicBundle {
  readonly parameters: CkksParameters;
  /** SEAL PublicKey bytes (compression none). */
  readonly publicKey: Uint8Array;
  /** sha256 of publicKey, hex: names the key; shares and decryption shares carry it. */
  readonly keyId: string;
  /** The data level's parms id (hex): every ciphertext of this key carries it. */
  readonly parmsId: string;
  /** t: decryption shares needed. */
  readonly threshold: number;
  /** n: key shares dealt, to hospitals with indices 1..n. */
  readonly parties: number;
  /**
   * The hospitals whose signed contributions a decryptor accepts (signatures.ts): id → Ed25519
   * public key, SPKI DER base64. Written by `fedrouter keys ckks`; none: contributions are not signed.
   */
  readonly signers?: Readonly<Record<string, string>>;
}

/** Hospital `index`'s Shamir share of the secret key: s(index) mod each data prime, in SEAL's NTT form. */
export interface KeyShare {
  readonly keyId: string;
  readonly parmsId: string;
  /** The x-coordinate of the share, 1..parties. */
  readonly index: number;
  readonly threshold: number;
  readonly parties: number;
  readonly polyModulusDegree: number;
  /** K·N residues, limb j mod data prime q_j. */
  readonly residues: BigUint64Array;
}

export function keyIdOf(publicKey: Uint8Array): string {
  return createHash("sha256").update(publicKey).digest("hex");
}

/** "FRKS": the first bytes of every encoded key share, so any reader can tell one apart from public data. */
export const KEY_SHARE_MAGIC = Uint8Array.of(0x46, 0x52, 0x4b, 0x53);
const KEY_SHARE_HEADER_BYTES = 4 + 4 + 4 * 4 + 32 + 32;

/** A key share as bytes: magic · version u32 · index, t, n, N u32 · keyId (32 B) · parmsId (32 B) · residues. */
export function encodeKeyShare(share: KeyShare): Uint8Array {
  const bytes = new Uint8Array(KEY_SHARE_HEADER_BYTES + share.residues.length * 8);
  const view = new DataView(bytes.buffer);
  bytes.set(KEY_SHARE_MAGIC, 0);
  view.setUint32(4, 1, true);
  view.setUint32(8, share.index, true);
  view.setUint32(12, share.threshold, true);
  view.setUint32(16, share.parties, true);
  view.setUint32(20, share.polyModulusDegree, true);
  bytes.set(Buffer.from(share.keyId, "hex"), 24);
  bytes.set(Buffer.from(share.parmsId, "hex"), 56);
  bytes.set(new Uint8Array(share.residues.buffer, share.residues.byteOffset, share.residues.byteLength), KEY_SHARE_HEADER_BYTES);
  return bytes;
}

export function decodeKeyShare(bytes: Uint8Array): KeyShare {
  if (!isKeyShareBytes(bytes)) throw new InvalidShare("keyShare", "does not start with the key-share magic FRKS");
  if (bytes.length < KEY_SHARE_HEADER_BYTES || (bytes.length - KEY_SHARE_HEADER_BYTES) % 8 !== 0) throw new MalformedCiphertext("key share", `${bytes.length} bytes is not a header and whole residues`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(4, true) !== 1) throw new InvalidShare("keyShare.version", `= ${view.getUint32(4, true)} is not 1`);
  const residues = new BigUint64Array((bytes.length - KEY_SHARE_HEADER_BYTES) / 8);
  new Uint8Array(residues.buffer).set(bytes.subarray(KEY_SHARE_HEADER_BYTES));
  const share: KeyShare = {
    index: view.getUint32(8, true),
    threshold: view.getUint32(12, true),
    parties: view.getUint32(16, true),
    polyModulusDegree: view.getUint32(20, true),
    keyId: Buffer.from(bytes.subarray(24, 56)).toString("hex"),
    parmsId: Buffer.from(bytes.subarray(56, 88)).toString("hex"),
    residues,
  };
  if (share.index < 1 || share.index > share.parties || share.threshold < 1 || share.threshold > share.parties) {
    throw new InvalidShare("keyShare.index", `= ${share.index} (t = ${share.threshold}, n = ${share.parties}) is not a share of a t-of-n key`);
  }
  return share;
}

export function isKeyShareBytes(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && KEY_SHARE_MAGIC.every((b, i) => bytes[i] === b);
}
