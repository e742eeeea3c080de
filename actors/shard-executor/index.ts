/**
 * The ShardExecutor's public face: the model files it reads (Hugging Face safetensors in F32,
 * F16, BF16; the GPT-2 byte-level BPE tokenizer; `fedrouter model init`), the per-stage loader,
 * a stage's batched forward pass with a KV cache, sampling, the actor (`shardExecutor`, its
 * protocol) and the driver of pipeline-parallel generation (`Pipeline`).
 */
export * from "./safetensors.ts";
export * from "./tokenizer.ts";
export * from "./model-init.ts";
export * from "./model-loader.ts";
export * from "./forward.ts";
export * from "./sampling.ts";
export * from "./random.ts";
export * from "./protocol.ts";
export * from "./activations.ts";
export { shardExecutor, DEFAULT_SHARD_EXECUTOR } from "./behaviour.ts";
export * from "./pipeline.ts";
export * from "./placement.ts";
// Local training for DP-FedAvg (the hospital's side): DP-SGD, the flat update, corpus, checkpoint.
export * from "./training/index.ts";
// A hospital's side of a DP-FedAvg round: its training budget in its own Accountant, local DP-SGD, masked or plain update.
export {
  HospitalParticipant, accountantBudget, TrainingBudgetError, RoundStateError, DEFAULT_TRAINING_PRINCIPAL,
  type TrainingBudget, type HospitalParticipantOptions,
} from "./trainer/participant.ts";
// The same, as an actor a coordinator on another hospital drives over the transport (chunked vectors).
export { trainer } from "./trainer/behaviour.ts";
export { TrainerClient, TrainerFailed } from "./trainer/client.ts";
export { TRAINER_ACCESS, TRAINER_CHUNK_WORDS, type InstallReport, type TrainerMsg, type TrainerOptions, type TrainerReply, type MaskedInputHeader } from "./trainer/protocol.ts";
export { InstallRefused, installTrained } from "./trainer/install.ts";
