/**
 * The node's durable store: one LMDB environment per node, and in it, for each persistent
 * actor, its last state and an append-only journal. Never resolves a "sync" persist before
 * LMDB has flushed its transaction to disk. The only module in fedrouter that imports lmdb.
 *
 * Layout. Each actor `id` owns two named databases, `<id>/state` and `<id>/journal`
 * (SPEC §4), so an actor's data can be listed, backed up or dropped on its own and the
 * environment's root lists every actor (`actorIds`). The price is LMDB's `maxDbs`, fixed
 * when the environment opens: `maxActors` below reserves two per actor.
 *
 * - `<id>/state` (versioned): `"state"` → the last state; `"head"` → the last journal seq,
 *   whose *version* is a write token that changes on every persist.
 * - `<id>/journal`: seq (1, 2, 3, …) → event.
 *
 * Each persist is one conditional block, `ifVersion("head", previous token)`, holding the
 * state, the events and the new head with a fresh random token. LMDB applies it whole or
 * not at all, in call order, batched with every write queued in the same event turn into
 * one transaction and one fsync (lmdb-js group commit). The condition chains the writes of
 * one actor: if one fails, every later one in flight fails its condition too, so the
 * journal on disk is always a gap-free prefix. It also stops a second handle on the same
 * actor (another thread, a stale copy) from interleaving writes unnoticed.
 *
 * "sync" and "async" share the environment and its transactions; they differ only in what
 * the caller waits for. The environment keeps lmdb-js's default `overlappingSync` (the
 * fsync runs outside the write lock, overlapping the next transaction) with
 * `separateFlushed`, so each write promise carries a `flushed` promise: "sync" resolves on
 * it; "async" resolves at once and may lose its last writes on a crash or power loss.
 */
import { asBinary, open, type Database, type RootDatabase } from "lmdb";
import { InvalidArgument, PersistenceError } from "../errors.ts";

export type Durability = "sync" | "async";

export interface NodeStoreOptions {
  /** Directory of the LMDB environment; created if missing. */
  path: string;
  /** Initial map size; lmdb-js grows the map on its own when it fills. */
  mapSizeBytes?: number;
  /** Most actor stores this environment will ever hold (two LMDB databases each). */
  maxActors?: number;
}

/** 500 actors = 1000 LMDB databases; LMDB scans its table of open databases linearly. */
export const DEFAULT_NODE_STORE = { maxActors: 500 } as const;

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

const HEAD = "head";
const STATE = "state";
const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const MAX_ID_LENGTH = 256;

type Flushable = Promise<boolean> & { flushed?: PromiseLike<unknown> };
/** lmdb-js's own msgpackr instance; its plain `encode` returns a buffer it never reuses. */
type MsgpackEncoder = { encode(value: unknown): Uint8Array };

/**
 * Opens (or creates) the node's LMDB environment in the directory `options.path`.
 * @example
 * const store = openNodeStore({ path: "/var/lib/fedrouter/node-a" });
 * store.actorIds(); // ["user/accountant", …]
 * await store.close();
 */
export function openNodeStore(options: NodeStoreOptions): NodeStore {
  const maxActors = options.maxActors ?? DEFAULT_NODE_STORE.maxActors;
  if (!Number.isInteger(maxActors) || maxActors < 1) {
    throw new InvalidArgument("maxActors", `${maxActors} is not a positive integer`);
  }
  let root: RootDatabase;
  try {
    root = open({
      path: options.path,
      maxDbs: 2 * maxActors,
      separateFlushed: true,
      noSubdir: false, // lmdb-js would take "node-a.db" (any dot) for a file, not a directory
      ...(options.mapSizeBytes === undefined ? {} : { mapSize: options.mapSizeBytes }),
    });
  } catch (error) {
    throw new PersistenceError(options.path, `cannot open the LMDB environment: ${reasonOf(error)}`);
  }
  const actors = new Map<string, LmdbActorStore<unknown>>();
  let closed = false;
  const ensureOpen = () => {
    if (closed) throw new PersistenceError(options.path, "the node store is closed");
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
      const store = guard(name, "cannot open its databases (raise maxActors if the environment is full)", () =>
        new LmdbActorStore<unknown>(root, id, opts.durability, name, ensureOpen));
      actors.set(id, store);
      return store as ActorStore<S>;
    },
    actorIds(): string[] {
      ensureOpen();
      return guard(options.path, "cannot list actor stores", () => {
        const ids: string[] = [];
        for (const key of root.getKeys()) {
          if (typeof key === "string" && key.endsWith(`/${STATE}`)) ids.push(key.slice(0, -STATE.length - 1));
        }
        return ids.sort();
      });
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      try {
        await root.close();
      } catch (error) {
        throw new PersistenceError(options.path, `close failed: ${reasonOf(error)}`);
      }
    },
  };
}

class LmdbActorStore<S> implements ActorStore<S> {
  private readonly stateDb: Database;
  private readonly journalDb: Database;
  /** Seq of the last event handed to LMDB (committed or in flight). */
  private assignedSeq = 0;
  /** Token the next write expects on `head`; null while no head exists. */
  private expectedToken: number | null = null;
  /** Settles after every persist issued so far; rejects if one of them failed. */
  private tail: Promise<void> = Promise.resolve();
  private failure: PersistenceError | undefined;

  constructor(
    root: RootDatabase,
    readonly id: string,
    readonly durability: Durability,
    private readonly name: string,
    private readonly ensureOpen: () => void,
  ) {
    this.stateDb = root.openDB(`${id}/${STATE}`, { useVersions: true });
    this.journalDb = root.openDB(`${id}/journal`, {});
    this.loadHead();
  }

