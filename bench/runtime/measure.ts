/** Timing with tinybench, one fresh Bench per figure so each gets its own budget. */
import { MessageChannel, Worker, type MessagePort } from "node:worker_threads";
import { Bench } from "tinybench";

export interface Budget {
  /** Least time spent measuring, ms (tinybench keeps going until both this and `iterations` are met). */
  time: number;
  /** Least measured iterations. */
  iterations: number;
  warmupTime: number;
  warmupIterations: number;
}

async function runOne(name: string, fn: () => Promise<void>, budget: Budget, retainSamples = false) {
  const bench = new Bench({ name, throws: true, retainSamples, ...budget });
  bench.add(name, fn);
  await bench.run();
  const task = bench.getTask(name)!;
  const result = task.result;
  if (result.state !== "completed") {
    const reason = result.state === "errored" ? result.error.message : result.state;
    throw new Error(`benchmark "${name}" did not complete: ${reason}`);
  }
  return result;
}

export interface Contender {
  name: string;
  /** Items (messages, updates) one iteration moves; it resolves once the last is processed. */
  perIteration: number;
  fn: () => Promise<void>;
}

/**
 * Throughputs in items/s of several contenders, measured round-robin for `rounds` rounds so
 * that a slow spell of this shared machine hits each of them alike; every other round runs
 * them in reverse order, so that none always goes first (or right after the same one). Per
 * round: items over the mean iteration time; the figure is the median of the rounds.
 */
export async function rates(contenders: readonly Contender[], rounds: number, budget: Budget): Promise<number[]> {
  const perRound: number[][] = contenders.map(() => []);
  for (let round = 0; round < rounds; round++) {
    const order = [...contenders.keys()];
    if (round % 2 === 1) order.reverse();
    for (const i of order) {
      const c = contenders[i]!;
      const result = await runOne(c.name, c.fn, budget);
      perRound[i]!.push((c.perIteration * 1_000) / result.period);
    }
  }
  return perRound.map(median);
}

/**
 * Throughputs in items/s of a few contenders whose ratio is read off (a figure with and
 * without some cost), interleaved one iteration at a time: after `warmup` untimed iterations
 * each, `iterations` rounds each run every contender once, in reverse order every other
 * round, each call timed alone. A contender's figure is its items over its median iteration
 * time. A burst of load from another process on this shared machine lands on one or two
 * iterations, not on a whole contender's second, and the median leaves it out.
 */
export async function interleavedRates(contenders: readonly Contender[], iterations: number, warmup = 2): Promise<number[]> {
  for (let i = 0; i < warmup; i++) for (const c of contenders) await c.fn();
  const times: number[][] = contenders.map(() => []);
  for (let round = 0; round < iterations; round++) {
    const order = [...contenders.keys()];
    if (round % 2 === 1) order.reverse();
    for (const i of order) {
      const started = performance.now();
      await contenders[i]!.fn();
      times[i]!.push(performance.now() - started);
    }
  }
  return contenders.map((c, i) => (c.perIteration * 1_000) / median(times[i]!));
}

export interface Latency {
  p50: number;
  p99: number;
  samples: number;
}

/**
 * Latencies of one awaited round trip per iteration, in µs, for several contenders measured
 * round-robin; percentiles over all the samples of every round.
 */
export async function latencies(contenders: readonly Omit<Contender, "perIteration">[], rounds: number, budget: Budget): Promise<Latency[]> {
  const samples: number[][] = contenders.map(() => []);
  for (let round = 0; round < rounds; round++) {
    for (const [i, c] of contenders.entries()) {
      const result = await runOne(c.name, c.fn, budget, true);
      for (const ms of result.latency.samples ?? []) samples[i]!.push(ms * 1_000);
    }
  }
  return samples.map((all) => {
    all.sort((a, b) => a - b);
    return { p50: quantile(all, 0.5), p99: quantile(all, 0.99), samples: all.length };
  });
}

function median(values: number[]): number {
  return quantile([...values].sort((a, b) => a - b), 0.5);
}

/** Linear interpolation between closest ranks, on sorted values. */
function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const at = (sorted.length - 1) * q;
  const low = Math.floor(at);
  const high = Math.min(low + 1, sorted.length - 1);
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (at - low);
}

/** A bare worker running bench/runtime/raw-port-worker.ts, and the MessagePort to it. */
export interface RawWorker {
  port: MessagePort;
  /** Posts a non-frame message and resolves with the next reply (one request at a time). */
  request<T>(value: unknown): Promise<T>;
  close(): Promise<void>;
}

const BOOT = new URL("../../runtime/threads/worker-boot.mjs", import.meta.url);
const RAW_ENTRY = new URL("./raw-port-worker.ts", import.meta.url).href;

export async function startRawWorker(mode: "count" | "echo"): Promise<RawWorker> {
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(BOOT, { workerData: { entry: RAW_ENTRY, port: port2, mode }, transferList: [port2], name: `raw-${mode}` });
  let failure: Error | undefined;
  worker.on("error", (error) => {
    failure = error;
  });
  let waiting: ((value: unknown) => void) | undefined;
  port1.on("message", (value: unknown) => {
    const resolve = waiting;
    waiting = undefined;
    resolve?.(value);
  });
  const request = <T>(value: unknown) =>
    new Promise<T>((resolve, reject) => {
      if (failure) return reject(failure);
      waiting = resolve as (value: unknown) => void;
      port1.postMessage(value);
    });
  // Started when it answers: tsx's registration in the worker takes a moment.
  await Promise.race([
    request(mode === "count" ? { q: 0 } : { ping: 0 }),
    new Promise((_, reject) => worker.once("error", reject)),
  ]);
  return {
    port: port1,
    request,
    async close() {
      port1.close();
      await worker.terminate();
    },
  };
}

/** `count` concurrent loops, each awaiting `updates` calls of `step(loop)` one after another. */
export function concurrentLoops(count: number, updates: number, step: (loop: number) => Promise<unknown>): Promise<void> {
  return Promise.all(
    Array.from({ length: count }, async (_, loop) => {
      for (let i = 0; i < updates; i++) await step(loop);
    }),
  ).then(() => undefined);
}
