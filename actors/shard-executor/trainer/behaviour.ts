/**
 * The trainer actor: a hospital's side of DP-FedAvg rounds (HospitalParticipant) behind the
 * trainer protocol, so a coordinator on another hospital drives it over the transport. It loads
 * the hospital's model and notes at start, keeps its update at home, and lets it out only masked
 * or CKKS-encrypted (under its own bundle, signed), in chunks. Every round is reserved in this hospital's own Accountant before it trains.
 *
 * Never crashes on a bad message: a malformed chunk, a round out of order or a refused budget is
 * a `failed` answer with the error's code. A peer that is not this trainer's coordinator is
 * refused (FORBIDDEN to its ask, `ctx.refused` in the log). One message at a time: a `train`
 * holds the mailbox while it runs (seconds to minutes), which is what a round wants.
 */
import type { KeyObject } from "node:crypto";
import { defineActor, type Behavior } from "../../../runtime/index.ts";
import { FedrouterError } from "../../../errors/index.ts";
import { AccountantClient, type AccountantMsg } from "../../accountant/index.ts";
import { loadGpt2Stage } from "../model-loader.ts";
import { Gpt2Tokenizer } from "../tokenizer.ts";
import { documentSequences, flattenTrainable, loadCorpus, syntheticNotes, SYNTHETIC_SPECIALTY_OF, trainableSpec } from "../training/index.ts";
import { accountantBudget, HospitalParticipant, RoundStateError } from "./participant.ts";
import { TRAINER_ACCESS, TRAINER_CHUNK_WORDS, type CkksKeyInfo, type InstallReport, type TrainerMsg, type TrainerOptions, type TrainerReply } from "./protocol.ts";
import { installTrained, InstallRefused, recoverInstall } from "./install.ts";
import type { ExecutorInfoReply, LoadReply, ShardExecutorMsg } from "../protocol.ts";
import type { ActorContext } from "../../../runtime/index.ts";
import { ckks, type MaskedInput } from "../../../secagg/index.ts";

/** Rounds whose global model is being received or whose masked input is being fetched, at most. */
const MAX_OPEN_ROUNDS = 4;

/**
 * @example
 * await system.spawn(trainer, { modelDir: "models/hospital-b", accountant: "fed://hospital-b/user/node/accountant",
 *   corpus: { kind: "synthetic", specialty: "radiology", notes: 400, seed: 1 }, coordinator: "hospital-a" }, { name: "trainer" });
 */
export const trainer = defineActor(import.meta.url, "trainer", (options: TrainerOptions) => trainerBehaviour(options), { access: TRAINER_ACCESS });

