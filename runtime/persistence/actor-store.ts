/**
 * One actor's view of the node store (internal: `NodeStore.actor` hands these out). Its
 * write path groups the persists of a burst into one conditional LMDB block. Never lets a
 * write land after a write of the same actor that failed: the journal on disk stays a
 * gap-free prefix whatever fails.
 *
 * Writes. `persist` encodes its values at once (an unencodable one throws, queueing
 * nothing), assigns the seqs, and adds the update to the actor's pending group; the first
 * persist of a group asks the node store for one microtask, which sends every pending group
 * of the node. A group goes to LMDB as one block, `ifVersion(id, token of the block before)`,
 * holding its journal entries and then the actor's state record as of its last persist,
 * with a fresh random token as the record's version. So a burst of persists to one actor
 * costs one condition, one state put and one lmdb promise. A block applies whole or not at
 * all, in one transaction; lmdb-js batches every write queued in one event turn into one
 * transaction and one fsync (group commit), committed in call order.
 *
 * Why a failure cannot leave a gap. Block n expects the token written by block n-1, and
 * only block n-1 writes that token (53 random bits), so block n applies only if block n-1
 * did, and so on back. Whatever stops a block stops every later block of the actor:
 * - refused (another handle wrote the record): later blocks expect a token never written;
 * - its transaction fails: lmdb-js aborts the whole transaction and rejects the promise of
 *   every write in it (write.js, `rejectCommit`), then goes on with the next transaction,
 *   where the later blocks find the old token and are refused;
 * - it cannot even be queued (a throw from lmdb-js): no later block is sent (`unsent`), as
 *   it would find the token before the lost block and commit past a hole.
 * So the journal on disk is a prefix of what was persisted and the state record names its
 * last seq. After a failure every persist rejects until `recover()` re-reads the record. A
 * crash loses at most a suffix of transactions: LMDB restores the last synced commit.
 */
import { asBinary, getLastVersion, type Database } from "lmdb";
import { InvalidArgument, PersistenceError } from "../errors.ts";
import type { ActorStore, ActorStoreStats, Durability, JournalEntry, PersistUpdate } from "./node-store.ts";

/** The two databases every actor shares (layout: node-store.ts). */
export interface Databases {
  readonly state: Database;
  readonly journal: Database;
}

type Flushable = Promise<boolean> & { flushed?: PromiseLike<unknown> };
/** lmdb-js's async put takes an options object (write.js) that its typings leave out. */
type PutWithOptions = (key: string, value: unknown, options: { noOverwrite: boolean; version: number }) => Promise<boolean>;
/** lmdb-js's own msgpackr instance; its plain `encode` returns a view it never writes over. */
type MsgpackEncoder = { encode(value: unknown): Uint8Array };
type Resolve = (value: { seq: number }) => void;
type Reject = (error: unknown) => void;

const NO_EVENTS: readonly unknown[] = [];

/**
 * The persists of one actor queued in one microtask checkpoint, sent as one block. Only the
 * pending group is ever open, so when it is sent the store's `assignedSeq` and
 * `assignedState` are those of its last persist.
 */
interface Group {
  /** Whether a persist wrote something; a group of barriers only sends nothing. */
  hasWrites: boolean;
  readonly events: Uint8Array[];
  /** Seq of `events[0]`. */
  readonly firstSeq: number;
  /** Callers waiting for a "sync" persist (or a barrier) of the group: seq, resolve, reject. */
  readonly waiting: (number | Resolve | Reject)[];
}

export class LmdbActorStore<S> implements ActorStore<S> {
  /** Seq of the last event queued or handed to LMDB (committed or in flight). */
  private assignedSeq = 0;
  /** Encoded state as of `assignedSeq`: what a persist without a state writes again. */
  private assignedState: Uint8Array | undefined;
  /** Token the next block expects on the state record. */
  private expectedToken = 0;
  private pending: Group | undefined;
  /** Settles (never rejects) once every group sent so far has settled its callers, in order. */
  private tail: Promise<void> = Promise.resolve();
  /** The first failure, as settled in group order; every later persist rejects with it. */
  private failure: PersistenceError | undefined;
  /** Set when a block could not be queued: no later block may be sent. */
  private unsent: PersistenceError | undefined;
  private counters = { persists: 0, blocks: 0, durableSeq: 0 };

  constructor(
    private readonly dbs: Databases,
    readonly id: string,
    readonly durability: Durability,
    private readonly name: string,
    private readonly ensureOpen: () => void,
    private readonly schedule: (store: LmdbActorStore<unknown>) => void,
  ) {
    // The record exists from the first write on: the keys of `state` list every actor store,
    // and every block can be conditional. A new store's record is queued, not written in
    // place: a synced put here would block the event loop for a whole commit and fsync (the
    // Router's answer store opens a store per slot, so its answers each paid ~1.8 ms on the
    // node's thread). lmdb-js commits writes in call order, so the first block, conditional
    // on this record's token, is applied after it, in the same group commit or a later one.
    // noOverwrite: another handle may have just created it; then this handle's first block
    // is refused (the token is not the one on disk) and recover() reads what is there.
    if (dbs.state.getBinary(id) === undefined) {
      const token = newToken();
      let created: Promise<boolean>;
      try {
        created = (dbs.state.put as PutWithOptions).call(dbs.state, id, asBinary(stateRecord(0, undefined)), { noOverwrite: true, version: token });
      } catch (error) {
        throw new PersistenceError(name, `cannot queue its state record: ${reasonOf(error)}`);
      }
      this.expectedToken = token;
      // In the tail like a block: recover() and close() wait for it; a failed creation fails
      // the blocks after it in the same way a failed block does.
      this.tail = created.then(noFailure, (error: unknown) => {
        this.failure ??= new PersistenceError(name, `cannot create its state record: ${reasonOf(error)}`);
      });
    } else {
      this.loadHead();
    }
  }

