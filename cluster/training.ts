/**
 * `fedrouter train`, as a library: the demo federation's hospitals fine-tune one shared model by
 * DP-FedAvg under pairwise masking, each charging its rounds to its own Accountant ledger — the
 * same LMDB ledger, audit trail and `training` department budget that `npm start` then charges
 * queries to. Runs in one process, with the federation stopped (the ledgers are opened here).
 *
 * Two phases, both printed and plotted:
 * 1. Public pretraining (no private data, so no ε): a random GPT-2 of the demo's shape learns
 *    the language of clinical notes from a PUBLIC corpus — synthetic notes of every specialty,
 *    drawn with seeds no hospital uses. This stands in for the public pretraining every practical
 *    DP fine-tune starts from (Li et al., ICLR 2022): from random weights, no DP regime learns
 *    anything readable in minutes on two cores.
 * 2. Federated rounds (DP-FedAvg, McMahan et al. 2018): the TrainingCoordinator (the
 *    Aggregator's engine) states each round's cost, has each hospital reserve it in its own
 *    ledger, collects the clipped updates of the last block under masking (it never sees one),
 *    adds σ = z·C noise to the sum and applies the server step. Each hospital trains on its own
 *    synthetic notes (SYNTHETIC_SPECIALTY_OF: cardiology, radiology, emergency notes).
 *
 * The numbers say what three hospitals can buy: with z = 1 the client-level ε is real, and the
 * noise is as large as the whole update, so the server learning rate is kept small enough that
 * the noise does not damage the pretrained model — and the rounds teach it nearly nothing.
 * README "Federated training" gives the figures; client-level DP needs hundreds of clients.
 */
