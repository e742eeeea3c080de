/**
 * The ShardExecutor's public face. Today only what reads the model it will run: Hugging Face
 * safetensors (F32, F16, BF16) and the GPT-2 byte-level BPE tokenizer. The model, the forward
 * pass and the actor arrive with their issue.
 */
export * from "./safetensors.ts";
export * from "./tokenizer.ts";
