/**
 * Remote ask round trip over mutual TLS: one awaited ask at a time from this node to the
 * `echo` actor of the hospital in the second process, which answers with the same fields.
 * Floor: one awaited grpc-js unary call of the same message (msgpackr) to the bare server,
 * which decodes it and answers the same fields re-encoded. Context: the same round trip as a
 * ping-pong on an open grpc-js bidi stream — what the transport itself rides on, so the
 * tighter floor (a unary call opens an HTTP/2 stream and sends headers and trailers each
 * time). Round-robin, all three; p50 and p99 over all samples; ratio = fedrouter / raw
 * (lower is better).
 */
import type { ActorSystem } from "../../runtime/index.ts";
import { compared, type BenchResult } from "../report.ts";
import { latencies, type Budget } from "../runtime/measure.ts";
import { LABEL } from "../runtime/message.ts";
import type { EchoMsg, EchoReply } from "../runtime/actors.ts";
import { HOSPITAL } from "./processes.ts";
import type { RawClient } from "./raw-client.ts";

const ROUNDS = 3;
const BUDGET: Budget = { time: 1_000, iterations: 1_000, warmupTime: 250, warmupIterations: 300 };

export async function remoteAsk(system: ActorSystem, raw: RawClient): Promise<BenchResult[]> {
  const ref = system.ref<EchoMsg>(`fed://${HOSPITAL}/user/node/echo`);
  const message = () => ({ type: "echo", n: 12345, label: LABEL }) as const;
  const check = (what: string, reply: EchoReply) => {
    if (reply.n !== 12345) throw new Error(`${what} answered something else`);
  };
  const [fedrouter, unary, stream] = await latencies([
    {
      name: "fedrouter remote ask (mTLS)",
      fn: async () => check("echo actor", await ref.ask<EchoReply>((replyTo) => ({ ...message(), replyTo }), { timeoutMs: 10_000 })),
    },
    { name: "raw grpc-js unary (mTLS)", fn: async () => check("raw unary echo", await raw.unaryEcho<EchoReply>(message())) },
    { name: "raw grpc-js stream ping-pong (mTLS)", fn: async () => check("raw stream echo", await raw.streamEcho<EchoReply>(message())) },
  ], ROUNDS, BUDGET);
  const unaryName = "grpc-js unary call, msgpackr, mTLS";
  const streamName = "grpc-js bidi stream ping-pong, msgpackr, mTLS";
  return [
    compared("remote ask p50 (mTLS)", "µs", fedrouter!.p50, { name: unaryName, value: unary!.p50 }, "≤ 1.5"),
    compared("remote ask p99 (mTLS)", "µs", fedrouter!.p99, { name: unaryName, value: unary!.p99 }),
    compared("remote ask p50 (mTLS), vs open stream", "µs", fedrouter!.p50, { name: streamName, value: stream!.p50 }),
    compared("remote ask p99 (mTLS), vs open stream", "µs", fedrouter!.p99, { name: streamName, value: stream!.p99 }),
  ];
}
