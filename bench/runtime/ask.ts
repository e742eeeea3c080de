/**
 * Cross-thread ask round trip: one awaited ask at a time to an actor in a worker thread that
 * answers with the same object; floor: postMessage of the same object over a bare MessagePort
 * to a bare worker that posts it back. Measured round-robin; p50 and p99 over all samples;
 * ratio = fedrouter / raw (lower is better).
 */
import type { ActorSystem } from "../../runtime/index.ts";
import { compared, type BenchResult } from "../report.ts";
import { echo, type EchoMsg, type EchoReply } from "./actors.ts";
import { latencies, startRawWorker, type Budget } from "./measure.ts";
import { LABEL } from "./message.ts";

const ROUNDS = 3;
const BUDGET: Budget = { time: 1_000, iterations: 1_000, warmupTime: 250, warmupIterations: 500 };

export async function crossThreadAsk(system: ActorSystem): Promise<BenchResult[]> {
  const ref = await system.spawn(echo, undefined, { placement: "worker", name: "echo-worker" });
  const raw = await startRawWorker("echo");
  try {
    const [fedrouter, floor] = await latencies([
      {
        name: "fedrouter cross-thread ask",
        fn: async () => {
          const reply = await ref.ask<EchoReply>((replyTo) => ({ type: "echo", n: 12345, label: LABEL, replyTo }) satisfies EchoMsg, { timeoutMs: 10_000 });
          if (reply.n !== 12345) throw new Error("echo actor answered something else");
        },
      },
      {
        name: "raw MessagePort ping-pong",
        fn: async () => {
          const reply = await raw.request<EchoReply>({ type: "echo", n: 12345, label: LABEL });
          if (reply.n !== 12345) throw new Error("raw echo worker answered something else");
        },
      },
    ], ROUNDS, BUDGET);
    const baseline = "MessagePort ping-pong, postMessage";
    return [
      compared("cross-thread ask p50", "µs", fedrouter!.p50, { name: baseline, value: floor!.p50 }, "≤ 2"),
      compared("cross-thread ask p99", "µs", fedrouter!.p99, { name: baseline, value: floor!.p99 }),
    ];
  } finally {
    await raw.close();
    await system.stopChild("echo-worker");
  }
}
