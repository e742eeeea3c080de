/**
 * A hospital's side of a DP-FedAvg round (the coordinator is actors/aggregator/training): it
 * reserves the round's ε in its own Accountant before training, trains locally from the global
 * model with DP-SGD (training/local-train.ts), keeps its update — clipped to C — at home, and lets
 * it out only masked (secagg/masking) or, with protection "none", plain. Its reservation is
 * committed the moment its update leaves the hospital (a masked input counts: the round's noisy
 * model is then out of its hands) and released when the round ends before that.
 *
 * Adaptive clipping (Andrew et al. 2021; the coordinator asks with `RoundStart.clipIndicator`):
 * the vector that leaves is the clipped update with one more coordinate, bᵢ − ½ (+½ when the
 * update's norm before clipping was ≤ C, −½ when not). It travels only inside the secure sum
 * (masked, CKKS-encrypted, or with the update itself under "none") and is never reported on its
 * own: TrainReport stays a count.
 *
 * The training budget lives in the same Accountant ledger as the queries: a principal (by default
 * user "federated-training" in department "training") whose ε composes with the ledger's
 * accountant like any other charge, per period.
 *
 *   const me = new HospitalParticipant({ id: "hospital-a", model, spec, corpus, budget: accountantBudget(accountant) });
 *   // handed to a TrainingCoordinator in process, or behind the trainer actor over the transport
 */
import { dpSgd, PldAccountant, type PrivacyEvent } from "../../../privacy/index.ts";
import type { StageWeights } from "../model-loader.ts";
import type { TensorRuntime } from "../../../native-bindings/index.ts";
import { applyFlatDelta, flattenTrainable, localTrain, type TrainableSpec } from "../training/index.ts";
import { ckks, MaskingClient, type AdvertiseKeys, type KeyDirectory, type MaskedInput, type MaskingParams, type SharedKeys, type ShareInbox, type UnmaskRequest, type UnmaskShares } from "../../../secagg/index.ts";
import type { AccountantClient } from "../../accountant/index.ts";
import type { PrepareReply, RoundOffer, RoundStart, TrainReport, TrainingParticipant } from "../../aggregator/index.ts";
import { FedrouterError, registerErrors } from "../../../errors/index.ts";

/** A hospital's training budget, as its Accountant keeps it. */
export interface TrainingBudget {
  remaining(): Promise<number>;
  reserve(key: string, event: PrivacyEvent): Promise<{ readonly ok: true; readonly reservation: string } | { readonly ok: false; readonly reason: string }>;
  commit(reservation: string, event: PrivacyEvent): Promise<void>;
  release(reservation: string): Promise<void>;
}

export const DEFAULT_TRAINING_PRINCIPAL = Object.freeze({ user: "federated-training", department: "training" });

export class TrainingBudgetError extends FedrouterError {
  readonly code = "TRAINING_BUDGET";
  constructor(readonly operation: string, readonly reason: string) {
    super(`training budget ${operation} failed: ${reason}`);
  }
}

export class RoundStateError extends FedrouterError {
  readonly code = "ROUND_STATE";
  constructor(readonly roundId: string, readonly reason: string) {
    super(`round ${roundId}: ${reason}`);
  }
}
registerErrors({
  TRAINING_BUDGET: (f) => new TrainingBudgetError(f.string("operation"), f.string("reason")),
  ROUND_STATE: (f) => new RoundStateError(f.string("roundId"), f.string("reason")),
});

/** The training budget in a hospital's Accountant, as the local node (sender `local`) reaches it. */
export function accountantBudget(accountant: AccountantClient, principal: { user: string; department: string } = DEFAULT_TRAINING_PRINCIPAL): TrainingBudget {
  return {
    async remaining() {
      const reply = await accountant.budget(principal.user, principal.department);
      if (reply.type !== "budget") throw new TrainingBudgetError("read", reply.message);
      return Math.min(reply.user.remaining, reply.department?.remaining ?? Number.POSITIVE_INFINITY);
    },
    async reserve(key, event) {
      const reply = await accountant.reserve({ key, user: principal.user, department: principal.department, event });
      if (reply.type === "reserved") return { ok: true, reservation: reply.reservation };
      if (reply.type === "refused") return { ok: false, reason: reply.message };
      throw new TrainingBudgetError("reserve", reply.message);
    },
    async commit(reservation, event) {
      const reply = await accountant.commit(reservation, event);
      if (reply.type === "rejected") throw new TrainingBudgetError("commit", reply.message);
    },
    async release(reservation) {
      const reply = await accountant.release(reservation, false);
      if (reply.type === "rejected") throw new TrainingBudgetError("release", reply.message);
    },
  };
}

