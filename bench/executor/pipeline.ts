/**
 * Pipeline parallelism on the 124M-shaped model: aggregate decode tokens/s of a 2-stage pipeline
 * (blocks 0–7 and 8–11, one ShardExecutor per worker thread; see SPLIT) with 4 sequences in flight, against
 * one single-threaded executor (the whole model, one worker thread) serving the same 4
 * sequences, both driven by the same `Pipeline` from this thread. Measured twice:
 * - with batching, each at its best: the single executor batches all 4 sequences (maxBatch 4);
 *   the stages batch half of them (maxBatch 2, one micro-batch per stage). Unbounded continuous
 *   batching would lock all 4 sequences into one group that moves stage to stage together, and
 *   the stages would never overlap — GPipe's reason for micro-batches.
 * - without batching (maxBatch 1 everywhere): what pipeline overlap alone gives.
 * Rounds alternate between the contenders; each figure is the median round. Context row: the
 * machine's own 2-thread scaling for this work — two threads running the raw matMul chain at
 * once against one alone — the most any 2-thread pipeline can get here (decode is memory-bound,
 * and two cores share the memory bandwidth).
 */
import { once } from "node:events";
import { Worker } from "node:worker_threads";
import { lastValueFrom, toArray } from "rxjs";
import { ActorSystem, type ActorRef } from "../../runtime/index.ts";
import { Pipeline, shardExecutor, type CalibrationReply, type ExecutorInfoReply, type RouteStage, type ShardExecutorMsg } from "../../actors/shard-executor/index.ts";
import { compared, type BenchResult } from "../report.ts";

/** The runtime's worker bootstrap (registers tsx for a .ts entry), as bench/runtime/measure.ts uses it. */
const BOOT = new URL("../../runtime/threads/worker-boot.mjs", import.meta.url);
const RAW_ENTRY = new URL("./raw-worker.ts", import.meta.url).href;
const SEQUENCES = 4;
const TOKENS_PER_SEQUENCE = 16;
const ROUNDS = 3;
const PROMPT_TOKENS = 8;
/**
 * The first block of the second stage. Not 6: the last stage also runs ln_f and the tied head
 * [768 × 50,257], as many weights as five blocks, so halving the blocks left stage 1 at
 * ~21 ms per decode step against stage 0's ~11 ms (profiled, one thread): the pipeline ran at
 * the pace of its slower stage while the other waited half the time. Eight blocks against four
 * and the head measured 13–14 ms each. Every run logs both stages' calibrated step times.
 */
const SPLIT = 8;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Tokens/s of 4 sequences generated at once through `route`. */
async function aggregateTokensPerS(pipeline: Pipeline, round: number): Promise<number> {
  const started = performance.now();
  const generated = await Promise.all(Array.from({ length: SEQUENCES }, (_, s) =>
    lastValueFrom(pipeline.generate({
      prompt: Array.from({ length: PROMPT_TOKENS }, (_, i) => (1_000 + 97 * s + 13 * i + round) % 50_257),
      maxTokens: TOKENS_PER_SEQUENCE, sampling: { temperature: 0 }, stepTimeoutMs: 120_000,
    }).pipe(toArray()))));
  const tokens = generated.reduce((n, g) => n + g.length, 0);
  return tokens / ((performance.now() - started) / 1_000);
}

/** Aggregate raw-chain steps/s of `threads` worker threads running at once. */
async function rawThreads(workers: Worker[], steps: number): Promise<number> {
  const times = await Promise.all(workers.map(async (w) => {
    const done = once(w, "message");
    w.postMessage({ steps });
    return ((await done) as [number])[0];
  }));
  return (workers.length * steps) / (Math.max(...times) / 1_000);
}

