/**
 * The GPT-2 forward pass of one pipeline stage in tfjs (HF `modeling_gpt2.py`): the first stage
 * embeds tokens and positions, each block is pre-LayerNorm causal self-attention and a GELU-tanh
 * MLP with residuals, the last stage applies `ln_f` and the head tied to `wte`. The tensor engine
 * comes from native-bindings (`resolveTensorBackend`), never from tfjs itself. Never leaks
 * tensors: each call runs in `tidy`, and `dispose()` frees the weights.
 *
 * Not built yet (issue 5): the KV cache for incremental decoding and batches of prompts of
 * different lengths; this pass recomputes a whole sequence.
 */
import type { TensorRuntime } from "../../native-bindings/index.ts";
import type { StageWeights } from "./model-loader.ts";

type Tf = TensorRuntime["tf"];
type Tensor = ReturnType<Tf["tensor"]>;

export interface StageInput {
  /** Token ids (first stage). */
  readonly tokens?: readonly number[];
  /** Hidden states [length × d_model], row-major (later stages). */
  readonly hidden?: Float32Array;
}

export class Gpt2Stage {
  readonly #tf: Tf;
  readonly #w = new Map<string, Tensor>();
  readonly #stage: StageWeights;

  constructor(runtime: TensorRuntime, stage: StageWeights) {
    this.#tf = runtime.tf;
    this.#stage = stage;
    for (const [name, t] of stage.tensors) this.#w.set(name, this.#tf.tensor(t.data, [...t.shape], "float32"));
  }

  get first(): boolean {
    return this.#stage.first;
  }

  get last(): boolean {
    return this.#stage.last;
  }

  /**
   * Runs the stage on a whole sequence: hidden states [T × d] out, or logits [T × vocab] from the
   * last stage.
   */
  forward(input: StageInput): Float32Array {
    const tf = this.#tf;
    const { config, range } = this.#stage;
    const d = config.dModel;
    return tf.tidy(() => {
      let x: Tensor;
      if (this.#stage.first) {
        const tokens = input.tokens;
        if (tokens === undefined || tokens.length === 0) throw new RangeError("the first stage needs at least one token id");
        if (tokens.length > config.positions) throw new RangeError(`${tokens.length} tokens exceed the context of ${config.positions} positions`);
        for (const id of tokens) if (!Number.isSafeInteger(id) || id < 0 || id >= config.vocabSize) throw new RangeError(`token id ${id} is outside the vocabulary (0..${config.vocabSize - 1})`);
        const ids = tf.tensor1d(tokens as number[], "int32");
        const positions = tf.range(0, tokens.length, 1, "int32");
        x = tf.add(tf.gather(this.#w.get("wte.weight")!, ids), tf.gather(this.#w.get("wpe.weight")!, positions));
      } else {
        const hidden = input.hidden;
        if (hidden === undefined || hidden.length === 0 || hidden.length % d !== 0) throw new RangeError(`a later stage needs hidden states of length × ${d}`);
        x = tf.tensor2d(hidden, [hidden.length / d, d]);
      }
      for (let l = range.from; l < range.to; l++) x = this.#block(x, l);
      if (!this.#stage.last) return x.dataSync() as Float32Array;
      const normed = this.#layerNorm(x, "ln_f");
      return tf.matMul(normed, this.#w.get("wte.weight")!, false, true).dataSync() as Float32Array;
    });
  }

  /** Frees the weights. */
  dispose(): void {
    for (const t of this.#w.values()) t.dispose();
    this.#w.clear();
  }

  #layerNorm(x: Tensor, prefix: string): Tensor {
    const tf = this.#tf;
    const { mean, variance } = tf.moments(x, -1, true);
    const normed = tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, this.#stage.config.layerNormEpsilon)));
    return tf.add(tf.mul(normed, this.#w.get(`${prefix}.weight`)!), this.#w.get(`${prefix}.bias`)!);
  }

  #linear(x: Tensor, prefix: string): Tensor {
    return this.#tf.add(this.#tf.matMul(x, this.#w.get(`${prefix}.weight`)!), this.#w.get(`${prefix}.bias`)!);
  }

  #block(x: Tensor, layer: number): Tensor {
    const tf = this.#tf;
    const { dModel: d, heads } = this.#stage.config;
    const hd = d / heads;
    const T = x.shape[0]!;
    const p = `h.${layer}`;
    const qkv = this.#linear(this.#layerNorm(x, `${p}.ln_1`), `${p}.attn.c_attn`);
    // [T, 3d] → three [heads, T, hd]
    const [q, k, v] = tf.split(qkv, 3, 1).map((t) => tf.transpose(tf.reshape(t, [T, heads, hd]), [1, 0, 2]));
    const scores = tf.div(tf.matMul(q!, k!, false, true), Math.sqrt(hd)); // [heads, T, T]
    // Causal mask: position t attends to s ≤ t (−1e9 elsewhere, as HF's masked_bias).
    const mask = tf.linalg.bandPart(tf.ones([T, T]), -1, 0);
    const masked = tf.add(scores, tf.mul(tf.sub(1, mask), -1e9));
    const attended = tf.matMul(tf.softmax(masked), v!); // [heads, T, hd]
    const merged = tf.reshape(tf.transpose(attended, [1, 0, 2]), [T, d]);
    x = tf.add(x, this.#linear(merged, `${p}.attn.c_proj`));
    const h = this.#linear(this.#layerNorm(x, `${p}.ln_2`), `${p}.mlp.c_fc`);
    // GELU-tanh ("gelu_new"): 0.5·h·(1 + tanh(√(2/π)·(h + 0.044715·h³)))
    const inner = tf.mul(Math.sqrt(2 / Math.PI), tf.add(h, tf.mul(0.044715, tf.pow(h, 3))));
    const gelu = tf.mul(tf.mul(0.5, h), tf.add(1, tf.tanh(inner)));
    return tf.add(x, this.#linear(gelu, `${p}.mlp.c_proj`));
  }
}
