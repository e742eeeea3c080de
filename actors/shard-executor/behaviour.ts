/**
 * The ShardExecutor actor: holds one block range of a GPT-2 (weights loaded at start, from a
 * local Hugging Face directory) and a KV cache per sequence, and runs pipeline steps.
 *
 * Continuous batching. `receive` only checks a step and queues it; a flush, scheduled with
 * setImmediate, runs every queued step of distinct sequences as one packed forward pass
 * (`Gpt2Stage.forwardBatch`). The runtime delivers all messages already in the mailbox before
 * an immediate fires, so steps that arrive while a batch computes form the next batch: with
 * several sequences in flight each weight matrix is read once per batch, not once per sequence.
 *
 * Chaining. A stage that is not last asks the next stage of the step's route with the hidden
 * states (moved, not copied, to another thread) and relays the answer to its own caller; the
 * last stage samples the next token. A next stage that crashes, stops or misses the deadline
 * is an ask failure here, answered as STAGE_UNREACHABLE naming it, so a caller never hangs.
 * Every failure is a typed `step-failed`; nothing a caller sends crashes the actor.
 */
import { assertNever, defineActor, type ActorContext, type ActorRef, type Behavior } from "../../runtime/index.ts";
import { resolveTensorBackend, type TensorRuntime } from "../../native-bindings/index.ts";
import { decodeActivations, encodeActivations } from "./activations.ts";
import { Gpt2Stage, type KvCache } from "./forward.ts";
import { loadGpt2Stage, type Gpt2Config } from "./model-loader.ts";
import { SHARD_EXECUTOR_ACCESS, type ExecutorInfoReply, type ShardExecutorErrorCode, type ShardExecutorMsg, type ShardExecutorOptions, type StepFailed, type StepMsg, type StepReply } from "./protocol.ts";
import { createSampler } from "./sampling.ts";
import { invalidExecutorMessage } from "./validation.ts";

export const DEFAULT_SHARD_EXECUTOR = { maxSequences: 64, maxBatch: 16, idleMs: 300_000 } as const;

interface Sequence {
  readonly cache: KvCache;
  /** The last stage's sampler, made from the step at position 0. */
  readonly sample?: (logits: Float32Array) => number;
  lastMs: number;
}

interface Queued {
  readonly msg: StepMsg;
  readonly hidden?: Float32Array;
}

/**
 * @example
 * const stage = await system.spawn(shardExecutor, { modelDir: "models/tiny", from: 0, to: 1 }, { name: "stage-0", placement: "worker" });
 */
/** Spawn options whose one test defect has happened (failFlushForTest): kept across restarts. */
const FAILED_FOR_TEST = new WeakSet<ShardExecutorOptions>();

export const shardExecutor = defineActor(import.meta.url, "shard-executor", (options: ShardExecutorOptions) => shardExecutorBehaviour(options), { access: SHARD_EXECUTOR_ACCESS });