  state(): S | undefined {
    this.ensureOpen();
    return guard(this.name, "cannot read the state", () => (this.dbs.state.get(this.id) as [number, S?] | undefined)?.[1]);
  }

  lastSeq(): number {
    this.ensureOpen();
    return guard(this.name, "cannot read the head", () => {
      const record = this.dbs.state.getBinary(this.id);
      return record === undefined ? 0 : parseStateRecord(record, this.name).seq;
    });
  }

  persist(update: PersistUpdate<S>): Promise<{ seq: number }> {
    this.ensureOpen();
    if (this.failure) return Promise.reject(this.failure);
    const events = update.events ?? NO_EVENTS;
    const hasState = update.state !== undefined;
    if (!hasState && events.length === 0) {
      const seq = this.assignedSeq;
      return this.durability === "async" ? Promise.resolve({ seq }) : this.wait(this.groupFor(), seq);
    }
    // Encode everything before queueing anything: a value that fails to encode throws here
    // and leaves the pending group as it was.
    const stateBytes = hasState ? this.encode(this.dbs.state, update.state) : undefined;
    const eventBytes: Uint8Array[] = [];
    for (const event of events) eventBytes.push(this.encode(this.dbs.journal, event));
    const group = this.groupFor();
    for (const bytes of eventBytes) group.events.push(bytes);
    group.hasWrites = true;
    this.counters.persists++;
    this.assignedSeq += eventBytes.length;
    if (stateBytes) this.assignedState = stateBytes;
    const seq = this.assignedSeq;
    return this.durability === "async" ? Promise.resolve({ seq }) : this.wait(group, seq);
  }

  async recover(): Promise<void> {
    // Until nothing is queued or in flight: the record read below must be the last written.
    for (;;) {
      this.sendPending();
      const tail = this.tail;
      await tail;
      if (tail === this.tail && !this.pending) break;
    }
    this.ensureOpen();
    this.failure = undefined;
    this.unsent = undefined;
    guard(this.name, "cannot read the head", () => this.loadHead());
  }

  journal(fromSeq = 1, toSeq = Number.MAX_SAFE_INTEGER - 1): Iterable<JournalEntry> {
    for (const [field, value] of [["fromSeq", fromSeq], ["toSeq", toSeq]] as const) {
      if (!Number.isSafeInteger(value) || value < 1) throw new InvalidArgument(field, `${value} is not a positive integer`);
    }
    this.ensureOpen();
    const range = guard(this.name, "cannot read the journal", () =>
      this.dbs.journal.getRange({ start: [this.id, fromSeq], end: [this.id, toSeq + 1] })[Symbol.iterator]());
    return this.entries(range);
  }

  stats(): ActorStoreStats {
    return { ...this.counters };
  }

  /** Sends the pending group to LMDB now: the node store's microtask does, and so do recover() and close(). */
  sendPending(): void {
    const group = this.pending;
    if (!group) return;
    this.pending = undefined;
    const refusal = this.failure ?? this.unsent;
    const written = refusal
      ? Promise.reject(refusal) // not sent: it could not apply, and after `unsent` must not
      : group.hasWrites
        ? this.sendBlock(group)
        : Promise.resolve(); // barriers only: nothing to write, still settled behind earlier groups
    // Handled at once: a refusal may arrive before the groups ahead settle, and an unhandled
    // rejection would end the process. Resolves to the failure, or undefined.
    const outcome = written.then(noFailure, (error: unknown) =>
      error instanceof PersistenceError ? error : new PersistenceError(this.name, `commit failed: ${reasonOf(error)}`));
    // Settled strictly in group order, so callers hear back in call order and a failure is
    // seen by every group after it. `this.tail` never rejects.
    this.tail = this.tail.then(() => outcome).then((failure) => {
      if (failure) this.failure ??= failure;
      else if (group.hasWrites) this.counters.durableSeq = group.firstSeq + group.events.length - 1;
      this.settle(group, this.failure);
    });
  }

