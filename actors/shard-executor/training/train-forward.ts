/**
 * The differentiable GPT-2 forward for training: the same computation as forward.ts (HF
 * `modeling_gpt2.py`: pre-LayerNorm causal attention, GELU-tanh MLP, the head tied to wte) on a
 * batch of equal-length sequences, without a KV cache, and the causal language-modelling loss
 * (mean cross-entropy of each next token). The trainable tensors are tf.Variables, so
 * `tf.variableGrads` differentiates the loss; the frozen ones are plain tensors. Never leaks a
 * tensor: every method runs in `tidy`, and `dispose()` frees the weights.
 *
 * How wte (the tied head) trains is said in trainable.ts. The tensor engine comes from
 * native-bindings (the caller's `TensorRuntime`), never from tfjs itself.
 */
import type { TensorRuntime } from "../../../native-bindings/index.ts";
import type { StageWeights, Gpt2Config } from "../model-loader.ts";
import { requireOption } from "./errors.ts";
import { registerTrainingGradients } from "./gradients.ts";
import { firstTrainableBlock, trainableSpec, type TrainablePart, type TrainableSpec } from "./trainable.ts";

type Tf = TensorRuntime["tf"];
export type Tensor = ReturnType<Tf["tensor"]>;
export type Variable = ReturnType<Tf["variable"]>;

/** 2·√(2/π), GELU-tanh's constant doubled (forward.ts computes GELU the same way). */
const GELU_2C = 2 * Math.sqrt(2 / Math.PI);

export class TrainingModel {
  readonly spec: TrainableSpec;
  readonly config: Gpt2Config;
  readonly #tf: Tf;
  readonly #w = new Map<string, Tensor>();
  /** The trainable tensors, in spec order (tf.Variables: what variableGrads differentiates). */
  readonly variables: readonly Variable[];
  readonly #from: number;

  /** `weights` must be the whole model (one stage: embeddings, every block, ln_f). */
  constructor(runtime: TensorRuntime, weights: StageWeights, part: TrainablePart) {
    requireOption(weights.first && weights.last, "weights", `blocks [${weights.range.from}, ${weights.range.to})`, "training needs the whole model (load it with loadGpt2Stage(dir) and no range)");
    this.#tf = runtime.tf;
    registerTrainingGradients(runtime.tf);
    this.config = weights.config;
    this.spec = trainableSpec(weights.config, part);
    this.#from = firstTrainableBlock(weights.config.layers, part);
    const trainable = new Set(this.spec.tensors.map((t) => t.name));
    const variables: Variable[] = [];
    for (const [name, t] of weights.tensors) {
      if (trainable.has(name)) continue;
      this.#w.set(name, this.#tf.tensor(t.data, [...t.shape], "float32"));
    }
    for (const t of this.spec.tensors) {
      const source = weights.tensors.get(t.name)!;
      // Unnamed: tfjs gives each variable a unique name, so several models can live in one thread.
      const initial = this.#tf.tensor(source.data, [...t.shape], "float32");
      const v = this.#tf.variable(initial, true);
      initial.dispose();
      variables.push(v);
      this.#w.set(t.name, v);
    }
    this.variables = variables;
  }

