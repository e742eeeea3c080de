/**
 * The coordinator of DP-FedAvg rounds (McMahan et al. 2018), as the Aggregator runs it: for each
 * round, state its cost and quorum, pick the participants (the Planner's `select-round`), have each
 * reserve the round's ε in its own Accountant before anyone trains, send the global model, collect
 * the clipped updates under secure aggregation (pairwise masking or CKKS: the coordinator learns
 * only the sum), add Gaussian noise σ = z·C to the sum, divide by the expected number of clients, apply the
 * server step, and settle every reservation (commit when applied, release when abandoned).
 *
 * Transport-agnostic: a participant is an interface (`TrainingParticipant`) — a hospital's trainer
 * in this process (trainer/participant.ts) or one reached over the federation's transport. Every
 * call to a participant has the round's deadline; a participant that misses it, fails, or refuses
 * a message is a dropout, which the round survives while its quorum (and the masking threshold)
 * holds, and which otherwise abandons the round cleanly, charging no one.
 *
 * Durable (federated/round-store.ts on the node's LMDB): a coordinator killed mid-round finds the
 * round on restart and resumes or abandons it (`recover`), and never applies a round twice.
 *
 * Never sees an individual update when protection is "masking" or "ckks" (under CKKS it holds the
 * federation key's public bundle only; t hospitals' key shares decrypt the sum). With "none"
 * (robust aggregation, for federations that trust the coordinator) it does.
 *
 * Adaptive clipping (`adaptiveClipping`; Andrew et al. 2021, federated/adaptive-clipping.ts): each
 * hospital appends bᵢ − ½ (+½ when its update fit under C) to the vector it protects, so the
 * coordinator learns only Σ(bᵢ − ½), with the update sum. It noises the update sum with
 * σ = z_Δ·C, z_Δ = (z⁻² − (2σ_b)⁻²)^(−1/2), the count with σ_b, and moves C geometrically
 * toward the target quantile for the next round; the pair costs one Gaussian of multiplier z, so
 * every ledger is charged `roundEvent(q, z)` exactly as with a fixed C. The next C is persisted
 * with the round's aggregate and then with the model (round-store.ts), so a recovered coordinator
 * resumes with it.
 */
import { DEFAULT_NOISE_OPTIONS, MIN_SIGMA_STEPS, PldAccountant, type PrivacyEvent } from "../../../privacy/index.ts";
import {
  applyServerStep, coordinateMedian, DEFAULT_ADAPTIVE_CLIPPING, initialOptimizerState, krum, nextClipNorm, noisyMeanUpdate, roundEvent, trainingEpsilon, trimmedMean, updateNoiseMultiplier,
  type AdaptiveClippingConfig, type RecoveredRound, type RoundStore, type ServerOptimizer, type ServerOptimizerState,
} from "../../../federated/index.ts";
import { loadPublicSeal } from "../../../native-bindings/seal.ts";
import {
  ckks, MaskingServer, type AdvertiseKeys, type KeyDirectory, type MaskedInput, type MaskingParams, type SharedKeys, type ShareInbox, type UnmaskRequest, type UnmaskShares,
} from "../../../secagg/index.ts";
import { FedrouterError, registerErrors } from "../../../errors/index.ts";

/** What each hospital does locally in a round, passed through to it (the coordinator does not interpret it). */
export interface LocalTrainingConfig {
  readonly steps: number;
  readonly exampleClip: number;
  /** Local DP-SGD noise (example-level); 0: clipping only, the client-level guarantee is the central noise. */
  readonly noiseMultiplier: number;
  readonly learningRate: number;
  readonly batchSize: number;
}

export interface TrainingConfig {
  readonly rounds: number;
  /** The fewest participants a round may aggregate (and be selected) with. */
  readonly quorum: number;
  /** z: the central noise is σ = z·C on the sum. */
  readonly noiseMultiplier: number;
  /** C: every update is clipped to this L2 norm by its hospital (with `adaptiveClipping`: the first round's C). */
  readonly clipNorm: number;
  /** δ of the ε figures (and of the hospitals' ledgers). */
  readonly delta: number;
  /** q: Poisson sampling rate of hospitals per round; 1 (default): every eligible one, no amplification claimed. */
  readonly samplingRate?: number;
  /**
   * "masking" (default): SecAgg pairwise masking; "ckks": updates encrypted under the federation's
   * CKKS key, added by the coordinator holding the public bundle only, decrypted by t hospitals'
   * key shares (CoordinatorOptions.ckks); "none": plain updates, aggregated robustly.
   */
  readonly protection?: "masking" | "ckks" | "none";
  /** With protection "none": how the updates are combined before noise (default: their sum). */
  readonly robust?: { readonly kind: "median" } | { readonly kind: "trimmed-mean"; readonly beta: number } | { readonly kind: "krum"; readonly byzantine: number };
  readonly serverOptimizer: ServerOptimizer;
  /**
   * Adaptive clipping (Andrew et al. 2021): C tracks the `targetQuantile` γ (default 0.5) of the
   * hospitals' update norms, C ← C·exp(−η_C·(b̃ − γ)), b̃ the noisy fraction of updates that fit
   * under C, counted inside the secure sum with noise σ_b (`countNoiseStd`, default m/20, m = q·N;
   * it must exceed z/2). Same charge per round as fixed clipping. `minClipNorm`/`maxClipNorm`
   * bound C (under CKKS, C never exceeds the key's clipping bound).
   */
  readonly adaptiveClipping?: AdaptiveClippingOptions;
  /** Per phase of a round (prepare, train, each masking stage): a participant slower than this drops out. */
  readonly phaseTimeoutMs: number;
  readonly local: LocalTrainingConfig;
}

