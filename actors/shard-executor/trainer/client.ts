/**
 * A hospital's trainer actor seen from the coordinator: a TrainingParticipant whose every call is
 * an ask over the transport. The global model goes out in chunks and the masked input comes back
 * in chunks (protocol.ts), so no message carries a whole model. A `failed` answer rejects with
 * the trainer's code (TrainerFailed); a missed deadline rejects with the runtime's AskTimeout —
 * either way the coordinator counts the hospital as a dropout of that phase.
 *
 * Masking and CKKS travel over the transport; under CKKS the encrypted update comes back one
 * ciphertext per message, and a decryptor is sent the aggregate and every contribution the same
 * way before it answers its decryption share, part by part. Plain updates do not: `plainUpdate`
 * rejects (NOT_OVER_TRANSPORT: an individual update never leaves a hospital in the clear over
 * the network, so a round under protection "none" is abandoned when the updates are asked for,
 * nobody charged).
 */
import type { ActorRef } from "../../../runtime/index.ts";
import { FedrouterError, registerErrors } from "../../../errors/index.ts";
import type { AdvertiseKeys, ckks, KeyDirectory, MaskedInput, MaskingParams, SharedKeys, ShareInbox, UnmaskRequest, UnmaskShares } from "../../../secagg/index.ts";
import type { PrepareReply, RoundOffer, RoundStart, TrainReport, TrainingParticipant } from "../../aggregator/index.ts";
import { TRAINER_CHUNK_WORDS, type CkksKeyInfo, type CkksShareHeader, type CkksUpdateHeader, type InstallReport, type MaskedInputHeader, type TrainerMsg, type TrainerReply } from "./protocol.ts";
import type { TrainingMetadata } from "../training/checkpoint.ts";

/** A trainer answered `failed`: its code and message, as it sent them. */
export class TrainerFailed extends FedrouterError {
  readonly code = "TRAINER_FAILED";
  constructor(readonly trainer: string, readonly causeCode: string, readonly reason: string) {
    super(`trainer ${trainer}: ${causeCode}: ${reason}`);
  }
}
registerErrors({ TRAINER_FAILED: (f) => new TrainerFailed(f.string("trainer"), f.string("causeCode"), f.string("reason")) });

export class TrainerClient implements TrainingParticipant {
  /**
   * @param id the hospital's id (its node name)
   * @param ref its trainer (`fed://<id>/user/node/trainer`)
   * @param timeoutMs per ask; `train` gets `trainTimeoutMs`
   * @param keyIndex CKKS: the index of the key share it holds (its `ckks-key` answer); none: it does not decrypt
   */
  constructor(readonly id: string, readonly ref: ActorRef<TrainerMsg>, readonly timeoutMs = 60_000, readonly trainTimeoutMs = 600_000, readonly keyIndex?: number) {}

  /** CKKS: the federation key the trainer read from its own disk, and its share's index; null: none. */
  ckksKey(): Promise<CkksKeyInfo | null> {
    return this.#ask<CkksKeyInfo | null>((replyTo) => ({ type: "ckks-key", replyTo }));
  }

  remaining(): Promise<number> {
    return this.#ask<number>((replyTo) => ({ type: "remaining", replyTo }));
  }

  prepare(offer: RoundOffer): Promise<PrepareReply> {
    return this.#ask<PrepareReply>((replyTo) => ({ type: "prepare", offer, replyTo }));
  }

