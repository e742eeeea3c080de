/**
 * Encrypting an update under a round's public bundle, in whatever thread calls it (a piscina
 * worker in production, see encrypt-pool.ts): values are packed N/2 to a ciphertext, the last one
 * padded with zeros, each encoded at scale Δ, encrypted with the public key and saved
 * uncompressed. Never sees a secret key: it is given the public bundle only.
 *
 * Compression: SEAL's zstd shrinks these ciphertexts by only ~6% (the coefficients are uniform
 * residues of 60-bit primes, stored in 64-bit words) and costs more time than the bytes save on
 * a LAN; uncompressed bytes can also be checked field by field before SEAL parses them
 * (seal-format.ts). Measured by bench/training/ckks.ts.
 */
import { loadSeal, type CKKSEncoder, type CipherText, type Context, type Encryptor, type PlainText, type SEALLibrary } from "../../native-bindings/seal.ts";
import { InvalidUpdate } from "./errors.ts";
import type { PublicBundle } from "./keys.ts";
import type { EncryptedUpdate } from "./update.ts";
import { buildContext } from "./parameters.ts";


/** A thread's SEAL objects for one public bundle, made once and reused for every chunk. */
export interface EncryptionSession {
  readonly seal: SEALLibrary;
  readonly context: Context;
  readonly encoder: CKKSEncoder;
  readonly encryptor: Encryptor;
  readonly slots: number;
  readonly scale: number;
  readonly plain: PlainText;
  readonly cipher: CipherText;
  readonly values: Float64Array;
}

const sessions = new Map<string, Promise<EncryptionSession>>();

/** This thread's session for a bundle (SEAL loaded once, context and encryptor made once per key). */
export function encryptionSession(bundle: Pick<PublicBundle, "parameters" | "publicKey" | "keyId">): Promise<EncryptionSession> {
  let session = sessions.get(bundle.keyId);
  if (session === undefined) {
    session = openSession(bundle);
    sessions.set(bundle.keyId, session);
    session.catch(() => sessions.delete(bundle.keyId));
  }
  return session;
}

async function openSession(bundle: Pick<PublicBundle, "parameters" | "publicKey" | "keyId">): Promise<EncryptionSession> {
  const { seal } = await loadSeal();
  const context = buildContext(seal, bundle.parameters);
  const publicKey = seal.PublicKey();
  publicKey.loadArray(context, bundle.publicKey);
  const encoder = seal.CKKSEncoder(context);
  const encryptor = seal.Encryptor(context, publicKey);
  const slots = encoder.slotCount;
  return { seal, context, encoder, encryptor, slots, scale: 2 ** bundle.parameters.scaleBits, plain: seal.PlainText(), cipher: seal.CipherText(), values: new Float64Array(slots) };
}

/**
 * Encrypts `values` (already checked, see checkUpdate) as ceil(length / slots) ciphertexts.
 * `values` may be a slice of a longer update that starts on a ciphertext boundary.
 */
export function encryptValues(session: EncryptionSession, values: Float32Array | Float64Array): Uint8Array[] {
  const { seal, encoder, encryptor, slots, scale, plain, cipher, values: buffer } = session;
  const out: Uint8Array[] = [];
  for (let start = 0; start < values.length; start += slots) {
    const end = Math.min(values.length, start + slots);
    buffer.set(values.subarray(start, end));
    if (end - start < slots) buffer.fill(0, end - start);
    encoder.encode(buffer, scale, plain);
    encryptor.encrypt(plain, cipher);
    out.push(cipher.saveArray(seal.ComprModeType.none));
  }
  return out;
}

/** Throws InvalidUpdate unless every value is finite with |x| ≤ clip. O(length), no allocation. */
export function checkUpdate(update: Float32Array | Float64Array, bundle: Pick<PublicBundle, "parameters">, field = "update"): void {
  const { clip } = bundle.parameters;
  if (update.length === 0) throw new InvalidUpdate(field, "is empty");
  for (let i = 0; i < update.length; i++) {
    const x = update[i]!;
    if (!(Math.abs(x) <= clip)) {
      throw new InvalidUpdate(`${field}[${i}]`, Number.isFinite(x) ? `has |x| above the clipping bound C = ${clip}; clip the update before encrypting it` : "is not a finite number");
    }
  }
}

/** Encrypts a whole update in this thread (no pool): the path for tests and small updates. */
export async function encryptUpdate(bundle: PublicBundle, update: Float32Array | Float64Array): Promise<EncryptedUpdate> {
  checkUpdate(update, bundle);
  const session = await encryptionSession(bundle);
  return { keyId: bundle.keyId, length: update.length, ciphertexts: encryptValues(session, update) };
}