export interface AdaptiveClippingOptions extends AdaptiveClippingConfig {
  /** C never goes below this (default: no bound). */
  readonly minClipNorm?: number;
  /** C never goes above this (default: no bound; under CKKS the key's clipping bound). */
  readonly maxClipNorm?: number;
}

/** Adaptive clipping with its defaults filled in and checked, and z_Δ. */
interface ResolvedAdaptiveClipping {
  readonly config: { readonly targetQuantile: number; readonly clipLearningRate: number; readonly countNoiseStd: number };
  /** z_Δ: the update's noise multiplier (σ = z_Δ·C). */
  readonly updateNoiseMultiplier: number;
  readonly minClipNorm: number;
  readonly maxClipNorm: number;
}

export interface RoundOffer {
  readonly roundId: string;
  /** The central mechanism's event (client level: a whole hospital's data), σ = z·C on the sum. */
  readonly cost: PrivacyEvent;
  /** That event's ε at `delta`, for messages and the budget check. */
  readonly epsilon: number;
  readonly delta: number;
  /** What each hospital will run locally: with local noise, its own DP-SGD event (example level) may be the tighter charge. */
  readonly local: LocalTrainingConfig;
}

/**
 * `charged`: the event the hospital reserved in its ledger — the round's central event, or its own
 * local DP-SGD event when that gives the smaller ε (both bound what the round reveals about any
 * one of its notes: the central one even about the hospital as a whole).
 */
export type PrepareReply = { readonly type: "accepted"; readonly charged: PrivacyEvent } | { readonly type: "refused"; readonly reason: string };

export interface RoundStart {
  readonly roundId: string;
  readonly baseVersion: number;
  /** The global trainable parameters (flat, the trainer's spec order). */
  readonly global: Float32Array;
  readonly clipNorm: number;
  /**
   * Adaptive clipping: append bᵢ − ½ (+½ when ‖Δ‖ ≤ clipNorm before clipping, −½ when not) as one
   * more coordinate of the vector that leaves protected (masked, encrypted or plain): the
   * coordinator then sees only the sum of the indicators, never one hospital's bit.
   */
  readonly clipIndicator?: boolean;
  readonly local: LocalTrainingConfig;
}

/**
 * What a participant says of its local training: a count only. Its losses, its update's norm and
 * whether the update was clipped are functions of its private notes outside the round's DP
 * accounting, so they stay home (adaptive clipping releases the clipped bit only inside the
 * secure sum, whose count is noised: RoundStart.clipIndicator, Andrew et al. 2021).
 */
export interface TrainReport {
  readonly steps: number;

}

/** A hospital as the coordinator sees it. Every method may reject or time out: that hospital drops out of the round. */
export interface TrainingParticipant {
  readonly id: string;
  /** ε its training budget has left this period; rejects when it cannot be reached. */
  remaining(): Promise<number>;
  /** Reserve the round's cost in its own Accountant (nothing trains before every participant answered). */
  prepare(offer: RoundOffer): Promise<PrepareReply>;
  /** Train from `start.global`; keeps its clipped update until asked for it (masked, or plain). */
  train(start: RoundStart): Promise<TrainReport>;
  /** Protection "none" only: the clipped update itself. */
  plainUpdate(roundId: string): Promise<Float32Array>;
  advertise(roundId: string, params: MaskingParams): Promise<AdvertiseKeys>;
  shareKeys(roundId: string, directory: KeyDirectory): Promise<SharedKeys>;
  maskInput(roundId: string, inbox: ShareInbox): Promise<MaskedInput>;
  unmask(roundId: string, request: UnmaskRequest): Promise<UnmaskShares>;
  /** Protection "ckks": its update encrypted under the federation's public key (the update then has left: its ε is spent). */
  encrypt?(roundId: string, bundle: ckks.PublicBundle): Promise<ckks.EncryptedUpdate>;
  /**
   * Protection "ckks", a hospital holding key share `keyIndex`: its decryption share of the
   * aggregate, which it checks is the sum of `contributions` (every encrypted update added), its own among them.
   */
  decryptionShare?(roundId: string, decryptors: readonly number[], aggregate: ckks.EncryptedUpdate, contributions: readonly ckks.EncryptedUpdate[]): Promise<ckks.DecryptionShare>;
  /** Its index in the CKKS key ceremony, when it holds a key share. */
  readonly keyIndex?: number;
  /** Commit (applied) or release (abandoned) its reservation, and forget the round. */
  settle(roundId: string, outcome: "applied" | "abandoned"): Promise<void>;
}

