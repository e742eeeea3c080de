/**
 * The trainer actor's protocol: a hospital's side of a DP-FedAvg round (participant.ts) as
 * messages, so a coordinator on another hospital drives it over the federation's transport.
 *
 * Large vectors never travel whole: the global model goes to the trainer in chunks
 * (`global-chunk`, then `train`), and the masked input comes back in chunks (`mask-input` says
 * how many, `masked-chunk` fetches each), every chunk under TRAINER_CHUNK_WORDS 4-byte words
 * (1 MiB: a quarter of the transport's 4 MiB frame), so a 124M-parameter round is ~475 chunks
 * each way and never one message (Flower #3006 hit gRPC's limit with a whole GPT-2 update).
 * Under CKKS one ciphertext (262 kB at N = 8192) or one decryption-share part travels per message.
 *
 * Who may send: this node's code, and a peer only when it is the hospital named as this trainer's
 * coordinator (the behaviour checks the peer's node; the policy below admits peers at all).
 */
import type { AccessPolicy, ActorRef } from "../../../runtime/index.ts";
import type { AdvertiseKeys, KeyDirectory, MaskingParams, SharedKeys, ShareInbox, UnmaskRequest, UnmaskShares } from "../../../secagg/index.ts";
import type { ckks } from "../../../secagg/index.ts";
import type { LocalTrainingConfig, PrepareReply, RoundOffer, TrainReport } from "../../aggregator/index.ts";
import type { TrainingMetadata } from "../training/checkpoint.ts";

/** 1 MiB of float32 or uint32 words per chunk. */
export const TRAINER_CHUNK_WORDS = 262_144;

export type TrainerReply<T> = { readonly type: "ok"; readonly value: T } | { readonly type: "failed"; readonly code: string; readonly message: string };

export type TrainerMsg =
  | { readonly type: "remaining"; readonly replyTo: ActorRef<TrainerReply<number>> }
  | { readonly type: "prepare"; readonly offer: RoundOffer; readonly replyTo: ActorRef<TrainerReply<PrepareReply>> }
  /** Chunk `index` of `count` of the round's global model (`total` values in all), in order. */
  | { readonly type: "global-chunk"; readonly roundId: string; readonly index: number; readonly count: number; readonly total: number; readonly data: Float32Array; readonly replyTo: ActorRef<TrainerReply<number>> }
  /** Train from the global model the chunks carried; `clipIndicator`: adaptive clipping, append bᵢ − ½ to the masked vector (RoundStart). */
  | { readonly type: "train"; readonly roundId: string; readonly baseVersion: number; readonly clipNorm: number; readonly clipIndicator?: boolean; readonly local: LocalTrainingConfig; readonly replyTo: ActorRef<TrainerReply<TrainReport>> }
  | { readonly type: "advertise"; readonly roundId: string; readonly params: MaskingParams; readonly replyTo: ActorRef<TrainerReply<AdvertiseKeys>> }
  | { readonly type: "share-keys"; readonly roundId: string; readonly directory: KeyDirectory; readonly replyTo: ActorRef<TrainerReply<SharedKeys>> }
  /** Masks the update; the answer says how many `masked-chunk`s carry it. */
  | { readonly type: "mask-input"; readonly roundId: string; readonly inbox: ShareInbox; readonly replyTo: ActorRef<TrainerReply<MaskedInputHeader>> }
  | { readonly type: "masked-chunk"; readonly roundId: string; readonly index: number; readonly replyTo: ActorRef<TrainerReply<Uint32Array>> }
  | { readonly type: "unmask"; readonly roundId: string; readonly request: UnmaskRequest; readonly replyTo: ActorRef<TrainerReply<UnmaskShares>> }
  | { readonly type: "settle"; readonly roundId: string; readonly outcome: "applied" | "abandoned"; readonly replyTo: ActorRef<TrainerReply<null>> }
  /** CKKS: the federation key this trainer holds (read from its own disk), and its share's index; null: it has no CKKS key. */
  | { readonly type: "ckks-key"; readonly replyTo: ActorRef<TrainerReply<CkksKeyInfo | null>> }
  /**
   * CKKS: encrypt this round's update under the trainer's own bundle, which must be `keyId` (a
   * trainer never encrypts under a key a coordinator sends); the answer says how many
   * `encrypted-chunk`s (one ciphertext each) carry it.
   */
  | { readonly type: "encrypt"; readonly roundId: string; readonly keyId: string; readonly replyTo: ActorRef<TrainerReply<CkksUpdateHeader>> }
  | { readonly type: "encrypted-chunk"; readonly roundId: string; readonly index: number; readonly replyTo: ActorRef<TrainerReply<Uint8Array>> }
  /**
   * CKKS, to a decryptor: ciphertext `index` of `count` of update `of` — 0 the aggregate, 1..k the
   * contributions it must be the sum of — in order, update after update.
   */
  | {
      readonly type: "decrypt-chunk"; readonly roundId: string; readonly of: number; readonly index: number; readonly count: number; readonly length: number; readonly data: Uint8Array;
      /** On a contribution's first ciphertext, where the federation signs contributions: its hospital's signature. */
      readonly signed?: ckks.ContributionSignature;
      readonly replyTo: ActorRef<TrainerReply<number>>;
    }
  /** CKKS: its decryption share of the aggregate the chunks carried (checked against the `contributions` shown first); the answer says how many `share-part`s carry it. */
  | { readonly type: "decryption-share"; readonly roundId: string; readonly decryptors: readonly number[]; readonly contributions: number; readonly replyTo: ActorRef<TrainerReply<CkksShareHeader>> }
  | { readonly type: "share-part"; readonly roundId: string; readonly index: number; readonly replyTo: ActorRef<TrainerReply<Uint8Array>> }
  /** Chunk `index` of `count` of a finished job's trained model (`total` values), in order: what `install` puts in service. */
  | { readonly type: "install-chunk"; readonly job: string; readonly index: number; readonly count: number; readonly total: number; readonly data: Float32Array; readonly replyTo: ActorRef<TrainerReply<number>> }
  /**
   * Puts the model the chunks carried in service on this hospital: written over its model
   * directory (the weights it replaces kept in `previous/`), with `metadata` as its
   * fedrouter_training.json; the executors it serves reload it; later rounds start from it.
   */
  | { readonly type: "install"; readonly job: string; readonly version: number; readonly metadata: TrainingMetadata; readonly replyTo: ActorRef<TrainerReply<InstallReport>> };

