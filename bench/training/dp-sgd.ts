/**
 * DP-SGD's cost on the demo shape (2 blocks, d 64, 4 heads, GPT-2's vocabulary): one step with
 * per-example clipping and secure noise, and one with clipping only, against the raw floor of
 * the same tfjs forward + backward on the same batch as one batch gradient (no per-example
 * work), in the same process; and the secure noise vector against a seeded float Gaussian of the
 * same length. Batch 8 × 64 tokens by default (parameterised).
 */
import { join } from "node:path";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { resolveTensorBackend } from "../../native-bindings/index.ts";
import { DEFAULT_MODEL_SHAPE, initModel, type ModelShape } from "../../actors/shard-executor/model-init.ts";
import { loadGpt2Stage } from "../../actors/shard-executor/model-loader.ts";
import { clippedGradientSum, privatiseGradient } from "../../actors/shard-executor/training/dp-sgd.ts";
import { secureGaussianVector, seededGaussianVector, type GaussianVectorSampler } from "../../actors/shard-executor/training/noise.ts";
import { TrainingModel } from "../../actors/shard-executor/training/train-forward.ts";
import type { TrainablePart } from "../../actors/shard-executor/training/trainable.ts";
import { compared, type BenchResult } from "../report.ts";

export interface DpSgdBenchOptions {
  readonly shape?: ModelShape;
  readonly batch?: number;
  readonly sequenceLength?: number;
  readonly part?: TrainablePart;
  /** Timed repetitions of each measurement (after one warm-up). */
  readonly iterations?: number;
  readonly log?: (line: string) => void;
}

// The default part leaves the tied head out: with it (or "all") the update has 3.3 M coordinates, and the
// exact secure sampler (~24 µs a draw) would take ~80 s per step; pass part to measure those.
export const DEFAULT_DP_SGD_BENCH = { shape: DEFAULT_MODEL_SHAPE, batch: 8, sequenceLength: 64, part: { kind: "last", blocks: 1, head: false }, iterations: 5 } as const;

export async function benchDpSgd(options: DpSgdBenchOptions = {}): Promise<BenchResult[]> {
  const o = { ...DEFAULT_DP_SGD_BENCH, ...options };
  const dir = mkdtempSync(join(tmpdir(), "fedrouter-bench-dp-sgd-"));
  try {
    await initModel({ out: dir, ...o.shape, vocab: "gpt2", seed: 1 });
    const runtime = await resolveTensorBackend();
    const tf = runtime.tf;
    const model = new TrainingModel(runtime, await loadGpt2Stage(dir), o.part);
    const batch = Array.from({ length: o.batch }, (_, b) => Array.from({ length: o.sequenceLength }, (_, i) => (b * 7919 + i * 104_729) % 50_257));
    const dp = { exampleClip: 1, noiseMultiplier: 1 };
    const label = `batch ${o.batch} × ${o.sequenceLength}, ${o.part.kind === "all" ? "all" : `last ${o.part.blocks}${o.part.head === false ? "" : " + head"}`}, ${model.spec.size.toLocaleString("en")} params`;
    o.log?.(`dp-sgd bench: ${label}, backend ${runtime.backend}`);

    const batchGradient = (): void => {
      tf.tidy(() => {
        const prefix = model.frozenPrefix(batch);
        const { grads } = tf.variableGrads(() => model.loss(batch, prefix) as never, model.variables as never);
        for (const g of Object.values(grads)) g.dataSync(); // wait for the backend, as the DP step's reads do
      });
    };
    const dpStep = (sampler: GaussianVectorSampler, noiseMultiplier: number) => (): void => {
      const { sum } = clippedGradientSum(runtime, model, batch, dp.exampleClip);
      const noisy = privatiseGradient(runtime, model.spec, sum, { ...dp, noiseMultiplier }, o.batch, sampler);
      for (const g of noisy) g.dataSync();
      [...sum, ...noisy].forEach((t) => t.dispose());
    };
    const raw = timeMs(batchGradient, o.iterations);
    const clipOnly = timeMs(dpStep(secureGaussianVector, 0), o.iterations);
    const secure = timeMs(dpStep(secureGaussianVector, dp.noiseMultiplier), o.iterations);
    const seeded = seededGaussianVector(1);
    const noiseSecure = timeMs(() => void secureGaussianVector(model.spec.size, 1), o.iterations);
    const noiseFloat = timeMs(() => void seeded(model.spec.size, 1), o.iterations);
    model.dispose();
    const floor = { name: "one batch gradient, same forward + backward", value: raw };
    return [
      compared(`DP-SGD step, per-example clip + secure noise (${label})`, "ms", secure, floor),
      compared(`DP-SGD step, per-example clip only, z = 0 (${label})`, "ms", clipOnly, floor),
      compared(`secure noise vector, ${model.spec.size.toLocaleString("en")} draws`, "ms", noiseSecure, { name: "seeded float Box–Muller, same length", value: noiseFloat }),
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Median wall time of `iterations` runs after one warm-up, in ms. */
function timeMs(run: () => void, iterations: number): number {
  run();
  const times: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const start = performance.now();
    run();
    times.push(performance.now() - start);
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
}