function trainerBehaviour(options: TrainerOptions): Behavior<TrainerMsg> {
  let me: HospitalParticipant | undefined;
  /** A finished job's model arriving in chunks (one at a time). */
  let installing: { readonly job: string; readonly model: Arriving } | undefined;
  /** Global models arriving in chunks, per round. */
  const incoming = new Map<string, Arriving>();
  /** Masked inputs waiting to be fetched, per round. */
  const outgoing = new Map<string, MaskedInput>();
  /** CKKS: the federation's bundle and this hospital's key share, from its own disk. */
  let keys: { readonly bundle: ckks.PublicBundle; readonly shape: CiphertextShape; readonly share?: ckks.KeyShare; readonly signing?: KeyObject } | undefined;
  /** CKKS: encrypted updates waiting to be fetched, aggregates (and their contributions) arriving, decryption shares waiting, per round. */
  const encrypted = new Map<string, ckks.EncryptedUpdate>();
  const toDecrypt = new Map<string, ArrivingCiphertexts[]>();
  const shares = new Map<string, ckks.DecryptionShare>();
  const forget = (roundId: string) => {
    for (const map of [incoming, outgoing, encrypted, toDecrypt, shares] as Map<string, unknown>[]) map.delete(roundId);
  };
  const ckksKeys = (roundId: string) => {
    if (keys === undefined) throw new RoundStateError(roundId, "this hospital's trainer has no CKKS key (no `ckks` in its config): it takes part in masked rounds only");
    return keys;
  };

  const failed = (error: unknown): { readonly type: "failed"; readonly code: string; readonly message: string } => {
    if (error instanceof FedrouterError) return { type: "failed", code: error.code, message: error.message };
    throw error; // a defect: the supervisor restarts the trainer, the ask fails with ACTOR_CRASHED
  };
  const bound = <T>(map: Map<string, T>, roundId: string, value: T) => {
    if (!map.has(roundId) && map.size >= MAX_OPEN_ROUNDS) map.delete(map.keys().next().value!);
    map.set(roundId, value);
  };

  /**
   * Writes the trained model over this hospital's own, rebuilds the participant on it (later
   * rounds start from what serves), and has every executor it serves reload its blocks.
   */
  async function install(job: string, version: number, trained: Float32Array, metadata: unknown, ctx: ActorContext<TrainerMsg>): Promise<InstallReport> {
    if (!Number.isSafeInteger(version) || version < 1) throw new InstallRefused(job, `version ${version} is not a model version ≥ 1`);
    if (typeof metadata !== "object" || metadata === null || Array.isArray(metadata)) throw new InstallRefused(job, "metadata must be an object");
    const before = me!;
    await installTrained(options.modelDir, before.spec, before.baseFlat, trained, job, { ...(metadata as Record<string, unknown>), version, installedAtMs: Date.now() });
    me = before.rebased(await loadGpt2Stage(options.modelDir));
    const reloaded: string[] = [];
    const notReloaded: { executor: string; reason: string }[] = [];
    for (const path of options.serving ?? []) {
      const executor = ctx.lookup<ShardExecutorMsg>(`fed://${ctx.node}/${path}`);
      try {
        const info = await executor.ask<ExecutorInfoReply>((replyTo) => ({ type: "info", replyTo }), { timeoutMs: 30_000 });
        const loaded = await executor.ask<LoadReply>((replyTo) => ({ type: "load", from: info.from, to: info.to, replyTo }), { timeoutMs: 120_000 });
        if (loaded.type === "loaded") reloaded.push(executor.path);
        else notReloaded.push({ executor: executor.path, reason: `${loaded.code}: ${loaded.message}` });
      } catch (error) {
        notReloaded.push({ executor: executor.path, reason: error instanceof Error ? error.message : String(error) });
      }
    }
    ctx.log.info("trainer-installed", { job, version, reloaded: reloaded.length, notReloaded: notReloaded.length });
    return { job, version, reloaded, notReloaded };
  }

  return {
    async start(ctx) {
      const recovered = await recoverInstall(options.modelDir);
      if (recovered !== "none") ctx.log.warn("trainer-install-recovered", { modelDir: options.modelDir, outcome: recovered });
      const model = await loadGpt2Stage(options.modelDir);
      const tokenizer = await Gpt2Tokenizer.fromDirectory(options.modelDir);
      const positions = model.config.positions;
      const source = options.corpus ?? { kind: "synthetic", specialty: SYNTHETIC_SPECIALTY_OF[ctx.node] ?? "cardiology", notes: 400, seed: 1 };
      const corpus = source.kind === "directory"
        ? (await loadCorpus(source.path, tokenizer, { positions })).sequences
        : syntheticNotes(source.specialty, source.notes, source.seed).flatMap((note) => documentSequences(note, tokenizer, positions));
      const spec = trainableSpec(model.config, options.part ?? { kind: "last", blocks: 1, head: false });
      if (options.ckks !== undefined) {
        const bundle = ckks.readBundleFile(options.ckks.bundle);
        const { slots, ciphertextBytes } = ckks.checkParameters(bundle.parameters);
        keys = {
          bundle,
          shape: { slots, ciphertextBytes },
          ...(options.ckks.share === undefined ? {} : { share: ckks.readKeyShareFile(options.ckks.share, bundle) }),
          ...(options.ckks.signing === undefined ? {} : { signing: ckks.readSigningKeyFile(options.ckks.signing, bundle, ctx.node) }),
        };
      }
      const budget = accountantBudget(new AccountantClient(ctx.lookup<AccountantMsg>(options.accountant ?? `fed://${ctx.node}/user/node/accountant`), 60_000));
      me = new HospitalParticipant({ id: ctx.node, model, spec, baseFlat: flattenTrainable(spec, model.tensors), corpus, budget, ...(keys?.share === undefined ? {} : { keyShare: keys.share }) });
      ctx.log.info("trainer-ready", { parameters: spec.size, sequences: corpus.length, coordinator: options.coordinator ?? "local only" });
    },

    async receive(msg, ctx) {
      // A peer's bytes decode to any shape: without a reply address there is no one to answer.
      if (msg === null || typeof msg !== "object" || typeof (msg as { replyTo?: { tell?: unknown } }).replyTo?.tell !== "function") {
        ctx.log.warn("trainer-invalid-message", { type: String((msg as { type?: unknown } | null)?.type) });
        return;
      }
      const sender = ctx.sender;
      if (sender.kind === "peer" && sender.node !== options.coordinator) {
        ctx.refused(`${msg.type} from peer ${sender.node}, not this trainer's coordinator (${options.coordinator ?? "none"})`);
        msg.replyTo.tell({ type: "failed", code: "FORBIDDEN", message: `peer ${sender.node} is not the coordinator of this hospital's training` });
        return;
      }
      const participant = me!;
      try {
        switch (msg.type) {
          case "remaining":
            msg.replyTo.tell({ type: "ok", value: await participant.remaining() });
            return;
          case "prepare":
            msg.replyTo.tell({ type: "ok", value: await participant.prepare(msg.offer) });
            return;
          case "global-chunk": {
            const open = acceptChunk(participant.size, msg, incoming.get(msg.roundId), "global model", (reason) => new RoundStateError(msg.roundId, reason));
            if (msg.index === 0) bound(incoming, msg.roundId, open);
            msg.replyTo.tell({ type: "ok", value: open.next });
            return;
          }
          case "train": {
            const open = incoming.get(msg.roundId);
            if (open === undefined || open.next !== open.count) throw new RoundStateError(msg.roundId, `train before the whole global model arrived (${open?.next ?? 0} of ${open?.count ?? "?"} chunks)`);
            incoming.delete(msg.roundId);
            msg.replyTo.tell({ type: "ok", value: await participant.train({ roundId: msg.roundId, baseVersion: msg.baseVersion, global: open.vector, clipNorm: msg.clipNorm, ...(msg.clipIndicator === true ? { clipIndicator: true } : {}), local: msg.local }) });
            return;
          }
          case "advertise":
            msg.replyTo.tell({ type: "ok", value: await participant.advertise(msg.roundId, msg.params) });
            return;
          case "share-keys":
            msg.replyTo.tell({ type: "ok", value: await participant.shareKeys(msg.roundId, msg.directory) });
            return;
          case "mask-input": {
            const masked = await participant.maskInput(msg.roundId, msg.inbox);
            bound(outgoing, msg.roundId, masked);
            msg.replyTo.tell({ type: "ok", value: { type: masked.type, roundId: masked.roundId, clientId: masked.clientId, length: masked.masked.length, chunks: Math.ceil(masked.masked.length / TRAINER_CHUNK_WORDS) } });
            return;
          }
          case "masked-chunk": {
            const masked = outgoing.get(msg.roundId);
            const chunks = masked === undefined ? 0 : Math.ceil(masked.masked.length / TRAINER_CHUNK_WORDS);
            if (masked === undefined || !Number.isSafeInteger(msg.index) || msg.index < 0 || msg.index >= chunks) throw new RoundStateError(msg.roundId, `no masked chunk ${msg.index} (${chunks} chunks)`);
            msg.replyTo.tell({ type: "ok", value: masked.masked.subarray(msg.index * TRAINER_CHUNK_WORDS, (msg.index + 1) * TRAINER_CHUNK_WORDS) });
            return;
          }
          case "unmask":
            outgoing.delete(msg.roundId);
            msg.replyTo.tell({ type: "ok", value: await participant.unmask(msg.roundId, msg.request) });
            return;
          case "settle":
            forget(msg.roundId);
            await participant.settle(msg.roundId, msg.outcome);
            msg.replyTo.tell({ type: "ok", value: null });
            return;
          case "ckks-key": {
            const info: CkksKeyInfo | null = keys === undefined ? null : { keyId: keys.bundle.keyId, index: keys.share?.index ?? null, threshold: keys.bundle.threshold, parties: keys.bundle.parties };
            msg.replyTo.tell({ type: "ok", value: info });
            return;
          }
          case "encrypt": {
            const { bundle, signing } = ckksKeys(msg.roundId);
            if (msg.keyId !== bundle.keyId) throw new RoundStateError(msg.roundId, `encrypt under key ${String(msg.keyId).slice(0, 12)}…: this hospital encrypts only under its federation key ${bundle.keyId.slice(0, 12)}… (its own bundle file)`);
            // Checked before anything is spent: the others would refuse an unsigned contribution.
            if (bundle.signers !== undefined && signing === undefined) throw new RoundStateError(msg.roundId, "the federation's bundle lists signers but this trainer has no signing key (ckks.signing in its config): its contribution would be refused");
            const update = await participant.encrypt(msg.roundId, bundle);
            bound(encrypted, msg.roundId, update);
            const signed = signing === undefined ? {} : { signed: ckks.signContribution(signing, ctx.node, msg.roundId, update) };
            msg.replyTo.tell({ type: "ok", value: { keyId: update.keyId, length: update.length, chunks: update.ciphertexts.length, ...signed } });
            return;
          }
          case "encrypted-chunk": {
            const update = encrypted.get(msg.roundId);
            const chunks = update?.ciphertexts.length ?? 0;
            if (update === undefined || !Number.isSafeInteger(msg.index) || msg.index < 0 || msg.index >= chunks) throw new RoundStateError(msg.roundId, `no encrypted chunk ${msg.index} (${chunks} chunks)`);
            msg.replyTo.tell({ type: "ok", value: update.ciphertexts[msg.index]! });
            return;
          }
          case "decrypt-chunk": {
            const { bundle, shape } = ckksKeys(msg.roundId);
            const arriving = acceptCiphertext(bundle.parties, shape, participant.size, msg, toDecrypt.get(msg.roundId));
            if (msg.of === 0 && msg.index === 0) bound(toDecrypt, msg.roundId, arriving);
            msg.replyTo.tell({ type: "ok", value: msg.index + 1 });
            return;
          }
          case "decryption-share": {
            const { bundle } = ckksKeys(msg.roundId);
            const arrived = toDecrypt.get(msg.roundId);
            if (arrived === undefined || !Number.isSafeInteger(msg.contributions) || arrived.length !== msg.contributions + 1 || arrived.some((u) => u.ciphertexts.length !== u.count)) {
              throw new RoundStateError(msg.roundId, `decryption share before the aggregate and its ${msg.contributions} contributions arrived whole (${arrived?.length ?? 0} updates begun)`);
            }
            if (!Array.isArray(msg.decryptors) || msg.decryptors.length > bundle.parties) throw new RoundStateError(msg.roundId, `a decryptor set of more than the key's ${bundle.parties} hospitals`);
            toDecrypt.delete(msg.roundId);
            const [aggregate, ...contributions] = arrived.map((u): ckks.EncryptedUpdate => ({ keyId: bundle.keyId, length: u.length, ciphertexts: u.ciphertexts }));
            // Where the federation signs contributions, each must be a distinct hospital's (signatures.ts).
            if (bundle.signers !== undefined) ckks.verifyContributionSignatures(bundle.signers, msg.roundId, contributions, arrived.slice(1).map((u) => u.signed));
            const share = await participant.decryptionShare(msg.roundId, msg.decryptors, aggregate!, contributions);
            bound(shares, msg.roundId, share);
            msg.replyTo.tell({ type: "ok", value: { keyId: share.keyId, index: share.index, decryptors: share.decryptors, aggregateDigest: share.aggregateDigest, chunks: share.parts.length } });
            return;
          }
          case "share-part": {
            const share = shares.get(msg.roundId);
            const chunks = share?.parts.length ?? 0;
            if (share === undefined || !Number.isSafeInteger(msg.index) || msg.index < 0 || msg.index >= chunks) throw new RoundStateError(msg.roundId, `no decryption share part ${msg.index} (${chunks} parts)`);
            msg.replyTo.tell({ type: "ok", value: share.parts[msg.index]! });
            return;
          }
          case "install-chunk": {
            if (options.acceptInstall !== true) throw new InstallRefused(String(msg.job), "this hospital's trainer does not accept installs (acceptInstall is off: its operator reviews and installs models by hand)");
            const open = acceptChunk(participant.size, msg, installing?.job === msg.job ? installing.model : undefined, "model", (reason) => new InstallRefused(String(msg.job), reason));
            installing = { job: msg.job, model: open };
            msg.replyTo.tell({ type: "ok", value: open.next });
            return;
          }
          case "install": {
            const open = installing?.job === msg.job ? installing.model : undefined;
            if (open === undefined || open.next !== open.count) throw new InstallRefused(String(msg.job), `install before the whole model arrived (${open?.next ?? 0} of ${open?.count ?? "?"} chunks)`);
            installing = undefined;
            msg.replyTo.tell({ type: "ok", value: await install(msg.job, msg.version, open.vector, msg.metadata, ctx) });
            return;
          }
          default: {
            const unknown = msg as { type?: unknown; replyTo?: { tell(reply: TrainerReply<never>): void } };
            unknown.replyTo?.tell({ type: "failed", code: "INVALID_REQUEST", message: `unknown trainer message ${String(unknown.type)}` });
          }
        }
      } catch (error) {
        msg.replyTo.tell(failed(error));
      }
    },
  };
}

