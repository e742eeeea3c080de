/**
 * The coordinator's durable round state on the node's LMDB store (runtime/persistence, synced
 * writes): the rounds, the global model checkpoint, and each round's noisy aggregate between its
 * aggregation and its apply. Never applies a round twice, whenever the process dies:
 *
 * - The global model is one record, `<prefix>/model`: version, the round that produced it
 *   (`producedBy`), weights and optimiser state, written in one synced persist. Writing it IS the
 *   apply; its journal keeps one entry per version.
 * - Applying round r: check r is aggregated and the model is at r's base version, compute the new
 *   weights from the stored aggregate, persist the model {version + 1, producedBy: r} (synced),
 *   then mark r applied (synced). A kill between the two leaves a model that names r: recovery
 *   and any later apply of r see it and only mark r applied. A second apply of an applied round
 *   is a no-op answered `alreadyApplied`.
 * - The aggregate is persisted (synced) before the round is marked aggregated, so an aggregated
 *   round always finds it; it is dropped once the round is applied or abandoned.
 * - Every operation runs after the previous one settled (one queue per store), so two applies of
 *   the same round in one process cannot interleave.
 *
 * Layout (one NodeStore, three kinds of actor store, all "sync"):
 *   <prefix>/rounds             state { rounds: { [id]: RoundRecord } }; journal: every transition
 *   <prefix>/model              state ModelCheckpoint (with adaptive clipping's next C); journal: { version, producedBy, baseVersion }
 *   <prefix>/aggregates/<id>    state { sha256, data: Float32Array } or { dropped: true }
 */
import { createHash } from "node:crypto";
import type { ActorStore, NodeStore } from "../runtime/persistence/index.ts";
import { checkUpdate } from "./clip.ts";
import { InvalidModelUpdate, InvalidRoundTransition, UnknownRound } from "./errors.ts";
import { advanceRound, planRound, recoveryDecision, type ModelHead, type RecoveryDecision, type RoundAction, type RoundPlan, type RoundRecord } from "./round-state.ts";
import type { ServerOptimizerState } from "./server-optimizer.ts";

/** The global model as persisted: head, weights and the server optimiser's state. */
export interface ModelCheckpoint extends ModelHead {
  readonly weights: Float32Array;
  readonly optimizer: ServerOptimizerState | null;
  /**
   * Adaptive clipping: the clip norm C the next round uses, written in the same persist as the
   * weights (the round's `nextClipNorm`), so a restarted coordinator resumes with it. Absent:
   * no round set one (fixed clipping, or none applied yet).
   */
  readonly clipNorm?: number;
}

/** Computes the next weights and optimiser state from the current checkpoint and the round's aggregate; it gets copies it may mutate. */
export type ApplyStep = (model: { weights: Float32Array; optimizer: ServerOptimizerState | null }, aggregate: Float32Array, round: RoundRecord) =>
  { weights: Float32Array; optimizer: ServerOptimizerState | null };

export type ApplyResult =
  | { readonly type: "applied"; readonly roundId: string; readonly version: number }
  /** The round had been applied (or its model written before a crash): nothing was applied again. */
  | { readonly type: "alreadyApplied"; readonly roundId: string; readonly version: number };

export interface RecoveredRound {
  readonly roundId: string;
  readonly decision: RecoveryDecision["type"];
  readonly status: RoundRecord["status"];
  readonly reason?: string;
}

export interface RoundStoreOptions {
  /** Prefix of the actor-store ids (default "federated"). */
  readonly prefix?: string;
  /** The model to start from when the store holds none yet (version 0). */
  readonly initialWeights: Float32Array;
  readonly initialOptimizer?: ServerOptimizerState | null;
  /** Called once the new model is durable and before the round is marked applied (fault tests, progress logs). */
  readonly afterModelWritten?: (roundId: string, version: number) => void | Promise<void>;
}

interface RoundsState {
  readonly rounds: Readonly<Record<string, RoundRecord>>;
}

