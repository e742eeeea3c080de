/**
 * The ShardExecutor's public face. Today only what reads the weights it will run: Hugging Face
 * safetensors (F32, F16, BF16). The model, the forward pass and the actor arrive with their issue.
 */
export * from "./safetensors.ts";
