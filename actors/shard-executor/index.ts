/**
 * The ShardExecutor's public face. Today what reads and writes the model it will run: Hugging
 * Face safetensors (F32, F16, BF16), the GPT-2 byte-level BPE tokenizer, `fedrouter model init`,
 * the per-stage loader, a stage's forward pass with a KV cache, and sampling. Batching,
 * pipeline generation and the actor arrive with their issue.
 */
export * from "./safetensors.ts";
export * from "./tokenizer.ts";
export * from "./model-init.ts";
export * from "./model-loader.ts";
export * from "./forward.ts";
export * from "./sampling.ts";
export * from "./random.ts";
