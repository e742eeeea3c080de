/**
 * Tell throughput: fedrouter against its floors, measured round-robin in the same run.
 * - cross-thread: N tells to an actor in a worker thread, then one ask for its tally; floor:
 *   the same messages, msgpackr-encoded (records) in batches of 256, posted (buffer moved)
 *   over a bare MessagePort to a bare worker that decodes and counts, then one query.
 * - same-thread: N tells to a local actor, then one ask; floor: the same N messages pushed
 *   onto an array and handed one by one to the same counting function by a plain loop.
 * Both sides build each message fresh and check that every message was counted.
 */
import { Packr } from "msgpackr";
import type { ActorSystem } from "../../runtime/index.ts";
import { compared, type BenchResult } from "../report.ts";
import { sink, type SinkMsg } from "./actors.ts";
import { rates, startRawWorker, type Budget } from "./measure.ts";
import { addMessage, count, type AddMsg, type Tally } from "./message.ts";

const N = 200_000;
const RAW_BATCH = 256;
const ROUNDS = 3;
const BUDGET: Budget = { time: 1_000, iterations: 3, warmupTime: 1, warmupIterations: 1 };
const MAILBOX = { capacity: 1_000_000, overflow: "drop-newest" } as const;

function expectTally(what: string, got: Tally, expected: number): void {
  if (got.count !== expected) throw new Error(`${what}: the receiver counted ${got.count} messages, ${expected} were sent (dropped or lost)`);
}

/** N tells then one ask, checking the count: the same iteration for both placements. */
function tellBatch(what: string, tell: (msg: AddMsg) => void, ask: () => Promise<Tally>): () => Promise<void> {
  let sent = 0;
  return async () => {
    for (let i = 0; i < N; i++) tell(addMessage());
    sent += N;
    expectTally(what, await ask(), sent);
  };
}

export async function crossThreadTell(system: ActorSystem): Promise<BenchResult> {
  const ref = await system.spawn(sink, undefined, { placement: "worker", name: "sink-worker", mailbox: MAILBOX });
  const raw = await startRawWorker("count");
  try {
    const packr = new Packr({ useRecords: true });
    let rawSent = 0;
    const [fedrouter, floor] = await rates([
      {
        name: "fedrouter cross-thread tell",
        perIteration: N,
        fn: tellBatch("fedrouter cross-thread tell", (msg) => ref.tell(msg), () =>
          ref.ask<Tally>((replyTo) => ({ type: "get", replyTo }) satisfies SinkMsg, { timeoutMs: 60_000 })),
      },
      {
        name: "raw MessagePort ×256",
        perIteration: N,
        fn: async () => {
          const batch: AddMsg[] = [];
          for (let i = 0; i < N; i++) {
            batch.push(addMessage());
            if (batch.length === RAW_BATCH || i === N - 1) {
              // pack() returns a view on msgpackr's reused buffer: copy it out, then move the copy.
              const frame = packr.pack(batch).slice();
              raw.port.postMessage(frame, [frame.buffer as ArrayBuffer]);
              batch.length = 0;
            }
          }
          rawSent += N;
          expectTally("raw MessagePort", await raw.request<Tally>({ q: rawSent }), rawSent);
        },
      },
    ], ROUNDS, BUDGET);
    return compared("cross-thread tell", "msg/s", fedrouter!, { name: `MessagePort, msgpackr records ×${RAW_BATCH}`, value: floor! }, "≥ 0.5");
  } finally {
    await raw.close();
    await system.stopChild("sink-worker");
  }
}

export async function sameThreadTell(system: ActorSystem): Promise<BenchResult> {
  const ref = await system.spawn(sink, undefined, { placement: "local", name: "sink-local", mailbox: MAILBOX });
  try {
    const tally: Tally = { count: 0, sum: 0 };
    const queue: AddMsg[] = [];
    const [fedrouter, floor] = await rates([
      {
        name: "fedrouter same-thread tell",
        perIteration: N,
        fn: tellBatch("fedrouter same-thread tell", (msg) => ref.tell(msg), () =>
          ref.ask<Tally>((replyTo) => ({ type: "get", replyTo }) satisfies SinkMsg, { timeoutMs: 60_000 })),
      },
      {
        name: "array queue + direct call",
        perIteration: N,
        fn: tellBatch("array queue + direct call", (msg) => queue.push(msg), async () => {
          for (let i = 0; i < queue.length; i++) count(tally, queue[i]!);
          queue.length = 0;
          return tally;
        }),
      },
    ], ROUNDS, BUDGET);
    return compared("same-thread tell", "msg/s", fedrouter!, { name: "array queue + direct call", value: floor! });
  } finally {
    await system.stopChild("sink-local");
  }
}
