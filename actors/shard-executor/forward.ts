/**
 * The GPT-2 forward pass of one pipeline stage in tfjs (HF `modeling_gpt2.py`): the first stage
 * embeds tokens and positions, each block is pre-LayerNorm causal self-attention and a GELU-tanh
 * MLP with residuals, the last stage applies `ln_f` and the head tied to `wte`. The tensor engine
 * comes from native-bindings (`resolveTensorBackend`), never from tfjs itself. Never leaks
 * tensors: each call runs in `tidy`, and `dispose()` frees the weights.
 *
 * Incremental decoding keeps a KV cache per sequence (`createCache`): each call appends the new
 * positions' keys and values and attends over all of them, so a token costs one position's work.
 * `forwardBatch` runs several sequences of different lengths in one call, packed row-wise.
 */
import type { TensorRuntime } from "../../native-bindings/index.ts";
import type { StageWeights } from "./model-loader.ts";

type Tf = TensorRuntime["tf"];
type Tensor = ReturnType<Tf["tensor"]>;

/** 2·√(2/π), GELU-tanh's constant doubled (see #block). */
const GELU_2C = 2 * Math.sqrt(2 / Math.PI);

export interface BatchOptions {
  /**
   * The last stage's logits for every new position ("all", default) or only for each item's
   * last one ("last": what sampling needs; a prefill then skips the head on all other rows).
   */
  readonly logits?: "all" | "last";
}

export interface StageInput {
  /** Token ids (first stage). */
  readonly tokens?: readonly number[];
  /** Hidden states [length × d_model], row-major (later stages). */
  readonly hidden?: Float32Array;
}

/** Keys and values of the positions a sequence has seen, per block of the stage. Dispose it when the sequence ends. */
export class KvCache {
  /** Positions cached so far. */
  length = 0;
  /** Per block of the stage (index 0 = its first block): [heads, length, headDim] each. */
  readonly layers: ({ k: Tensor; v: Tensor } | undefined)[] = [];

  dispose(): void {
    for (const kv of this.layers) {
      kv?.k.dispose();
      kv?.v.dispose();
    }
    this.layers.length = 0;
    this.length = 0;
  }
}

export class Gpt2Stage {
  readonly #tf: Tf;
  readonly #w = new Map<string, Tensor>();
  readonly #stage: StageWeights;

  constructor(runtime: TensorRuntime, stage: StageWeights) {
    this.#tf = runtime.tf;
    this.#stage = stage;
    for (const [name, t] of stage.tensors) this.#w.set(name, this.#tf.tensor(t.data, [...t.shape], "float32"));
    if (stage.last) {
      // The tied head, transposed once to [d × vocab]: matMul(x, wte, false, true) re-transposes
      // the 50,257 × d matrix on every call on the wasm backend (148 ms against 26 ms per token
      // for GPT-2 small, measured). A head-only last stage then needs wte for nothing else.
      const wte = this.#w.get("wte.weight")!;
      this.#w.set("lm_head", this.#tf.transpose(wte));
      if (!stage.first) {
        wte.dispose();
        this.#w.delete("wte.weight");
      }
    }
  }

  get first(): boolean {
    return this.#stage.first;
  }

  get last(): boolean {
    return this.#stage.last;
  }

  /** Width of a row of logits (the last stage's output). */
  get vocabSize(): number {
    return this.#stage.config.vocabSize;
  }

  /** An empty KV cache for one sequence. */
  createCache(): KvCache {
    return new KvCache();
  }

  /**
   * Runs the stage on the next positions of a sequence: hidden states [n × d] out, or logits
   * [n × vocab] from the last stage. Without a cache the input is the whole sequence; with one,
   * it continues after the cached positions and the cache grows by n.
   */
  forward(input: StageInput, cache?: KvCache): Float32Array {
    return this.forwardBatch([{ input, cache }])[0]!;
  }

