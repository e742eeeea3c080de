/**
 * Durable reserve + commit pairs per second through the Accountant, 64 concurrent clients,
 * against raw synced lmdb-js transactions at the same concurrency, in the same run.
 *
 * fedrouter: 64 loops in the main thread, each `await reserve` then `await commit` through an
 * AccountantClient (asks to the Accountant actor, main thread, LMDB "sync"). Each of the two
 * operations validates the message, decides with the ledger (RDP curves of the user's and the
 * department's scope), appends one SHA-256-chained audit entry plus the anchor in one synced
 * transaction, and answers after fsync. 64 users in one department, budgets large enough that
 * nothing is refused; the event is 16 tokens of GNMax (σ = 40), the commit 8 of them.
 *
 * Group commit: the Accountant applies each decision in memory at once and its journal store
 * sends every entry appended in one turn as one conditional block, in one synced transaction;
 * a turn is at most 16 messages (the actor's `throughput`), so the next block is decided while
 * the last one syncs. The second row is entries per block, read from the store's stats() over
 * the measured rounds.
 *
 * Ceiling: the same 64 loops of two asks each to an actor that only persists an entry of the
 * same size and replies (bare-durable-actor.ts): what the runtime's durable ask path allows
 * before the Accountant does anything of its own, with the Accountant's turn of 16 messages; and
 * the same actor with the runtime's default turn, where all 64 clients share one transaction.
 *
 * Below both, the node store alone: the same 64 loops of two synced persists each (the same
 * entry and state), straight to an actor store, with no actor and no ask — what the runtime's
 * persistence gives before any actor, the Accountant or a bare one, is reached. And below that,
 * lmdb-js alone writing the same data per operation (a 380 B journal record and a state record,
 * unconditional puts, no store code): what the data itself costs against the floor's tiny puts.
 *
 * Main-thread time: the busy time of the main thread's event loop per pair, over the measured
 * calls of the Accountant's row and of the bare actor's with the Accountant's turn. The main thread runs everything but LMDB's own threads
 * (clients, asks, the actor, lmdb-js's JS side), so pairs/s ≤ 1 / (that time): compared with
 * 1 / (0.3 × raw puts/s), it says whether 0.3 is within reach at today's CPU cost per pair.
 *
 * Floor: 64 loops of one raw lmdb-js put each, awaited until `.flushed`, on an environment
 * opened like the node store's (overlapping sync, separateFlushed): lmdb-js group-commits them,
 * as the "raw synced lmdb transactions/s at the same concurrency". The ratio is pairs/s
 * over raw puts/s, as the issue defines it (a pair is two durable operations, so 0.5 would mean
 * each operation costs what a bare put costs).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { asBinary, open, type RootDatabase } from "lmdb";
import { ActorSystem, actor, supervisor, type ActorRef } from "../../runtime/index.ts";
import type { NodeStore } from "../../runtime/persistence/index.ts";
import { AccountantClient, accountant, gnmax, selfComposed } from "../../actors/accountant/index.ts";
import { compared, type BenchResult } from "../report.ts";
import { ENTRY, bareDurable, bareDurableDefaultTurn, type BareDurableMsg } from "./bare-durable-actor.ts";
import { concurrentLoops, rates, type Budget } from "../runtime/measure.ts";

/** The concurrency; BENCH_CLIENTS=256 shows where the CPU, not fsync latency, is the limit. */
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 64);
/** Pairs per client per iteration: 64 × 20 = 1,280 pairs (2,560 durable operations). */
const PER_CLIENT = 20;
const ROUNDS = 3;
const BUDGET: Budget = { time: 1_000, iterations: 3, warmupTime: 1, warmupIterations: 1 };
const RESERVED = selfComposed(gnmax(40), 16);
const ACTUAL = selfComposed(gnmax(40), 8);

type Flushable = Promise<boolean> & { flushed?: PromiseLike<unknown> };

const loops = concurrentLoops;