import { existsSync, mkdirSync, rmSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { ActorSystem, type NodeStore } from "../runtime/index.ts";
import { accountant, AccountantClient, type AccountantOptions } from "../actors/accountant/index.ts";
import {
  accountantBudget, applyFlatDelta, applyUpdateAndSave, DEFAULT_MODEL_SHAPE, documentSequences, flattenTrainable, Gpt2Tokenizer, HospitalParticipant,
  initModel, InvalidTrainingOption, loadGpt2Stage, localTrain, syntheticNotes, SYNTHETIC_SPECIALTY_OF, TrainingModel, trainableSpec, type Specialty, type StageWeights, type TrainablePart,
} from "../actors/shard-executor/index.ts";
import { TrainingCoordinator, type RoundProgress, type TrainingConfig } from "../actors/aggregator/index.ts";
import { selectRound } from "../actors/planner/index.ts";
import { resolveTensorBackend, type TensorRuntime } from "../native-bindings/index.ts";
import { openRoundStore } from "../federated/index.ts";
import { ckks } from "../secagg/index.ts";
import { ACTOR_ARGS } from "./catalogue.ts";
import { configPath, hospitalFiles, type ClusterConfig, type HospitalConfig } from "./config.ts";
import { writeLossPlot } from "./loss-plot.ts";
import { FedrouterError, registerErrors } from "../errors/index.ts";

/** The federation cannot train: too few hospitals with a ledger and a model, or every round was abandoned. */
export class FederatedTrainingFailed extends FedrouterError {
  readonly code = "TRAINING_FAILED";
  constructor(readonly reason: string) {
    super(`federated training failed: ${reason}`);
  }
}
registerErrors({ TRAINING_FAILED: (f) => new FederatedTrainingFailed(f.string("reason")) });

export interface FederatedTrainingOptions {
  readonly cluster: ClusterConfig;
  /** One line per event (the CLI prints them; tests collect them). */
  readonly print?: (line: string) => void;
  /** Public pretraining steps (batch 8, Adam 3·10⁻³, every tensor); 0 skips the phase. Default 160 (~3.5 min here). */
  readonly pretrainSteps?: number;
  readonly rounds?: number;
  /** DP-SGD steps each hospital runs per round. */
  readonly localSteps?: number;
  /** z: central noise σ = z·C on the sum of updates. */
  readonly noiseMultiplier?: number;
  /** C: each hospital's update is clipped to this L2 norm. */
  readonly clipNorm?: number;
  /** Each hospital's local DP-SGD noise multiplier (example level, per note); 0: clipping only. */
  readonly localNoise?: number;
  /**
   * Adaptive clipping (Andrew et al. 2021): C starts at `clipNorm` and tracks the median update
   * norm. true: `defaultAdaptiveClipping` (γ 0.5, η_C 0.2, σ_b = max(m/20, z)); or the settings.
   */
  readonly adaptiveClipping?: boolean | NonNullable<TrainingConfig["adaptiveClipping"]>;
  /**
   * How the updates are summed: "masking" (default, pairwise masking: no key to manage) or "ckks"
   * (threshold CKKS: this process deals the federation key as a trusted dealer, each hospital gets
   * one share, a majority of them decrypts the sum; the coordinator holds the public bundle only).
   */
  readonly protection?: "masking" | "ckks";
  /** FedAvg's server learning rate η. */
  readonly serverLearningRate?: number;
  /** Synthetic notes per hospital. */
  readonly notes?: number;
  /** Where the loss curve goes (PNG); none: not drawn. */
  readonly plot?: string;
  /** Model shape of the base model, when it must be made. Default DEFAULT_MODEL_SHAPE. */
  readonly shape?: { layers: number; dModel: number; heads: number; positions: number };
  readonly signal?: AbortSignal;
}

export const DEFAULT_FEDERATED_TRAINING = {
  pretrainSteps: 160, rounds: 3, localSteps: 2, noiseMultiplier: 1, clipNorm: 1, localNoise: 1, serverLearningRate: 0.001, notes: 400,
} as const;

/**
 * `--adaptive-clipping`'s settings: the paper's γ = 0.5 and η_C = 0.2, and σ_b = max(m/20, z).
 * The paper's m/20 needs m > 10z to exceed z/2; a small federation (3 hospitals, z = 1) gets
 * σ_b = z instead, for which the update's noise multiplier is z_Δ = 2z/√3 ≈ 1.155·z.
 */
export function defaultAdaptiveClipping(noiseMultiplier: number, expectedClients: number): NonNullable<TrainingConfig["adaptiveClipping"]> {
  return { targetQuantile: 0.5, clipLearningRate: 0.2, countNoiseStd: Math.max(expectedClients / 20, noiseMultiplier) };
}

export interface FederatedTrainingReport {
  /** Mean loss of each public pretraining step (public data: printing it costs nothing). */
  readonly pretrainLosses: readonly number[];
  /** Loss of the global model on the public evaluation notes: before round 1, then after each round. */
  readonly evalLosses: readonly number[];
  readonly applied: number;
  readonly abandoned: number;
  /** Client level: ε of the central mechanism over the applied rounds, at δ (a whole hospital's notes). */
  readonly epsilon: number;
  /** Example level: the largest ε any hospital's ledger was charged for these rounds (one note). */
  readonly chargedEpsilon: number;
  readonly delta: number;
  /** The model directories written (each hospital's shard-executor model). */
  readonly models: readonly string[];
  /** The clip norm C of each applied round (constant unless adaptive) and the C it ended at. */
  readonly clipSchedule: readonly number[];
  readonly finalClipNorm: number;
  readonly plot?: string;
  readonly wallMs: number;
}

/** A hospital that takes part: it runs an Accountant (its ledger pays) and serves a model (which it receives). */
interface Member {
  readonly id: string;
  readonly specialty: Specialty;
  readonly dataDir: string;
  readonly modelDirs: readonly string[];
  readonly accountant: HospitalConfig["actors"][number];
}

const SPECIALTIES: readonly Specialty[] = ["cardiology", "radiology", "emergency"];
/** Public corpus and evaluation seeds: far from the hospitals' seed (1), so no hospital's note is public. */
const PUBLIC_SEED = 1_000_003;
const EVAL_SEED = 2_000_003;
const PRETRAIN_PART: TrainablePart = { kind: "all" };
/** What the rounds train: the last block (ln_f and the tied embedding stay as pretrained). */
const FEDERATED_PART: TrainablePart = { kind: "last", blocks: 1, head: false };

export function trainingMembers(cluster: ClusterConfig): Member[] {
  const members: Member[] = [];
  for (const [i, h] of cluster.hospitals.entries()) {
    const ledger = h.actors.find((a) => a.name === "accountant");
    if (ledger === undefined) continue;
    const modelDirs = h.actors.filter((a) => a.name === "shard-executor" && a.module === undefined).map((a) => configPath(cluster, a.model ?? cluster.model!.path));
    if (modelDirs.length === 0) continue;
    members.push({ id: h.id, specialty: SYNTHETIC_SPECIALTY_OF[h.id] ?? SPECIALTIES[i % SPECIALTIES.length]!, dataDir: hospitalFiles(cluster, h).dataDir, modelDirs: [...new Set(modelDirs)], accountant: ledger });
  }
  return members;
}

/**
 * Pretrains (public), runs the federated rounds, writes the trained model into every member's
 * model directory with its privacy metadata, and draws the loss curve.
 * @example
 * const report = await trainFederation({ cluster: await loadCluster("cluster.config.ts"), plot: "docs/training-loss.png" });
 * const { epsilon, chargedEpsilon } = report; // client level, and per note (what the ledgers were charged)
 */
export async function trainFederation(options: FederatedTrainingOptions): Promise<FederatedTrainingReport> {
  const o = { ...DEFAULT_FEDERATED_TRAINING, ...options };
  const print = options.print ?? (() => undefined);
  const started = performance.now();
  const { cluster } = o;
  const members = trainingMembers(cluster);
  if (members.length < 2) throw new FederatedTrainingFailed(`it needs at least 2 hospitals that run an accountant and a shard-executor; ${cluster.file} has ${members.length}`);
  // Before any ε is charged: a plot that cannot be written would otherwise fail the command after the rounds.
  if (o.plot !== undefined) checkPlotPath(o.plot);
  const work = configPath(cluster, ".data/training");
  mkdirSync(work, { recursive: true });
  const runtime = await resolveTensorBackend();

  // 1. The base model, pretrained on the public corpus.
  const baseDir = join(work, "base");
  if (!existsSync(join(baseDir, "config.json"))) await initModel({ out: baseDir, ...(o.shape ?? DEFAULT_MODEL_SHAPE), vocab: "gpt2", seed: 1 });
  const tokenizer = await Gpt2Tokenizer.fromDirectory(baseDir);
  const positions = (await loadGpt2Stage(baseDir)).config.positions;
  const sequences = (specialty: Specialty, count: number, seed: number) => syntheticNotes(specialty, count, seed).flatMap((n) => documentSequences(n, tokenizer, positions));
  const evalSet = SPECIALTIES.flatMap((s) => sequences(s, 3, EVAL_SEED)).slice(0, 12);
  const pretrainedDir = join(work, "pretrained");
  let pretrainLosses: number[] = [];
  if (o.pretrainSteps > 0) {
    const publicCorpus = SPECIALTIES.flatMap((s, i) => sequences(s, o.notes, PUBLIC_SEED + i));
    print(`[train] 1/2 public pretraining: ${o.pretrainSteps} steps on ${publicCorpus.length} sequences of public synthetic notes (no hospital's data, no ε)`);
    const bar = progress(print, "pretrain", o.pretrainSteps);
    const result = await localTrain({
      model: baseDir, corpus: publicCorpus, steps: o.pretrainSteps, exampleClip: 1, noiseMultiplier: 0, updateClip: Infinity, part: PRETRAIN_PART,
      sampling: { kind: "fixed", size: 8 }, optimizer: { kind: "adam", learningRate: 3e-3 }, runtime, onStep: bar, ...(o.signal ? { signal: o.signal } : {}),
    });
    pretrainLosses = [...result.losses];
    await applyUpdateAndSave(baseDir, result.spec, result.update, pretrainedDir, {
      synthetic: true, public: true, steps: result.steps, note: "public pretraining on synthetic notes no hospital holds: no private data, no ε",
    }, { force: true });
  } else if (!existsSync(join(pretrainedDir, "config.json"))) {
    throw new FederatedTrainingFailed(`pretrainSteps 0 needs a pretrained model in ${pretrainedDir}; run once with pretraining`);
  }

  // 2. The federated rounds over each hospital's own ledger.
  const model = await loadGpt2Stage(pretrainedDir);
  const spec = trainableSpec(model.config, FEDERATED_PART);
  const baseFlat = flattenTrainable(spec, model.tensors);
  const config: TrainingConfig = {
    rounds: o.rounds, quorum: Math.floor(members.length / 2) + 1, noiseMultiplier: o.noiseMultiplier, clipNorm: o.clipNorm, delta: cluster.privacy.delta, protection: o.protection ?? "masking",
    serverOptimizer: { kind: "fedavg", learningRate: o.serverLearningRate }, phaseTimeoutMs: 600_000,
    local: { steps: o.localSteps, exampleClip: 1, noiseMultiplier: o.localNoise, learningRate: 1e-3, batchSize: 8 },
    ...(o.adaptiveClipping === undefined || o.adaptiveClipping === false ? {}
      : { adaptiveClipping: o.adaptiveClipping === true ? defaultAdaptiveClipping(o.noiseMultiplier, members.length) : o.adaptiveClipping }),
  };
  const cost = TrainingCoordinator.cost(config, o.rounds);
  print(`[train] 2/2 federated rounds: ${members.map((m) => `${m.id} (${m.specialty})`).join(", ")}; ${o.rounds} rounds of ${o.localSteps} local DP-SGD steps, ${config.protection === "ckks" ? "CKKS-encrypted sums" : "masked sums"}, z = ${o.noiseMultiplier}, C = ${o.clipNorm}${config.adaptiveClipping === undefined ? "" : ` (adaptive: toward the median update norm, count noise σ_b = ${config.adaptiveClipping.countNoiseStd})`}, η = ${o.serverLearningRate}`);
  print(`[train] each round costs client-level ε ${cost.roundEpsilon.toFixed(3)} at δ = ${cluster.privacy.delta} (all ${o.rounds}: ε ${cost.totalEpsilon.toFixed(3)}), reserved in each hospital's "training" budget before it trains`);

  // Protection "ckks": the key ceremony (a trusted dealer: this process, once per run); each hospital
  // gets one share, the coordinator the public bundle; a majority decrypts.
  const deal = config.protection === "ckks" ? await ckks.dealThresholdKeys({ parties: members.length, threshold: config.quorum }) : undefined;
  if (deal !== undefined) print(`[train] CKKS federation key dealt: ${members.length} shares, ${deal.bundle.threshold} decrypt (the dealer's copy of the secret key is wiped)`);
  // The hospitals here share one process, so they share one pool of encryption threads.
  const encryptionPool = deal === undefined ? undefined : new ckks.CkksEncryptionPool({ threads: 2 });
  const systems: ActorSystem[] = [];
  const coordinatorDir = join(work, "coordinator");
  rmSync(coordinatorDir, { recursive: true, force: true }); // a run's rounds start from the pretrained model
  try {
    const participants: HospitalParticipant[] = [];
    for (const [k, m] of members.entries()) {
      const system = await ActorSystem.start({ node: m.id, persistence: { path: m.dataDir }, logLevel: "error" });
      systems.push(system);
      const ref = await system.spawn(accountant, ACTOR_ARGS.accountant!(cluster, m.accountant, cluster.hospitals.find((h) => h.id === m.id)!) as AccountantOptions, { name: "accountant" });
      const corpus = sequences(m.specialty, o.notes, 1);
      const steps = progress(print, `${m.id} local`, o.localSteps, true);
      participants.push(new HospitalParticipant({
        id: m.id, model, spec, baseFlat, corpus, budget: accountantBudget(new AccountantClient(ref, 60_000)), runtime,
        onStep: (_round, step, loss) => steps(step, loss), ...(deal === undefined ? {} : { keyShare: deal.shares[k]!, encryptionPool: encryptionPool! }),
      }));
    }
    const coordinatorSystem = await ActorSystem.start({ node: "training-coordinator", persistence: { path: coordinatorDir }, logLevel: "error" });
    systems.push(coordinatorSystem);
    const store = await openRoundStore(coordinatorSystem.store as NodeStore, { initialWeights: baseFlat });
    const evaluate = async (global: Float32Array) => evalLoss(runtime, model, spec, baseFlat, global, evalSet);
    const evalLosses = [await evaluate(baseFlat)];
    print(`[train] public evaluation loss of the pretrained model: ${evalLosses[0]!.toFixed(3)}`);
    const coordinator = new TrainingCoordinator({
      config, participants, store, select: async (r) => selectRound(r), evaluate, ...(deal === undefined ? {} : { ckks: { bundle: deal.bundle } }),
      onProgress: (e) => {
        const line = describeRound(e, config.protection);
        if (line !== undefined) print(line);
        if (e.type === "round-applied" && e.evalLoss !== undefined) evalLosses.push(e.evalLoss);
      },
      ...(o.signal ? { signal: o.signal } : {}),
    });
    const outcome = await coordinator.run();
    if (outcome.applied === 0) throw new FederatedTrainingFailed(`no round was applied (${outcome.abandoned} abandoned): nothing written; the lines above say why`);

    const delta = new Float32Array(baseFlat.length);
    for (let i = 0; i < delta.length; i++) delta[i] = outcome.global[i]! - baseFlat[i]!;
    const metadata = {
      synthetic: true, algorithm: `DP-FedAvg (central Gaussian noise on the ${config.protection === "ckks" ? "CKKS-decrypted" : "masked"} sum)`, noiseMultiplier: o.noiseMultiplier, updateClip: o.clipNorm,
      samplingRate: 1, rounds: outcome.applied, epsilon: outcome.epsilon, delta: cluster.privacy.delta, exampleLevelEpsilon: outcome.chargedEpsilon,
      localNoiseMultiplier: o.localNoise, localSteps: o.localSteps, serverLearningRate: o.serverLearningRate, hospitals: members.map((m) => m.id),
      trained: "the last block; the rest is the public pretraining", ...coordinator.clippingMetadata(outcome),
    };
    const models = members.flatMap((m) => m.modelDirs);
    for (const dir of new Set(models)) {
      await applyUpdateAndSave(pretrainedDir, spec, delta, dir, metadata, { force: true });
      print(`[train] wrote ${dir} (fedrouter_training.json: z, C, q, rounds, ε, δ)`);
    }
    let plot: string | undefined;
    if (o.plot !== undefined) {
      const last = pretrainLosses.length;
      try {
        writeLossPlot(o.plot, {
          series: [
            { points: pretrainLosses.map((l, i) => [i + 1, l] as const), rgb: [31, 119, 180] },
            { points: evalLosses.map((l, r) => [last + r * o.localSteps, l] as const), rgb: [214, 39, 40] },
          ],
          marker: last,
        });
        plot = o.plot;
        print(`[train] loss curve: ${o.plot} (blue: pretraining step loss; red: public evaluation loss of the global model after each round; dashed: first round)`);
      } catch (error) {
        // The model is written and the rounds are charged: a drawing that fails now (checked at the start) is a warning, not a failed run.
        print(`[train] the loss curve could not be written to ${o.plot} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); the trained model is written`);
      }
    }
    print(`[train] done: ${outcome.applied} rounds applied; client-level ε ${outcome.epsilon.toFixed(3)}, per-note ε charged ${outcome.chargedEpsilon.toFixed(3)} (δ = ${cluster.privacy.delta}); evaluation loss ${evalLosses[0]!.toFixed(3)} → ${evalLosses.at(-1)!.toFixed(3)}`);
    return {
      pretrainLosses, evalLosses, applied: outcome.applied, abandoned: outcome.abandoned, epsilon: outcome.epsilon, chargedEpsilon: outcome.chargedEpsilon,
      delta: cluster.privacy.delta, models: [...new Set(models)], clipSchedule: outcome.clipSchedule, finalClipNorm: outcome.clipNorm, ...(plot ? { plot } : {}), wallMs: performance.now() - started,
    };
  } finally {
    for (const system of systems.reverse()) await system.stop().catch(() => undefined);
    await encryptionPool?.close();
  }
}

/** Mean next-token loss of the global model on public evaluation notes. */
function evalLoss(runtime: TensorRuntime, model: StageWeights, spec: ReturnType<typeof trainableSpec>, baseFlat: Float32Array, global: Float32Array, batch: readonly number[][]): number {
  const delta = new Float32Array(global.length);
  for (let i = 0; i < delta.length; i++) delta[i] = global[i]! - baseFlat[i]!;
  const weights: StageWeights = { ...model, tensors: applyFlatDelta(spec, model.tensors, delta) };
  const trainer = new TrainingModel(runtime, weights, FEDERATED_PART);
  try {
    // One sequence at a time: the notes differ in length, and a batch must not.
    let sum = 0;
    for (const sequence of batch) {
      const loss = trainer.loss([sequence]);
      sum += loss.dataSync()[0]!;
      loss.dispose();
    }
    return sum / batch.length;
  } finally {
    trainer.dispose();
  }
}

/** Step lines every tenth of the way (and the last), with the time per step and the time left. */
function progress(print: (line: string) => void, label: string, total: number, quiet = false): (step: number, loss: number) => void {
  let t0 = performance.now();
  let lastPrinted = 0;
  const every = Math.max(1, Math.ceil(total / 10));
  return (step, loss) => {
    if (step === 1) t0 = performance.now();
    if (quiet && step !== total) return;
    if (step % every !== 0 && step !== total && step !== 1) return;
    const per = step > 1 ? (performance.now() - t0) / (step - 1) : NaN;
    const left = Number.isFinite(per) ? ` (${(per / 1000).toFixed(1)} s/step, ~${Math.ceil((per * (total - step)) / 1000)} s left)` : "";
    if (step === lastPrinted) return;
    lastPrinted = step;
    const filled = Math.round((step / total) * 20);
    print(`[train] ${label} [${"#".repeat(filled)}${".".repeat(20 - filled)}] step ${step}/${total}${quiet ? "" : ` loss ${loss.toFixed(3)}`}${left}`);
  };
}

/** One progress line per round event (phases are left out); the CLI's `--live` mode prints the Aggregator's events with it. */
export function describeRound(e: RoundProgress, protection: TrainingConfig["protection"]): string | undefined {
  switch (e.type) {
    case "round-started": return `[train] round ${e.round}: ${e.participants.join(", ")} reserved ε ${e.epsilon.toFixed(3)} each; training`;
    case "round-applied": return `[train] round ${e.round} applied (model version ${e.version}, ${e.contributors} ${protection === "ckks" ? "encrypted" : "masked"} updates, σ = ${e.sigma}, C = ${e.clipNorm}${e.nextClipNorm === undefined ? "" : ` → ${e.nextClipNorm.toPrecision(4)} (b̃ = ${e.noisyFraction!.toFixed(3)})`}): client-level ε so far ${e.epsilonSoFar.toFixed(3)}, per-note ε charged ${e.chargedEpsilon.toFixed(3)}${e.evalLoss === undefined ? "" : `, evaluation loss ${e.evalLoss.toFixed(3)}`}`;
    case "round-abandoned": return `[train] round ${e.round} abandoned: ${e.reason}`;
    default: return undefined;
  }
}

/** The plot's directory exists (made if needed) and the plot is not a directory: an InvalidTrainingOption otherwise. */
function checkPlotPath(plot: string): void {
  try {
    mkdirSync(dirname(plot), { recursive: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === "EEXIST" || code === "ENOTDIR" ? `${dirname(plot)} is not a directory (a part of it is a file)` : `cannot make ${dirname(plot)} (${code ?? (error as Error).message})`;
    throw new InvalidTrainingOption("plot", JSON.stringify(plot), why);
  }
  if (existsSync(plot) && statSync(plot).isDirectory()) throw new InvalidTrainingOption("plot", JSON.stringify(plot), "is a directory; give a .png file");
}
