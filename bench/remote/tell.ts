/**
 * Remote tell throughput, one figure per security mode. fedrouter: this process, a node
 * (ActorSystem with `remote`), tells N messages to the `sink` actor of a hospital in a second
 * process, then asks it for its tally and checks that every message was counted. Floor: the
 * same N messages built the same way, msgpackr-encoded (records) 256 per frame — the
 * transport's batch size — written as `bytes` on one grpc-js bidi stream (awaiting 'drain'
 * whenever write returns false) to a bare grpc-js server in a second process that decodes and
 * counts; then a query on the same stream, checked alike. Round-robin, median of the rounds.
 */
import type { ActorSystem } from "../../runtime/index.ts";
import { Packr } from "msgpackr";
import { compared, type BenchResult } from "../report.ts";
import { rates, type Budget } from "../runtime/measure.ts";
import { addMessage, type AddMsg, type Tally } from "../runtime/message.ts";
import type { SinkMsg } from "../runtime/actors.ts";
import { HOSPITAL } from "./processes.ts";
import type { RawClient } from "./raw-client.ts";

export const N = 200_000;
const RAW_BATCH = 256;
const ROUNDS = 3;
const BUDGET: Budget = { time: 1_000, iterations: 3, warmupTime: 1, warmupIterations: 1 };

function expectTally(what: string, got: Tally, expected: number): void {
  if (got.count !== expected) throw new Error(`${what}: the receiver counted ${got.count} messages, ${expected} were sent (dropped or lost)`);
}

export async function remoteTell(system: ActorSystem, raw: RawClient, security: "insecure" | "mTLS"): Promise<BenchResult> {
  const ref = system.ref<SinkMsg>(`fed://${HOSPITAL}/user/node/sink`);
  const packr = new Packr({ useRecords: true });
  let sent = (await ref.ask<Tally>((replyTo) => ({ type: "get", replyTo }), { timeoutMs: 10_000 })).count;
  let rawSent = 0;
  const [fedrouter, floor] = await rates([
    {
      name: `fedrouter remote tell (${security})`,
      perIteration: N,
      fn: async () => {
        for (let i = 0; i < N; i++) ref.tell(addMessage());
        sent += N;
        expectTally(`fedrouter remote tell (${security})`, await ref.ask<Tally>((replyTo) => ({ type: "get", replyTo }), { timeoutMs: 60_000 }), sent);
      },
    },
    {
      name: `raw grpc-js stream ×${RAW_BATCH} (${security})`,
      perIteration: N,
      fn: async () => {
        const batch: AddMsg[] = [];
        for (let i = 0; i < N; i++) {
          batch.push(addMessage());
          if (batch.length === RAW_BATCH || i === N - 1) {
            // pack() returns a view on msgpackr's reused buffer; grpc-js may hold the frame until it drains.
            const writable = raw.send(Buffer.from(packr.pack(batch)));
            batch.length = 0;
            if (!writable) await raw.drained();
          }
        }
        rawSent += N;
        expectTally(`raw grpc-js stream (${security})`, await raw.query(rawSent), rawSent);
      },
    },
  ], ROUNDS, BUDGET);
  return compared(`remote tell (${security})`, "msg/s", fedrouter!, {
    name: `grpc-js bidi stream, msgpackr records ×${RAW_BATCH}, ${security}`,
    value: floor!,
  }, "≥ 0.5");
}