/** A vector arriving in TRAINER_CHUNK_WORDS-value chunks, in order (a round's global model, an install's model). */
interface Arriving {
  readonly vector: Float32Array;
  next: number;
  readonly count: number;
}

/**
 * Chunk `msg.index` of a `what` for this hospital's trainable part (`size` values): checked
 * against the sizes expected and the order, and written into `open` — or, at index 0, into a
 * fresh vector. Returns the vector it went into; a chunk that does not fit is `refuse(reason)`.
 */
function acceptChunk(
  size: number, msg: { readonly index: number; readonly count: number; readonly total: number; readonly data: Float32Array },
  open: Arriving | undefined, what: string, refuse: (reason: string) => Error,
): Arriving {
  const count = Math.ceil(size / TRAINER_CHUNK_WORDS);
  if (msg.total !== size || msg.count !== count || !(msg.data instanceof Float32Array)) {
    throw refuse(`a ${what} of ${msg.total} values in ${msg.count} chunks: this hospital's trainable part has ${size} (${count} chunks)`);
  }
  const into = msg.index === 0 ? { vector: new Float32Array(size), next: 0, count } : open;
  if (into === undefined || msg.index !== into.next) throw refuse(`${what} chunk ${msg.index} out of order (expected ${open?.next ?? 0})`);
  const offset = msg.index * TRAINER_CHUNK_WORDS;
  const expected = Math.min(TRAINER_CHUNK_WORDS, size - offset);
  if (msg.data.length !== expected) throw refuse(`${what} chunk ${msg.index} has ${msg.data.length} values, expected ${expected}`);
  into.vector.set(msg.data, offset);
  into.next++;
  return into;
}

