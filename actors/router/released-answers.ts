/**
 * What became of each request id, per user, so that a retry is charged once and answered the
 * same: the answers released (kept durably, bounded), the requests running in this process, and
 * the ids whose attempts released nothing. Never keeps an output that was not released to the
 * caller, and never answers one user's request id with another's answer.
 *
 * Replaying a released answer costs no ε: it is post-processing of an output already released
 * and charged. So a retry of an answered request gets the same text and the same privacy_cost,
 * and the Accountant is not asked again.
 *
 * Durable and bounded. Each kept outcome is one record in a ring of `capacity` slots, slot
 * `seq % capacity`, each slot one actor store of the node's NodeStore
 * (`router/released-answers/<slot>`) holding its record as state, so the disk holds at most
 * `capacity` records (each answer at most max_tokens tokens of text) and a new one overwrites the
 * oldest. A record older than `ttlMs` is not served. On start every slot is read back, the newest
 * record of each id wins, and the ring goes on after the highest seq.
 *
 *   const answers = new ReleasedAnswers(nodeStoreSlots(system.store as NodeStore));
 *   const claim = answers.claim("dr-ng", "q-1", fingerprintOf(request)); // run | replay | running | mismatch
 */
import { createHash } from "node:crypto";
import type { NodeStore } from "../../runtime/index.ts";
import type { InferenceRequest, InferenceSummary } from "./http/service.ts";

export const DEFAULT_RELEASED_ANSWERS = Object.freeze({
  /** Records kept (answers and outcomes); the oldest is overwritten by the next. */
  capacity: 10_000,
  /** A record older than this is not served: a retry then meets the Accountant (see service.ts). */
  ttlMs: 24 * 60 * 60_000,
  /** Actor-store id prefix of the slots in the node store. */
  storeId: "router/released-answers",
});

/** What a retry of a request id meets. */
export type RequestOutcome =
  /** Answered: the released text and what it cost; a retry gets both back, charged nothing. */
  | { readonly kind: "answered"; readonly text: string; readonly summary: InferenceSummary }
  /** Ended after part of its output was released and charged (a hospital failed, the client left). */
  | { readonly kind: "spent"; readonly cost: number }
  /** `attempts` attempts, each of whose reservations was released with nothing output: a retry runs afresh. */
  | { readonly kind: "retryable"; readonly attempts: number };

export interface OutcomeRecord {
  readonly v: 1;
  readonly user: string;
  readonly requestId: string;
  /** fingerprintOf the request that made it: a retry must be the same request. */
  readonly fingerprint: string;
  readonly atMs: number;
  readonly seq: number;
  readonly outcome: RequestOutcome;
}

/** Where records live: `write` resolves once the record is durable. */
export interface OutcomeSlots {
  load(): readonly { readonly slot: number; readonly record: unknown }[];
  write(slot: number, record: OutcomeRecord): Promise<void>;
}

/**
 * What claiming a request id gives:
 * - `run`: nobody runs it and nothing is kept, so this caller runs it (as attempt `attempt`) and
 *   must call `finish` once, with the outcome a retry should meet (null: nothing to keep);
 * - `replay`: it was answered (or spent): serve that, run nothing;
 * - `running`: it runs in this process; `finished` resolves when it ends (claim again then);
 * - `mismatch`: the id was used by this user for a different request.
 */
export type Claim =
  | { readonly type: "run"; readonly attempt: number; finish(outcome: RequestOutcome | null, options?: FinishOptions): Promise<Error | undefined> }
  | { readonly type: "replay"; readonly outcome: Extract<RequestOutcome, { kind: "answered" | "spent" }> }
  | { readonly type: "running"; readonly finished: Promise<void> }
  | { readonly type: "mismatch" };

/**
 * `waitForDisk` (default true): resolve once the record is durable. False is for an outcome no ε
 * rides on (a free answer: privacy_cost 0): it is served from memory at once and written in the
 * background, so a crash in the next milliseconds may lose it; a retry then runs again, charged
 * nothing either way. An outcome that cost ε always waits, so a retry can never escape its charge.
 */