export interface HospitalParticipantOptions {
  readonly id: string;
  /** The whole base model (every block), as loaded by loadGpt2Stage. */
  readonly model: StageWeights;
  /** Which tensors train, and the flat order of the global vector. */
  readonly spec: TrainableSpec;
  /** The global vector at version 0: the spec's tensors of `model`. */
  readonly baseFlat: Float32Array;
  /** The hospital's own token sequences (never leave it). */
  readonly corpus: readonly (readonly number[])[];
  readonly budget: TrainingBudget;
  readonly runtime?: TensorRuntime;
  /**
   * Its share of the federation's CKKS secret key (from the key ceremony), for rounds under
   * protection "ckks": with it, this hospital is one of the t decryptors. Never leaves it.
   */
  readonly keyShare?: ckks.KeyShare;
  /** Protection "ckks": encrypt in this piscina pool (node-seal in worker threads); none: in this thread. */
  readonly encryptionPool?: ckks.CkksEncryptionPool;
  /** Each local step, for the hospital's own progress bar (its loss stays here). */
  readonly onStep?: (roundId: string, step: number, loss: number) => void;
}

interface RoundHere {
  readonly offer: RoundOffer;
  /** What its ledger holds for the round: the central event, or its local DP-SGD one when tighter. */
  readonly charged: PrivacyEvent;
  /** Local Poisson sampling rate when local noise is on (what `charged` assumes), else null. */
  readonly samplingRate: number | null;
  readonly reservation: string;
  committed: boolean;
  /** What leaves the hospital: the clipped update, then bᵢ − ½ when the round asked for the clip indicator. */
  update?: Float32Array;
  /** The round asked for the clip indicator (adaptive clipping): `update` has one more coordinate. */
  withIndicator?: boolean;
  masking?: MaskingClient;
  /** Protection "ckks": the federation key its update was encrypted under (it decrypts only such rounds). */
  encrypted?: { readonly bundle: ckks.PublicBundle; readonly digest: string; decrypted: boolean };
}

export class HospitalParticipant implements TrainingParticipant {
  readonly id: string;
  readonly #o: HospitalParticipantOptions;
  readonly #rounds = new Map<string, RoundHere>();

  /** Its index in the CKKS key ceremony (1..n), when it holds a key share. */
  readonly keyIndex?: number;

  constructor(options: HospitalParticipantOptions) {
    this.id = options.id;
    if (options.keyShare !== undefined) this.keyIndex = options.keyShare.index;
    this.#o = options;
    if (options.baseFlat.length !== options.spec.size) throw new RoundStateError("-", `baseFlat has ${options.baseFlat.length} values, the spec ${options.spec.size}`);
  }

  /** Values in the trainable part: the length of the global vector and of the update. */
  get size(): number {
    return this.#o.spec.size;
  }

  /** Which tensors train (the flat order of the global vector). */
  get spec(): TrainableSpec {
    return this.#o.spec;
  }

  /** The trainable part of the model it starts rounds from, in spec order. */
  get baseFlat(): Float32Array {
    return this.#o.baseFlat;
  }

