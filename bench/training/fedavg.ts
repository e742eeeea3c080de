/**
 * The coordinator's per-round arithmetic on d coordinates (default 1,000,000) against its raw
 * floor, a plain Float32Array add loop (out[i] = a[i] + b[i]) timed in the same process and run:
 * - central noise: `addCentralNoise` (snap to the grid, one exact discrete Gaussian sample per
 *   coordinate from node:crypto, back to float32);
 * - FedAdam server step: `applyServerStep` (m, v and w updated in place);
 * - the two together, one round's work after secure aggregation.
 * A context row gives privacy/noise.ts's BigInt sampler (the one `addCentralNoise` replaces) on a
 * few thousand samples, scaled to d. Medians of `runs` timings, each right after its floor's.
 *
 * Run alone: `node --import tsx -e 'import("./bench/training/fedavg.ts").then((m) => m.runFedAvgBench()).then(console.log)'`.
 */
import { addCentralNoise } from "../../federated/central-noise.ts";
import { applyServerStep, initialOptimizerState, type ServerOptimizer } from "../../federated/server-optimizer.ts";
import { discreteGaussian } from "../../privacy/noise.ts";
import { compared, type BenchResult } from "../report.ts";

export interface FedAvgBenchOptions {
  /** d, default 1,000,000. */
  dimension?: number;
  /** Timed runs per row, default 5 (after one warm-up). */
  runs?: number;
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

function timeMs(run: () => void): number {
  const start = performance.now();
  run();
  return performance.now() - start;
}

export async function runFedAvgBench(options: FedAvgBenchOptions = {}): Promise<BenchResult[]> {
  const d = options.dimension ?? 1_000_000;
  const runs = options.runs ?? 5;
  const sum = Float32Array.from({ length: d }, (_, i) => Math.sin(i) * 1e-3);
  const other = Float32Array.from({ length: d }, (_, i) => Math.cos(i) * 1e-3);
  const out = new Float32Array(d);
  const optimizer: ServerOptimizer = { kind: "fedadam", learningRate: 0.01 };
  const state = initialOptimizerState(optimizer, d);
  const weights = new Float32Array(d);
  const noise = { clipNorm: 1, noiseMultiplier: 1 };

  const floor = () => {
    for (let i = 0; i < d; i++) out[i] = sum[i]! + other[i]!;
  };
  const noiseOnly = () => void addCentralNoise(sum, noise);
  const stepOnly = () => applyServerStep(optimizer, state, weights, other);
  const round = () => applyServerStep(optimizer, state, weights, addCentralNoise(sum, noise).noisy);

  const floorMs: number[] = [], noiseMs: number[] = [], stepMs: number[] = [], roundMs: number[] = [];
  for (let r = -1; r < runs; r++) { // r = −1 warms the JIT and is not counted
    const f = timeMs(floor), n = timeMs(noiseOnly);
    const f2 = timeMs(floor), s = timeMs(stepOnly);
    const f3 = timeMs(floor), o = timeMs(round);
    if (r < 0) continue;
    floorMs.push((f + f2 + f3) / 3);
    noiseMs.push(n);
    stepMs.push(s);
    roundMs.push(o);
  }
  const bigIntSamples = 2_000;
  const bigIntMs = timeMs(() => {
    for (let i = 0; i < bigIntSamples; i++) discreteGaussian(2n ** 40n); // σ = 2²⁰ grid steps, as the default grid at d = 10⁶
  }) * (d / bigIntSamples);

  const perSecond = (ms: number) => d / (ms / 1_000);
  const baseline = { name: `Float32Array add loop, d = ${d.toLocaleString("en-US")}`, value: perSecond(median(floorMs)) };
  return [
    compared(`central noise (exact discrete Gaussian), d = ${d.toLocaleString("en-US")}`, "coords/s", perSecond(median(noiseMs)), baseline),
    compared("FedAdam server step", "coords/s", perSecond(median(stepMs)), baseline),
    compared("noise + FedAdam step (one round)", "coords/s", perSecond(median(roundMs)), baseline),
    { name: "privacy/noise.ts BigInt sampler (context, 2,000 samples scaled)", unit: "coords/s", value: perSecond(bigIntMs), baseline: null, ratio: null },
  ];
}
