/**
 * Durable updates per second with 64 concurrent writers, every ack only after its write is
 * on disk. fedrouter: 64 loops of `await ref.ask(put)` to persistent ("sync") actors in the
 * main thread, as 64 actors × 1 writer and as 1 actor × 64 writers.
 *
 * Floor: the same records written raw. An update of the `durable` actor writes two records
 * in one transaction: its state record (key: the actor id; value: the new total and its seq,
 * about 20 bytes) and one journal entry (key: [id, seq]; value: `{ n, label }`). The floor
 * writes exactly these, `{ seq, state }` and `{ n, label }` under the same keys, into two
 * databases of a raw lmdb-js environment opened like the node store (overlapping sync,
 * separateFlushed), and awaits `.flushed`: the same durability and group commit. 64 loops;
 * against "64 actors" each loop has its own state key, against "1 actor" all 64 share one
 * key and one seq counter, as the actor's writers do. A context row puts fedrouter beside
 * one put per update, the floor this suite used to quote. Also one writer awaiting each
 * update in turn, both sides, where every update pays a whole commit and fsync.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { open, type Database, type RootDatabase } from "lmdb";
import { ActorSystem, type ActorRef } from "../../runtime/index.ts";
import { compared, type BenchResult } from "../report.ts";
import { durable, type DurableMsg } from "./actors.ts";
import { concurrentLoops, rates, type Budget } from "./measure.ts";
import { LABEL } from "./message.ts";

const WRITERS = 64;
/** Updates per writer per iteration (a batch of 64 × 40 = 2,560 updates). */
const PER_WRITER = 40;
/** Updates per iteration with a single writer. */
const SOLO_UPDATES = 50;
const ROUNDS = 3;
const BUDGET: Budget = { time: 800, iterations: 3, warmupTime: 1, warmupIterations: 1 };
const SOLO_BUDGET: Budget = { time: 500, iterations: 2, warmupTime: 1, warmupIterations: 1 };

type Flushable = Promise<boolean> & { flushed?: PromiseLike<unknown> };

const writers = concurrentLoops;

/** What one raw update writes: a state record and a journal entry, awaited until flushed. */
function rawUpdates(state: Database, journal: Database, keyOf: (writer: number) => string) {
  const seqs = new Map<string, number>();
  const totals = new Map<string, number>();
  return (writer: number): Promise<unknown> => {
    const key = keyOf(writer);
    const seq = (seqs.get(key) ?? 0) + 1;
    const total = (totals.get(key) ?? 0) + 1;
    seqs.set(key, seq);
    totals.set(key, total);
    void state.put(key, { seq, state: total });
    const written = journal.put([key, seq], { n: 12345, label: LABEL }) as Flushable;
    return Promise.resolve(written.flushed ?? written);
  };
}

export async function durableUpdates(): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), "fedrouter-bench-"));
  let system: ActorSystem | undefined;
  let raw: RootDatabase | undefined;
  try {
    system = await ActorSystem.start({ node: "bench", logLevel: "silent", persistence: { path: join(dir, "node") } });
    // Opened like the node store opens its environment (node-store.ts), so the same sync.
    const db = open({ path: join(dir, "raw"), separateFlushed: true, noSubdir: false });
    raw = db;
    const rawState = db.openDB("state", {});
    const rawJournal = db.openDB("journal", {});
    const many: ActorRef<DurableMsg>[] = [];
    for (let i = 0; i < WRITERS; i++) many.push(await system.spawn(durable, undefined, { placement: "local", name: `durable-${i}` }));
    const one = await system.spawn(durable, undefined, { placement: "local", name: "durable-shared" });
    const put = (ref: ActorRef<DurableMsg>) =>
      ref.ask<number>((replyTo) => ({ type: "put", n: 12345, label: LABEL, replyTo }), { timeoutMs: 30_000 });

    const ownKeys = rawUpdates(rawState, rawJournal, (writer) => `user/durable-${writer}`);
    const sharedKey = rawUpdates(rawState, rawJournal, () => "user/durable-shared");
    const soloKey = rawUpdates(rawState, rawJournal, () => "user/durable-solo");
    let key = 0;
    const onePut = () => {
      const written = db.put(++key, { n: 12345, label: LABEL }) as Flushable;
      return Promise.resolve(written.flushed ?? written);
    };
    const batch = WRITERS * PER_WRITER;
    const [manyActors, oneActor, floorMany, floorOne, floorOnePut] = await rates([
      { name: "fedrouter 64 actors × 1 writer", perIteration: batch, fn: () => writers(WRITERS, PER_WRITER, (w) => put(many[w]!)) },
      { name: "fedrouter 1 actor × 64 writers", perIteration: batch, fn: () => writers(WRITERS, PER_WRITER, () => put(one)) },
      { name: "lmdb-js state + journal, 64 keys", perIteration: batch, fn: () => writers(WRITERS, PER_WRITER, ownKeys) },
      { name: "lmdb-js state + journal, 1 key", perIteration: batch, fn: () => writers(WRITERS, PER_WRITER, sharedKey) },
      { name: "lmdb-js one put", perIteration: batch, fn: () => writers(WRITERS, PER_WRITER, onePut) },
    ], ROUNDS, BUDGET);
    const [soloFed, soloRaw] = await rates([
      { name: "fedrouter 1 writer", perIteration: SOLO_UPDATES, fn: () => writers(1, SOLO_UPDATES, () => put(one)) },
      { name: "lmdb-js 1 writer", perIteration: SOLO_UPDATES, fn: () => writers(1, SOLO_UPDATES, soloKey) },
    ], ROUNDS, SOLO_BUDGET);

    const twoPuts = "lmdb-js put state + journal entry, awaited .flushed";
    return [
      compared("durable, 64 actors × 1 writer", "updates/s", manyActors!, { name: `${twoPuts}, 64 loops × own key`, value: floorMany! }, "≥ 0.7"),
      compared("durable, 1 actor × 64 writers", "updates/s", oneActor!, { name: `${twoPuts}, 64 loops × one key`, value: floorOne! }, "≥ 0.7"),
      compared("durable, 64 actors × 1 writer, vs one put", "updates/s", manyActors!, { name: "lmdb-js one put per update, awaited .flushed, 64 loops", value: floorOnePut! }),
      compared("durable, 1 writer awaited in turn", "updates/s", soloFed!, { name: `${twoPuts}, 1 loop`, value: soloRaw! }),
    ];
  } finally {
    await system?.stop();
    await raw?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