  /**
   * The same hospital on another base model (after an install): its corpus, budget, key share
   * and pool kept; rounds in flight stay with this one.
   */
  rebased(model: StageWeights): HospitalParticipant {
    return new HospitalParticipant({ ...this.#o, model, baseFlat: flattenTrainable(this.#o.spec, model.tensors) });
  }

  remaining(): Promise<number> {
    return this.#o.budget.remaining();
  }

  async prepare(offer: RoundOffer): Promise<PrepareReply> {
    const known = this.#rounds.get(offer.roundId);
    if (known !== undefined) return { type: "accepted", charged: known.charged }; // a retried prepare: reserved once
    // With local noise, this hospital's DP-SGD (Poisson rate batch/N, σ, steps) bounds what the
    // round reveals about any one of its notes; charge it when it is the tighter of the two.
    const { local } = offer;
    let charged = offer.cost;
    let samplingRate: number | null = null;
    if (local.noiseMultiplier > 0 && this.#o.corpus.length > 0) {
      samplingRate = Math.min(1, local.batchSize / this.#o.corpus.length);
      const mine = dpSgd(samplingRate, local.noiseMultiplier, local.steps);
      if (epsilonOf(mine, offer.delta) < offer.epsilon) charged = mine;
    }
    const reply = await this.#o.budget.reserve(`round:${offer.roundId}`, charged);
    if (!reply.ok) return { type: "refused", reason: reply.reason };
    this.#rounds.set(offer.roundId, { offer, charged, samplingRate, reservation: reply.reservation, committed: false });
    return { type: "accepted", charged };
  }

  async train(start: RoundStart): Promise<TrainReport> {
    const round = this.#round(start.roundId);
    if (start.global.length !== this.#o.spec.size) throw new RoundStateError(start.roundId, `the global model has ${start.global.length} values, this hospital's spec ${this.#o.spec.size}: another model`);
    const delta = new Float32Array(start.global.length);
    for (let i = 0; i < delta.length; i++) delta[i] = start.global[i]! - this.#o.baseFlat[i]!;
    const weights: StageWeights = { ...this.#o.model, tensors: applyFlatDelta(this.#o.spec, this.#o.model.tensors, delta) };
    const { local } = start;
    const result = await localTrain({
      model: weights, corpus: this.#o.corpus, steps: local.steps, exampleClip: local.exampleClip, noiseMultiplier: local.noiseMultiplier, updateClip: start.clipNorm,
      part: this.#o.spec.part, sampling: round.samplingRate === null ? { kind: "fixed", size: local.batchSize } : { kind: "poisson", rate: round.samplingRate }, optimizer: { kind: "adam", learningRate: local.learningRate },
      ...(this.#o.runtime === undefined ? {} : { runtime: this.#o.runtime }),
      onStep: (step, loss) => this.#o.onStep?.(start.roundId, step, loss),
    });
    if (start.clipIndicator === true) {
      // bᵢ − ½ from the norm before clipping; it leaves only as the last coordinate of the protected vector.
      const contribution = new Float32Array(result.update.length + 1);
      contribution.set(result.update);
      contribution[result.update.length] = result.norm <= start.clipNorm ? 0.5 : -0.5; // federated/adaptive-clipping.ts clipIndicator
      result.update.fill(0);
      round.update = contribution;
      round.withIndicator = true;
    } else {
      round.update = result.update;
      round.withIndicator = false;
    }
    return { steps: result.steps };
  }

  async plainUpdate(roundId: string): Promise<Float32Array> {
    const round = this.#round(roundId);
    const update = this.#trained(round);
    await this.#commit(round);
    return update;
  }

  async advertise(roundId: string, params: MaskingParams): Promise<AdvertiseKeys> {
    const round = this.#round(roundId);
    const dimension = this.#o.spec.size + (round.withIndicator === true ? 1 : 0);
    if (params.roundId !== roundId || params.dimension !== dimension) throw new RoundStateError(roundId, `masking parameters for round ${params.roundId}, dimension ${params.dimension}: not this round's (${dimension})`);
    round.masking = new MaskingClient(params, this.id);
    return round.masking.advertise();
  }

  shareKeys(roundId: string, directory: KeyDirectory): Promise<SharedKeys> {
    return Promise.resolve(this.#masking(roundId).shareKeys(directory));
  }

  async maskInput(roundId: string, inbox: ShareInbox): Promise<MaskedInput> {
    const round = this.#round(roundId);
    const masked = this.#masking(roundId).maskInput(inbox, this.#trained(round));
    await this.#commit(round); // the update leaves the hospital (masked): its ε is spent
    return masked;
  }

  unmask(roundId: string, request: UnmaskRequest): Promise<UnmaskShares> {
    return Promise.resolve(this.#masking(roundId).unmask(request));
  }

  /** Protection "ckks": its clipped update encrypted under the federation's public key. */
  async encrypt(roundId: string, bundle: ckks.PublicBundle): Promise<ckks.EncryptedUpdate> {
    const round = this.#round(roundId);
    const share = this.#o.keyShare;
    if (share !== undefined && share.keyId !== bundle.keyId) throw new RoundStateError(roundId, `the round's CKKS key ${bundle.keyId.slice(0, 12)}… is not the federation key this hospital holds a share of (${share.keyId.slice(0, 12)}…)`);
    const pool = this.#o.encryptionPool;
    const encrypted = pool === undefined ? await ckks.encryptUpdate(bundle, this.#trained(round)) : await pool.encrypt(bundle, this.#trained(round));
    round.encrypted = { bundle, digest: ckks.digestOf(encrypted), decrypted: false };
    await this.#commit(round); // the update leaves the hospital (encrypted): its ε is spent
    return encrypted;
  }

  /**
   * Protection "ckks": this hospital's decryption share of the round's aggregate, for the decryptor
   * set `decryptors` (t key indices). Only for a round it encrypted an update in, under the key it
   * holds a share of; only once per round; and only for an aggregate that is the sum of the
   * `contributions` shown, its own among them (ckks.verifyAggregate: so no single hospital's
   * update can be decrypted alone).
   */
  async decryptionShare(roundId: string, decryptors: readonly number[], aggregate: ckks.EncryptedUpdate, contributions: readonly ckks.EncryptedUpdate[]): Promise<ckks.DecryptionShare> {
    const round = this.#round(roundId);
    const share = this.#o.keyShare;
    if (share === undefined) throw new RoundStateError(roundId, "this hospital holds no CKKS key share: it cannot decrypt");
    if (round.encrypted === undefined) throw new RoundStateError(roundId, "no update of this hospital was encrypted in this round: it decrypts only rounds it took part in");
    if (aggregate.keyId !== share.keyId) throw new RoundStateError(roundId, "the aggregate is under another key");
    if (!decryptors.includes(share.index)) throw new RoundStateError(roundId, `the decryptor set ${decryptors.join(", ")} does not include this hospital's index ${share.index}`);
    // One decryption per round: two (of two combinations) would let the Aggregator subtract them.
    if (round.encrypted.decrypted) throw new ckks.AggregateUnverified("round", `${roundId} was decrypted by this hospital once already`);
    // Claimed before the check's await (two concurrent asks cannot both pass), given back if it fails: a refused aggregate revealed nothing.
    round.encrypted.decrypted = true;
    try {
      await ckks.verifyAggregate(round.encrypted.bundle, aggregate, { contributions, own: round.encrypted.digest });
      return await ckks.decryptionShare(round.encrypted.bundle, share, decryptors, aggregate);
    } catch (error) {
      if (error instanceof ckks.AggregateUnverified) round.encrypted.decrypted = false;
      throw error;
    }
  }

  async settle(roundId: string, outcome: "applied" | "abandoned"): Promise<void> {
    const round = this.#rounds.get(roundId);
    if (round === undefined) return; // never prepared here, or settled already
    this.#rounds.delete(roundId);
    round.update?.fill(0);
    if (round.committed) return;
    // Applied without our update having left (we dropped out before it): nothing of ours is in it.
    void outcome;
    await this.#o.budget.release(round.reservation);
  }

  async #commit(round: RoundHere): Promise<void> {
    if (round.committed) return;
    await this.#o.budget.commit(round.reservation, round.charged);
    round.committed = true;
  }

  #round(roundId: string): RoundHere {
    const round = this.#rounds.get(roundId);
    if (round === undefined) throw new RoundStateError(roundId, "not prepared here (no reservation): prepare comes first");
    return round;
  }

  #trained(round: RoundHere): Float32Array {
    if (round.update === undefined) throw new RoundStateError(round.offer.roundId, "no update: train comes first");
    return round.update;
  }

  #masking(roundId: string): MaskingClient {
    const masking = this.#round(roundId).masking;
    if (masking === undefined) throw new RoundStateError(roundId, "no masking state: advertise comes first");
    return masking;
  }
}


function epsilonOf(event: PrivacyEvent, delta: number): number {
  const accountant = new PldAccountant();
  accountant.compose(event);
  return accountant.epsilon(delta);
}