type AggregateRecord = { readonly sha256: string; readonly data: Float32Array } | { readonly dropped: true };

const sha256Of = (data: Float32Array): string => createHash("sha256").update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)).digest("hex");

/**
 * Opens (or creates) the round state in `nodeStore`.
 * @example
 * const rounds = await openRoundStore(openNodeStore({ path: dir }), { initialWeights: new Float32Array(d) });
 * await rounds.plan({ roundId: "r-1", participants: ["a", "b", "c"], quorum: 2, deadlineMs: Date.now() + 60_000, cost: roundEvent(1, 1.1) });
 */
export async function openRoundStore(nodeStore: NodeStore, options: RoundStoreOptions): Promise<RoundStore> {
  const store = new RoundStore(nodeStore, options);
  await store.init(options);
  return store;
}

export class RoundStore {
  readonly #nodeStore: NodeStore;
  readonly #prefix: string;
  readonly #rounds: ActorStore<RoundsState>;
  readonly #model: ActorStore<ModelCheckpoint>;
  readonly #afterModelWritten: RoundStoreOptions["afterModelWritten"];
  #queue: Promise<unknown> = Promise.resolve();
  /** The model as last persisted, decoded once (the record may be hundreds of MB). */
  #modelCache: ModelCheckpoint | undefined;

  constructor(nodeStore: NodeStore, options: RoundStoreOptions) {
    this.#nodeStore = nodeStore;
    this.#prefix = options.prefix ?? "federated";
    this.#rounds = nodeStore.actor<RoundsState>(`${this.#prefix}/rounds`, { durability: "sync" });
    this.#model = nodeStore.actor<ModelCheckpoint>(`${this.#prefix}/model`, { durability: "sync" });
    this.#afterModelWritten = options.afterModelWritten;
  }

  /** @internal — openRoundStore calls it: writes the initial model if there is none. */
  async init(options: RoundStoreOptions): Promise<void> {
    const stored = this.#model.state();
    if (stored !== undefined) {
      if (!(stored.weights instanceof Float32Array)) throw new InvalidModelUpdate(`${this.#prefix}/model`, "the stored weights are not a Float32Array");
      this.#modelCache = stored;
      return;
    }
    checkUpdate(options.initialWeights, undefined, "initialWeights");
    const initial: ModelCheckpoint = { version: 0, producedBy: null, weights: options.initialWeights.slice(), optimizer: options.initialOptimizer ?? null };
    await this.#model.persist({ state: initial, events: [{ version: 0, producedBy: null, baseVersion: null }] });
    this.#modelCache = initial;
  }

  /** The global model as last persisted. */
  model(): ModelCheckpoint {
    return this.#modelCache!;
  }

  round(roundId: string): RoundRecord | undefined {
    return this.#state().rounds[roundId];
  }

  /** Every round, in plan order. */
  rounds(): RoundRecord[] {
    return Object.values(this.#state().rounds);
  }

  /** The model store's journal: one entry per version written, { version, producedBy, baseVersion }. */
  modelHistory(): { version: number; producedBy: string | null; baseVersion: number | null }[] {
    return [...this.#model.journal()].map((entry) => entry.event as { version: number; producedBy: string | null; baseVersion: number | null });
  }

  /** Plans a round from the current model version. */
  plan(plan: RoundPlan, nowMs = Date.now()): Promise<RoundRecord> {
    return this.#serial(async () => {
      if (this.round(plan.roundId) !== undefined) throw new InvalidRoundTransition(plan.roundId, this.round(plan.roundId)!.status, "plan", "a round with this id exists; round ids are never reused");
      const record = planRound(plan, this.model().version, nowMs);
      await this.#write(record, "plan");
      return record;
    });
  }

  /** planned → collecting. */
  startCollecting(roundId: string, nowMs = Date.now()): Promise<RoundRecord> {
    return this.#advance(roundId, { type: "collect" }, nowMs);
  }