/**
 * `run`, timed on the main thread: its event loop's busy time (eventLoopUtilization's active ms)
 * over every call, warm-ups included (the same work per item), per item.
 */
function mainThreadTime(run: () => Promise<void>, perCall: number): { run: () => Promise<void>; microsPerItem: () => number } {
  let busyMs = 0;
  let items = 0;
  return {
    async run() {
      const before = performance.eventLoopUtilization();
      await run();
      busyMs += performance.eventLoopUtilization(before).active;
      items += perCall;
    },
    microsPerItem: () => (busyMs * 1_000) / Math.max(1, items),
  };
}

export async function durablePairs(): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), "fedrouter-bench-accountant-"));
  let system: ActorSystem | undefined;
  let raw: RootDatabase | undefined;
  try {
    system = await ActorSystem.start({ node: "bench", logLevel: "silent", persistence: { path: join(dir, "node") } });
    const spec = actor("accountant", accountant, { ledger: { defaultUserEpsilon: 1e9, departments: { research: { epsilon: 1e12 } } } });
    await system.startChild(supervisor("privacy", [spec]));
    const client = new AccountantClient(system.refOf(spec, "privacy"), 60_000);
    let seq = 0;
    const pair = async (c: number) => {
      const r = await client.reserve({ key: `k${++seq}`, user: `user-${c}`, department: "research", event: RESERVED });
      if (r.type !== "reserved") throw new Error(`bench: reserve was ${JSON.stringify(r)}`);
      const done = await client.commit(r.reservation, ACTUAL);
      if (done.type !== "committed") throw new Error(`bench: commit was ${JSON.stringify(done)}`);
    };
    await loops(CLIENTS, 2, pair); // warm: curves and costs cached, JIT

    const bareSpec = actor("bare-durable", bareDurable, undefined);
    const defaultTurnSpec = actor("bare-durable-default-turn", bareDurableDefaultTurn, undefined);
    await system.startChild(supervisor("ceiling", [bareSpec, defaultTurnSpec]));
    const pairOf = (ref: ActorRef<BareDurableMsg>) => {
      const op = () => ref.ask<{ type: string }>((replyTo): BareDurableMsg => ({ type: "op", replyTo }), { timeoutMs: 60_000 });
      return async () => {
        await op();
        await op();
      };
    };
    const barePair = pairOf(system.refOf(bareSpec, "ceiling"));
    const defaultTurnPair = pairOf(system.refOf(defaultTurnSpec, "ceiling"));
    await loops(CLIENTS, 2, barePair);
    await loops(CLIENTS, 2, defaultTurnPair);

    const direct = (system.store as NodeStore).actor<{ n: number }>("bench/store-direct", { durability: "sync" });
    await direct.recover();
    let n = 0;
    const persistOnce = () => direct.persist({ state: { n: ++n }, events: [ENTRY] });
    const directPair = async () => {
      await persistOnce();
      await persistOnce();
    };
    await loops(CLIENTS, 2, directPair);

    raw = open({ path: join(dir, "raw"), separateFlushed: true, noSubdir: false });
    const db = raw.openDB("txn", {});
    let key = 0;
    const onePut = () => {
      const written = db.put(++key, { user: "user-1", n: 12345 }) as Flushable;
      return Promise.resolve(written.flushed ?? written);
    };
    const journalDb = raw.openDB("journal", {});
    const stateDb = raw.openDB("state", { useVersions: true });
    const STATE = new Uint8Array(20).fill(0x2b);
    let record = 0;
    const sameData = () => {
      const written = journalDb.put(++record, asBinary(ENTRY)) as Flushable;
      void stateDb.put("state", asBinary(STATE), 1);
      return Promise.resolve(written.flushed ?? written);
    };
    const sameDataPair = async () => {
      await sameData();
      await sameData();
    };
    await loops(CLIENTS, 2, sameDataPair);
    const batch = CLIENTS * PER_CLIENT;
    const accountantMain = mainThreadTime(() => loops(CLIENTS, PER_CLIENT, pair), batch);
    const bareMain = mainThreadTime(() => loops(CLIENTS, PER_CLIENT, barePair), batch);
    const journal = (system.store as NodeStore).actor("user/privacy/accountant", { durability: "sync" });
    const before = journal.stats();
    const [pairs, puts, barePairs, defaultTurnPairs, directPairs, sameDataPairs] = await rates([
      { name: "accountant reserve+commit pairs", perIteration: batch, fn: accountantMain.run },
      { name: "lmdb-js one put", perIteration: batch, fn: () => loops(CLIENTS, PER_CLIENT, onePut) },
      { name: "bare durable ask pairs", perIteration: batch, fn: bareMain.run },
      { name: "bare durable ask pairs, default turn", perIteration: batch, fn: () => loops(CLIENTS, PER_CLIENT, defaultTurnPair) },
      { name: "store persist pairs, no actor", perIteration: batch, fn: () => loops(CLIENTS, PER_CLIENT, directPair) },
      { name: "lmdb-js same-data pairs", perIteration: batch, fn: () => loops(CLIENTS, PER_CLIENT, sameDataPair) },
    ], ROUNDS, BUDGET);
    const after = journal.stats();
    // What one pair may cost the main thread, at most, for pairs/s to reach 0.3 of raw puts/s.
    const budget = { name: `main-thread time per pair that 0.3 of raw allows: 1 / (0.3 × raw puts/s)`, value: 1e6 / (0.3 * puts!) };
    return [
      compared(`durable reserve+commit pairs, ${CLIENTS} clients (group commit)`, "/s", pairs!, { name: `raw synced txns: lmdb-js one put each, awaited .flushed, ${CLIENTS} loops`, value: puts! }, "≥ 0.3"),
      // The runtime's ceiling for the row above: the same pairs, the Accountant's own work left out.
      compared(`ceiling: 2 durable asks to a bare actor (persist 380 B, reply), ${CLIENTS} clients`, "/s", barePairs!, { name: `raw synced txns, as above`, value: puts! }),
      // The same actor with the runtime's default turn: the durable ask path for an actor with little work per message.
      compared(`the same bare actor with the runtime's default turn (1,024 messages), ${CLIENTS} clients`, "/s", defaultTurnPairs!, { name: `raw synced txns, as above`, value: puts! }),
      // Below the actor: the node store's own durable path, 2 persists a pair straight to an actor store (no actor, no ask).
      compared(`ceiling: 2 synced persists straight to an actor store (380 B; no actor, no ask), ${CLIENTS} clients`, "/s", directPairs!, { name: `raw synced txns, as above`, value: puts! }),
      // Below the store: lmdb-js alone, the same two records per operation as the store writes, two operations a pair.
      compared(`ceiling: lmdb-js alone, 2 × (a 380 B record + a state record) a pair, synced, ${CLIENTS} clients`, "/s", sameDataPairs!, { name: `raw synced txns, as above`, value: puts! }),
      // Where the time goes: the main thread runs the clients, the asks, the actor and lmdb-js's JS side, so its busy
      // time per pair bounds pairs/s from above (one thread). Above the budget (ratio > 1), 0.3 is out of reach at that cost.
      compared(`main-thread time per pair, Accountant (clients, asks, Accountant, lmdb-js), ${CLIENTS} clients`, " µs", accountantMain.microsPerItem(), budget, "≤ 1"),
      compared(`main-thread time per pair, bare actor (clients, asks, persist, lmdb-js), ${CLIENTS} clients`, " µs", bareMain.microsPerItem(), budget),
      // Shows the group commit: how many durable operations shared each synced block of the journal.
      compared(`journal entries per synced block, ${CLIENTS} clients`, " entries", (after.persists - before.persists) / Math.max(1, after.blocks - before.blocks), { name: "one synced transaction per entry", value: 1 }),
    ];
  } finally {
    await system?.stop();
    await raw?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
