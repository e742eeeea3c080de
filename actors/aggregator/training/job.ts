/**
 * DP-FedAvg rounds run by the Aggregator actor in a running federation: an operator (or this
 * node's code) asks it to `train`; it opens a round store on the node's LMDB, drives each listed
 * hospital's `trainer` actor over the transport (TrainerClient: chunked vectors), and keeps the
 * progress for `training-status`. When a round was applied it writes the trained checkpoint (the
 * base model with the global update, Hugging Face format, `fedrouter_training.json`) to `outDir`
 * on this node. One job at a time; a job runs beside the mailbox (votes keep being answered).
 */
import type { ActorRef, NodeStore } from "../../../runtime/index.ts";
import { FedrouterError } from "../../../errors/index.ts";
import { openRoundStore } from "../../../federated/index.ts";
import { selectRound } from "../../planner/index.ts";
import { applyUpdateAndSave, flattenTrainable, loadGpt2Stage, TrainerClient, TrainerFailed, trainableSpec, type InstallReport, type TrainerMsg } from "../../shard-executor/index.ts";
import { ckks } from "../../../secagg/index.ts";
import { TrainingCoordinator, TrainingRefused, type RoundProgress, type TrainingConfig } from "./coordinator.ts";

export interface TrainingJobRequest {
  /** Hospital ids whose `fed://<id>/user/node/trainer` take part (this node's own included, if it trains). */
  readonly hospitals: readonly string[];
  /** The base model on this node (the same weights every trainer holds). */
  readonly modelDir: string;
  /** Where the trained checkpoint goes on this node; none: not written. */
  readonly outDir?: string;
  /**
   * After the last round, put the trained model in service on every listed hospital: each
   * trainer writes it over its hospital's model (the old weights kept in `previous/`) and its
   * executors reload. Default false: the checkpoint stays on this node for an operator to review.
   */
  readonly install?: boolean;
  /**
   * Protection "ckks": the federation's public bundle on this node (`fedrouter keys ckks` writes
   * it). Every trainer must hold the same key (its own copy of the bundle); those with a key share decrypt.
   */
  readonly ckksBundle?: string;
  /** The trainers' trainable part (default the last block without the tied head, as the trainers'). */
  readonly part?: { readonly kind: "all" } | { readonly kind: "last"; readonly blocks: number; readonly head?: boolean };
  readonly config: TrainingConfig;
}

export type TrainingJobReply = { readonly type: "started"; readonly job: string } | { readonly type: "rejected"; readonly code: string; readonly message: string };

/** One hospital's install: what reloaded, or why it failed (it then serves what it served). */
export type InstallOutcome =
  | ({ readonly hospital: string } & Pick<InstallReport, "reloaded" | "notReloaded">)
  | ({ readonly hospital: string } & Failure);

type Failure = { readonly code: string; readonly message: string };

/** An error as a status shows it: a trainer's own code for its refusals, a FedrouterError's code, else `fallback`. */
function failureOf(error: unknown, fallback: string): Failure {
  if (error instanceof TrainerFailed) return { code: error.causeCode, message: error.message };
  return error instanceof FedrouterError ? { code: error.code, message: error.message } : { code: fallback, message: String(error) };
}

export interface TrainingJobStatus {
  readonly type: "training-status";
  readonly job: string | null;
  readonly state: "idle" | "running" | "done" | "failed";
  /** The last progress events, oldest first (at most 200). */
  readonly events: readonly RoundProgress[];
  readonly outcome?: {
    readonly applied: number; readonly abandoned: number; readonly epsilon: number; readonly chargedEpsilon: number; readonly version: number; readonly checkpoint?: string;
    /** With `install`: each hospital's install. */
    readonly installs?: readonly InstallOutcome[];
  };
  readonly error?: { readonly code: string; readonly message: string };
}

const MAX_EVENTS = 200;

export class TrainingJob {
  readonly id: string;
  #state: TrainingJobStatus["state"] = "running";
  readonly #events: RoundProgress[] = [];
  #outcome: TrainingJobStatus["outcome"];
  #error: TrainingJobStatus["error"];
  readonly #abort = new AbortController();
  readonly done: Promise<void>;

