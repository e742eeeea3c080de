/**
 * Which examples a DP-SGD step uses. Poisson sampling (each example in with probability q,
 * independently) is what the privacy amplification of the subsampled Gaussian assumes (Abadi et
 * al. 2016, §3.1 "lots"; the accountant's `poissonSampled` event); a fixed-size batch drawn without
 * replacement is offered for experiments and benchmarks, and has no event of its own here. Never
 * uses Math.random: the generator is seeded (random.ts), and the seed must stay secret for the
 * amplification to hold, so localTrain draws it from node:crypto unless a test gives one.
 */
import { requireOption } from "./errors.ts";

export type BatchSampling = { readonly kind: "poisson"; readonly rate: number } | { readonly kind: "fixed"; readonly size: number };

export function checkSampling(sampling: BatchSampling, examples: number): void {
  if (sampling.kind === "poisson") {
    requireOption(Number.isFinite(sampling.rate) && sampling.rate > 0 && sampling.rate <= 1, "sampling.rate", sampling.rate, "must be in (0, 1]");
  } else {
    requireOption(sampling.kind === "fixed", "sampling.kind", (sampling as { kind?: unknown }).kind, 'must be "poisson" or "fixed"');
    requireOption(Number.isSafeInteger(sampling.size) && sampling.size >= 1 && sampling.size <= examples, "sampling.size", sampling.size, `must be a whole number from 1 to the corpus's ${examples} sequences`);
  }
}

/** The denominator of the averaged gradient: q·N for Poisson (Abadi et al.'s expected lot size L), the size for a fixed batch. */
export function expectedBatchSize(sampling: BatchSampling, examples: number): number {
  return sampling.kind === "poisson" ? sampling.rate * examples : sampling.size;
}

/**
 * Indices of the examples in one batch, ascending (Poisson: possibly none).
 * @example sampleBatch({ kind: "fixed", size: 2 }, 10, seededUniform(1)); // two distinct indices in 0..9
 */
export function sampleBatch(sampling: BatchSampling, examples: number, uniform: () => number): number[] {
  if (sampling.kind === "poisson") {
    const picked: number[] = [];
    for (let i = 0; i < examples; i++) if (uniform() < sampling.rate) picked.push(i);
    return picked;
  }
  // Partial Fisher–Yates: the first `size` slots of a uniformly shuffled index list.
  const order = Array.from({ length: examples }, (_, i) => i);
  for (let i = 0; i < sampling.size; i++) {
    const j = i + Math.floor(uniform() * (examples - i));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order.slice(0, sampling.size).sort((a, b) => a - b);
}
