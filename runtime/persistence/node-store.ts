/**
 * The node's durable store: one LMDB environment per node, and in it, for each persistent
 * actor, its last state and an append-only journal. Never resolves a "sync" persist before
 * LMDB has flushed its transaction to disk. With actor-store.ts, the only module in
 * fedrouter that imports lmdb.
 *
 * Layout: two named databases shared by every actor, each actor its own range of keys.
 * - `state` (versioned): `id` → `[seq, state]` in msgpack (`[seq]` before any state), seq
 *   being the actor's last journal seq; the record's *version* is a write token that
 *   changes on every write (actor-store.ts chains the writes on it). `actor(id)` creates
 *   the record, so the keys of `state` are the actor stores of the environment.
 * - `journal`: `[id, seq]` (seq 1, 2, 3, …) → event. lmdb-js orders array keys element by
 *   element, and every id character sorts above the separator, so an actor's entries are
 *   one contiguous range in seq order that no other id can fall into.
 * An actor's data is listed, copied or dropped by its key range, like a database of its
 * own (SPEC §4's wording) without the cost: a transaction pays for every named database it
 * dirties, and with two per actor, 64 actors' updates dirtied 128 of them per group commit.
 * Written raw with lmdb-js (2 records per update, 64 writers, synced), that layout ran at
 * about 39 k updates/s where two shared databases run at 58 k.
 *
 * "sync" and "async" share the environment and its transactions; they differ only in what
 * the caller waits for. The environment keeps lmdb-js's default `overlappingSync` (the
 * fsync runs outside the write lock, overlapping the next transaction) with
 * `separateFlushed`, so each write promise carries a `flushed` promise: "sync" resolves on
 * it; "async" resolves at once and may lose its last writes on a crash or power loss.
 */
import { open, type DatabaseOptions, type RootDatabase } from "lmdb";
import { InvalidArgument, PersistenceError } from "../errors.ts";
import { guard, LmdbActorStore, reasonOf, type Databases } from "./actor-store.ts";
import { checkLmdbDataFile } from "./lmdb-file.ts";

export type Durability = "sync" | "async";

export interface NodeStoreOptions {
  /** Directory of the LMDB environment; created if missing. */
  path: string;
  /** Initial map size; lmdb-js grows the map on its own when it fills. */
  mapSizeBytes?: number;
}

export interface JournalEntry {
  readonly seq: number;
  readonly event: unknown;
}

export interface PersistUpdate<S> {
  /** The new state; left out, the stored state is kept. */
  state?: S;
  /** Appended to the journal with consecutive seqs, in the same transaction as `state`. */
  events?: readonly unknown[];
}

/** What an actor store has written since it was opened: how many persists shared each block. */
export interface ActorStoreStats {
  /** Persists that wrote something (barriers not counted). */
  readonly persists: number;
  /** Blocks sent to LMDB: each is applied in one transaction, so blocks ≥ the transactions they took. */
  readonly blocks: number;
  /** Seq of the last event whose block has settled: flushed to disk for "sync", committed for "async"; 0 before any. */
  readonly durableSeq: number;
}

export interface ActorStore<S> {
  readonly id: string;
  readonly durability: Durability;
  /** The last committed state, or undefined if none was ever persisted. */
  state(): S | undefined;
  /** Seq of the last committed journal event; 0 if none. */
  lastSeq(): number;
  /**
   * Writes `state` and appends `events` atomically; resolves with the seq of the last event
   * (the previous seq when there are none). "sync": once flushed to disk; "async": at once.
   * Calls may overlap: seqs follow call order and promises resolve in call order. An empty
   * update writes nothing and resolves like a write would (a barrier). After a failed
   * write every later persist rejects, until `recover()`. Throws at once, queueing
   * nothing, when a value cannot be encoded (msgpack) or the node store is closed.
   */
  persist(update: PersistUpdate<S>): Promise<{ seq: number }>;
  /** Waits for writes in flight, then re-reads the head from disk, clearing a failure. */
  recover(): Promise<void>;
  /** Committed events with `fromSeq <= seq <= toSeq`, in order. */
  journal(fromSeq?: number, toSeq?: number): Iterable<JournalEntry>;
  /**
   * Counters of the write path, for tests and benchmarks (group commit shows as persists > blocks).
   * @example
   * const { persists, blocks } = store.actor("user/accountant", { durability: "sync" }).stats();
   */
  stats(): ActorStoreStats;
}

export interface NodeStore {
  readonly path: string;
  /**
   * The store of actor `id` (segments of [A-Za-z0-9._-] joined by "/"). The same id always
   * gives the same instance; asking again with another durability is an InvalidArgument.
   * @example
   * const store = openNodeStore({ path: dir });
   * const counter = store.actor<number>("user/counter", { durability: "sync" });
   * await counter.persist({ state: 1, events: [{ add: 1 }] }); // { seq: 1 }, on disk
   */
  actor<S>(id: string, opts: { durability: Durability }): ActorStore<S>;
  /** Ids of every actor store in the environment, sorted. */
  actorIds(): string[];
  /** Waits for queued writes, then closes the environment. */
  close(): Promise<void>;
}

