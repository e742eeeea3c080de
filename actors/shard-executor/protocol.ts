/**
 * What another folder may send a ShardExecutor and what it answers. A ShardExecutor runs one
 * contiguous range of a GPT-2's blocks; a pipeline is a route of them. A `step` carries one
 * sequence's next positions into the first stage of its route and travels stage to stage: each
 * stage runs its blocks on the sequence's KV cache and asks the next stage with the hidden
 * states; the last stage samples the next token, and the answer travels back along the chain
 * to the caller (so a stage that fails, or a worker that dies, is reported by the stage before
 * it as a typed `step-failed`, not a silent hang). Plain data only: it crosses threads and
 * hospitals as msgpack (hidden states as Float32Array, or Uint16Array halves with `f16`).
 */
import type { AccessPolicy, ActorRef } from "../../runtime/index.ts";
import type { SamplingOptions } from "./sampling.ts";

/** Hidden states between stages: float32, or IEEE binary16 halves of them (half the bytes). */
export type Activations = { readonly dtype: "f32"; readonly data: Float32Array } | { readonly dtype: "f16"; readonly data: Uint16Array };

export interface ShardExecutorOptions {
  /** A local Hugging Face GPT-2 directory (config.json, model.safetensors). */
  readonly modelDir: string;
  /** The blocks this executor runs, [from, to); default all of them. */
  readonly from?: number;
  readonly to?: number;
  /** Force a tensor backend (see native-bindings); default: the best that loads. */
  readonly backend?: "node-gpu" | "node" | "wasm" | "cpu";
  /** Sequences whose KV caches it holds at once; a new one past this is refused (default 64). */
  readonly maxSequences?: number;
  /** Sequences packed into one forward pass (default 16). */
  readonly maxBatch?: number;
  /** A sequence not stepped for this long loses its cache (default 300,000 ms). */
  readonly idleMs?: number;
  /** Tests only: the first flush throws after its forward pass (to test that a flush defect is a supervised crash). */
  readonly failFlushForTest?: boolean;
}

export interface StepMsg {
  readonly type: "step";
  /** The caller's id of the sequence (1..128 printable characters). */
  readonly sequence: string;
  /** Positions of this sequence every stage has cached already: 0 starts (or restarts) a sequence. */
  readonly position: number;
  /** Token ids, for the first stage of the route. */
  readonly tokens?: readonly number[];
  /** Hidden states [rows × d_model], for a later stage. */
  readonly hidden?: Activations;
  /** The blocks the caller expects this stage to run, as its plan said; a mismatch is refused. */
  readonly blocks?: { readonly from: number; readonly to: number };
  /** The stages after this one, in order (fed:// paths), each with the blocks it should run. */
  readonly route: readonly { readonly path: string; readonly from?: number; readonly to?: number }[];
  /** Sampling on the last stage; read at position 0 and kept for the sequence. */
  readonly sampling?: SamplingOptions;
  /** Hidden states to the next stage as "f32" (default) or "f16". */
  readonly activations?: "f32" | "f16";
  /** Absolute deadline (epoch ms) of the whole step, every hop included. */
  readonly deadlineMs: number;
  readonly replyTo: ActorRef<StepReply>;
}

export type ShardExecutorMsg =
  | StepMsg
  /** Frees the sequence's caches on this stage and the rest of the route. */
  | { readonly type: "end"; readonly sequence: string; readonly route?: readonly { readonly path: string }[] }
  | { readonly type: "info"; readonly replyTo: ActorRef<ExecutorInfoReply> }
  /** Times `tokens` single-token decode steps on a scratch sequence: the Planner's calibration. */
  | { readonly type: "calibrate"; readonly tokens?: number; readonly replyTo: ActorRef<CalibrationReply> }
  /** Loads another block range (a new plan); every cached sequence is dropped. */
  | { readonly type: "load"; readonly from: number; readonly to: number; readonly replyTo: ActorRef<LoadReply> }
  /**
   * Internal (its own, local only): a defect outside message handling — in the batch flush, which
   * runs from setImmediate — is rethrown when this arrives, so that the supervisor sees a crash of
   * the actor instead of an uncaught exception ending the worker thread.
   */
  | { readonly type: "defect" };

/**
 * Who may send what (README, "Security model"). Steps travel stage to stage across hospitals, so
 * peers may step, end, describe and calibrate; loading another block range (a new plan) is for
 * this node, its operators and the Planner of a peer that placed it in a plan.
 */
export const SHARD_EXECUTOR_ACCESS = {
  step: ["local", "peer"],
  end: ["local", "peer"],
  info: ["local", "peer", "operator"],
  calibrate: ["local", "peer", "operator"],
  load: ["local", "peer", "operator"],
  defect: ["local"],
} as const satisfies AccessPolicy<ShardExecutorMsg>;

export type StepReply =
  | { readonly type: "token"; readonly sequence: string; readonly position: number; readonly token: number }
  | StepFailed;

export interface StepFailed {
  readonly type: "step-failed";
  readonly sequence: string;
  /** The stage that failed (fed:// path), which may be further down the route than the one asked. */
  readonly executor: string;
  readonly code: ShardExecutorErrorCode;
  readonly message: string;
}

export interface ExecutorInfoReply {
  readonly type: "info";
  readonly executor: string;
  readonly node: string;
  readonly from: number;
  readonly to: number;
  /** Blocks of the whole model. */
  readonly layers: number;
  readonly dModel: number;
  readonly positions: number;
  readonly vocabSize: number;
  readonly backend: string;
  /** Sequences holding a cache now. */
  readonly sequences: number;
  /** Steps run and the forward passes that ran them since start (steps ÷ batches: the batching achieved). */
  readonly steps: number;
  readonly batches: number;
}

export type CalibrationReply =
  | { readonly type: "calibration"; readonly executor: string; readonly from: number; readonly to: number; readonly stepMs: number; readonly blockMs: number }
  | { readonly type: "rejected"; readonly code: ShardExecutorErrorCode; readonly message: string };

export type LoadReply =
  | { readonly type: "loaded"; readonly executor: string; readonly from: number; readonly to: number; readonly ms: number }
  | { readonly type: "rejected"; readonly code: ShardExecutorErrorCode; readonly message: string };

export const SHARD_EXECUTOR_ERROR_CODES = [
  /** A malformed message (field named in the message). */
  "INVALID_STEP",
  /** The stage has no cache at the position the caller expects: it restarted, evicted it, or never saw the sequence. */
  "SEQUENCE_LOST",
  /** maxSequences caches are held already. */
  "TOO_MANY_SEQUENCES",
  /** The sequence would outgrow the model's positions. */
  "CONTEXT_EXCEEDED",
  /** The stage runs other blocks than the caller's plan says. */
  "WRONG_BLOCKS",
  /** The next stage did not answer (crashed, stopped, unreachable, or past the deadline). */
  "STAGE_UNREACHABLE",
  /** The step's deadline passed before this stage ran it. */
  "DEADLINE_EXCEEDED",
  /** The forward pass itself failed (a tensor backend error). */
  "EXECUTOR_FAILED",
] as const;
export type ShardExecutorErrorCode = (typeof SHARD_EXECUTOR_ERROR_CODES)[number];