function shardExecutorBehaviour(options: ShardExecutorOptions): Behavior<ShardExecutorMsg> {
  const maxSequences = options.maxSequences ?? DEFAULT_SHARD_EXECUTOR.maxSequences;
  const maxBatch = options.maxBatch ?? DEFAULT_SHARD_EXECUTOR.maxBatch;
  const idleMs = options.idleMs ?? DEFAULT_SHARD_EXECUTOR.idleMs;
  let runtime: TensorRuntime;
  let stage: Gpt2Stage;
  let config: Gpt2Config;
  let range = { from: 0, to: 0 };
  const sequences = new Map<string, Sequence>();
  let queue: Queued[] = [];
  let flushScheduled = false;
  let stopped = false;
  let context: ActorContext<ShardExecutorMsg>;
  let steps = 0;
  let batches = 0;
  /** A failure of the flush, rethrown by the `defect` message it sends itself. */
  let defect: unknown;
  /** The steps of the batch being run (answered EXECUTOR_FAILED if the flush fails). */
  let flushing: Queued[] = [];


  async function load(from: number | undefined, to: number | undefined): Promise<void> {
    const weights = await loadGpt2Stage(options.modelDir, from === undefined && to === undefined ? undefined : { from: from ?? 0, to: to ?? Number.MAX_SAFE_INTEGER });
    dropSequences();
    stage?.dispose();
    stage = new Gpt2Stage(runtime, weights);
    config = weights.config;
    range = { ...weights.range };
  }

  function dropSequences(): void {
    for (const s of sequences.values()) s.cache.dispose();
    sequences.clear();
  }

  function fail(msg: { sequence: string; replyTo: ActorRef<StepReply> }, code: ShardExecutorErrorCode, message: string, executor = context.path): void {
    const reply: StepFailed = { type: "step-failed", sequence: msg.sequence, executor, code, message };
    msg.replyTo.tell(reply);
  }

  /** Checks a step against this stage; queues it, or answers why not. */
  function accept(msg: StepMsg): void {
    if (msg.blocks !== undefined && (msg.blocks.from !== range.from || msg.blocks.to !== range.to)) {
      return fail(msg, "WRONG_BLOCKS", `this stage runs blocks [${range.from}, ${range.to}), the plan says [${msg.blocks.from}, ${msg.blocks.to})`);
    }
    if (stage.first !== (msg.tokens !== undefined)) {
      return fail(msg, "INVALID_STEP", stage.first ? "the first stage takes token ids (tokens)" : "a later stage takes hidden states (hidden), not tokens");
    }
    if (!stage.last && msg.route.length === 0) return fail(msg, "INVALID_STEP", `this stage ends at block ${range.to} of ${config.layers}: the route needs the stages after it`);
    const hidden = msg.hidden === undefined ? undefined : decodeActivations(msg.hidden);
    const rows = msg.tokens?.length ?? hidden!.length / config.dModel;
    if (hidden !== undefined && (hidden.length === 0 || !Number.isInteger(rows))) return fail(msg, "INVALID_STEP", `hidden has ${hidden.length} values, not rows × ${config.dModel}`);
    if (msg.tokens?.some((id) => id >= config.vocabSize)) return fail(msg, "INVALID_STEP", `a token id is outside the vocabulary (0..${config.vocabSize - 1})`);
    if (msg.position + rows > config.positions) return fail(msg, "CONTEXT_EXCEEDED", `${msg.position + rows} positions exceed the model's context of ${config.positions}`);
    queue.push({ msg, hidden });
    if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(flush);
    }
  }

  /** The sequence state a step continues, creating it at position 0; or the reason it cannot. */
  function sequenceFor(msg: StepMsg, nowMs: number): Sequence | { code: ShardExecutorErrorCode; message: string } {
    const known = sequences.get(msg.sequence);
    if (msg.position === 0) {
      known?.cache.dispose();
      sequences.delete(msg.sequence);
      if (sequences.size >= maxSequences) return { code: "TOO_MANY_SEQUENCES", message: `this stage holds ${maxSequences} sequences already` };
      let sample: ((logits: Float32Array) => number) | undefined;
      if (stage.last) {
        try {
          sample = createSampler(msg.sampling);
        } catch (error) {
          return { code: "INVALID_STEP", message: `sampling: ${(error as Error).message}` };
        }
      }
      const created: Sequence = { cache: stage.createCache(), sample, lastMs: nowMs };
      sequences.set(msg.sequence, created);
      return created;
    }
    if (known === undefined || known.cache.length !== msg.position) {
      return { code: "SEQUENCE_LOST", message: known === undefined ? `no cache for sequence ${msg.sequence} at position ${msg.position} (the stage restarted, evicted it, or never saw it)` : `the cache of sequence ${msg.sequence} holds ${known.cache.length} positions, the step expects ${msg.position}` };
    }
    known.lastMs = nowMs;
    return known;
  }

  function evictIdle(nowMs: number): void {
    for (const [id, s] of sequences) {
      if (nowMs - s.lastMs > idleMs) {
        s.cache.dispose();
        sequences.delete(id);
      }
    }
  }

  /**
   * The flush runs outside `receive` (setImmediate): a throw there would be uncaught and end the
   * worker thread. It is kept instead, every step it held is answered EXECUTOR_FAILED, and the
   * actor tells itself `defect`, whose receive rethrows it: a supervised crash and a restart.
   */
  function flush(): void {
    try {
      runFlush();
    } catch (error) {
      context.log.error("flush-failed", { error: (error as Error).message });
      defect ??= error;
      for (const { msg } of [...flushing, ...queue]) fail(msg, "EXECUTOR_FAILED", `the stage failed: ${(error as Error).message}`);
      flushing = [];
      queue = [];
      context.self.tell({ type: "defect" });
    }
  }

  function runFlush(): void {
    flushScheduled = false;
    if (stopped) return;
    const nowMs = context.nowMs();
    evictIdle(nowMs);
    const batch: { item: Queued; seq: Sequence }[] = [];
    const later: Queued[] = [];
    const inBatch = new Set<string>();
    for (const item of queue) {
      const { msg } = item;
      if (batch.length >= maxBatch || inBatch.has(msg.sequence)) { later.push(item); continue; }
      if (Date.now() > msg.deadlineMs) { fail(msg, "DEADLINE_EXCEEDED", "the step's deadline passed before this stage ran it"); continue; }
      const seq = sequenceFor(msg, nowMs);
      if ("code" in seq) { fail(msg, seq.code, seq.message); continue; }
      inBatch.add(msg.sequence);
      batch.push({ item, seq });
    }
    queue = later;
    if (queue.length > 0) {
      flushScheduled = true;
      setImmediate(flush);
    }
    if (batch.length === 0) return;
    flushing = batch.map(({ item }) => item);
    let outputs: Float32Array[];
    try {
      outputs = stage.forwardBatch(batch.map(({ item, seq }) => ({ input: item.hidden ? { hidden: item.hidden } : { tokens: item.msg.tokens! }, cache: seq.cache })), { logits: "last" });
    } catch (error) {
      context.log.error("forward-failed", { batch: batch.length, error: (error as Error).message });
      flushing = [];
      for (const { item } of batch) {
        sequences.get(item.msg.sequence)?.cache.dispose();
        sequences.delete(item.msg.sequence);
        fail(item.msg, "EXECUTOR_FAILED", `the forward pass failed: ${(error as Error).message}`);
      }
      return;
    }
    steps += batch.length;
    batches++;
    if (options.failFlushForTest === true && !FAILED_FOR_TEST.has(options)) {
      FAILED_FOR_TEST.add(options); // once per spawn: the restarted incarnation serves
      throw new Error("a defect after the forward pass (test)");
    }
    batch.forEach(({ item, seq }, i) => (stage.last ? answer(item.msg, seq, outputs[i]!) : forwardToNext(item.msg, outputs[i]!)));
    flushing = [];
  }

  function answer(msg: StepMsg, seq: Sequence, logits: Float32Array): void {
    const v = config.vocabSize;
    const token = seq.sample!(logits.subarray(logits.length - v));
    msg.replyTo.tell({ type: "token", sequence: msg.sequence, position: seq.cache.length, token });
  }

  function forwardToNext(msg: StepMsg, hidden: Float32Array): void {
    const [next, ...rest] = msg.route;
    const activations = encodeActivations(hidden, msg.activations ?? "f32");
    const timeoutMs = msg.deadlineMs - Date.now();
    if (timeoutMs <= 0) return fail(msg, "DEADLINE_EXCEEDED", "the step's deadline passed in this stage");
    const blocks = next!.from !== undefined && next!.to !== undefined ? { from: next!.from, to: next!.to } : undefined;
    context.lookup<ShardExecutorMsg>(next!.path)
      .ask<StepReply>((replyTo) => ({
        type: "step", sequence: msg.sequence, position: msg.position, hidden: activations, route: rest,
        ...(blocks ? { blocks } : {}), ...(msg.sampling ? { sampling: msg.sampling } : {}), ...(msg.activations ? { activations: msg.activations } : {}),
        deadlineMs: msg.deadlineMs, replyTo,
      }), { timeoutMs, transfer: [activations.data.buffer as ArrayBuffer] })
      .then(
        (reply) => msg.replyTo.tell(reply),
        (error: Error) => fail(msg, "STAGE_UNREACHABLE", `${next!.path} did not answer: ${error.message}`, next!.path),
      );
  }

  function info(): ExecutorInfoReply {
    return {
      type: "info", executor: context.path, node: context.node, from: range.from, to: range.to, layers: config.layers, dModel: config.dModel,
      positions: config.positions, vocabSize: config.vocabSize, backend: runtime.backend, sequences: sequences.size, steps, batches,
    };
  }

  /** Mean time of `tokens` single-position steps on a scratch cache, after one warm-up step. */
  function calibrate(tokens: number): { stepMs: number; blockMs: number } {
    const cache = stage.createCache();
    try {
      const input = (i: number) => (stage.first ? { tokens: [i % config.vocabSize] } : { hidden: new Float32Array(config.dModel).fill(0.01 * (i % 7)) });
      stage.forward(input(0), cache);
      const started = performance.now();
      for (let i = 1; i <= tokens; i++) stage.forward(input(i), cache);
      const stepMs = (performance.now() - started) / tokens;
      return { stepMs, blockMs: stepMs / (range.to - range.from) };
    } finally {
      cache.dispose();
    }
  }

  return {
    async start(ctx) {
      context = ctx;
      stopped = false;
      runtime = await resolveTensorBackend(options.backend ? { prefer: options.backend } : {});
      await load(options.from, options.to);
      ctx.log.info("shard-executor-ready", { from: range.from, to: range.to, layers: config.layers, backend: runtime.backend });
    },

    // Not async: a receive that returns a promise holds the mailbox until it settles, and the
    // steps behind it could not join the next batch. Only `load` waits.
    receive(msg, ctx) {
      const invalid = invalidExecutorMessage(msg);
      if (invalid !== null) {
        const replyTo = (msg as { replyTo?: ActorRef<unknown> } | null)?.replyTo;
        const sequence = (msg as { sequence?: unknown } | null)?.sequence;
        if (typeof replyTo?.tell === "function") {
          replyTo.tell(msg?.type === "step" ? { type: "step-failed", sequence: typeof sequence === "string" ? sequence : "", executor: ctx.path, code: "INVALID_STEP", message: invalid } : { type: "rejected", code: "INVALID_STEP", message: invalid });
        } else {
          ctx.log.warn("invalid-message", { reason: invalid });
        }
        return;
      }
      switch (msg.type) {
        case "step":
          return accept(msg);
        case "end": {
          sequences.get(msg.sequence)?.cache.dispose();
          sequences.delete(msg.sequence);
          const [next, ...rest] = msg.route ?? [];
          if (next !== undefined) ctx.lookup<ShardExecutorMsg>(next.path).tell({ type: "end", sequence: msg.sequence, route: rest });
          return;
        }
        case "info":
          return msg.replyTo.tell(info());
        case "calibrate": {
          const { stepMs, blockMs } = calibrate(msg.tokens ?? 8);
          return msg.replyTo.tell({ type: "calibration", executor: ctx.path, from: range.from, to: range.to, stepMs, blockMs });
        }
        case "defect": {
          const error = defect ?? new Error("a defect was reported without a cause");
          defect = undefined;
          throw error;
        }
        case "load": {
          const started = performance.now();
          return load(msg.from, msg.to).then(
            () => msg.replyTo.tell({ type: "loaded", executor: ctx.path, from: range.from, to: range.to, ms: performance.now() - started }),
            (error: Error) => msg.replyTo.tell({ type: "rejected", code: "INVALID_STEP", message: error.message }),
          );
        }
        default:
          assertNever(msg);
      }
    },

    stop() {
      stopped = true;
      for (const { msg } of queue) fail(msg, "STAGE_UNREACHABLE", "the stage is stopping");
      queue = [];
      dropSequences();
      stage?.dispose();
    },
  };
}