/**
 * msgpackr's options for both databases. `moreTypes`: typed arrays, ArrayBuffers, Sets and
 * Errors are written as the extensions that read back as themselves. Without it (msgpackr 2.1),
 * a typed array other than a Uint8Array was written as a bin of its byteLength filled element by
 * element (`Uint8Array.set`): a Float64Array came back as a Buffer of mostly garbage, silently.
 * Records written before keep reading as they did; the extensions decode with or without it.
 */
// lmdb-js reads `encoder` in openDB's options as in open's (open.js); its types list it for the root only.
const ENCODER_OPTIONS = { encoder: { moreTypes: true } } as DatabaseOptions;

/** Names without "/": an actor id never collides with them, nor with the old per-actor names. */
const STATE_DB = "state";
const JOURNAL_DB = "journal";
const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const MAX_ID_LENGTH = 256;

/**
 * Opens (or creates) the node's LMDB environment in the directory `options.path`.
 * @example
 * const store = openNodeStore({ path: "/var/lib/fedrouter/node-a" });
 * store.actorIds(); // ["user/accountant", …]
 * await store.close();
 */
export function openNodeStore(options: NodeStoreOptions): NodeStore {
  let root: RootDatabase;
  let dbs: Databases;
  checkLmdbDataFile(options.path); // lmdb-js would crash the process on a file that is not whole LMDB
  try {
    root = open({
      path: options.path,
      separateFlushed: true,
      noSubdir: false, // lmdb-js would take "node-a.db" (any dot) for a file, not a directory
      ...(options.mapSizeBytes === undefined ? {} : { mapSize: options.mapSizeBytes }),
    });
  } catch (error) {
    throw new PersistenceError(options.path, `cannot open the LMDB environment: ${reasonOf(error)}`);
  }
  try {
    refuseOldLayout(root, options.path);
    dbs = {
      state: root.openDB(STATE_DB, { useVersions: true, ...ENCODER_OPTIONS }),
      journal: root.openDB(JOURNAL_DB, { ...ENCODER_OPTIONS }),
    };
  } catch (error) {
    void root.close();
    if (error instanceof PersistenceError) throw error;
    throw new PersistenceError(options.path, `cannot open its databases: ${reasonOf(error)}`);
  }
  const actors = new Map<string, LmdbActorStore<unknown>>();
  let closed = false;
  const ensureOpen = () => {
    if (closed) throw new PersistenceError(options.path, "the node store is closed");
  };
  // Actor stores with a pending group, sent together by one microtask: one lmdb batch.
  const dirty: LmdbActorStore<unknown>[] = [];
  const sendDirty = () => {
    for (let i = 0; i < dirty.length; i++) dirty[i]!.sendPending();
    dirty.length = 0;
  };
  const schedule = (store: LmdbActorStore<unknown>) => {
    if (dirty.push(store) === 1) queueMicrotask(sendDirty);
  };
  return {
    path: options.path,
    actor<S>(id: string, opts: { durability: Durability }): ActorStore<S> {
      ensureOpen();
      checkId(id);
      if (opts.durability !== "sync" && opts.durability !== "async") {
        throw new InvalidArgument("durability", `"${String(opts.durability)}" is not "sync" or "async"`);
      }
      const known = actors.get(id);
      if (known) {
        if (known.durability !== opts.durability) {
          throw new InvalidArgument("durability", `actor store "${id}" is open as "${known.durability}", not "${opts.durability}"`);
        }
        return known as ActorStore<S>;
      }
      const name = `${options.path}#${id}`;
      const store = guard(name, "cannot create its state record", () =>
        new LmdbActorStore<unknown>(dbs, id, opts.durability, name, ensureOpen, schedule));
      actors.set(id, store);
      return store as ActorStore<S>;
    },
    actorIds(): string[] {
      ensureOpen();
      return guard(options.path, "cannot list actor stores", () => {
        // A store opened here is listed at once, though its record may still be queued.
        const ids = new Set<string>(actors.keys());
        for (const key of dbs.state.getKeys()) if (typeof key === "string") ids.add(key);
        return [...ids].sort();
      });
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      sendDirty(); // persists queued in this microtask checkpoint are still written
      try {
        await root.close();
      } catch (error) {
        throw new PersistenceError(options.path, `close failed: ${reasonOf(error)}`);
      }
    },
  };
}

/**
 * Environments written before the shared layout hold two databases per actor,
 * `<id>/state` and `<id>/journal`; this version would not see them and would restart every
 * actor from its initial state, so it refuses to open them.
 */
function refuseOldLayout(root: RootDatabase, path: string): void {
  for (const key of root.getKeys()) {
    if (typeof key === "string" && key.includes("/")) {
      throw new PersistenceError(path, `holds per-actor databases ("${key}") of an older fedrouter; this version keeps every actor in the shared "${STATE_DB}" and "${JOURNAL_DB}" databases: move the directory away or start with an empty one`);
    }
  }
}

function checkId(id: string): void {
  if (typeof id !== "string" || id.length === 0) throw new InvalidArgument("id", "actor store id is empty");
  if (id.length > MAX_ID_LENGTH) throw new InvalidArgument("id", `actor store id is longer than ${MAX_ID_LENGTH} characters`);
  if (!id.split("/").every((segment) => SEGMENT.test(segment))) {
    throw new InvalidArgument("id", `actor store id "${id}" must be segments of [A-Za-z0-9._-] joined by "/" (like "user/accountant")`);
  }
}
