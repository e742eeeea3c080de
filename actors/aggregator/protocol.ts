/**
 * The Aggregator's protocol: every message another folder (or hospital) may send it and every
 * reply it sends. A vote it cannot take is a reply value (`rejected`), never a throw. Plain data
 * only: these cross threads and the network as msgpack. The noise is drawn inside the
 * Aggregator, never by a hospital: a vote carries raw proposals, its reply only what GNMax
 * releases (no raw count ever leaves).
 */
import type { AccessPolicy, ActorRef } from "../../runtime/index.ts";
import type { ConfidentThreshold } from "./confident.ts";
import type { AggregatorReplyCode } from "./errors.ts";
import type { TrainingJobReply, TrainingJobRequest, TrainingJobStatus } from "./training/job.ts";

export type AggregatorMsg =
  | /**
   * One GNMax release: the token each hospital proposed (one vote each), σ in votes, the
   * vocabulary size. `threshold` only sets `consensusReached` (free post-processing); `confident`
   * runs Confident-GNMax instead (confident.ts): a noisy check of the top count against T with σ₁
   * first, and the answer `abstained` when it fails.
   */
  {
    readonly type: "vote"; readonly votes: readonly number[]; readonly sigma: number; readonly threshold?: number; readonly vocabSize: number;
    readonly confident?: ConfidentThreshold;
    readonly replyTo: ActorRef<VoteReply>;
  }
  /** Start DP-FedAvg rounds over the listed hospitals' trainers (training/job.ts); one job at a time. */
  | { readonly type: "train"; readonly request: TrainingJobRequest; readonly replyTo: ActorRef<TrainingJobReply> }
  /** The current (or last) job: its state, its last progress events, its outcome. */
  | { readonly type: "training-status"; readonly replyTo: ActorRef<TrainingJobStatus> };

/** Votes come from this node's Router (and its operators): a peer cannot draw on our noise. */
// Training is started by this node's code or its operators: a peer does not start rounds here.
export const AGGREGATOR_ACCESS = { vote: ["local", "operator"], train: ["local", "operator"], "training-status": ["local", "operator"] } as const satisfies AccessPolicy<AggregatorMsg>;

export type VoteReply =
  | {
      readonly type: "released"; readonly token: number;
      /** Noisy top count − noisy second count: the API's confidence_score. */
      readonly margin: number;
      /** The released token's NOISY count reached the threshold (default ⌊k/2⌋ + 1). */
      readonly consensusReached: boolean;
      /** How many votes there were (k). */
      readonly proposers: number;
    }
  /** Confident-GNMax's check failed: no token, no count, nothing but this (one thresholdCheck(σ₁) to charge). */
  | { readonly type: "abstained"; readonly proposers: number }
  | { readonly type: "rejected"; readonly code: AggregatorReplyCode; readonly message: string; readonly field?: string };

/** Spawn arguments (plain data: they may cross to a worker thread). */
export interface AggregatorOptions {
  /** The least σ this Aggregator accepts, a hospital's policy floor (default MIN_SIGMA, the sampler's). */
  readonly minSigma?: number;
}
