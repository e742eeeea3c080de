/**
 * The memory-bandwidth bound on decode tokens/s: bytes of weights one decode step must read,
 * over a large-copy bandwidth measured in this process. Never a figure of ours: it is the floor
 * no implementation on one core of this machine can beat while it reads fp32 weights from RAM.
 *
 * Counted per token: the four block matrices (c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj) of every
 * block plus the tied head (wte, 50257×768), fp32. Not counted, each well under 1 % of that:
 * biases and LayerNorm parameters (~0.1 M floats), the wte/wpe rows gathered for the new token,
 * the KV cache (12 blocks × K and V × 768 floats = 72 KiB per cached position) and activations.
 *
 * Bandwidth, STREAM's "Copy" convention (McCalpin, STREAM FAQ: bytes counted = bytes read +
 * bytes written): Float32Array.prototype.set of a 256 MiB buffer into another, both touched
 * first, best of several copies; 2 × 256 MiB moved per copy.
 */
import { gpt2TensorShapes, type ModelShape } from "../../actors/shard-executor/model-init.ts";
import { BLOCK_MATRICES } from "./raw-chain.ts";
import { measure } from "./timing.ts";

/** fp32 bytes of the matrices one decode step reads, counted from the shapes (see the module comment). */
export function weightBytesPerToken(shape: ModelShape, vocabSize: number): number {
  let floats = 0;
  for (const [name, dims] of gpt2TensorShapes(shape, vocabSize)) {
    const block = /^h\.\d+\.(.+)$/.exec(name);
    const counted = name === "wte.weight" || (block !== null && (BLOCK_MATRICES as readonly string[]).includes(block[1]!));
    if (counted) floats += dims.reduce((a, b) => a * b, 1);
  }
  return floats * 4;
}

export const COPY_BYTES = 256 * 1024 * 1024;

/** Bytes/s moved (read + written) by the best of `copies` large copies. */
export async function copyBandwidth(copies = 8): Promise<number> {
  const src = new Float32Array(COPY_BYTES / 4);
  const dst = new Float32Array(COPY_BYTES / 4);
  for (let i = 0; i < src.length; i += 1024) src[i] = i; // touch every page of both
  dst.fill(1);
  const { minMs } = await measure("large copy", () => dst.set(src), { iterations: copies, warmupIterations: 1 });
  if (dst[src.length - 1024] !== src[src.length - 1024]) throw new Error("bench: the copy did not happen");
  return (2 * COPY_BYTES) / (minMs / 1_000);
}
