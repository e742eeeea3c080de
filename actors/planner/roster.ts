/**
 * The executors a Planner knows, as plain data, and the plans cut from them: join, leave and
 * breaker changes in, a new roster out; which executors are eligible for a request (breaker
 * closed, region allowed); the plan over them. No I/O, no clock, no actor — the behaviour only
 * applies these and publishes what they return. Never plans over an executor whose breaker is
 * open or half-open, nor over one not allowed for the request's region.
 */
import { NoExecutors, TooManyExecutors, UnknownExecutor } from "./errors.ts";
import { checkBlocks, checkCalibration, MAX_UNORDERED_EXECUTORS, optimalPartition } from "./partition.ts";
import type { BreakerState, ExecutorInfo, ExecutorStatus, Plan } from "./protocol.ts";

export interface RosterEntry {
  readonly info: ExecutorInfo;
  readonly breaker: BreakerState;
  /** Join order: the tie-break of ExecutorInfo.order in an ordered chain. */
  readonly seq: number;
}

export interface Roster {
  readonly blocks: number;
  readonly ordered: boolean;
  readonly entries: ReadonlyMap<string, RosterEntry>;
  readonly nextSeq: number;
}

/** A roster after a message: `changed` false when the message asked for what already held. */
export interface RosterChange {
  readonly roster: Roster;
  readonly changed: boolean;
  /** What happened, for Plan.reason: "join h1", "leave h1", "breaker open h1". */
  readonly reason: string;
}

export function emptyRoster(blocks: number, ordered: boolean): Roster {
  checkBlocks(blocks);
  return { blocks, ordered, entries: new Map(), nextSeq: 0 };
}

/**
 * Adds an executor, or replaces the calibration of one that joined before (keeping its breaker
 * state and its place). Throws InvalidCalibration (blockMs not of length L, a bad cost) and,
 * unordered, TooManyExecutors past MAX_UNORDERED_EXECUTORS.
 */
export function joinExecutor(roster: Roster, info: ExecutorInfo): RosterChange {
  checkCalibration(roster.blocks, [info]);
  const known = roster.entries.get(info.id);
  if (known === undefined && !roster.ordered && roster.entries.size >= MAX_UNORDERED_EXECUTORS) {
    throw new TooManyExecutors(roster.entries.size + 1, MAX_UNORDERED_EXECUTORS);
  }
  const entries = new Map(roster.entries);
  entries.set(info.id, { info, breaker: known?.breaker ?? "closed", seq: known?.seq ?? roster.nextSeq });
  return { roster: { ...roster, entries, nextSeq: roster.nextSeq + (known ? 0 : 1) }, changed: true, reason: `${known ? "rejoin" : "join"} ${info.id}` };
}

/** Removes an executor; throws UnknownExecutor for one that is not in the roster. */
export function leaveExecutor(roster: Roster, id: string): RosterChange {
  if (!roster.entries.has(id)) throw new UnknownExecutor(id);
  const entries = new Map(roster.entries);
  entries.delete(id);
  return { roster: { ...roster, entries }, changed: true, reason: `leave ${id}` };
}

/** Records an executor's breaker state; throws UnknownExecutor for one that is not in the roster. */
export function setBreaker(roster: Roster, id: string, state: BreakerState): RosterChange {
  const known = roster.entries.get(id);
  if (known === undefined) throw new UnknownExecutor(id);
  const reason = `breaker ${state} ${id}`;
  if (known.breaker === state) return { roster, changed: false, reason };
  const entries = new Map(roster.entries);
  entries.set(id, { ...known, breaker: state });
  return { roster: { ...roster, entries }, changed: true, reason };
}

/** Whether `entry` may serve a request in `region` (undefined: an untagged request). */
export function mayServe(entry: RosterEntry, region: string | undefined): boolean {
  if (entry.breaker !== "closed") return false;
  return region === undefined || entry.info.regions === undefined || entry.info.regions.includes(region);
}

/** The roster in chain order: by ExecutorInfo.order (absent last), then join order; unordered, by id. */
export function chainOrder(roster: Roster): RosterEntry[] {
  const entries = [...roster.entries.values()];
  if (!roster.ordered) return entries.sort((a, b) => (a.info.id < b.info.id ? -1 : a.info.id > b.info.id ? 1 : 0));
  return entries.sort((a, b) => (a.info.order ?? Infinity) - (b.info.order ?? Infinity) || a.seq - b.seq);
}

/**
 * The optimal plan over the executors that may serve `region` now. Throws NoExecutors when
 * none may; for a roster built by joinExecutor, nothing else (calibrations and the executor cap
 * were checked at join).
 */
export function planOf(roster: Roster, version: number, reason: string, region?: string): Plan {
  const eligible = chainOrder(roster).filter((e) => mayServe(e, region));
  if (eligible.length === 0) throw new NoExecutors(roster.blocks, region);
  const partition = optimalPartition(roster.blocks, eligible.map((e) => e.info), { ordered: roster.ordered });
  const paths = new Map(eligible.map((e) => [e.info.id, e.info.path]));
  return {
    version,
    blocks: roster.blocks,
    ...(region === undefined ? {} : { region }),
    stages: partition.stages.map((s) => ({ ...s, path: paths.get(s.executor)! })),
    bottleneckMs: partition.bottleneckMs,
    reason,
  };
}

export function statusOf(roster: Roster): ExecutorStatus[] {
  return chainOrder(roster).map((e) => ({
    id: e.info.id,
    path: e.info.path,
    ...(e.info.regions === undefined ? {} : { regions: e.info.regions }),
    breaker: e.breaker,
    eligible: mayServe(e, undefined),
  }));
}
