/**
 * The key ceremony on disk, for a federation whose hospitals run apart: the public bundle every
 * hospital and the coordinator read (`federation.bundle`), one key share per hospital
 * (`<hospital>.share`, mode 0600, for that hospital's machine only) and `federation.json`, the
 * hospitals' share indices in words, for people. A trainer encrypts only under the bundle it read
 * from its own disk — never one a coordinator sends — so a coordinator cannot swap in a key whose
 * secret it holds.
 *
 * Bundle bytes: "FRKB" · version u32 · header length u32 · header (JSON: parameters, keyId,
 * parmsId, threshold, parties) · the SEAL public key. Written by hand (no library frames a JSON
 * header and one binary blob more simply), checked on read: the key id is the public key's hash.
 */
import { createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { dealThresholdKeys } from "./dealer.ts";
import { InvalidCkksParameters, MalformedCiphertext } from "./errors.ts";
import { decodeKeyShare, encodeKeyShare, isKeyShareBytes, keyIdOf, type KeyShare, type PublicBundle } from "./keys.ts";
import { checkParameters, type CkksParameters } from "./parameters.ts";
import { signingKeyOf } from "./signatures.ts";

/** "FRKB": the first bytes of an encoded public bundle. */
export const BUNDLE_MAGIC = Uint8Array.of(0x46, 0x52, 0x4b, 0x42);
/** A header is a few hundred bytes; a public key at N = 32768 with 881 bits about 3.5 MB. */
const MAX_HEADER_BYTES = 16_384;
const MAX_BUNDLE_BYTES = 16 * 1024 * 1024;

const hex64 = z.string().regex(/^[0-9a-f]{64}$/);
const headerSchema = z.strictObject({
  parameters: z.strictObject({
    polyModulusDegree: z.number().int(), coeffModulusBits: z.array(z.number().int()).max(64), scaleBits: z.number().int(),
    clip: z.number(), maxSummands: z.number().int(), smudgingBits: z.number().int(),
  }),
  keyId: hex64,
  parmsId: hex64,
  threshold: z.number().int().min(1).max(255),
  parties: z.number().int().min(1).max(255),
  signers: z.record(z.string().min(1).max(128), z.string().regex(/^[A-Za-z0-9+/]{40,200}={0,2}$/)).optional(),
}).refine((h) => h.signers === undefined || Object.keys(h.signers).length <= 255, "at most 255 signers").refine((h) => h.threshold <= h.parties, "threshold must not exceed parties");

export function encodeBundle(bundle: PublicBundle): Uint8Array {
  const { parameters, keyId, parmsId, threshold, parties, signers } = bundle;
  const header = Buffer.from(JSON.stringify({ parameters, keyId, parmsId, threshold, parties, ...(signers === undefined ? {} : { signers }) }), "utf8");
  const bytes = new Uint8Array(12 + header.length + bundle.publicKey.length);
  const view = new DataView(bytes.buffer);
  bytes.set(BUNDLE_MAGIC, 0);
  view.setUint32(4, 1, true);
  view.setUint32(8, header.length, true);
  bytes.set(header, 12);
  bytes.set(bundle.publicKey, 12 + header.length);
  return bytes;
}

/** The bundle `bytes` hold, checked: magic, version, header fields, parameters SEAL can use, key id = sha256(public key). */
export function decodeBundle(bytes: Uint8Array, what = "the public bundle"): PublicBundle {
  if (isKeyShareBytes(bytes)) throw new MalformedCiphertext(what, "is a key share (FRKS), not a public bundle: a key share never leaves its hospital");
  if (bytes.length < 12 || !BUNDLE_MAGIC.every((b, i) => bytes[i] === b)) throw new MalformedCiphertext(what, "does not start with the bundle magic FRKB");
  if (bytes.length > MAX_BUNDLE_BYTES) throw new MalformedCiphertext(what, `${bytes.length} bytes exceeds ${MAX_BUNDLE_BYTES}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(4, true) !== 1) throw new MalformedCiphertext(what, `version ${view.getUint32(4, true)} is not 1`);
  const headerBytes = view.getUint32(8, true);
  if (headerBytes > MAX_HEADER_BYTES || 12 + headerBytes >= bytes.length) throw new MalformedCiphertext(what, `a header of ${headerBytes} bytes does not fit`);
  let header: z.infer<typeof headerSchema>;
  try {
    header = headerSchema.parse(JSON.parse(Buffer.from(bytes.subarray(12, 12 + headerBytes)).toString("utf8")));
  } catch (error) {
    throw new MalformedCiphertext(what, `its header is not a bundle header: ${error instanceof Error ? error.message.slice(0, 300) : String(error)}`);
  }
  checkParameters(header.parameters as CkksParameters);
  const publicKey = bytes.slice(12 + headerBytes);
  if (keyIdOf(publicKey) !== header.keyId) throw new MalformedCiphertext(what, `its key id ${header.keyId.slice(0, 12)}… is not the hash of its public key`);
  const { signers, ...rest } = header;
  return { ...rest, parameters: header.parameters as CkksParameters, publicKey, ...(signers === undefined ? {} : { signers }) };
}

export function readBundleFile(path: string): PublicBundle {
  return decodeBundle(readBytes(path, "public bundle"), `the public bundle ${path}`);
}

/** A hospital's key share from its file, checked to belong to `bundle` (same key, same parameters' level). */
export function readKeyShareFile(path: string, bundle: PublicBundle): KeyShare {
  const share = decodeKeyShare(readBytes(path, "key share"));
  if (share.keyId !== bundle.keyId || share.parmsId !== bundle.parmsId) throw new MalformedCiphertext(`the key share ${path}`, `belongs to key ${share.keyId.slice(0, 12)}…, not the bundle's ${bundle.keyId.slice(0, 12)}…`);
  if (share.threshold !== bundle.threshold || share.parties !== bundle.parties || share.polyModulusDegree !== bundle.parameters.polyModulusDegree) {
    throw new MalformedCiphertext(`the key share ${path}`, `is a ${share.threshold}-of-${share.parties} share at N = ${share.polyModulusDegree}; the bundle says ${bundle.threshold}-of-${bundle.parties} at N = ${bundle.parameters.polyModulusDegree}`);
  }
  return share;
}

export interface CeremonyFiles {
  readonly dir: string;
  readonly keyId: string;
  readonly threshold: number;
  /** hospital → its share's index (1..n), its share's file and its signing key's file. */
  readonly shares: Readonly<Record<string, { readonly index: number; readonly file: string; readonly signing: string }>>;
  readonly bundle: string;
}

/**
 * Deals a t-of-n key for `hospitals` (a trusted dealer: dealer.ts says what that means) and writes
 * the bundle, each hospital's share and Ed25519 signing key (`<hospital>.signing`, PKCS#8 PEM;
 * both 0600; the public halves are the bundle's `signers`) and federation.json into `dir`. In a
 * deployment each hospital's two files are then moved to its machine and deleted here.
 */
export async function writeKeyCeremony(dir: string, hospitals: readonly string[], threshold: number, parameters?: CkksParameters): Promise<CeremonyFiles> {
  if (new Set(hospitals).size !== hospitals.length) throw new InvalidCkksParameters("hospitals", `name a hospital twice (${hospitals.join(", ")})`);
  // Before the deal (seconds of work): a directory that cannot be made is said at once.
  try {
    mkdirSync(dir, { recursive: true });
  } catch (error) {
    throw new InvalidCkksParameters("dir", `${dir} cannot be made (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  const deal = await dealThresholdKeys({ parties: hospitals.length, threshold, ...(parameters === undefined ? {} : { parameters }) });
  const signingKeys = hospitals.map(() => generateKeyPairSync("ed25519"));
  const signers = Object.fromEntries(hospitals.map((h, i) => [h, signingKeys[i]!.publicKey.export({ format: "der", type: "spki" }).toString("base64")]));
  const bundle = join(dir, "federation.bundle");
  writeFileSync(bundle, encodeBundle({ ...deal.bundle, signers }));
  const shares: Record<string, { index: number; file: string; signing: string }> = {};
  hospitals.forEach((hospital, i) => {
    const share = deal.shares[i]!;
    const file = join(dir, `${hospital}.share`);
    const bytes = encodeKeyShare(share);
    writeFileSync(file, bytes, { mode: 0o600 });
    chmodSync(file, 0o600);
    bytes.fill(0);
    share.residues.fill(0n);
    const signing = join(dir, `${hospital}.signing`);
    writeFileSync(signing, signingKeys[i]!.privateKey.export({ format: "pem", type: "pkcs8" }), { mode: 0o600 });
    chmodSync(signing, 0o600);
    shares[hospital] = { index: share.index, file, signing };
  });
  const summary = { keyId: deal.bundle.keyId, threshold, parties: hospitals.length, shares: Object.fromEntries(Object.entries(shares).map(([h, s]) => [h, s.index])) };
  writeFileSync(join(dir, "federation.json"), `${JSON.stringify(summary, null, 2)}\n`);
  return { dir, keyId: deal.bundle.keyId, threshold, shares, bundle };
}

/** A hospital's Ed25519 signing key from its file, checked to be the one the bundle lists for `hospital`. */
export function readSigningKeyFile(path: string, bundle: PublicBundle, hospital: string): KeyObject {
  let key: KeyObject;
  try {
    key = signingKeyOf(readFileSync(path, "utf8"));
  } catch (error) {
    throw new MalformedCiphertext(`the signing key ${path}`, `is not an Ed25519 private key in PEM (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  const listed = bundle.signers?.[hospital];
  const mine = createPublicKey(key).export({ format: "der", type: "spki" }).toString("base64");
  if (listed !== mine) throw new MalformedCiphertext(`the signing key ${path}`, listed === undefined ? `belongs to no signer the bundle lists for ${hospital}` : `is not the key the bundle lists for ${hospital}`);
  return key;
}

function readBytes(path: string, what: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (error) {
    throw new MalformedCiphertext(`the ${what} ${path}`, `cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)}); write the key ceremony with \`fedrouter keys ckks\``);
  }
}