  state(): S | undefined {
    this.ensureOpen();
    return guard(this.name, "cannot read the state", () => this.stateDb.get(STATE) as S | undefined);
  }

  lastSeq(): number {
    this.ensureOpen();
    return guard(this.name, "cannot read the head", () => (this.stateDb.get(HEAD) as number | undefined) ?? 0);
  }

  persist(update: PersistUpdate<S>): Promise<{ seq: number }> {
    this.ensureOpen();
    if (this.failure) return Promise.reject(this.failure);
    const events = update.events ?? [];
    if (update.state === undefined && events.length === 0) {
      const seq = this.assignedSeq;
      return this.durability === "sync" ? this.tail.then(() => ({ seq })) : Promise.resolve({ seq });
    }
    // Encode everything before the first put: a value that fails to encode must throw here,
    // not halfway through the block, where the puts before it would commit without it.
    const stateBytes = update.state === undefined ? undefined : this.encode(update.state);
    const eventBytes = events.map((event) => this.encode(event));
    const firstSeq = this.assignedSeq + 1;
    const lastSeq = this.assignedSeq + events.length;
    const token = newToken();
    const write = guard(this.name, "cannot queue the write", (): Flushable => {
      const block = () => {
        if (stateBytes) void this.stateDb.put(STATE, asBinary(stateBytes));
        eventBytes.forEach((bytes, i) => void this.journalDb.put(firstSeq + i, asBinary(bytes)));
        void this.stateDb.put(HEAD, lastSeq, token);
      };
      return this.expectedToken === null
        ? this.stateDb.ifNoExists(HEAD, block)
        : this.stateDb.ifVersion(HEAD, this.expectedToken, block);
    });
    this.assignedSeq = lastSeq;
    this.expectedToken = token;
    const durable = write.then(async (applied) => {
      if (!applied) throw new PersistenceError(this.name, `write of seq ${firstSeq}..${lastSeq} was refused: an earlier write failed`);
      if (this.durability === "sync") await write.flushed;
    });
    const own = durable.catch((error: unknown) => {
      this.failure ??= error instanceof PersistenceError ? error : new PersistenceError(this.name, `commit failed: ${reasonOf(error)}`);
      throw this.failure;
    });
    // Chained so that promises resolve in call order and a failure fails everything after it.
    const previous = this.tail;
    this.tail = previous.then(() => own);
    for (const handled of [this.tail, own]) handled.catch(() => undefined); // failures surface via the returned promise
    return this.durability === "sync" ? this.tail.then(() => ({ seq: lastSeq })) : Promise.resolve({ seq: lastSeq });
  }

  async recover(): Promise<void> {
    await this.tail.catch(() => undefined);
    this.ensureOpen();
    this.failure = undefined;
    this.tail = Promise.resolve();
    guard(this.name, "cannot read the head", () => this.loadHead());
  }

  journal(fromSeq = 1, toSeq = Number.MAX_SAFE_INTEGER - 1): Iterable<JournalEntry> {
    for (const [field, value] of [["fromSeq", fromSeq], ["toSeq", toSeq]] as const) {
      if (!Number.isSafeInteger(value) || value < 1) throw new InvalidArgument(field, `${value} is not a positive integer`);
    }
    this.ensureOpen();
    const range = guard(this.name, "cannot read the journal", () =>
      this.journalDb.getRange({ start: fromSeq, end: toSeq + 1 })[Symbol.iterator]());
    return this.entries(range);
  }

  private *entries(range: Iterator<{ key: unknown; value: unknown }>): Iterable<JournalEntry> {
    for (;;) {
      const next = guard(this.name, "cannot read the journal", () => range.next());
      if (next.done) return;
      yield { seq: next.value.key as number, event: next.value.value };
    }
  }

  private loadHead(): void {
    const head = this.stateDb.getEntry(HEAD);
    this.assignedSeq = (head?.value as number | undefined) ?? 0;
    this.expectedToken = head ? (head.version ?? 0) : null;
  }

  private encode(value: unknown): Uint8Array {
    try {
      return (this.stateDb as unknown as { encoder: MsgpackEncoder }).encoder.encode(value);
    } catch (error) {
      throw new PersistenceError(this.name, `value cannot be encoded as msgpack: ${reasonOf(error)}`);
    }
  }
}

/**
 * A random 53-bit write token. Random, not a counter, so that no other handle on this
 * environment (another thread, a store reopened after a failure) can issue the token a
 * stale write of ours is waiting for, and let it through out of order.
 */
function newToken(): number {
  return Math.floor(Math.random() * 2 ** 53);
}

function checkId(id: string): void {
  if (typeof id !== "string" || id.length === 0) throw new InvalidArgument("id", "actor store id is empty");
  if (id.length > MAX_ID_LENGTH) throw new InvalidArgument("id", `actor store id is longer than ${MAX_ID_LENGTH} characters`);
  if (!id.split("/").every((segment) => SEGMENT.test(segment))) {
    throw new InvalidArgument("id", `actor store id "${id}" must be segments of [A-Za-z0-9._-] joined by "/" (like "user/accountant")`);
  }
}

function guard<T>(store: string, what: string, run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (error instanceof PersistenceError || error instanceof InvalidArgument) throw error;
    throw new PersistenceError(store, `${what}: ${reasonOf(error)}`);
  }
}

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