/** Which hospitals take part, given the candidates (the Planner's `select-round`, or `selectRound` in process). */
export type SelectRound = (request: {
  round: string; candidates: { hospital: string; available: boolean; remainingEpsilon: number }[]; quorum: number; roundEpsilon: number; samplingRate?: number;
}) => Promise<{ type: "selected"; participants: readonly string[]; excluded: readonly { hospital: string; reason: string }[] } | { type: "refused"; message: string } | { type: "rejected"; message: string }>;

export type RoundProgress =
  | { readonly type: "round-started"; readonly round: number; readonly roundId: string; readonly participants: readonly string[]; readonly epsilon: number }
  | { readonly type: "round-phase"; readonly roundId: string; readonly phase: string; readonly remaining: readonly string[] }
  | {
      readonly type: "round-applied"; readonly round: number; readonly roundId: string; readonly version: number; readonly contributors: number;
      /** The noise's σ on the update sum: z·C, or z_Δ·C with adaptive clipping (rounded up to the noise grid). */
      readonly sigma: number;
      /** The clip norm C of this round. */
      readonly clipNorm: number;
      /** Adaptive clipping: the C of the next round. */
      readonly nextClipNorm?: number;
      /** Adaptive clipping: b̃, the noisy fraction of updates that fit under this round's C (released: it drives C). */
      readonly noisyFraction?: number;
      /** Client level: ε of the central mechanism after the rounds applied so far (a whole hospital's data). */
      readonly epsilonSoFar: number;
      /** What the ledgers were charged, composed per hospital, the largest: ε about any one note (example level). */
      readonly chargedEpsilon: number;
      readonly evalLoss?: number;
    }
  | { readonly type: "round-abandoned"; readonly round: number; readonly roundId: string; readonly reason: string };

export interface CoordinatorOptions {
  readonly config: TrainingConfig;
  readonly participants: readonly TrainingParticipant[];
  readonly store: RoundStore;
  readonly select: SelectRound;
  /** Protection "ckks": the federation key's public bundle (no key share: the coordinator never holds one). */
  readonly ckks?: { readonly bundle: ckks.PublicBundle };
  /** Loss of the global weights on a public (synthetic) evaluation set, for progress; optional. */
  readonly evaluate?: (global: Float32Array) => Promise<number>;
  readonly onProgress?: (event: RoundProgress) => void;
  /** Prefix of round ids (default "round"): ids are `<prefix>-<version+1>-<random>`, never reused. */
  readonly roundPrefix?: string;
  readonly signal?: AbortSignal;
}

export interface TrainingOutcome {
  readonly applied: number;
  readonly abandoned: number;
  /** Client level: ε of the central mechanism over the rounds applied, at δ (min of RDP and PLD). */
  readonly epsilon: number;
  /** Example level: the largest, over hospitals, of the ε their ledgers were charged by these rounds. */
  readonly chargedEpsilon: number;
  readonly version: number;
  readonly global: Float32Array;
  /** The C of each round applied in the store, in plan order (constant without adaptive clipping). */
  readonly clipSchedule: readonly number[];
  /** The C the next round would use: with adaptive clipping, where C has moved to. */
  readonly clipNorm: number;
}

export class TrainingRefused extends FedrouterError {
  readonly code = "TRAINING_REFUSED";
  constructor(readonly reason: string) {
    super(`training refused before any hospital trained: ${reason}`);
  }
}
registerErrors({ TRAINING_REFUSED: (f) => new TrainingRefused(f.string("reason")) });

/** A phase's promise, or a dropout when it rejects or misses the deadline. */
async function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)));
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Each participant's answer, or its failure, in parallel under one deadline. */
async function phase<T>(members: readonly TrainingParticipant[], ms: number, what: string, run: (p: TrainingParticipant) => Promise<T>): Promise<{ ok: Map<string, T>; failed: Map<string, string> }> {
  const ok = new Map<string, T>();
  const failed = new Map<string, string>();
  await Promise.all(members.map(async (p) => {
    try {
      ok.set(p.id, await withDeadline(Promise.resolve().then(() => run(p)), ms, `${p.id} ${what}`));
    } catch (error) {
      failed.set(p.id, error instanceof Error ? error.message : String(error));
    }
  }));
  return { ok, failed };
}

export class TrainingCoordinator {
  readonly #o: CoordinatorOptions;
  readonly #byId: Map<string, TrainingParticipant>;
  /** Per hospital, the events its ledger was charged by rounds this coordinator applied. */
  readonly #charged = new Map<string, PrivacyEvent[]>();
  #optimizer: ServerOptimizerState | null = null;
  readonly #adaptive: ResolvedAdaptiveClipping | null;