async function scalingFloor(modelDir: string, log: (line: string) => void): Promise<BenchResult> {
  log("pipeline floor: the raw matMul chain in one worker thread, then in two at once…");
  const workers = [0, 1].map(() => new Worker(BOOT, { workerData: { entry: RAW_ENTRY, modelDir } }));
  try {
    await Promise.all(workers.map((w) => once(w, "message")));
    const one: number[] = [];
    const two: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      one.push(await rawThreads(workers.slice(0, 1), 16));
      two.push(await rawThreads(workers, 16));
    }
    log(`pipeline floor: 1 thread ${median(one).toFixed(1)} steps/s, 2 threads ${median(two).toFixed(1)} steps/s`);
    return compared("raw matMul chain, 2 worker threads at once (this machine's 2-thread scaling)", "steps/s", median(two), { name: "the same chain, 1 worker thread", value: median(one) });
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

export async function pipelineFigures(modelDir: string, log: (line: string) => void): Promise<BenchResult[]> {
  const results: BenchResult[] = [await scalingFloor(modelDir, log)];
  for (const [singleBatch, stageBatch] of [[SEQUENCES, SEQUENCES / 2], [1, 1]] as const) {
    const maxBatch = stageBatch;
    const system = await ActorSystem.start({ node: "bench", logLevel: "error" });
    try {
      log(`pipeline (maxBatch ${maxBatch}): loading one whole-model executor and two half-model stages in three worker threads…`);
      const spawn = (name: string, from: number, to: number, batch: number) =>
        system.spawn(shardExecutor, { modelDir, from, to, maxBatch: batch }, { name, placement: "worker" }) as Promise<ActorRef<ShardExecutorMsg>>;
      const [whole, first, second] = await Promise.all([spawn("whole", 0, 12, singleBatch), spawn("stage-0", 0, SPLIT, stageBatch), spawn("stage-1", SPLIT, 12, stageBatch)]);
      const stepMsOf = async (ref: ActorRef<ShardExecutorMsg>) => {
        const c = await ref.ask<CalibrationReply>((replyTo) => ({ type: "calibrate", tokens: 16, replyTo }));
        return c.type === "calibration" ? c.stepMs.toFixed(1) : c.message;
      };
      log(`pipeline (maxBatch ${maxBatch}): decode step, one at a time — stage 0 [0, ${SPLIT}) ${await stepMsOf(first)} ms, stage 1 [${SPLIT}, 12) + head ${await stepMsOf(second)} ms, whole ${await stepMsOf(whole)} ms`);
      const lookup = (p: string) => system.ref<ShardExecutorMsg>(p);
      const single = new Pipeline({ lookup, route: [{ path: whole.path }] });
      const route: RouteStage[] = [{ path: first.path }, { path: second.path }];
      const piped = new Pipeline({ lookup, route });
      await aggregateTokensPerS(single, -1); // warm-up: tfjs kernels, worker JIT
      await aggregateTokensPerS(piped, -1);
      const singleRounds: number[] = [];
      const pipedRounds: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        singleRounds.push(await aggregateTokensPerS(single, round));
        pipedRounds.push(await aggregateTokensPerS(piped, round));
        log(`pipeline (maxBatch ${maxBatch}) round ${round + 1}/${ROUNDS}: single ${singleRounds.at(-1)!.toFixed(1)} tokens/s, 2-stage ${pipedRounds.at(-1)!.toFixed(1)} tokens/s`);
      }
      const batchesOf = async (ref: ActorRef<ShardExecutorMsg>) => {
        const info = await ref.ask<ExecutorInfoReply>((replyTo) => ({ type: "info", replyTo }));
        return (info.steps / info.batches).toFixed(1);
      };
      log(`pipeline (maxBatch ${maxBatch}): steps per forward pass — single ${await batchesOf(whole)}, stage 0 ${await batchesOf(first)}, stage 1 ${await batchesOf(second)}`);
      const batching = maxBatch > 1 ? `batching: ${singleBatch} vs ${stageBatch} per stage` : "no batching";
      results.push(compared(
        `2-stage pipeline, 2 worker threads, ${SEQUENCES} sequences in flight (${batching})`, "tokens/s", median(pipedRounds),
        { name: `1 executor, 1 worker thread, same ${SEQUENCES} sequences (${batching})`, value: median(singleRounds) },
        "≥ 1.5",
      ));
    } finally {
      await system.stop();
    }
  }
  return results;
}