  /** Logits [tokens.length × vocab] (row-major) of the current weights, for every position. */
  logits(tokens: readonly number[]): Float32Array {
    this.#checkSequences([tokens], 1);
    const tf = this.#tf;
    const out = tf.tidy(() => this.#head(this.#blocks(this.#embed([tokens], false), 1, tokens.length, 0)));
    const data = out.dataSync() as Float32Array;
    out.dispose();
    return data;
  }

  /**
   * The mean next-token cross-entropy of a batch of sequences of one length (≥ 2 tokens), as a
   * scalar tensor; call it inside `tf.variableGrads` or `tidy`. The part's frozen prefix (blocks
   * before the first trainable one) runs outside any gradient tape when given as `prefix`.
   */
  loss(batch: readonly (readonly number[])[], prefix?: Tensor): Tensor {
    const tf = this.#tf;
    const b = batch.length, n = batch[0]!.length;
    const x = prefix ?? this.#embed(batch, this.spec.part.kind === "all");
    const hidden = this.#blocks(x, b, n, prefix === undefined ? 0 : this.#from);
    // Positions 0..n−2 predict tokens 1..n−1: the last position has no target and skips the head.
    const d = this.config.dModel;
    const inputs = tf.reshape(tf.slice(tf.reshape(hidden, [b, n, d]), [0, 0, 0], [b, n - 1, d]), [b * (n - 1), d]);
    const targets = tf.tensor1d(batch.flatMap((seq) => seq.slice(1) as number[]), "int32");
    return this.#crossEntropy(this.#head(inputs), tf.oneHot(targets, this.config.vocabSize));
  }

  /**
   * Mean cross-entropy of rows of logits against one-hot targets, with its gradient (softmax −
   * target)/rows written out. log p_t = l_t − max l + log(max p): max p ≥ 1/vocab never underflows,
   * so no exp over the logits is needed besides the softmax kernel's own (logSoftmax costs 6× more
   * on wasm, measured), and the backward is one subtraction.
   */
  #crossEntropy(logits: Tensor, oneHot: Tensor): Tensor {
    const tf = this.#tf;
    const rows = logits.shape[0]!;
    return tf.customGrad(((l: Tensor, save: (tensors: Tensor[]) => void) => {
      const p = tf.softmax(l);
      save([p, oneHot]);
      const logP = tf.add(tf.sub(tf.sum(tf.mul(l, oneHot), -1), tf.max(l, -1)), tf.log(tf.max(p, -1)));
      return { value: tf.div(tf.neg(tf.sum(logP)), rows), gradFunc: (dy: Tensor, [q, y]: Tensor[]) => tf.mul(tf.sub(q!, y!), tf.div(dy, rows)) };
    }) as never)(logits) as Tensor;
  }

  /**
   * The hidden states entering the first trainable block, computed without a tape (for the
   * `last` part; undefined for `all`, whose embedding trains). Keep it in the caller's tidy.
   */
  frozenPrefix(batch: readonly (readonly number[])[]): Tensor | undefined {
    if (this.spec.part.kind === "all") return undefined;
    this.#checkSequences(batch, 2);
    const x = this.#embed(batch, false);
    return this.#from === 0 ? x : this.#blocks(x, batch.length, batch[0]!.length, 0, this.#from);
  }

  /** Checks a batch: every sequence of the same length, within the context, of token ids. */
  checkBatch(batch: readonly (readonly number[])[]): void {
    this.#checkSequences(batch, 2);
  }

  /** The trainable tensors now, flattened in spec order. */
  parameters(): Float32Array {
    const flat = new Float32Array(this.spec.size);
    this.spec.tensors.forEach((t, i) => flat.set(this.variables[i]!.dataSync() as Float32Array, t.offset));
    return flat;
  }

  /** Frees the weights (variables included). */
  dispose(): void {
    for (const t of this.#w.values()) t.dispose();
    this.#w.clear();
  }

  #checkSequences(batch: readonly (readonly number[])[], minLength: number): void {
    const { positions, vocabSize } = this.config;
    requireOption(batch.length >= 1, "batch", batch.length, "needs at least one sequence");
    const n = batch[0]!.length;
    for (const seq of batch) {
      requireOption(seq.length === n, "batch", `lengths ${seq.length} and ${n}`, "a batch holds sequences of one length (per-example steps take one sequence at a time)");
      requireOption(n >= minLength && n <= positions, "sequence length", n, `must be from ${minLength} to the context of ${positions} positions`);
      for (const id of seq) requireOption(Number.isSafeInteger(id) && id >= 0 && id < vocabSize, "token id", id, `must be in 0..${vocabSize - 1}`);
    }
  }

