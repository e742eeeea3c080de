/**
 * Encrypting updates in a piscina pool: an update is cut at ciphertext boundaries into chunks of
 * `ciphertextsPerTask` ciphertexts, the chunks run on the pool's workers (each loads node-seal
 * once), and the ciphertexts come back in order. Never sends a worker anything but the public
 * bundle and the values.
 */
import { availableParallelism } from "node:os";
import { Piscina } from "piscina";
import { checkUpdate } from "./encrypt.ts";
import type { EncryptTask } from "./encrypt-task.ts";
import type { PublicBundle } from "./keys.ts";
import { checkParameters } from "./parameters.ts";
import type { EncryptedUpdate } from "./update.ts";

export interface EncryptionPoolOptions {
  /** Worker threads (default: the machine's parallelism, at most 8). */
  readonly threads?: number;
  /** Ciphertexts per task: large enough to amortise a task's hop, small enough to balance (default 16). */
  readonly ciphertextsPerTask?: number;
}

export const DEFAULT_ENCRYPTION_POOL = { ciphertextsPerTask: 16, maxThreads: 8 } as const;

const BOOT = new URL("./encrypt-boot.mjs", import.meta.url).href;
const TASK_ENTRY = new URL(`./encrypt-task.${import.meta.url.endsWith(".ts") ? "ts" : "js"}`, import.meta.url).href;

export class CkksEncryptionPool {
  private readonly pool: Piscina;
  readonly threads: number;
  private readonly ciphertextsPerTask: number;

  /**
   * @example
   * const pool = new CkksEncryptionPool({ threads: 2 });
   * const encrypted = await pool.encrypt(bundle, clippedUpdate); // Float32Array, |x| ≤ C
   * await pool.close();
   */
  constructor(options: EncryptionPoolOptions = {}) {
    this.threads = options.threads ?? Math.min(DEFAULT_ENCRYPTION_POOL.maxThreads, availableParallelism());
    this.ciphertextsPerTask = options.ciphertextsPerTask ?? DEFAULT_ENCRYPTION_POOL.ciphertextsPerTask;
    this.pool = new Piscina({ filename: BOOT, minThreads: this.threads, maxThreads: this.threads, idleTimeout: 60_000 });
  }

  /** Encrypts a clipped update under the bundle's public key (checked first: InvalidUpdate). */
  async encrypt(bundle: PublicBundle, update: Float32Array | Float64Array): Promise<EncryptedUpdate> {
    checkUpdate(update, bundle);
    const chunk = checkParameters(bundle.parameters).slots * this.ciphertextsPerTask;
    const publicPart = { parameters: bundle.parameters, publicKey: bundle.publicKey, keyId: bundle.keyId };
    const tasks: Promise<Uint8Array[]>[] = [];
    for (let start = 0; start < update.length; start += chunk) {
      const task: EncryptTask = { entry: TASK_ENTRY, bundle: publicPart, values: update.slice(start, start + chunk) };
      tasks.push(this.pool.run(task) as Promise<Uint8Array[]>);
    }
    return { keyId: bundle.keyId, length: update.length, ciphertexts: (await Promise.all(tasks)).flat() };
  }

  /** Loads node-seal and the bundle's encryptor in every worker, so the first real update is not charged for it. */
  async warm(bundle: PublicBundle): Promise<void> {
    const tiny = new Float32Array(1);
    await Promise.all(Array.from({ length: this.threads * 2 }, () => this.encrypt(bundle, tiny)));
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
