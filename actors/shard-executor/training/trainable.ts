/**
 * Which tensors of a GPT-2 a federation fine-tunes, and the flat vector view of them that
 * DP-FedAvg clips, masks, sums and noises: a `TrainableSpec` lists the tensors (canonical
 * Hugging Face names, shapes, offsets) in a fixed order, and two pure functions move between
 * tensors and one Float32Array. Never reorders: the same config and part give the same spec in
 * every hospital, so updates add coordinate by coordinate.
 *
 * The LM head is tied to `wte` (GPT-2 has no separate head matrix; a valid HF checkpoint stores
 * only `wte`). When the head is trainable we train `wte` itself, so the checkpoint stays tied:
 * - `{ kind: "all" }` trains every tensor, and wte's gradient is the true gradient of the tied
 *   matrix (its use as the head plus its use as the input embedding);
 * - `{ kind: "last", blocks: k }` trains the last k blocks, ln_f and the head; the input side of
 *   the embedding is treated as frozen (a stop-gradient: the hidden states entering block L − k
 *   are computed without a tape), so wte moves only by its gradient as the head. That is not the
 *   full gradient of the tied matrix, but it is a deterministic function of the examples, so
 *   per-example clipping and the DP guarantee are untouched, and backward never runs through
 *   the frozen blocks. `head: false` leaves wte out (much smaller updates: 50,257 × d fewer).
 */
import { gpt2TensorShapes, type ModelShape } from "../model-init.ts";
import { UpdateMismatch, requireOption } from "./errors.ts";

export type TrainablePart = { readonly kind: "all" } | { readonly kind: "last"; readonly blocks: number; readonly head?: boolean };

export interface TrainableTensor {
  /** Canonical name (no `transformer.` prefix), e.g. `h.1.attn.c_attn.weight`. */
  readonly name: string;
  readonly shape: readonly number[];
  /** Index of the tensor's first element in the flat vector. */
  readonly offset: number;
  readonly size: number;
}

export interface TrainableSpec {
  readonly part: TrainablePart;
  /** The model the spec was made for: an update applies only to a checkpoint of this shape. */
  readonly model: ModelShape & { readonly vocabSize: number };
  readonly tensors: readonly TrainableTensor[];
  /** Length of the flat vector. */
  readonly size: number;
}

/** The first block that trains (0 for "all"). */
export function firstTrainableBlock(layers: number, part: TrainablePart): number {
  return part.kind === "all" ? 0 : layers - part.blocks;
}

/** Whether the part trains wte (as the head, or as everything). */
export function trainsWte(part: TrainablePart): boolean {
  return part.kind === "all" || part.head !== false;
}

/**
 * The spec of `part` for a model of this shape, tensors in HF checkpoint order.
 * @example
 * const spec = trainableSpec({ layers: 2, dModel: 64, heads: 4, positions: 128, vocabSize: 50_257 }, { kind: "last", blocks: 1, head: false });
 * spec.size; // 50,112: one block (49,984) and ln_f (128)
 */
export function trainableSpec(model: ModelShape & { readonly vocabSize: number }, part: TrainablePart): TrainableSpec {
  requireOption(part !== null && typeof part === "object" && (part.kind === "all" || part.kind === "last"), "part.kind", (part as { kind?: unknown })?.kind, 'must be "all" or "last"');
  if (part.kind === "last") {
    requireOption(Number.isSafeInteger(part.blocks) && part.blocks >= 1 && part.blocks <= model.layers, "part.blocks", part.blocks, `must be a whole number from 1 to the model's ${model.layers} blocks`);
  }
  const from = firstTrainableBlock(model.layers, part);
  const tensors: TrainableTensor[] = [];
  let offset = 0;
  for (const [name, shape] of gpt2TensorShapes(model, model.vocabSize)) {
    const block = /^h\.(\d+)\./.exec(name);
    const wanted = block ? Number(block[1]) >= from : name.startsWith("ln_f.") ? true : name === "wte.weight" ? trainsWte(part) : part.kind === "all";
    if (!wanted) continue;
    const size = shape.reduce((a, b) => a * b, 1);
    tensors.push({ name, shape, offset, size });
    offset += size;
  }
  return { part, model: { layers: model.layers, dModel: model.dModel, heads: model.heads, positions: model.positions, vocabSize: model.vocabSize }, tensors, size: offset };
}