/** What a ciphertext under the bundle's parameters holds and weighs (derived once, at start). */
interface CiphertextShape {
  readonly slots: number;
  readonly ciphertextBytes: number;
}

/** One encrypted update (the aggregate, or a contribution) arriving ciphertext by ciphertext. */
interface ArrivingCiphertexts {
  readonly length: number;
  readonly count: number;
  readonly ciphertexts: Uint8Array[];
  /** A contribution's signature, from its first ciphertext's message. */
  readonly signed?: ckks.ContributionSignature;
}

/**
 * Ciphertext `msg.index` of update `msg.of` for a decryptor: update 0 (the aggregate) first, then
 * the contributions, each in order; at most the key's n contributions, each of this hospital's
 * length (its trainable part, plus the clip indicator of adaptive clipping) and each ciphertext at
 * most a ciphertext's size under the bundle's parameters. What SEAL makes of the bytes is checked
 * when the aggregate is verified (ckks.verifyAggregate); here only what bounds memory and order.
 */
function acceptCiphertext(
  parties: number, { slots, ciphertextBytes }: CiphertextShape, size: number,
  msg: { readonly roundId: string; readonly of: number; readonly index: number; readonly count: number; readonly length: number; readonly data: Uint8Array; readonly signed?: ckks.ContributionSignature },
  open: ArrivingCiphertexts[] | undefined,
): ArrivingCiphertexts[] {
  const refuse = (reason: string) => new RoundStateError(msg.roundId, `decrypt chunk ${msg.index} of update ${msg.of}: ${reason}`);
  if (msg.length !== size && msg.length !== size + 1) throw refuse(`an update of ${msg.length} values; this hospital's rounds have ${size} (${size + 1} with a clip indicator)`);
  const count = Math.ceil(msg.length / slots);
  if (msg.count !== count) throw refuse(`${msg.count} ciphertexts for ${msg.length} values; ${count} at ${slots} slots each`);
  if (!Number.isSafeInteger(msg.index) || msg.index < 0 || msg.index >= count) throw refuse(`no ciphertext ${msg.index} in ${count}`);
  if (!(msg.data instanceof Uint8Array) || msg.data.length === 0 || msg.data.length > ciphertextBytes) throw refuse(`not a ciphertext of at most ${ciphertextBytes} bytes`);
  if (!Number.isSafeInteger(msg.of) || msg.of < 0 || msg.of > parties) throw refuse(`update ${msg.of} is not the aggregate (0) or one of at most ${parties} contributions`);
  const updates = msg.of === 0 && msg.index === 0 ? [] : open;
  if (updates === undefined) throw refuse("the aggregate's first ciphertext has not arrived");
  const last = updates[updates.length - 1];
  if (msg.index === 0) {
    if (msg.of !== updates.length || (last !== undefined && last.ciphertexts.length !== last.count)) throw refuse(`out of order (expected update ${last !== undefined && last.ciphertexts.length !== last.count ? updates.length - 1 : updates.length})`);
    const signed = msg.signed;
    const signature = msg.of > 0 && signed !== undefined && signed !== null && typeof signed.by === "string" && signed.by.length <= 128 && signed.signature instanceof Uint8Array && signed.signature.length === 64 ? { signed: { by: signed.by, signature: signed.signature } } : {};
    updates.push({ length: msg.length, count, ciphertexts: [msg.data], ...signature });
    return updates;
  }
  if (last === undefined || msg.of !== updates.length - 1 || msg.index !== last.ciphertexts.length || msg.length !== last.length) throw refuse(`out of order (expected update ${updates.length - 1}, ciphertext ${last?.ciphertexts.length ?? 0})`);
  last.ciphertexts.push(msg.data);
  return updates;
}
