/**
 * One chunk of an update, encrypted inside a piscina worker: the worker loads node-seal and
 * builds the bundle's encryptor once, then reuses them for every chunk it is given. Never
 * receives anything secret: the task carries the public bundle and the values only.
 */
import { encryptValues, encryptionSession } from "./encrypt.ts";
import type { PublicBundle } from "./keys.ts";

export interface EncryptTask {
  /** This module's URL (the boot file imports it). */
  readonly entry: string;
  readonly bundle: Pick<PublicBundle, "parameters" | "publicKey" | "keyId">;
  /** Values starting on a ciphertext boundary; the last chunk may end mid-ciphertext. */
  readonly values: Float32Array | Float64Array;
}

export async function runEncryptTask(task: EncryptTask): Promise<Uint8Array[]> {
  return encryptValues(await encryptionSession(task.bundle), task.values);
}
