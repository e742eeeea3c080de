/**
 * Test randomness for GNMax: a seeded generator (mulberry32 pairs → 53-bit uniforms) with
 * continuous Box–Muller Gaussians, so statistical tests are reproducible; and scripted noise
 * that returns given values, for exact margins and tie-breaks.
 */
import type { GnmaxNoise } from "../../../actors/aggregator/index.ts";
import { seededUint32 } from "../../../actors/shard-executor/random.ts";

/** Uniforms in (0, 1) with 53 random bits, from `seed`. */
export function seededUniform(seed: number): () => number {
  const next = seededUint32(seed);
  return () => ((next() >>> 5) * 2 ** 26 + (next() >>> 6) + 0.5) / 2 ** 53;
}

export function seededNoise(seed: number): GnmaxNoise & { normal(): number } {
  const uniform = seededUniform(seed);
  const normal = () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
  return {
    granularity: 0,
    gaussian: (sigma) => sigma * normal(),
    uniform,
    indexBelow: (n) => Math.floor(uniform() * n),
    normal,
  };
}

/** Noise that replays the given draws (and fails loudly when it runs out). */
export function scriptedNoise(script: { gaussian?: number[]; uniform?: number[]; indexBelow?: number[] }): GnmaxNoise & { indexBounds: number[] } {
  const take = (list: number[] | undefined, what: string): number => {
    const v = list?.shift();
    if (v === undefined) throw new Error(`scripted noise ran out of ${what} draws`);
    return v;
  };
  const indexBounds: number[] = [];
  return {
    granularity: 0,
    gaussian: () => take(script.gaussian, "gaussian"),
    uniform: () => take(script.uniform, "uniform"),
    indexBelow: (n) => {
      indexBounds.push(n);
      return take(script.indexBelow, "indexBelow");
    },
    indexBounds,
  };
}

/** χ² statistic of observed counts against expected probabilities. */
export function chiSquare(observed: readonly number[], probabilities: readonly number[]): number {
  const n = observed.reduce((a, b) => a + b, 0);
  return observed.reduce((sum, o, i) => sum + (o - n * probabilities[i]!) ** 2 / (n * probabilities[i]!), 0);
}

/** Two-sample Kolmogorov–Smirnov statistic. */
export function ksTwoSample(a: readonly number[], b: readonly number[]): number {
  const x = [...a].sort((p, q) => p - q), y = [...b].sort((p, q) => p - q);
  let i = 0, j = 0, d = 0;
  while (i < x.length && j < y.length) {
    const v = Math.min(x[i]!, y[j]!);
    while (i < x.length && x[i]! <= v) i++;
    while (j < y.length && y[j]! <= v) j++;
    d = Math.max(d, Math.abs(i / x.length - j / y.length));
  }
  return d;
}

/** One-sample Kolmogorov–Smirnov statistic against a CDF. */
export function ksOneSample(sample: readonly number[], cdf: (x: number) => number): number {
  const x = [...sample].sort((p, q) => p - q);
  let d = 0;
  x.forEach((v, i) => {
    const f = cdf(v);
    d = Math.max(d, Math.abs(f - i / x.length), Math.abs((i + 1) / x.length - f));
  });
  return d;
}