  /** Records that `clientId`'s update arrived (its id only). */
  recordSubmission(roundId: string, clientId: string, nowMs = Date.now()): Promise<RoundRecord> {
    return this.#advance(roundId, { type: "submit", clientId }, nowMs);
  }

  /** Abandons a round that is not final (a missed quorum, an operator's decision). */
  abandon(roundId: string, reason: string, nowMs = Date.now()): Promise<RoundRecord> {
    return this.#serial(async () => {
      const record = await this.#advanceNow(roundId, { type: "abandon", reason }, nowMs);
      await this.#dropAggregate(roundId);
      return record;
    });
  }

  /**
   * collecting → aggregated: persists the noisy aggregate (synced), then the status. With adaptive
   * clipping, `nextClipNorm` (the C computed from the round's noisy count) is recorded with it and
   * becomes the model's `clipNorm` when the round is applied (recovery included).
   */
  markAggregated(roundId: string, aggregate: Float32Array, nowMs = Date.now(), options: { readonly nextClipNorm?: number } = {}): Promise<RoundRecord> {
    return this.#serial(async () => {
      const record = this.#require(roundId);
      checkUpdate(aggregate, this.model().weights.length, "aggregate");
      const sha256 = sha256Of(aggregate);
      const action: RoundAction = { type: "aggregate", aggregateSha256: sha256, ...(options.nextClipNorm === undefined ? {} : { nextClipNorm: options.nextClipNorm }) };
      const next = advanceRound(record, action, nowMs); // checks before writing
      await this.#aggregateStore(roundId).persist({ state: { sha256, data: aggregate.slice() } });
      await this.#write(next, "aggregate");
      return next;
    });
  }

  /**
   * Applies an aggregated round to the global model, once: `applied` with the new version, or
   * `alreadyApplied` (nothing done) for a round applied before, even across a crash.
   */
  apply(roundId: string, step: ApplyStep, nowMs = Date.now()): Promise<ApplyResult> {
    return this.#serial(() => this.#applyNow(roundId, step, nowMs));
  }

  /**
   * Settles every round left unfinished by a crash (round-state.ts `recoveryDecision`): marks
   * rounds applied whose model was written, applies aggregated rounds with `step`, abandons the
   * rest that cannot resume. Returns what it did per unfinished round.
   */
  recover(step: ApplyStep, nowMs = Date.now()): Promise<RecoveredRound[]> {
    return this.#serial(async () => {
      const report: RecoveredRound[] = [];
      for (const record of this.rounds()) {
        if (record.status === "applied" || record.status === "abandoned") continue;
        const decision = recoveryDecision(record, this.model(), nowMs, this.#aggregate(record.roundId) !== undefined);
        switch (decision.type) {
          case "markApplied":
            await this.#write(advanceRound(record, { type: "applied", resultVersion: decision.resultVersion }, nowMs), "recover: applied before the crash");
            await this.#dropAggregate(record.roundId);
            break;
          case "resumeApply":
            await this.#applyNow(record.roundId, step, nowMs);
            break;
          case "abandon":
            await this.#write(advanceRound(record, { type: "abandon", reason: decision.reason }, nowMs), "recover: abandon");
            await this.#dropAggregate(record.roundId);
            break;
          case "resume":
          case "none":
            break;
        }
        const after = this.round(record.roundId)!;
        report.push({ roundId: record.roundId, decision: decision.type, status: after.status, ...(decision.type === "abandon" ? { reason: decision.reason } : {}) });
      }
      return report;
    });
  }

  async #applyNow(roundId: string, step: ApplyStep, nowMs: number): Promise<ApplyResult> {
    const record = this.#require(roundId);
    const model = this.model();
    if (record.status === "applied") return { type: "alreadyApplied", roundId, version: record.resultVersion! };
    if (model.producedBy === roundId) {
      // The model was written and the process died before the round was marked: mark it only.
      await this.#write(advanceRound(record, { type: "applied", resultVersion: model.version }, nowMs), "apply: applied before the crash");
      await this.#dropAggregate(roundId);
      return { type: "alreadyApplied", roundId, version: model.version };
    }
    if (record.status !== "aggregated") throw new InvalidRoundTransition(roundId, record.status, "apply", "only an aggregated round is applied");
    if (model.version !== record.baseVersion) {
      throw new InvalidRoundTransition(roundId, record.status, "apply", `the round started from version ${record.baseVersion}, the global model is at ${model.version}: abandon it`);
    }
    const stored = this.#aggregate(roundId);
    if (stored === undefined || stored.sha256 !== record.aggregateSha256 || sha256Of(stored.data) !== record.aggregateSha256) {
      throw new InvalidRoundTransition(roundId, record.status, "apply", "its aggregate on disk is missing or does not match the recorded SHA-256: abandon it");
    }
    const next = step({ weights: model.weights.slice(), optimizer: cloneOptimizer(model.optimizer) }, stored.data, record);
    checkUpdate(next.weights, model.weights.length, "step(…).weights");
    const version = model.version + 1;
    const clipNorm = record.nextClipNorm ?? model.clipNorm;
    const checkpoint: ModelCheckpoint = { version, producedBy: roundId, weights: next.weights, optimizer: next.optimizer, ...(clipNorm === undefined ? {} : { clipNorm }) };
    await this.#model.persist({ state: checkpoint, events: [{ version, producedBy: roundId, baseVersion: model.version }] });
    this.#modelCache = checkpoint;
    await this.#afterModelWritten?.(roundId, version);
    await this.#write(advanceRound(record, { type: "applied", resultVersion: version }, nowMs), "apply");
    await this.#dropAggregate(roundId);
    return { type: "applied", roundId, version };
  }

  #advance(roundId: string, action: RoundAction, nowMs: number): Promise<RoundRecord> {
    return this.#serial(() => this.#advanceNow(roundId, action, nowMs));
  }

  async #advanceNow(roundId: string, action: RoundAction, nowMs: number): Promise<RoundRecord> {
    const next = advanceRound(this.#require(roundId), action, nowMs);
    await this.#write(next, action.type);
    return next;
  }

  #state(): RoundsState {
    return this.#rounds.state() ?? { rounds: {} };
  }

  #require(roundId: string): RoundRecord {
    const record = this.round(roundId);
    if (record === undefined) throw new UnknownRound(roundId);
    return record;
  }

  async #write(record: RoundRecord, action: string): Promise<void> {
    const rounds = { ...this.#state().rounds, [record.roundId]: record };
    await this.#rounds.persist({ state: { rounds }, events: [{ roundId: record.roundId, action, status: record.status, atMs: record.updatedAtMs }] });
  }

  #aggregateStore(roundId: string): ActorStore<AggregateRecord> {
    return this.#nodeStore.actor<AggregateRecord>(`${this.#prefix}/aggregates/${roundId}`, { durability: "sync" });
  }

  #aggregate(roundId: string): { sha256: string; data: Float32Array } | undefined {
    const state = this.#aggregateStore(roundId).state();
    if (state === undefined || "dropped" in state) return undefined;
    if (!(state.data instanceof Float32Array)) throw new InvalidModelUpdate(`${this.#prefix}/aggregates/${roundId}`, "the stored aggregate is not a Float32Array");
    return state;
  }

  async #dropAggregate(roundId: string): Promise<void> {
    const store = this.#aggregateStore(roundId);
    if (store.state() !== undefined && !("dropped" in store.state()!)) await store.persist({ state: { dropped: true } });
  }

  /** Runs `task` after every earlier operation settled; a failure rejects its own caller only. */
  #serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task, task);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}

function cloneOptimizer(state: ServerOptimizerState | null): ServerOptimizerState | null {
  return state === null ? null : { kind: state.kind, step: state.step, m: state.m.slice(), v: state.v.slice() };
}