  constructor(options: CoordinatorOptions) {
    this.#o = options;
    this.#byId = new Map(options.participants.map((p) => [p.id, p]));
    const c = options.config;
    if (!Number.isSafeInteger(c.rounds) || c.rounds < 1) throw new TrainingRefused(`rounds must be a positive integer, got ${c.rounds}`);
    if (!Number.isSafeInteger(c.quorum) || c.quorum < 1 || c.quorum > options.participants.length) throw new TrainingRefused(`quorum ${c.quorum} must be between 1 and the ${options.participants.length} hospitals`);
    if (!(c.clipNorm > 0) || !Number.isFinite(c.clipNorm)) throw new TrainingRefused(`clipNorm must be a finite number > 0, got ${c.clipNorm}`);
    if (!(c.noiseMultiplier > 0) || !Number.isFinite(c.noiseMultiplier)) throw new TrainingRefused(`noiseMultiplier must be a finite number > 0 (a round without noise has no DP guarantee), got ${c.noiseMultiplier}`);
    if (c.protection !== "none" && c.protection !== undefined && c.robust !== undefined) throw new TrainingRefused("robust aggregation needs the individual updates: use it with protection \"none\" only");
    if (c.protection === "ckks") {
      const bundle = options.ckks?.bundle;
      if (bundle === undefined) throw new TrainingRefused("protection \"ckks\" needs the federation key's public bundle (options.ckks.bundle)");
      const holders = options.participants.filter((p) => p.keyIndex !== undefined && p.encrypt !== undefined && p.decryptionShare !== undefined);
      if (holders.length < bundle.threshold) throw new TrainingRefused(`protection "ckks" needs ${bundle.threshold} hospitals with key shares to decrypt; ${holders.length} of the participants hold one`);
      if (c.quorum < bundle.threshold) throw new TrainingRefused(`quorum ${c.quorum} is below the CKKS threshold ${bundle.threshold}: a round could be summed that no one may decrypt`);
    }
    this.#adaptive = c.adaptiveClipping === undefined ? null : resolveAdaptiveClipping(c, c.adaptiveClipping, options.participants.length, options.ckks?.bundle.parameters.clip);
  }

  /** Adaptive clipping as it runs (defaults filled in, z_Δ the update's noise multiplier), for a checkpoint's privacy metadata; null: fixed C. */
  get adaptiveClipping(): { readonly targetQuantile: number; readonly clipLearningRate: number; readonly countNoiseStd: number; readonly updateNoiseMultiplier: number } | null {
    const a = this.#adaptive;
    return a === null ? null : { ...a.config, updateNoiseMultiplier: a.updateNoiseMultiplier };
  }

  /**
   * What a checkpoint's fedrouter_training.json says of clipping: "fixed", or "adaptive" with the
   * C of every applied round, the final C and the settings (z_Δ: the update's noise multiplier;
   * each round's charge stays roundEvent(q, z)). `updateClip` beside it is the first round's C.
   */
  clippingMetadata(outcome: TrainingOutcome): Record<string, unknown> {
    const adaptive = this.adaptiveClipping;
    if (adaptive === null) return { clipping: "fixed" };
    return { clipping: "adaptive", clipSchedule: [...outcome.clipSchedule], finalClipNorm: outcome.clipNorm, adaptiveClipping: { ...adaptive, reference: "Andrew et al. 2021, arXiv:1905.03871" } };
  }

  /** The ε each round adds at δ, and the total after `rounds` rounds (the tight accountant). */
  static cost(config: Pick<TrainingConfig, "samplingRate" | "noiseMultiplier" | "delta">, rounds: number): { event: PrivacyEvent; roundEpsilon: number; totalEpsilon: number } {
    const q = config.samplingRate ?? 1;
    return {
      event: roundEvent(q, config.noiseMultiplier),
      roundEpsilon: trainingEpsilon({ q, z: config.noiseMultiplier, rounds: 1, delta: config.delta }).epsilon,
      totalEpsilon: trainingEpsilon({ q, z: config.noiseMultiplier, rounds, delta: config.delta }).epsilon,
    };
  }

