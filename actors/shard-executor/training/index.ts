/**
 * Local training for DP-FedAvg, the hospital's side: the differentiable GPT-2 forward, the
 * trainable part and its flat vector view, DP-SGD with per-example clipping and Gaussian noise,
 * `localTrain` (the clipped update Δ), the corpus loader and the SYNTHETIC notes generator, and
 * `applyUpdateAndSave` (a new Hugging Face checkpoint with its privacy metadata).
 */
export * from "./errors.ts";
export * from "./trainable.ts";
export { TrainingModel } from "./train-forward.ts";
export * from "./noise.ts";
export * from "./batch-sampling.ts";
export * from "./dp-sgd.ts";
export * from "./local-train.ts";
export * from "./checkpoint.ts";
export * from "./corpus/loader.ts";
export * from "./corpus/synthetic-notes.ts";
export * from "./demo.ts";