/** What an install did on one hospital. */
export interface InstallReport {
  readonly job: string;
  readonly version: number;
  /** The executors (paths) that reloaded the new weights. */
  readonly reloaded: readonly string[];
  /** The executors that did not, with why; the new weights are on disk and serve from their next load. */
  readonly notReloaded: readonly { readonly executor: string; readonly reason: string }[];
}

export interface CkksKeyInfo {
  readonly keyId: string;
  /** Its key share's index (1..n), or null: it encrypts but does not decrypt. */
  readonly index: number | null;
  readonly threshold: number;
  readonly parties: number;
}

/** An EncryptedUpdate without its ciphertexts: `chunks` of them. */
export interface CkksUpdateHeader {
  readonly keyId: string;
  readonly length: number;
  readonly chunks: number;
  /** Where the bundle lists signers: this hospital's signature over the round and the ciphertexts. */
  readonly signed?: ckks.ContributionSignature;
}

/** A DecryptionShare without its parts: `chunks` of them. */
export type CkksShareHeader = Omit<ckks.DecryptionShare, "parts"> & { readonly chunks: number };

/** A MaskedInput without its vector: `length` words in `chunks` chunks. */
export interface MaskedInputHeader {
  readonly type: "secagg.maskedInput";
  readonly roundId: string;
  readonly clientId: string;
  readonly length: number;
  readonly chunks: number;
}

export const TRAINER_ACCESS = {
  remaining: ["local", "peer"],
  prepare: ["local", "peer"],
  "global-chunk": ["local", "peer"],
  train: ["local", "peer"],
  advertise: ["local", "peer"],
  "share-keys": ["local", "peer"],
  "mask-input": ["local", "peer"],
  "masked-chunk": ["local", "peer"],
  unmask: ["local", "peer"],
  settle: ["local", "peer"],
  "ckks-key": ["local", "peer"],
  encrypt: ["local", "peer"],
  "encrypted-chunk": ["local", "peer"],
  "decrypt-chunk": ["local", "peer"],
  "decryption-share": ["local", "peer"],
  "share-part": ["local", "peer"],
  "install-chunk": ["local", "peer"],
  install: ["local", "peer"],
} as const satisfies AccessPolicy<TrainerMsg>;

export interface TrainerOptions {
  /** The hospital's model (a Hugging Face GPT-2 directory): the base every round's global vector is relative to. */
  readonly modelDir: string;
  /** Its Accountant's path; default `fed://<this node>/user/node/accountant`. The training budget lives there. */
  readonly accountant?: string;
  /**
   * Its own notes: a directory of .txt/.jsonl (corpus/loader.ts), or the demo's synthetic notes of
   * a specialty; default the synthetic notes of this hospital's specialty (SYNTHETIC_SPECIALTY_OF).
   */
  readonly corpus?: { readonly kind: "directory"; readonly path: string } | { readonly kind: "synthetic"; readonly specialty: "cardiology" | "radiology" | "emergency"; readonly notes: number; readonly seed: number };
  /** The peer hospital whose coordinator may drive rounds here; none: only this node's code. */
  readonly coordinator?: string;
  /**
   * The executors on this node that serve `modelDir`, as paths within the node (e.g.
   * "user/node/shard-executor"): an `install` reloads them. The cluster launcher lists the
   * hospital's executors of the same model directory.
   */
  readonly serving?: readonly string[];
  /**
   * Whether the coordinator may put a finished job's model in service here (`install`: written
   * over `modelDir`, the executors in `serving` reloaded). Default false: a hospital's served
   * model changes only where its operator said so.
   */
  readonly acceptInstall?: boolean;
  /**
   * CKKS secure aggregation: the federation's public bundle and, for a decryptor, this hospital's
   * key share, and its Ed25519 signing key where the bundle lists signers — files from
   * `fedrouter keys ckks`. The trainer encrypts only under this bundle.
   * None: this hospital takes part in masked rounds only.
   */
  readonly ckks?: { readonly bundle: string; readonly share?: string; readonly signing?: string };
  /** What trains (default the last block, without the tied head). */
  readonly part?: { readonly kind: "all" } | { readonly kind: "last"; readonly blocks: number; readonly head?: boolean };
}