  constructor(request: TrainingJobRequest, store: NodeStore, lookup: (path: string) => ActorRef<TrainerMsg>) {
    this.id = `train-${Date.now().toString(36)}`;
    this.done = this.#run(request, store, lookup).catch((error: unknown) => {
      this.#state = "failed";
      this.#error = failureOf(error, "TRAINING_FAILED");
    });
  }

  status(): TrainingJobStatus {
    return {
      type: "training-status", job: this.id, state: this.#state, events: [...this.#events],
      ...(this.#outcome ? { outcome: this.#outcome } : {}), ...(this.#error ? { error: this.#error } : {}),
    };
  }

  get running(): boolean {
    return this.#state === "running";
  }

  /** Stops between phases; what a round reserved is settled by the coordinator as abandoned. */
  abort(): void {
    this.#abort.abort();
  }

  async #run(request: TrainingJobRequest, nodeStore: NodeStore, lookup: (path: string) => ActorRef<TrainerMsg>): Promise<void> {
    const model = await loadGpt2Stage(request.modelDir);
    const spec = trainableSpec(model.config, request.part ?? { kind: "last", blocks: 1, head: false });
    const base = flattenTrainable(spec, model.tensors);
    // Each job its own store (prefix): version 0 is this job's base model.
    const store = await openRoundStore(nodeStore, { initialWeights: base, prefix: `federated/${this.id}` });
    const refOf = (id: string) => lookup(`fed://${id}/user/node/trainer`);
    let participants = request.hospitals.map((id) => new TrainerClient(id, refOf(id), 60_000, request.config.phaseTimeoutMs));
    let bundle: ckks.PublicBundle | undefined;
    if (request.config.protection === "ckks") {
      if (request.ckksBundle === undefined) throw new TrainingRefused("protection \"ckks\" needs ckksBundle, the federation's public bundle on this node (`fedrouter keys ckks` writes it)");
      const key = ckks.readBundleFile(request.ckksBundle);
      bundle = key;
      // Each trainer names the key it read from its own disk: it encrypts only under that one. One
      // that does not answer now stays in without a key share (a dropout if it stays away, as under
      // masking); one that holds no key, or another key, is a configuration to fix: refused.
      participants = await Promise.all(participants.map(async (p) => {
        const held = await p.ckksKey().catch(() => undefined);
        if (held === undefined) return p;
        if (held === null) throw new TrainingRefused(`${p.id}'s trainer has no CKKS key (no \`ckks\` in its config)`);
        if (held.keyId !== key.keyId) throw new TrainingRefused(`${p.id}'s trainer holds key ${held.keyId.slice(0, 12)}…, not this bundle's ${key.keyId.slice(0, 12)}…`);
        return held.index === null ? p : new TrainerClient(p.id, p.ref, p.timeoutMs, p.trainTimeoutMs, held.index);
      }));
    }
    const coordinator = new TrainingCoordinator({
      config: request.config, participants, store, select: async (r) => selectRound(r), signal: this.#abort.signal, roundPrefix: this.id,
      ...(bundle === undefined ? {} : { ckks: { bundle } }),
      onProgress: (e) => {
        this.#events.push(e);
        if (this.#events.length > MAX_EVENTS) this.#events.shift();
      },
    });
    const outcome = await coordinator.run();
    let checkpoint: string | undefined;
    const metadata = {
      algorithm: `DP-FedAvg (central Gaussian noise on the ${request.config.protection === "ckks" ? "CKKS-decrypted" : "masked"} sum)`, noiseMultiplier: request.config.noiseMultiplier, updateClip: request.config.clipNorm,
      samplingRate: request.config.samplingRate ?? 1, rounds: outcome.applied, epsilon: outcome.epsilon, delta: request.config.delta,
      exampleLevelEpsilon: outcome.chargedEpsilon, hospitals: [...request.hospitals], job: this.id, ...coordinator.clippingMetadata(outcome),
    };
    if (request.outDir !== undefined && outcome.applied > 0) {
      const delta = new Float32Array(base.length);
      for (let i = 0; i < delta.length; i++) delta[i] = outcome.global[i]! - base[i]!;
      await applyUpdateAndSave(request.modelDir, spec, delta, request.outDir, metadata, { force: true });
      checkpoint = request.outDir;
    }
    // Every hospital in turn, each on its own: one that fails keeps serving what it served.
    const installs: InstallOutcome[] = [];
    if (request.install === true && outcome.applied > 0) {
      for (const participant of participants) {
        try {
          const done = await participant.install(this.id, outcome.version, outcome.global, metadata);
          installs.push({ hospital: participant.id, reloaded: done.reloaded, notReloaded: done.notReloaded });
        } catch (error) {
          installs.push({ hospital: participant.id, ...failureOf(error, "INSTALL_FAILED") });
        }
      }
    }
    this.#outcome = {
      applied: outcome.applied, abandoned: outcome.abandoned, epsilon: outcome.epsilon, chargedEpsilon: outcome.chargedEpsilon, version: outcome.version,
      ...(checkpoint ? { checkpoint } : {}), ...(request.install === true ? { installs } : {}),
    };
    this.#state = "done";
  }
}