  /**
   * Journal entries first, the state record last: puts of ready-made bytes do not throw in
   * practice, but if one ever did, lmdb-js would still commit the puts before it. Then at
   * worst entries past the head remain, which the next write overwrites; never a head past
   * the journal.
   */
  private sendBlock(group: Group): Promise<void> {
    const { state, journal } = this.dbs;
    const lastSeq = group.firstSeq + group.events.length - 1;
    const token = newToken();
    const record = asBinary(stateRecord(lastSeq, this.assignedState));
    let write: Flushable;
    try {
      write = state.ifVersion(this.id, this.expectedToken, () => {
        for (let i = 0; i < group.events.length; i++) void journal.put([this.id, group.firstSeq + i], asBinary(group.events[i]!));
        void state.put(this.id, record, token);
      }) as Flushable;
    } catch (error) {
      this.unsent = new PersistenceError(this.name, `cannot queue the write of seq ${group.firstSeq}..${lastSeq}: ${reasonOf(error)}`);
      return Promise.reject(this.unsent);
    }
    this.expectedToken = token;
    this.counters.blocks++;
    const durable = this.durability === "sync";
    return write.then((applied) => {
      if (!applied) {
        throw new PersistenceError(this.name, `write of seq ${group.firstSeq}..${lastSeq} was refused: an earlier write failed or another handle wrote this actor store`);
      }
      return durable ? write.flushed : undefined;
    }) as Promise<void>;
  }

  private settle(group: Group, failure: PersistenceError | undefined): void {
    const waiting = group.waiting;
    for (let i = 0; i < waiting.length; i += 3) {
      if (failure) (waiting[i + 2] as Reject)(failure);
      else (waiting[i + 1] as Resolve)({ seq: waiting[i] as number });
    }
  }

  private groupFor(): Group {
    if (this.pending) return this.pending;
    this.pending = { hasWrites: false, events: [], firstSeq: this.assignedSeq + 1, waiting: [] };
    this.schedule(this as LmdbActorStore<unknown>);
    return this.pending;
  }

  private wait(group: Group, seq: number): Promise<{ seq: number }> {
    const promise = new Promise<{ seq: number }>(capture);
    group.waiting.push(seq, capturedResolve, capturedReject);
    return promise;
  }

  private *entries(range: Iterator<{ key: unknown; value: unknown }>): Iterable<JournalEntry> {
    for (;;) {
      const next = guard(this.name, "cannot read the journal", () => range.next());
      if (next.done) return;
      yield { seq: (next.value.key as [string, number])[1], event: next.value.value };
    }
  }

  private loadHead(): void {
    const bytes = this.dbs.state.getBinary(this.id);
    if (bytes === undefined) throw new PersistenceError(this.name, "its state record is missing");
    this.expectedToken = getLastVersion();
    const { seq, stateBytes } = parseStateRecord(bytes, this.name);
    this.assignedSeq = seq;
    this.assignedState = stateBytes;
  }

  private encode(db: Database, value: unknown): Uint8Array {
    try {
      return (db as unknown as { encoder: MsgpackEncoder }).encoder.encode(value);
    } catch (error) {
      throw new PersistenceError(this.name, `value cannot be encoded as msgpack: ${reasonOf(error)}`);
    }
  }
}

function noFailure(): undefined {
  return undefined;
}

let capturedResolve: Resolve;
let capturedReject: Reject;
/** A promise executor that closes over nothing: `new Promise(capture)` allocates no closure. */
function capture(resolve: Resolve, reject: Reject): void {
  capturedResolve = resolve;
  capturedReject = reject;
}

/**
 * The state record, `[seq]` or `[seq, state]` in msgpack, built around the state's bytes as
 * encoded by `persist` (so a persist without a state writes the last one again unchanged):
 * a fixarray header, seq as a float64 (exact for every safe integer), then the state.
 */
const RECORD_HEADER_BYTES = 10;
function stateRecord(seq: number, stateBytes: Uint8Array | undefined): Uint8Array {
  const record = Buffer.allocUnsafe(RECORD_HEADER_BYTES + (stateBytes?.length ?? 0));
  record[0] = stateBytes ? 0x92 : 0x91;
  record[1] = 0xcb;
  record.writeDoubleBE(seq, 2);
  if (stateBytes) record.set(stateBytes, RECORD_HEADER_BYTES);
  return record;
}

function parseStateRecord(bytes: Uint8Array, store: string): { seq: number; stateBytes: Uint8Array | undefined } {
  if (bytes.length < RECORD_HEADER_BYTES || (bytes[0] !== 0x91 && bytes[0] !== 0x92) || bytes[1] !== 0xcb) {
    throw new PersistenceError(store, "its state record is not a [seq, state] record");
  }
  const seq = new DataView(bytes.buffer, bytes.byteOffset, bytes.length).getFloat64(2);
  return { seq, stateBytes: bytes[0] === 0x92 ? bytes.slice(RECORD_HEADER_BYTES) : undefined };
}

/**
 * A random 53-bit write token. Random, not a counter, so that no other handle on this
 * environment (another thread, a store reopened after a failure) can issue the token a
 * stale write of ours is waiting for, and let it through out of order.
 */
function newToken(): number {
  return Math.floor(Math.random() * 2 ** 53);
}

export function guard<T>(store: string, what: string, run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (error instanceof PersistenceError || error instanceof InvalidArgument) throw error;
    throw new PersistenceError(store, `${what}: ${reasonOf(error)}`);
  }
}

export function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
