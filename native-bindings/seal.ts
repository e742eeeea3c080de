/**
 * The node-seal loader: the only module in fedrouter that imports node-seal (Microsoft SEAL
 * compiled to WebAssembly). Loads it once per thread, says which version it got, and turns a
 * failure to load into a typed SealUnavailable that names the reason and the fix. Never hands
 * secret-key machinery to code that asked for the public view (`loadPublicSeal`).
 *
 * node-seal 7.x is compiled with WebAssembly GC, which Node 20 lacks (it needs Node 22+): on
 * Node 20 its module fails to compile. 6.0.3 is pinned in package.json and works on both.
 */
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import type { SEALLibrary } from "node-seal/implementation/seal.js";
import { FedrouterError, registerErrors } from "../errors/index.ts";

export type { SEALLibrary };
export type { CipherText } from "node-seal/implementation/cipher-text.js";
export type { PlainText } from "node-seal/implementation/plain-text.js";
export type { Context } from "node-seal/implementation/context.js";
export type { Evaluator } from "node-seal/implementation/evaluator.js";
export type { CKKSEncoder } from "node-seal/implementation/ckks-encoder.js";
export type { Encryptor } from "node-seal/implementation/encryptor.js";
export type { PublicKey } from "node-seal/implementation/public-key.js";
export type { SecretKey } from "node-seal/implementation/secret-key.js";

/** node-seal could not be loaded here: `reason` says why (missing, wasm-gc, a failed compile). */
export class SealUnavailable extends FedrouterError {
  readonly code = "SEAL_UNAVAILABLE";
  constructor(readonly reason: string, readonly version?: string) {
    super(`node-seal${version ? ` ${version}` : ""} could not be loaded: ${reason}`);
  }
}

registerErrors({
  SEAL_UNAVAILABLE: (f) => new SealUnavailable(f.string("reason"), f.optionalString("version")),
});

export interface SealRuntime {
  /** The whole library: key generation, encryption, decryption, evaluation. */
  readonly seal: SEALLibrary;
  /** node-seal's package version ("6.0.3"), or "unknown". */
  readonly version: string;
  /** Compression modes this build supports for save(): always "none", plus "zstd"/"zlib" when compiled in. */
  readonly compression: readonly ("none" | "zlib" | "zstd")[];
}

/**
 * What the Aggregator may hold: parameters, contexts, ciphertexts and the evaluator. No
 * KeyGenerator, SecretKey, Decryptor or Encryptor: code given this view cannot make, load or
 * use a secret key through node-seal's API (test/secagg/ckks/aggregator-holds-no-key.test.ts).
 */
export type PublicSeal = Pick<SEALLibrary, "CipherText" | "Context" | "Evaluator" | "EncryptionParameters" | "CoeffModulus" | "ComprModeType" | "SchemeType" | "SecurityLevel" | "Exception" | "Version">;

/** The constructors left out of PublicSeal, by name; `loadPublicSeal()` leaves them out at run time too. */
export const SECRET_CAPABILITIES = ["KeyGenerator", "SecretKey", "Decryptor", "Encryptor", "PublicKey", "CKKSEncoder", "BatchEncoder", "PlainText", "RelinKeys", "GaloisKeys", "Serializable"] as const;

const PUBLIC_CAPABILITIES = ["CipherText", "Context", "Evaluator", "EncryptionParameters", "CoeffModulus", "ComprModeType", "SchemeType", "SecurityLevel", "Exception", "Version"] as const satisfies readonly (keyof PublicSeal)[];

let loading: Promise<SealRuntime> | undefined;

/**
 * Loads node-seal once per thread (later calls share the first load, a failed one included).
 * @example
 * const { seal, version } = await loadSeal(); // version "6.0.3"
 * const parms = seal.EncryptionParameters(seal.SchemeType.ckks);
 */
export function loadSeal(): Promise<SealRuntime> {
  loading ??= loadNow();
  return loading;
}

/** The public view of the same library (see PublicSeal): a frozen object, nothing else reachable through it. */
export async function loadPublicSeal(): Promise<PublicSeal> {
  return publicView((await loadSeal()).seal);
}

/** Restricts a loaded library to PublicSeal, at run time as well as in its type. */
export function publicView(seal: SEALLibrary): PublicSeal {
  const view: Record<string, unknown> = {};
  for (const name of PUBLIC_CAPABILITIES) view[name] = seal[name];
  return Object.freeze(view) as unknown as PublicSeal;
}

async function loadNow(): Promise<SealRuntime> {
  if (typeof (globalThis as { WebAssembly?: unknown }).WebAssembly !== "object") throw new SealUnavailable("this JavaScript runtime has no WebAssembly");
  const version = installedVersion();
  if (version === undefined) throw new SealUnavailable("the node-seal package is not installed (npm install node-seal@6.0.3)");
  let seal: SEALLibrary;
  try {
    const module = (await import("node-seal")) as { default: (() => Promise<SEALLibrary>) | { default: () => Promise<SEALLibrary> } };
    const factory = typeof module.default === "function" ? module.default : module.default.default;
    seal = await factory();
  } catch (error) {
    throw new SealUnavailable(explain(error, version), version);
  }
  const compression = (["none", "zlib", "zstd"] as const).filter((mode) => seal.ComprModeType[mode] !== undefined);
  return { seal, version, compression };
}

function installedVersion(): string | undefined {
  try {
    const require = createRequire(import.meta.url);
    const path = require.resolve("node-seal/package.json");
    return (JSON.parse(readFileSync(path, "utf8")) as { version?: string }).version ?? "unknown";
  } catch {
    return undefined;
  }
}

/** The loader's error, with the fix when it is the known one (7.x on a Node without wasm-gc). */
function explain(error: unknown, version: string): string {
  const message = error instanceof Error ? error.message : String(error);
  const major = Number(version.split(".")[0]);
  if (major >= 7) {
    return `${message}; node-seal ${version} is built with WebAssembly GC, which Node ${process.versions.node} lacks (Node 22+ has it): install node-seal@6.0.3, or run on Node 22+`;
  }
  return message;
}