/** The trainable tensors, concatenated in spec order. */
export function flattenTrainable(spec: TrainableSpec, tensors: ReadonlyMap<string, { readonly data: Float32Array }>): Float32Array {
  const flat = new Float32Array(spec.size);
  for (const t of spec.tensors) flat.set(tensorData(spec, tensors, t), t.offset);
  return flat;
}

/**
 * New tensors: each trainable one plus its slice of `delta`; the others are shared, not copied.
 * @example const trained = applyFlatDelta(spec, weights.tensors, update); // weights.tensors unchanged
 */
export function applyFlatDelta<T extends { readonly data: Float32Array; readonly shape: readonly number[] }>(
  spec: TrainableSpec, tensors: ReadonlyMap<string, T>, delta: Float32Array,
): Map<string, T> {
  checkDelta(spec, delta);
  const out = new Map(tensors);
  for (const t of spec.tensors) {
    const data = Float32Array.from(tensorData(spec, tensors, t));
    for (let i = 0; i < t.size; i++) data[i] = data[i]! + delta[t.offset + i]!;
    out.set(t.name, { ...tensors.get(t.name)!, data });
  }
  return out;
}

/** A delta of the spec's length with only finite values. */
export function checkDelta(spec: TrainableSpec, delta: Float32Array): void {
  if (!(delta instanceof Float32Array) || delta.length !== spec.size) {
    throw new UpdateMismatch("delta", `has ${(delta as { length?: number })?.length ?? "no"} values, the spec's ${spec.tensors.length} tensors have ${spec.size}`);
  }
  for (let i = 0; i < delta.length; i++) {
    if (!Number.isFinite(delta[i])) throw new UpdateMismatch("delta", `value ${i} is ${delta[i]}, not finite (in ${tensorAt(spec, i)})`);
  }
}

/** The L2 norm of a flat vector, summed in float64. */
export function l2Norm(vector: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < vector.length; i++) sum += vector[i]! * vector[i]!;
  return Math.sqrt(sum);
}

/** `vector` scaled to L2 norm ≤ maxNorm (a copy; the same values when already within). */
export function clipToNorm(vector: Float32Array, maxNorm: number): { clipped: Float32Array; norm: number; clippedNorm: number } {
  const norm = l2Norm(vector);
  const factor = norm > maxNorm ? maxNorm / norm : 1;
  const clipped = factor === 1 ? Float32Array.from(vector) : vector.map((v) => v * factor);
  // float32 rounding can leave the scaled norm a hair above maxNorm: shrink by one ulp-sized step until within.
  let clippedNorm = l2Norm(clipped);
  while (clippedNorm > maxNorm) {
    for (let i = 0; i < clipped.length; i++) clipped[i] = clipped[i]! * (1 - 1e-6);
    clippedNorm = l2Norm(clipped);
  }
  return { clipped, norm, clippedNorm };
}

function tensorData(spec: TrainableSpec, tensors: ReadonlyMap<string, { readonly data: Float32Array }>, t: TrainableTensor): Float32Array {
  const found = tensors.get(t.name);
  if (found === undefined) throw new UpdateMismatch(t.name, `the spec trains it but the model has no such tensor (${spec.part.kind} part of a ${spec.model.layers}-block model)`);
  if (found.data.length !== t.size) throw new UpdateMismatch(t.name, `has ${found.data.length} values, the spec says [${t.shape.join(", ")}] = ${t.size}`);
  return found.data;
}

function tensorAt(spec: TrainableSpec, index: number): string {
  return spec.tensors.find((t) => index >= t.offset && index < t.offset + t.size)?.name ?? "?";
}
