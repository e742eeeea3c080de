/**
 * Timing for the executor suite with tinybench, bounded by count, not time: one iteration here
 * is a whole decode step or prefill (tens of ms to seconds), so each task runs exactly its
 * warm-up and measured iterations, with setup (a fresh KV cache, a prefilled prompt) in hooks,
 * outside the timed window. Never lets a slow spell of this shared machine favour one side:
 * contenders are measured round-robin and each figure is the median of its rounds.
 */
import { Bench } from "tinybench";

export interface Count {
  /** Measured iterations (exactly these: the time budget is 0). */
  iterations: number;
  /** 0: no warm-up phase. */
  warmupIterations: number;
}

/** Setup outside the timed window; as tinybench, `beforeAll`/`afterAll` run once per phase (warm-up, then run). */
export interface Hooks {
  beforeAll?: () => void;
  afterAll?: () => void;
  beforeEach?: () => void;
  afterEach?: () => void;
}

export interface Timing {
  meanMs: number;
  minMs: number;
  iterations: number;
}

/** Times a synchronous `fn` (the executor's forward is synchronous). */
export async function measure(name: string, fn: () => unknown, count: Count, hooks: Hooks = {}): Promise<Timing> {
  const bench = new Bench({ name, throws: true, time: 0, warmupTime: 0, warmup: count.warmupIterations > 0, ...count });
  // async: false, or tinybench calls fn once more, outside the hooks, to find out (a whole prefill).
  bench.add(name, fn, { ...hooks, async: false });
  await bench.run();
  const result = bench.getTask(name)!.result;
  if (result.state !== "completed") {
    const reason = result.state === "errored" ? result.error.message : result.state;
    throw new Error(`benchmark "${name}" did not complete: ${reason}`);
  }
  return { meanMs: result.latency.mean, minMs: result.latency.min, iterations: result.latency.samplesCount };
}

export interface Contender {
  name: string;
  /** Items (tokens) one iteration produces. */
  perIteration: number;
  fn: () => unknown;
  hooks?: Hooks;
}

export interface Rate {
  /** Median over the rounds, items/s. */
  median: number;
  perRound: number[];
}

/** Items/s of each contender: per round, items over the mean iteration time; the median of `rounds` rounds. */
export async function interleavedRates(contenders: readonly Contender[], rounds: number, count: Count): Promise<Rate[]> {
  const perRound: number[][] = contenders.map(() => []);
  for (let round = 0; round < rounds; round++) {
    for (const [i, c] of contenders.entries()) {
      const { meanMs } = await measure(c.name, c.fn, count, c.hooks);
      perRound[i]!.push((c.perIteration * 1_000) / meanMs);
    }
  }
  return perRound.map((rates) => ({ median: median(rates), perRound: rates }));
}

/** "name 9.8 (9.1, 9.8, 10.2)": a contender's median and its rounds, for the log. */
export function describeRate(name: string, rate: Rate, unit: string): string {
  return `${name} ${rate.median.toFixed(1)} ${unit} (rounds: ${rate.perRound.map((r) => r.toFixed(1)).join(", ")})`;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
