/**
 * The raw floor of the executor's decode and prefill: the same matrix products as one GPT-2
 * forward pass, and nothing else — per block c_attn [768×2304], attn.c_proj [768×768],
 * mlp.c_fc [768×3072], mlp.c_proj [3072×768], then the tied head [768×50257] — as bare
 * tf.matMul on the same backend, with no attention, LayerNorm, bias, GELU, residual or KV cache,
 * and the logits read back with dataSync like the real path. Never keeps a tensor of a step:
 * the products run in tidy, the logits tensor is disposed once read.
 *
 * The weights are the model's own values in HF's layout ([in, out]); the head is wte
 * transposed once here, into [768×50257], so that every product is a plain matMul: on the wasm
 * backend a transposed operand leaves XNNPACK for tfjs's naive blocked loop, several times
 * slower for this matrix (forward.ts keeps its head transposed once for the same reason).
 *
 * The products are chained
 * so that each depends on the one before, as in the model: x → c_attn (its [n×2304] output is
 * computed and dropped: attention would consume it), x → attn.c_proj → mlp.c_fc → mlp.c_proj → x
 * of the next block. Without norms the activations shrink by about 0.07 per block here; after
 * 12 blocks they are ~1e-14, far from float32's subnormals (~1e-38), which would slow the floor.
 */
import type { TensorRuntime } from "../../native-bindings/index.ts";
import type { StageWeights } from "../../actors/shard-executor/model-loader.ts";

type Tf = TensorRuntime["tf"];
type Tensor = ReturnType<Tf["tensor"]>;

/** The four matrices of a block a decode step multiplies by, as in HF's Conv1D layout [in, out]. */
export const BLOCK_MATRICES = ["attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight"] as const;

export class RawMatMulChain {
  readonly #tf: Tf;
  readonly #blocks: Tensor[][] = [];
  readonly #head: Tensor;
  readonly #inputs = new Map<number, Tensor>();
  readonly #dModel: number;

  constructor(runtime: TensorRuntime, weights: StageWeights) {
    if (!weights.first || !weights.last) throw new RangeError("the raw chain needs the whole model (blocks and tied head)");
    this.#tf = runtime.tf;
    this.#dModel = weights.config.dModel;
    const tensor = (name: string): Tensor => {
      const t = weights.tensors.get(name);
      if (t === undefined) throw new RangeError(`the model has no ${name}`);
      return this.#tf.tensor(t.data, [...t.shape], "float32");
    };
    for (let l = weights.range.from; l < weights.range.to; l++) this.#blocks.push(BLOCK_MATRICES.map((m) => tensor(`h.${l}.${m}`)));
    const wte = tensor("wte.weight");
    this.#head = this.#tf.transpose(wte); // [d × vocab], materialised once
    wte.dispose();
  }

  /**
   * One pass over `rows` positions ([rows × 768] in, [rows × vocab] logits read back), the
   * products of one forward call over that many new positions.
   */
  step(rows: number): Float32Array {
    const tf = this.#tf;
    const input = this.#input(rows);
    const logits = tf.tidy(() => {
      let x = input;
      for (const [cAttn, attnProj, fc, mlpProj] of this.#blocks) {
        tf.matMul(x, cAttn!); // [rows × 3d]: what attention would read
        x = tf.matMul(tf.matMul(tf.matMul(x, attnProj!), fc!), mlpProj!);
      }
      return tf.matMul(x, this.#head);
    });
    // Read back outside tidy, as forward.ts does: tidy walks a returned typed array element by
    // element (6.4 M of them for 128 rows of logits).
    const out = logits.dataSync() as Float32Array;
    logits.dispose();
    return out;
  }

  dispose(): void {
    for (const block of this.#blocks) for (const t of block) t.dispose();
    this.#blocks.length = 0;
    this.#head.dispose();
    for (const t of this.#inputs.values()) t.dispose();
    this.#inputs.clear();
  }

  /** The input rows, created once per row count: N(0, 1)-sized values, as a LayerNorm would give. */
  #input(rows: number): Tensor {
    let t = this.#inputs.get(rows);
    if (t === undefined) {
      const data = new Float32Array(rows * this.#dModel);
      for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 12.9898) * 1.7; // deterministic, mean 0, variance ≈ 1.4
      t = this.#tf.tensor2d(data, [rows, this.#dModel]);
      this.#inputs.set(rows, t);
    }
    return t;
  }
}