  /** Token and position embeddings, [b·n × d]. `differentiable`: wte's gradient flows through the lookup. */
  #embed(batch: readonly (readonly number[])[], differentiable: boolean): Tensor {
    const tf = this.#tf;
    const n = batch[0]!.length;
    const ids = tf.tensor1d(batch.flatMap((seq) => seq as number[]), "int32");
    const wte = this.#w.get("wte.weight")!;
    // tfjs's gather gradient is UnsortedSegmentSum, which the wasm backend lacks; scatterND (which
    // sums repeated indices, as TF's scatter_nd) is the same scatter-add and exists on every backend.
    const tokens = differentiable
      ? tf.customGrad(((table: Tensor, save: (tensors: Tensor[]) => void) => {
        save([ids]); // a tensor the gradient needs must be saved, or the tape's tidy frees it first
        return { value: tf.gather(table, ids), gradFunc: (dy: Tensor, saved: Tensor[]) => tf.scatterND(tf.expandDims(saved[0]!, 1), dy, table.shape) };
      }) as never)(wte) as Tensor
      : tf.gather(wte, ids);
    // Positions 0..n−1 of every sequence: a slice of wpe, tiled over the batch.
    const positions = tf.slice(this.#w.get("wpe.weight")!, [0, 0], [n, this.config.dModel]);
    return tf.add(tokens, batch.length === 1 ? positions : tf.tile(positions, [batch.length, 1]));
  }

  /** Blocks [from, to) (to = all) on x [b·n × d]. */
  #blocks(x: Tensor, b: number, n: number, from: number, to = this.config.layers): Tensor {
    const tf = this.#tf;
    // Causal mask as forward.ts builds it: −1e9 above the diagonal, 0 elsewhere.
    const mask = n === 1 ? undefined : tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([n, n]), -1, 0)), -1e9);
    for (let l = from; l < to; l++) x = this.#block(x, l, b, n, mask);
    return x;
  }

  #head(x: Tensor): Tensor {
    // The tied head as forward.ts computes it, wte transposed then a plain matMul: the wasm
    // backend's matMul with transposeB is 4× slower on this 50,257 × d matrix (measured).
    return this.#tf.matMul(this.#layerNorm(x, "ln_f"), this.#tf.transpose(this.#w.get("wte.weight")!));
  }

  #layerNorm(x: Tensor, prefix: string): Tensor {
    const tf = this.#tf;
    const { mean, variance } = tf.moments(x, -1, true);
    const normed = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, this.config.layerNormEpsilon)));
    return tf.add(tf.mul(normed, this.#w.get(`${prefix}.weight`)!), this.#w.get(`${prefix}.bias`)!);
  }

  #linear(x: Tensor, prefix: string): Tensor {
    return this.#tf.add(this.#tf.matMul(x, this.#w.get(`${prefix}.weight`)!), this.#w.get(`${prefix}.bias`)!);
  }

  /** One block on b sequences of n rows each, packed as [b·n × d]. */
  #block(x: Tensor, layer: number, b: number, n: number, mask: Tensor | undefined): Tensor {
    const tf = this.#tf;
    const { dModel: d, heads } = this.config;
    const hd = d / heads;
    const p = `h.${layer}`;
    const qkv = this.#linear(this.#layerNorm(x, `${p}.ln_1`), `${p}.attn.c_attn`);
    // [b·n, 3d] → [b, n, 3, heads, hd] → [3, b, heads, n, hd] → q, k, v as [b·heads, n, hd]
    const [q, k, v] = tf.unstack(tf.transpose(tf.reshape(qkv, [b, n, 3, heads, hd]), [2, 0, 3, 1, 4])).map((t) => tf.reshape(t, [b * heads, n, hd]));
    const scores = tf.div(tf.matMul(q!, k!, false, true), Math.sqrt(hd)); // [b·heads, n, n]
    const attended = tf.matMul(tf.softmax(mask ? tf.add(scores, mask) : scores), v!); // [b·heads, n, hd]
    const merged = tf.reshape(tf.transpose(tf.reshape(attended, [b, heads, n, hd]), [0, 2, 1, 3]), [b * n, d]);
    const afterAttention = tf.add(x, this.#linear(merged, `${p}.attn.c_proj`));
    const h = this.#linear(this.#layerNorm(afterAttention, `${p}.ln_2`), `${p}.mlp.c_fc`);
    const twoZ = tf.mul(h, tf.add(GELU_2C, tf.mul(GELU_2C * 0.044715, tf.square(h))));
    return tf.add(afterAttention, this.#linear(tf.mul(h, tf.sigmoid(twoZ)), `${p}.mlp.c_proj`));
  }
}