  /** Finishes (or abandons) any round a previous coordinator left open; see round-store.ts. */
  async recover(): Promise<RecoveredRound[]> {
    const recovered = await this.#o.store.recover((model, aggregate) => this.#step(model, aggregate));
    // Rounds abandoned or applied by recovery: their participants settle (a participant that
    // never heard of the round answers settle as a no-op).
    for (const r of recovered) {
      const record = this.#o.store.round(r.roundId);
      if (record === undefined) continue;
      const outcome = record.status === "applied" ? "applied" : record.status === "abandoned" ? "abandoned" : null;
      if (outcome === null) continue;
      await phase(record.participants.map((id) => this.#byId.get(id)).filter((p): p is TrainingParticipant => p !== undefined), this.#o.config.phaseTimeoutMs, "settle", (p) => p.settle(r.roundId, outcome));
    }
    return recovered;
  }

  async run(): Promise<TrainingOutcome> {
    const { config } = this.#o;
    const { event, roundEpsilon } = TrainingCoordinator.cost(config, 1);
    let applied = this.#o.store.rounds().filter((r) => r.status === "applied").length;
    let abandoned = 0;
    for (let round = 1; round <= config.rounds; round++) {
      if (this.#o.signal?.aborted === true) break;
      const result = await this.#round(round, event, roundEpsilon, applied);
      if (result === "applied") applied++;
      else {
        abandoned++;
        if (result === "refused") break; // nobody can train: stop rather than spin
      }
    }
    const q = config.samplingRate ?? 1;
    const epsilon = applied === 0 ? 0 : trainingEpsilon({ q, z: config.noiseMultiplier, rounds: applied, delta: config.delta }).epsilon;
    const model = this.#o.store.model();
    const clipSchedule = this.#o.store.rounds().filter((r) => r.status === "applied").map((r) => r.clipNorm ?? config.clipNorm);
    return { applied, abandoned, epsilon, chargedEpsilon: this.#chargedEpsilon(), version: model.version, global: model.weights, clipSchedule, clipNorm: this.#clipNorm() };
  }

  /** This round's C: the configured one, or with adaptive clipping where the last applied round moved it (persisted with the model). */
  #clipNorm(): number {
    const a = this.#adaptive;
    if (a === null) return this.#o.config.clipNorm;
    return Math.min(a.maxClipNorm, Math.max(a.minClipNorm, this.#o.store.model().clipNorm ?? this.#o.config.clipNorm));
  }

  /** The largest ε, over hospitals, of the events their ledgers were charged (PLD, capped by RDP). */
  #chargedEpsilon(): number {
    let worst = 0;
    for (const events of this.#charged.values()) {
      const accountant = new PldAccountant();
      for (const e of events) accountant.compose(e);
      worst = Math.max(worst, accountant.epsilon(this.#o.config.delta));
    }
    return worst;
  }

  async #round(round: number, cost: PrivacyEvent, roundEpsilon: number, appliedSoFar: number): Promise<"applied" | "abandoned" | "refused"> {
    const { config, store } = this.#o;
    const ms = config.phaseTimeoutMs;
    const roundId = `${this.#o.roundPrefix ?? "round"}-${store.model().version + 1}-${Math.random().toString(36).slice(2, 10)}`;

    // 1. Who can take part: reachable, with this round's ε left (asked of each hospital's Accountant).
    const remaining = await phase(this.#o.participants, ms, "remaining budget", (p) => p.remaining());
    const candidates = this.#o.participants.map((p) => ({ hospital: p.id, available: remaining.ok.has(p.id), remainingEpsilon: remaining.ok.get(p.id) ?? 0 }));
    const selection = await this.#o.select({ round: roundId, candidates, quorum: config.quorum, roundEpsilon, ...(config.samplingRate === undefined ? {} : { samplingRate: config.samplingRate }) });
    if (selection.type !== "selected") {
      this.#o.onProgress?.({ type: "round-abandoned", round, roundId, reason: selection.message });
      return "refused";
    }
    let members = selection.participants.map((id) => this.#byId.get(id)!);
    const clipNorm = this.#clipNorm();
    const adaptive = this.#adaptive;
    await store.plan({ roundId, participants: members.map((p) => p.id), quorum: config.quorum, deadlineMs: Date.now() + 10 * ms, cost, clipNorm });
    this.#o.onProgress?.({ type: "round-started", round, roundId, participants: members.map((p) => p.id), epsilon: roundEpsilon });

    const abandon = async (reason: string, settleWith: readonly TrainingParticipant[]): Promise<"abandoned"> => {
      await store.abandon(roundId, reason).catch(() => undefined);
      await phase(settleWith, ms, "settle", (p) => p.settle(roundId, "abandoned"));
      this.#o.onProgress?.({ type: "round-abandoned", round, roundId, reason });
      return "abandoned";
    };

    // 2. Every participant reserves the round's ε in its own ledger before anyone trains.
    const offer: RoundOffer = { roundId, cost, epsilon: roundEpsilon, delta: config.delta, local: config.local };
    const prepared = await phase(members, ms, "prepare", (p) => p.prepare(offer));
    const accepted = members.filter((p) => prepared.ok.get(p.id)?.type === "accepted");
    if (accepted.length < config.quorum) {
      const why = members.filter((p) => !accepted.includes(p)).map((p) => {
        const reply = prepared.ok.get(p.id);
        return `${p.id}: ${reply?.type === "refused" ? reply.reason : prepared.failed.get(p.id) ?? "no answer"}`;
      });
      return abandon(`only ${accepted.length} of ${members.length} hospitals reserved the round's ε ${roundEpsilon.toFixed(4)} (quorum ${config.quorum}): ${why.join("; ")}`, members);
    }
    members = accepted;
    await store.startCollecting(roundId);
    this.#phase(roundId, "prepared", members);

    // 3. Local training from the global model.
    const model = store.model();
    const start: RoundStart = { roundId, baseVersion: model.version, global: model.weights, clipNorm, ...(adaptive === null ? {} : { clipIndicator: true }), local: config.local };
    const trained = await phase(members, ms, "train", (p) => p.train(start));
    const dropped = members.filter((p) => !trained.ok.has(p.id));
    members = members.filter((p) => trained.ok.has(p.id));
    if (members.length < config.quorum) return abandon(`only ${members.length} hospitals finished training (quorum ${config.quorum}): ${[...trained.failed.values()].join("; ")}`, [...members, ...dropped]);
    this.#phase(roundId, "trained", members);

    // 4. The sum of the clipped updates (with adaptive clipping, and of the indicators as one more
    // coordinate): under masking or CKKS the coordinator learns only that.
    const dimension = model.weights.length + (adaptive === null ? 0 : 1);
    let sum: Float64Array | Float32Array;
    let contributors: readonly string[];
    try {
      ({ sum, contributors } = config.protection === "none" ? await this.#plainSum(roundId, members, dimension)
        : config.protection === "ckks" ? await this.#encryptedSum(roundId, members)
        : await this.#maskedSum(roundId, members, dimension, clipNorm));
      if (sum.length !== dimension) throw new Error(`the sum has ${sum.length} coordinates, the round ${dimension}`);
    } catch (error) {
      return abandon(error instanceof Error ? error.message : String(error), [...members, ...dropped]);
    }
    if (contributors.length < config.quorum) return abandon(`only ${contributors.length} updates reached the sum (quorum ${config.quorum})`, [...members, ...dropped]);
    let indicatorSum = 0;
    if (adaptive !== null) {
      // Σ(bᵢ − ½) is a multiple of ½ (exact under masking and plain, within CKKS's ~1e-5 otherwise).
      const raw = sum[model.weights.length]!;
      indicatorSum = Math.round(2 * raw) / 2;
      if (!(Math.abs(raw - indicatorSum) < 0.125 && Math.abs(indicatorSum) <= contributors.length / 2)) {
        return abandon(`the clip indicators sum to ${raw}, not a multiple of ½ within ±${contributors.length / 2}: the sum is not ${contributors.length} hospitals' indicators`, [...members, ...dropped]);
      }
      sum = sum.subarray(0, model.weights.length);
    }
    for (const id of contributors) await store.recordSubmission(roundId, id);

    // 5. Noise on the sum (σ = z·C; adaptive: z_Δ·C), divided by the expected number of clients
    // (q·N, never the number that answered, which would leak who took part); with adaptive
    // clipping, the count's noise and the next C; then the server step, applied once.
    const expectedClients = (config.samplingRate ?? 1) * this.#o.participants.length;
    const noisy = noisyMeanUpdate(sum, { clipNorm, noiseMultiplier: adaptive?.updateNoiseMultiplier ?? config.noiseMultiplier, expectedClients });
    const clipStep = adaptive === null ? undefined : nextClipNorm({ clipNorm, indicatorSum, expectedClients }, adaptive.config);
    const nextC = clipStep === undefined || adaptive === null ? undefined : Math.min(adaptive.maxClipNorm, Math.max(adaptive.minClipNorm, clipStep.clipNorm));
    await store.markAggregated(roundId, noisy.update, Date.now(), nextC === undefined ? {} : { nextClipNorm: nextC });
    const result = await store.apply(roundId, (m, aggregate) => this.#step(m, aggregate));
    const settleAll = [...members, ...dropped];
    await phase(settleAll, ms, "settle", (p) => p.settle(roundId, "applied"));
    for (const id of contributors) {
      const reply = prepared.ok.get(id);
      if (reply?.type === "accepted") this.#charged.set(id, [...(this.#charged.get(id) ?? []), reply.charged]);
    }
    const q = config.samplingRate ?? 1;
    const epsilonSoFar = trainingEpsilon({ q, z: config.noiseMultiplier, rounds: appliedSoFar + 1, delta: config.delta }).epsilon;
    const evalLoss = this.#o.evaluate === undefined ? undefined : await this.#o.evaluate(store.model().weights);
    this.#o.onProgress?.({
      type: "round-applied", round, roundId, version: result.version, contributors: contributors.length, sigma: noisy.sigma, clipNorm,
      ...(nextC === undefined || clipStep === undefined ? {} : { nextClipNorm: nextC, noisyFraction: clipStep.noisyFraction }),
      epsilonSoFar, chargedEpsilon: this.#chargedEpsilon(), ...(evalLoss === undefined ? {} : { evalLoss }),
    });
    return "applied";
  }

  #phase(roundId: string, phaseName: string, members: readonly TrainingParticipant[]): void {
    this.#o.onProgress?.({ type: "round-phase", roundId, phase: phaseName, remaining: members.map((p) => p.id) });
  }

  /** w ← w + server step(noisy mean update); the optimiser's state persists with the model. */
  #step(model: { weights: Float32Array; optimizer: ServerOptimizerState | null }, aggregate: Float32Array): { weights: Float32Array; optimizer: ServerOptimizerState | null } {
    const optimizer = model.optimizer ?? this.#optimizer ?? initialOptimizerState(this.#o.config.serverOptimizer, model.weights.length);
    applyServerStep(this.#o.config.serverOptimizer, optimizer, model.weights, aggregate);
    this.#optimizer = optimizer;
    return { weights: model.weights, optimizer };
  }

  /** `dimension`: the model's length, plus one with adaptive clipping (each update's last value is its clip indicator). */
  async #plainSum(roundId: string, members: readonly TrainingParticipant[], dimension: number): Promise<{ sum: Float64Array | Float32Array; contributors: readonly string[] }> {
    const { config } = this.#o;
    const got = await phase(members, config.phaseTimeoutMs, "update", (p) => p.plainUpdate(roundId));
    for (const [id, u] of got.ok) {
      if (u.length !== dimension) {
        got.ok.delete(id);
        got.failed.set(id, `its update has ${u.length} values, the round ${dimension}`);
      }
    }
    const ids = members.map((p) => p.id).filter((id) => got.ok.has(id));
    const updates = ids.map((id) => got.ok.get(id)!);
    const robust = config.robust;
    if (robust === undefined) {
      const sum = new Float64Array(dimension);
      for (const u of updates) for (let i = 0; i < u.length; i++) sum[i] = sum[i]! + u[i]!;
      return { sum, contributors: ids };
    }
    // A robust estimate of the mean, scaled back to a sum of as many clients, so the noise and the
    // division by the expected count treat it as the sum it replaces. Clip indicators (adaptive
    // clipping) are not model values: they are summed as they are.
    const d = this.#adaptive === null ? dimension : dimension - 1;
    const values = updates.map((u) => u.subarray(0, d));
    const mean = robust.kind === "median" ? coordinateMedian(values) : robust.kind === "trimmed-mean" ? trimmedMean(values, robust.beta) : krum(values, robust.byzantine).aggregate;
    const sum = new Float64Array(dimension);
    for (let i = 0; i < d; i++) sum[i] = mean[i]! * updates.length;
    for (let i = d; i < dimension; i++) for (const u of updates) sum[i] = sum[i]! + u[i]!;
    return { sum, contributors: ids };
  }

  /**
   * CKKS: every member encrypts its update under the federation key; the coordinator checks and
   * adds the ciphertexts with the public bundle only (CkksAggregator: no secret key, no share);
   * t contributors holding key shares each check the aggregate against every contribution (their
   * own among them) and send a decryption share; the shares combine into the sum.
   * A member that fails to encrypt is a dropout; a chosen decryptor that fails abandons the round
   * (another decryptor set is not tried yet).
   */
  async #encryptedSum(roundId: string, members: readonly TrainingParticipant[]): Promise<{ sum: Float64Array; contributors: readonly string[] }> {
    const ms = this.#o.config.phaseTimeoutMs;
    const bundle = this.#o.ckks!.bundle;
    const encrypted = await phase(members, ms, "encrypt", (p) => p.encrypt!(roundId, bundle));
    const contributors = members.filter((p) => encrypted.ok.has(p.id));
    const decryptors = contributors.filter((p) => p.keyIndex !== undefined).slice(0, bundle.threshold);
    if (decryptors.length < bundle.threshold) throw new Error(`only ${decryptors.length} of the hospitals that encrypted hold a key share; decrypting needs ${bundle.threshold}`);
    const aggregator = ckks.CkksAggregator.open(await loadPublicSeal(), bundle);
    let aggregate: ckks.EncryptedUpdate;
    const contributions = contributors.map((p) => encrypted.ok.get(p.id)!);
    try {
      aggregate = aggregator.add(contributions);
    } finally {
      aggregator.close();
    }
    this.#phase(roundId, "encrypted updates added", contributors);
    const indices = decryptors.map((p) => p.keyIndex!);
    const shares = await phase(decryptors, ms, "decryption share", (p) => p.decryptionShare!(roundId, indices, aggregate, contributions));
    const missing = decryptors.filter((p) => !shares.ok.has(p.id));
    if (missing.length > 0) throw new Error(`decryptor ${missing.map((p) => `${p.id}: ${shares.failed.get(p.id) ?? "no answer"}`).join("; ")}; the sum stays encrypted`);
    const sum = await ckks.combineShares(bundle, aggregate, decryptors.map((p) => shares.ok.get(p.id)!));
    return { sum, contributors: contributors.map((p) => p.id) };
  }

  /**
   * Bonawitz et al.'s four stages; each participant that fails a stage is a dropout. With adaptive
   * clipping each vector is (Δ, bᵢ − ½), of L2 norm ≤ √(C² + ¼): the ring's overflow bound is taken
   * for that norm (quantise.ts picks f from it), and ±½ is exact on the grid when f ≥ 1.
   */
  async #maskedSum(roundId: string, members: readonly TrainingParticipant[], dimension: number, clipNorm: number): Promise<{ sum: Float64Array; contributors: readonly string[] }> {
    const { config } = this.#o;
    const ms = config.phaseTimeoutMs;
    const threshold = Math.max(config.quorum, Math.floor(members.length / 2) + 1);
    const params: MaskingParams = { roundId, maxClients: members.length, threshold, dimension, clipNorm: this.#adaptive === null ? clipNorm : Math.hypot(clipNorm, 0.5) };
    const server = new MaskingServer(params);
    if (this.#adaptive !== null && server.params.fractionalBits < 1) {
      throw new Error(`C = ${clipNorm} leaves ${server.params.fractionalBits} fractional bits in the masking ring for ${members.length} hospitals: the clip indicators ±½ need 1 (bound C with adaptiveClipping.maxClipNorm)`);
    }
    const byId = new Map(members.map((p) => [p.id, p]));

    const advertised = await phase(members, ms, "advertise keys", (p) => p.advertise(roundId, params));
    for (const [id, message] of advertised.ok) server.receive(message, id);
    const directory = server.keyDirectory();
    const u1 = directory.clients.map((c) => byId.get(c.clientId)!);
    this.#phase(roundId, "keys advertised", u1);

    const shared = await phase(u1, ms, "share keys", (p) => p.shareKeys(roundId, directory));
    for (const [id, message] of shared.ok) server.receive(message, id);
    const inboxes = server.shareInboxes();
    const u2 = inboxes.map((inbox) => byId.get(inbox.clientId)!);
    this.#phase(roundId, "keys shared", u2);

    const inboxOf = new Map(inboxes.map((inbox) => [inbox.clientId, inbox]));
    const masked = await phase(u2, ms, "masked input", (p) => p.maskInput(roundId, inboxOf.get(p.id)!));
    for (const [id, message] of masked.ok) server.receive(message, id);
    const request = server.unmaskRequest();
    const u3 = request.survivors.map((id) => byId.get(id)!);
    this.#phase(roundId, "masked inputs in", u3);

    const revealed = await phase(u3, ms, "unmask", (p) => p.unmask(roundId, request));
    for (const [id, message] of revealed.ok) server.receive(message, id);
    const result = await server.result();
    return { sum: result.sum, contributors: result.contributors };
  }
}

/**
 * Adaptive clipping's settings with defaults, checked before any round (a round that failed on
 * them after the updates left would have spent every ledger's ε for nothing).
 */
function resolveAdaptiveClipping(c: TrainingConfig, a: AdaptiveClippingOptions, hospitals: number, ckksClip: number | undefined): ResolvedAdaptiveClipping {
  const refuse = (field: string, message: string): never => {
    throw new TrainingRefused(`adaptiveClipping.${field} ${message}`);
  };
  const z = c.noiseMultiplier;
  const m = (c.samplingRate ?? 1) * hospitals;
  const targetQuantile = a.targetQuantile ?? DEFAULT_ADAPTIVE_CLIPPING.targetQuantile;
  const clipLearningRate = a.clipLearningRate ?? DEFAULT_ADAPTIVE_CLIPPING.clipLearningRate;
  const countNoiseStd = a.countNoiseStd ?? m * DEFAULT_ADAPTIVE_CLIPPING.countNoiseFraction;
  const shown = Number(countNoiseStd.toPrecision(12));
  const named = a.countNoiseStd === undefined ? `σ_b = ${shown} (the default m/20, m = q·N = ${Number(m.toPrecision(12))})` : `σ_b = ${shown}`;
  if (!(targetQuantile > 0 && targetQuantile < 1)) refuse("targetQuantile", `γ = ${targetQuantile} must lie in (0, 1): the fraction of updates that should fit under C (the paper uses 0.5)`);
  if (!(Number.isFinite(clipLearningRate) && clipLearningRate > 0)) refuse("clipLearningRate", `η_C = ${clipLearningRate} must be a finite number > 0 (the paper uses 0.2)`);
  if (!(Number.isFinite(countNoiseStd) && countNoiseStd > 0)) refuse("countNoiseStd", `${named} must be a finite number > 0`);
  if (!(2 * countNoiseStd > z)) {
    refuse("countNoiseStd", `${named} must exceed noiseMultiplier / 2 = ${z / 2}: the count's noise and the update's together cost one Gaussian of multiplier z only when z_Δ = (z⁻² − (2σ_b)⁻²)^(−1/2) exists; set adaptiveClipping.countNoiseStd above ${z / 2}`);
  }
  const minSigma = MIN_SIGMA_STEPS * DEFAULT_NOISE_OPTIONS.granularity;
  if (countNoiseStd < minSigma) refuse("countNoiseStd", `${named} is below ${minSigma}, the smallest σ the exact discrete Gaussian draws on its grid`);
  const minClipNorm = a.minClipNorm ?? Number.MIN_VALUE;
  let maxClipNorm = a.maxClipNorm ?? Number.POSITIVE_INFINITY;
  if (!(Number.isFinite(minClipNorm) && minClipNorm > 0)) refuse("minClipNorm", `${minClipNorm} must be a finite number > 0`);
  if (!(maxClipNorm >= minClipNorm)) refuse("maxClipNorm", `${maxClipNorm} must be at least minClipNorm ${minClipNorm}`);
  if (c.protection === "ckks" && ckksClip !== undefined) {
    if (!(ckksClip >= 0.5)) throw new TrainingRefused(`adaptiveClipping needs a CKKS key whose clipping bound (${ckksClip}) admits the indicators ±½`);
    maxClipNorm = Math.min(maxClipNorm, ckksClip);
  }
  if (!(c.clipNorm >= minClipNorm && c.clipNorm <= maxClipNorm)) throw new TrainingRefused(`clipNorm ${c.clipNorm}, the first round's C, must lie in adaptiveClipping's [minClipNorm, maxClipNorm] = [${minClipNorm}, ${maxClipNorm}]${c.protection === "ckks" ? " (under CKKS C never exceeds the key's clipping bound)" : ""}`);
  return { config: { targetQuantile, clipLearningRate, countNoiseStd }, updateNoiseMultiplier: updateNoiseMultiplier(z, countNoiseStd), minClipNorm, maxClipNorm };
}