  async train(start: RoundStart): Promise<TrainReport> {
    await this.#sendChunks(start.global, (chunk, replyTo) => ({ type: "global-chunk", roundId: start.roundId, ...chunk, replyTo }));
    return this.#ask<TrainReport>((replyTo) => ({
      type: "train", roundId: start.roundId, baseVersion: start.baseVersion, clipNorm: start.clipNorm, ...(start.clipIndicator === true ? { clipIndicator: true } : {}), local: start.local, replyTo,
    }), this.trainTimeoutMs);
  }

  plainUpdate(): Promise<Float32Array> {
    return Promise.reject(new TrainerFailed(this.id, "NOT_OVER_TRANSPORT", "plain updates (protection \"none\") are not sent over the transport"));
  }

  advertise(roundId: string, params: MaskingParams): Promise<AdvertiseKeys> {
    return this.#ask<AdvertiseKeys>((replyTo) => ({ type: "advertise", roundId, params, replyTo }));
  }

  shareKeys(roundId: string, directory: KeyDirectory): Promise<SharedKeys> {
    return this.#ask<SharedKeys>((replyTo) => ({ type: "share-keys", roundId, directory, replyTo }));
  }

  async maskInput(roundId: string, inbox: ShareInbox): Promise<MaskedInput> {
    const header = await this.#ask<MaskedInputHeader>((replyTo) => ({ type: "mask-input", roundId, inbox, replyTo }));
    const masked = new Uint32Array(header.length);
    for (let index = 0; index < header.chunks; index++) {
      const chunk = await this.#ask<Uint32Array>((replyTo) => ({ type: "masked-chunk", roundId, index, replyTo }));
      const offset = index * TRAINER_CHUNK_WORDS;
      if (!(chunk instanceof Uint32Array) || chunk.length !== Math.min(TRAINER_CHUNK_WORDS, header.length - offset)) {
        throw new TrainerFailed(this.id, "BAD_CHUNK", `masked chunk ${index} is not ${Math.min(TRAINER_CHUNK_WORDS, header.length - offset)} uint32 words`);
      }
      masked.set(chunk, offset);
    }
    return { type: header.type, roundId: header.roundId, clientId: header.clientId, masked };
  }

  unmask(roundId: string, request: UnmaskRequest): Promise<UnmaskShares> {
    return this.#ask<UnmaskShares>((replyTo) => ({ type: "unmask", roundId, request, replyTo }));
  }

  /** CKKS: the trainer encrypts under its own bundle, which must be `bundle`'s key; the ciphertexts come back one per ask. */
  async encrypt(roundId: string, bundle: ckks.PublicBundle): Promise<ckks.EncryptedUpdate> {
    const header = await this.#ask<CkksUpdateHeader>((replyTo) => ({ type: "encrypt", roundId, keyId: bundle.keyId, replyTo }), this.trainTimeoutMs);
    const slots = bundle.parameters.polyModulusDegree / 2;
    if (header.keyId !== bundle.keyId || !Number.isSafeInteger(header.length) || header.chunks !== Math.ceil(header.length / slots)) {
      throw new TrainerFailed(this.id, "BAD_CHUNK", `an encrypted update of ${header.length} values in ${header.chunks} ciphertexts under key ${String(header.keyId).slice(0, 12)}…`);
    }
    const ciphertexts = await this.#fetchBytes(header.chunks, "encrypted chunk", (index, replyTo) => ({ type: "encrypted-chunk", roundId, index, replyTo }));
    return { keyId: header.keyId, length: header.length, ciphertexts, ...(header.signed === undefined ? {} : { signed: header.signed }) };
  }

  /** CKKS: sends the aggregate and the contributions, ciphertext by ciphertext, then fetches the trainer's decryption share part by part. */
  async decryptionShare(roundId: string, decryptors: readonly number[], aggregate: ckks.EncryptedUpdate, contributions: readonly ckks.EncryptedUpdate[]): Promise<ckks.DecryptionShare> {
    for (const [of, update] of [aggregate, ...contributions].entries()) {
      const count = update.ciphertexts.length;
      for (const [index, data] of update.ciphertexts.entries()) {
        const signed = index === 0 && of > 0 && update.signed !== undefined ? { signed: update.signed } : {};
        await this.#ask<number>((replyTo) => ({ type: "decrypt-chunk", roundId, of, index, count, length: update.length, data, ...signed, replyTo }));
      }
    }
    const header = await this.#ask<CkksShareHeader>((replyTo) => ({ type: "decryption-share", roundId, decryptors, contributions: contributions.length, replyTo }), this.trainTimeoutMs);
    if (!Number.isSafeInteger(header.chunks) || header.chunks !== aggregate.ciphertexts.length) throw new TrainerFailed(this.id, "BAD_CHUNK", `a decryption share of ${header.chunks} parts for ${aggregate.ciphertexts.length} ciphertexts`);
    const parts = await this.#fetchBytes(header.chunks, "decryption share part", (index, replyTo) => ({ type: "share-part", roundId, index, replyTo }));
    return { keyId: header.keyId, index: header.index, decryptors: header.decryptors, aggregateDigest: header.aggregateDigest, parts };
  }

  async settle(roundId: string, outcome: "applied" | "abandoned"): Promise<void> {
    await this.#ask<null>((replyTo) => ({ type: "settle", roundId, outcome, replyTo }));
  }

  /**
   * Puts a finished job's model (the trainable part's values) in service on this hospital, in
   * chunks as a round's global model travels; resolves to what the trainer reloaded.
   */
  async install(job: string, version: number, trained: Float32Array, metadata: TrainingMetadata): Promise<InstallReport> {
    await this.#sendChunks(trained, (chunk, replyTo) => ({ type: "install-chunk", job, ...chunk, replyTo }));
    return this.#ask<InstallReport>((replyTo) => ({ type: "install", job, version, metadata, replyTo }), this.trainTimeoutMs);
  }

  /** `vector` in TRAINER_CHUNK_WORDS-value chunks, in order, each acknowledged before the next. */
  async #sendChunks(vector: Float32Array, make: (chunk: { index: number; count: number; total: number; data: Float32Array }, replyTo: ActorRef<TrainerReply<number>>) => TrainerMsg): Promise<void> {
    const total = vector.length;
    const count = Math.ceil(total / TRAINER_CHUNK_WORDS);
    for (let index = 0; index < count; index++) {
      // A view, not a copy: the codec sends the view's bytes only, and a trainer on this node copies them in.
      const data = vector.subarray(index * TRAINER_CHUNK_WORDS, (index + 1) * TRAINER_CHUNK_WORDS);
      await this.#ask<number>((replyTo) => make({ index, count, total, data }, replyTo));
    }
  }

  /** `count` byte strings, asked one at a time in order (ciphertexts, share parts): each must be bytes. */
  async #fetchBytes(count: number, what: string, make: (index: number, replyTo: ActorRef<TrainerReply<Uint8Array>>) => TrainerMsg): Promise<Uint8Array[]> {
    const out: Uint8Array[] = [];
    for (let index = 0; index < count; index++) {
      const bytes = await this.#ask<Uint8Array>((replyTo) => make(index, replyTo));
      if (!(bytes instanceof Uint8Array)) throw new TrainerFailed(this.id, "BAD_CHUNK", `${what} ${index} is not bytes`);
      out.push(bytes);
    }
    return out;
  }

  async #ask<T>(make: (replyTo: ActorRef<TrainerReply<T>>) => TrainerMsg, timeoutMs = this.timeoutMs): Promise<T> {
    const reply = await this.ref.ask<TrainerReply<T>>(make as (replyTo: ActorRef<TrainerReply<T>>) => TrainerMsg, { timeoutMs });
    if (reply.type === "failed") throw new TrainerFailed(this.id, reply.code, reply.message);
    return reply.value;
  }
}
