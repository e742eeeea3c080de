/**
 * The trainer actor: a hospital's side of DP-FedAvg rounds (HospitalParticipant) behind the
 * trainer protocol, so a coordinator on another hospital drives it over the transport. It loads
 * the hospital's model and notes at start, keeps its update at home, and lets it out only masked,
 * in chunks. Every round is reserved in this hospital's own Accountant before it trains.
 *
 * Never crashes on a bad message: a malformed chunk, a round out of order or a refused budget is
 * a `failed` answer with the error's code. A peer that is not this trainer's coordinator is
 * refused (FORBIDDEN to its ask, `ctx.refused` in the log). One message at a time: a `train`
 * holds the mailbox while it runs (seconds to minutes), which is what a round wants.
 */
import { defineActor, type Behavior } from "../../../runtime/index.ts";
import { FedrouterError } from "../../../errors/index.ts";
import { AccountantClient, type AccountantMsg } from "../../accountant/index.ts";
import { loadGpt2Stage } from "../model-loader.ts";
import { Gpt2Tokenizer } from "../tokenizer.ts";
import { documentSequences, flattenTrainable, loadCorpus, syntheticNotes, SYNTHETIC_SPECIALTY_OF, trainableSpec } from "../training/index.ts";
import { accountantBudget, HospitalParticipant, RoundStateError } from "./participant.ts";
import { TRAINER_ACCESS, TRAINER_CHUNK_WORDS, type InstallReport, type TrainerMsg, type TrainerOptions, type TrainerReply } from "./protocol.ts";
import { installTrained, InstallRefused, recoverInstall } from "./install.ts";
import type { ExecutorInfoReply, LoadReply, ShardExecutorMsg } from "../protocol.ts";
import type { ActorContext } from "../../../runtime/index.ts";
import type { MaskedInput } from "../../../secagg/index.ts";

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
      const budget = accountantBudget(new AccountantClient(ctx.lookup<AccountantMsg>(options.accountant ?? `fed://${ctx.node}/user/node/accountant`), 60_000));
      me = new HospitalParticipant({ id: ctx.node, model, spec, baseFlat: flattenTrainable(spec, model.tensors), corpus, budget });
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
            incoming.delete(msg.roundId);
            outgoing.delete(msg.roundId);
            await participant.settle(msg.roundId, msg.outcome);
            msg.replyTo.tell({ type: "ok", value: null });
            return;
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