  /**
   * Runs several sequences at once, each of its own length and with its own cache (or none):
   * the rows of all of them are packed into one [Σn × d] matrix for the LayerNorms, the QKV,
   * projection and MLP products and the head, so each weight matrix is read once per call,
   * not once per sequence; only attention is per sequence, over that sequence's own cache and
   * causal mask. Packing instead of padding (as vLLM's packed batches do) wastes no rows and
   * needs no attention mask across sequences. One output per item, in order.
   */
  forwardBatch(items: readonly { input: StageInput; cache?: KvCache }[], options: BatchOptions = {}): Float32Array[] {
    const lastOnly = options.logits === "last" && this.#stage.last;
    const tf = this.#tf;
    const { config, range } = this.#stage;
    const d = config.dModel;
    if (items.length === 0) return [];
    const caches = new Set<KvCache>();
    for (const { cache } of items) {
      if (cache === undefined) continue;
      if (caches.has(cache)) throw new RangeError("a batch holds each sequence (cache) at most once");
      caches.add(cache);
    }
    const offsets = items.map(({ cache }) => cache?.length ?? 0);
    const lengths = items.map(({ input }, i) => this.#checkInput(input, offsets[i]!));
    const kept: { k: Tensor; v: Tensor }[][] = items.map(() => []);
    const result = tf.tidy(() => {
      let x: Tensor;
      if (this.#stage.first) {
        const ids = tf.tensor1d(items.flatMap(({ input }) => input.tokens as number[]), "int32");
        const positions = tf.tensor1d(items.flatMap((_, i) => Array.from({ length: lengths[i]! }, (_, j) => offsets[i]! + j)), "int32");
        x = tf.add(tf.gather(this.#w.get("wte.weight")!, ids), tf.gather(this.#w.get("wpe.weight")!, positions));
      } else {
        const rows = lengths.reduce((a, b) => a + b, 0);
        const hidden = new Float32Array(rows * d);
        let at = 0;
        for (const { input } of items) { hidden.set(input.hidden!, at); at += input.hidden!.length; }
        x = tf.tensor2d(hidden, [rows, d]);
      }
      // Causal masks, one per sequence and the same for every block: new position i (absolute
      // offset + i) attends to s ≤ offset + i; −1e9 elsewhere, as HF's masked_bias.
      // A single new position attends to every cached one: no mask (the common decode step).
      const masks = items.map((_, i) => (lengths[i] === 1 ? undefined : tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([lengths[i]!, offsets[i]! + lengths[i]!]), -1, offsets[i]!)), -1e9)));
      for (let l = range.from; l < range.to; l++) {
        const step = this.#block(x, l, items.map(({ cache }) => cache?.layers[l - range.from]), lengths, masks);
        x = step.x;
        items.forEach(({ cache }, i) => {
          if (cache !== undefined) kept[i]!.push({ k: tf.keep(step.kv[i]!.k), v: tf.keep(step.kv[i]!.v) });
        });
      }
      if (!this.#stage.last) return x;
      if (lastOnly) {
        let end = 0;
        x = tf.gather(x, tf.tensor1d(lengths.map((n) => (end += n) - 1), "int32"));
      }
      const normed = this.#layerNorm(x, "ln_f");
      return tf.matMul(normed, this.#w.get("lm_head")!);
    });
    // Read back outside tidy: tidy walks whatever its function returns, and a Float32Array of
    // 50,257 logits is walked element by element (3–4 % of a decode step, profiled).
    const packed = result.dataSync() as Float32Array;
    result.dispose();
    const width = this.#stage.last ? config.vocabSize : d;
    let row = 0;
    return items.map(({ cache }, i) => {
      if (cache !== undefined) {
        kept[i]!.forEach((kv, layer) => {
          cache.layers[layer]?.k.dispose();
          cache.layers[layer]?.v.dispose();
          cache.layers[layer] = kv;
        });
        cache.length = offsets[i]! + lengths[i]!;
      }
      const rows = lastOnly ? 1 : lengths[i]!;
      const out = packed.slice(row * width, (row + rows) * width);
      row += rows;
      return out;
    });
  }

  /** Checks one item's input against the stage and the context left; returns its row count. */
  #checkInput(input: StageInput, offset: number): number {
    const { config } = this.#stage;
    const d = config.dModel;
    if (this.#stage.first) {
      const tokens = input.tokens;
      if (tokens === undefined || tokens.length === 0) throw new RangeError("the first stage needs at least one token id");
      if (offset + tokens.length > config.positions) throw new RangeError(`${offset + tokens.length} tokens exceed the context of ${config.positions} positions`);
      for (const id of tokens) if (!Number.isSafeInteger(id) || id < 0 || id >= config.vocabSize) throw new RangeError(`token id ${id} is outside the vocabulary (0..${config.vocabSize - 1})`);
      return tokens.length;
    }
    const hidden = input.hidden;
    if (hidden === undefined || hidden.length === 0 || hidden.length % d !== 0) throw new RangeError(`a later stage needs hidden states of length × ${d}`);
    if (offset + hidden.length / d > config.positions) throw new RangeError(`${offset + hidden.length / d} positions exceed the context of ${config.positions}`);
    return hidden.length / d;
  }

  /** Frees the weights. */
  dispose(): void {
    for (const t of this.#w.values()) t.dispose();
    this.#w.clear();
  }

  #layerNorm(x: Tensor, prefix: string): Tensor {
    const tf = this.#tf;
    const { mean, variance } = tf.moments(x, -1, true);
    const normed = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, this.#stage.config.layerNormEpsilon)));
    return tf.add(tf.mul(normed, this.#w.get(`${prefix}.weight`)!), this.#w.get(`${prefix}.bias`)!);
  }

  #linear(x: Tensor, prefix: string): Tensor {
    return this.#tf.add(this.#tf.matMul(x, this.#w.get(`${prefix}.weight`)!), this.#w.get(`${prefix}.bias`)!);
  }

  /**
   * One block on the packed new rows of several sequences (`lengths[i]` rows each, after
   * `past[i]`, the cached keys and values of that sequence's earlier positions).
   */
  #block(x: Tensor, layer: number, past: readonly ({ k: Tensor; v: Tensor } | undefined)[], lengths: readonly number[], masks: readonly (Tensor | undefined)[]): { x: Tensor; kv: { k: Tensor; v: Tensor }[] } {
    const tf = this.#tf;
    const { dModel: d, heads } = this.#stage.config;
    const hd = d / heads;
    const p = `h.${layer}`;
    const qkv = this.#linear(this.#layerNorm(x, `${p}.ln_1`), `${p}.attn.c_attn`);
    const perSequence = lengths.length === 1 ? [qkv] : tf.split(qkv, lengths as number[], 0);
    const kv: { k: Tensor; v: Tensor }[] = [];
    const merged = perSequence.map((rows, i) => {
      const n = lengths[i]!;
      // [n, 3d] → [n, 3, heads, hd] → [3, heads, n, hd]: q, k, v with one transpose
      const [q, kNew, vNew] = tf.unstack(tf.transpose(tf.reshape(rows, [n, 3, heads, hd]), [1, 2, 0, 3]));
      const before = past[i];
      const k = before ? tf.concat([before.k, kNew!], 1) : kNew!;
      const v = before ? tf.concat([before.v, vNew!], 1) : vNew!;
      kv.push({ k, v });
      const scores = tf.div(tf.matMul(q!, k, false, true), Math.sqrt(hd)); // [heads, n, past + n]
      const attended = tf.matMul(tf.softmax(masks[i] ? tf.add(scores, masks[i]!) : scores), v); // [heads, n, hd]
      return tf.reshape(tf.transpose(attended, [1, 0, 2]), [n, d]);
    });
    const attention = merged.length === 1 ? merged[0]! : tf.concat(merged, 0);
    const afterAttention = tf.add(x, this.#linear(attention, `${p}.attn.c_proj`));
    const h = this.#linear(this.#layerNorm(afterAttention, `${p}.ln_2`), `${p}.mlp.c_fc`);
    // GELU-tanh ("gelu_new"): 0.5·h·(1 + tanh(z)), z = √(2/π)·(h + 0.044715·h³), computed as
    // h·sigmoid(2z) (the same function: ½(1 + tanh z) = σ(2z)) in 6 kernels instead of 8 and
    // without pow, 3× faster on wasm (measured).
    const twoZ = tf.mul(h, tf.add(GELU_2C, tf.mul(GELU_2C * 0.044715, tf.square(h))));
    const gelu = tf.mul(h, tf.sigmoid(twoZ));
    return { x: tf.add(afterAttention, this.#linear(gelu, `${p}.mlp.c_proj`)), kv };
  }
}