export interface FinishOptions {
  readonly waitForDisk?: boolean;
  /** With `waitForDisk: false`: the background write failed; the outcome stays served in this process. */
  readonly onLateError?: (error: Error) => void;
}

export interface ReleasedAnswersOptions {
  readonly capacity?: number;
  readonly ttlMs?: number;
  readonly nowMs?: () => number;
}

export class ReleasedAnswers {
  readonly #slots: OutcomeSlots;
  readonly #capacity: number;
  readonly #ttlMs: number;
  readonly #nowMs: () => number;
  readonly #running = new Map<string, { readonly fingerprint: string; readonly finished: Promise<void> }>();
  readonly #kept = new Map<string, { readonly slot: number; readonly record: OutcomeRecord }>();
  readonly #keyInSlot = new Map<number, string>();
  #nextSeq = 1;

  constructor(slots: OutcomeSlots = memorySlots(), options: ReleasedAnswersOptions = {}) {
    this.#slots = slots;
    this.#capacity = options.capacity ?? DEFAULT_RELEASED_ANSWERS.capacity;
    this.#ttlMs = options.ttlMs ?? DEFAULT_RELEASED_ANSWERS.ttlMs;
    this.#nowMs = options.nowMs ?? Date.now;
    if (!Number.isSafeInteger(this.#capacity) || this.#capacity < 1) throw new RangeError(`released answers: capacity ${this.#capacity} must be a positive integer`);
    if (!(this.#ttlMs > 0)) throw new RangeError(`released answers: ttlMs ${this.#ttlMs} must be > 0`);
    const loaded = slots.load().filter((s): s is { slot: number; record: OutcomeRecord } => isRecord(s.record));
    loaded.sort((a, b) => a.record.seq - b.record.seq); // the newest record of an id wins
    for (const { slot, record } of loaded) {
      this.#nextSeq = Math.max(this.#nextSeq, record.seq + 1);
      if (this.#expired(record)) continue;
      this.#place(slot, keyOf(record.user, record.requestId), record);
    }
  }

  /** Records served now (answers and outcomes not expired), for tests and metrics. */
  get size(): number {
    return this.#kept.size;
  }

  /** Synchronous: a check and a registration with no await between, so two claims cannot both run. */
  claim(user: string, requestId: string, fingerprint: string): Claim {
    const key = keyOf(user, requestId);
    const running = this.#running.get(key);
    if (running !== undefined) return running.fingerprint === fingerprint ? { type: "running", finished: running.finished } : { type: "mismatch" };
    const kept = this.#kept.get(key);
    let attempt = 1;
    if (kept !== undefined && !this.#expired(kept.record)) {
      const { outcome } = kept.record;
      // An id whose attempts released nothing may be sent again with anything: nothing of it was seen.
      if (outcome.kind === "retryable") attempt = outcome.attempts + 1;
      else return kept.record.fingerprint === fingerprint ? { type: "replay", outcome } : { type: "mismatch" };
    }
    let done: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => (done = resolve));
    this.#running.set(key, { fingerprint, finished });
    let once = false;
    return {
      type: "run",
      attempt,
      finish: async (outcome, options = {}) => {
        if (once) throw new Error(`the claim on request ${requestId} was finished twice`); // a defect
        once = true;
        const record: OutcomeRecord | null = outcome === null ? null : { v: 1, user, requestId, fingerprint, atMs: this.#nowMs(), seq: this.#nextSeq++, outcome };
        if (record !== null && options.waitForDisk === false) {
          // Served from memory now, on disk soon: nothing charged rides on this record.
          const written = this.#keep(key, record);
          this.#running.delete(key);
          done();
          written.catch((error: unknown) => options.onLateError?.(error instanceof Error ? error : new Error(String(error))));
          return undefined;
        }
        try {
          if (record !== null) await this.#keep(key, record);
          return undefined;
        } catch (error) {
          return error instanceof Error ? error : new Error(String(error));
        } finally {
          // Waiters claim again only now, and find the outcome kept.
          this.#running.delete(key);
          done();
        }
      },
    };
  }

  /** In memory first (this process serves retries even if the write fails), then durably. */
  async #keep(key: string, record: OutcomeRecord): Promise<void> {
    const slot = record.seq % this.#capacity;
    this.#place(slot, key, record);
    await this.#slots.write(slot, record);
  }

  #place(slot: number, key: string, record: OutcomeRecord): void {
    const overwritten = this.#keyInSlot.get(slot);
    // The id of the record overwritten is forgotten, unless a newer record of it lives elsewhere.
    if (overwritten !== undefined && this.#kept.get(overwritten)?.slot === slot) this.#kept.delete(overwritten);
    this.#keyInSlot.set(slot, key);
    this.#kept.set(key, { slot, record });
  }

  #expired(record: OutcomeRecord): boolean {
    return record.atMs + this.#ttlMs <= this.#nowMs();
  }
}

/**
 * Which request an id names: everything that shapes the answer (prompt, max_tokens, sampling,
 * consensus, region, model, department, stop sequences). Not privacy_budget or priority: a retry
 * offering another budget is the same request, and its replay costs nothing. A request without
 * stop sequences hashes as it did before they existed, so answers kept then still match.
 */
export function fingerprintOf(request: InferenceRequest): string {
  const { prompt, maxTokens, temperature, topP, requireConsensus, region, model, department, stop } = request;
  const parts: unknown[] = [prompt, maxTokens, temperature ?? null, topP ?? null, requireConsensus, region ?? null, model ?? null, department];
  if (stop !== undefined && stop.length > 0) parts.push(stop);
  return createHash("sha256").update(JSON.stringify(parts)).digest("hex");
}

/** Slots that live only as long as the process (a RouterService built without a node store). */
export function memorySlots(): OutcomeSlots {
  return { load: () => [], write: async () => undefined };
}

/**
 * Slots in the node's LMDB store: slot n is the actor store `<storeId>/<n>`, its state the record,
 * written "sync" (resolved once on disk). A slot is created on its first write (lmdb-js creates
 * the record synchronously), so a fresh node pays that once per slot.
 */
export function nodeStoreSlots(store: NodeStore, storeId: string = DEFAULT_RELEASED_ANSWERS.storeId): OutcomeSlots {
  const prefix = `${storeId}/`;
  const slotStore = (slot: number) => store.actor<OutcomeRecord>(`${prefix}${slot}`, { durability: "sync" });
  return {
    load() {
      const found: { slot: number; record: unknown }[] = [];
      for (const id of store.actorIds()) {
        if (!id.startsWith(prefix) || !/^\d{1,9}$/.test(id.slice(prefix.length))) continue;
        const slot = Number(id.slice(prefix.length));
        found.push({ slot, record: slotStore(slot).state() });
      }
      return found;
    },
    async write(slot, record) {
      const actor = slotStore(slot);
      try {
        await actor.persist({ state: record });
      } catch (error) {
        await actor.recover().catch(() => undefined); // the next write of this slot starts afresh
        throw error;
      }
    },
  };
}

function keyOf(user: string, requestId: string): string {
  return JSON.stringify([user, requestId]);
}

/** A record as written by this version; anything else read back (another version, damage) is skipped. */
function isRecord(value: unknown): value is OutcomeRecord {
  const r = value as Partial<OutcomeRecord> | null | undefined;
  if (typeof r !== "object" || r === null || r.v !== 1) return false;
  if (typeof r.user !== "string" || typeof r.requestId !== "string" || typeof r.fingerprint !== "string") return false;
  if (!Number.isSafeInteger(r.seq) || typeof r.atMs !== "number") return false;
  const o = r.outcome as Partial<Record<string, unknown>> | undefined;
  switch (o?.kind) {
    case "answered": return typeof o.text === "string" && typeof (o.summary as Partial<InferenceSummary> | undefined)?.privacyCost === "number";
    case "spent": return typeof o.cost === "number";
    case "retryable": return Number.isSafeInteger(o.attempts) && (o.attempts as number) >= 1;
    default: return false;
  }
}
