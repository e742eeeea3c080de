/**
 * Choosing the next token from a stage's logits: greedy, temperature, top-k and top-p (nucleus,
 * Holtzman et al. 2020), with a seedable generator so that a seeded generation is reproducible.
 * Pure: logits in, a token id out. Never samples a token that top-k or top-p excluded.
 */
import { seededUniform } from "./random.ts";
import { FedrouterError, registerErrors } from "../../errors/index.ts";
import { randomInt } from "node:crypto";

export interface SamplingOptions {
  /** 0: greedy (argmax). Default 1. */
  readonly temperature?: number;
  /** Keep only the k most likely tokens; 0 (default) keeps all. */
  readonly topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p; 1 (default) keeps all. */
  readonly topP?: number;
  /** Seed of the generator; without one, a fresh random seed. */
  readonly seed?: number;
}

export const DEFAULT_SAMPLING = Object.freeze({ temperature: 1, topK: 0, topP: 1 });

/** A sampling option out of range. */
export class InvalidSamplingOption extends FedrouterError {
  readonly code = "INVALID_SAMPLING_OPTION";
  constructor(readonly field: string, readonly value: unknown, readonly reason: string) {
    super(`${field} = ${String(value)}: ${reason}`);
  }
}

registerErrors({ INVALID_SAMPLING_OPTION: (f) => new InvalidSamplingOption(f.string("field"), f.value("value"), f.string("reason")) });

function check(options: SamplingOptions): Required<Omit<SamplingOptions, "seed">> {
  const { temperature, topK, topP } = { ...DEFAULT_SAMPLING, ...options };
  if (!(Number.isFinite(temperature) && temperature >= 0)) throw new InvalidSamplingOption("temperature", temperature, "must be a finite number ≥ 0 (0 is greedy)");
  if (!(Number.isSafeInteger(topK) && topK >= 0)) throw new InvalidSamplingOption("topK", topK, "must be an integer ≥ 0 (0 keeps every token)");
  if (!(topP > 0 && topP <= 1)) throw new InvalidSamplingOption("topP", topP, "must lie in (0, 1]");
  if (options.seed !== undefined && !Number.isSafeInteger(options.seed)) throw new InvalidSamplingOption("seed", options.seed, "must be an integer");
  return { temperature, topK, topP };
}

/**
 * A sampler: call it with each step's logits (length = vocabulary) to get the next token id.
 * @example
 * const next = createSampler({ temperature: 0.8, topP: 0.95, seed: 42 });
 * const token = next(logits);
 */
export function createSampler(options: SamplingOptions = {}): (logits: Float32Array) => number {
  const { temperature, topK, topP } = check(options);
  const uniform = seededUniform(options.seed ?? randomInt(2 ** 31));
  return (logits) => {
    if (logits.length === 0) throw new RangeError("no logits to sample from");
    if (temperature === 0 || topK === 1) return argmax(logits);
    // Candidates, most likely first: all of them, or the k best.
    let order = Array.from(logits.keys());
    if (topK > 0 || topP < 1) order.sort((a, b) => logits[b]! - logits[a]! || a - b);
    if (topK > 0) order = order.slice(0, topK);
    const max = logits[argmaxOf(logits, order)]!;
    const weights = order.map((i) => Math.exp((logits[i]! - max) / temperature));
    let total = weights.reduce((s, w) => s + w, 0);
    if (topP < 1) {
      let kept = 0, mass = 0;
      while (kept < weights.length && mass < topP * total) mass += weights[kept++]!;
      order = order.slice(0, kept);
      weights.length = kept;
      total = mass;
    }
    let r = uniform() * total;
    for (let i = 0; i < order.length; i++) {
      r -= weights[i]!;
      if (r < 0) return order[i]!;
    }
    return order[order.length - 1]!; // rounding left r ≥ 0: the last candidate
  };
}

function argmax(logits: Float32Array): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
  return best;
}

function argmaxOf(logits: Float32Array, among: readonly number[]): number {
  let best = among[0]!;
  for (const i of among) if (logits[i]! > logits[best]!) best = i;
  return best;
}
