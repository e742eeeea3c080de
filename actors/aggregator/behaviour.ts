/**
 * The Aggregator actor: answers each vote with one GNMax release (or, asked for Confident-GNMax,
 * a noisy threshold check first and `abstained` when it fails), the noise drawn here with
 * privacy/'s secure sampler — never by a hospital, never from a caller's seed. Never crashes
 * on a malformed message (a typed `rejected` where it has a replyTo, a logged warning where
 * not) and never logs or replies a vote or a raw count: only what GNMax releases leaves.
 * Stateless between messages: a restarted Aggregator is the same Aggregator.
 */
import { assertNever, defineActor, type Behavior, type NodeStore } from "../../runtime/index.ts";
import type { TrainerMsg } from "../shard-executor/index.ts";
import { InvalidSigma, InvalidThreshold, InvalidVocabSize, InvalidVotes } from "./errors.ts";
import { confidentArgmax } from "./confident.ts";
import { MIN_SIGMA, noisyArgmax, secureGnmaxNoise } from "./gnmax.ts";
import { AGGREGATOR_ACCESS, type AggregatorMsg, type AggregatorOptions, type VoteReply } from "./protocol.ts";
import { invalidMessage, replyToOf } from "./validation.ts";

export const DEFAULT_AGGREGATOR = { minSigma: MIN_SIGMA } as const;

/**
 * @example
 * const ref = await system.spawn(aggregator, { minSigma: 1 });
 * const reply = await new AggregatorClient(ref).vote({ votes: [464, 464, 383], sigma: 2, vocabSize: 50_257 });
 * // { type: "released", token, margin, consensusReached, proposers: 3 } or { type: "rejected", code, message }
 * await new AggregatorClient(ref).vote({ votes: [1, 2, 3], sigma: 2, vocabSize: 50_257, confident: { threshold: 2.5, sigma1: 1 } });
 * // usually { type: "abstained", proposers: 3 }: a top count of 1 rarely clears T = 2.5
 */
export const aggregator = defineActor(import.meta.url, "aggregator", (options: AggregatorOptions = {}) => aggregatorBehaviour(options), { access: AGGREGATOR_ACCESS });

function aggregatorBehaviour(options: AggregatorOptions): Behavior<AggregatorMsg> {
  const minSigma = options.minSigma ?? DEFAULT_AGGREGATOR.minSigma;
  if (typeof minSigma !== "number" || !Number.isFinite(minSigma) || minSigma < MIN_SIGMA) {
    throw new InvalidSigma(minSigma, `minSigma must be a finite number ≥ ${MIN_SIGMA}`); // fails the spawn
  }
  let job: import("./training/job.ts").TrainingJob | undefined;
  return {
    stop() {
      job?.abort();
    },
    receive(msg, ctx) {
      const invalid = invalidMessage(msg);
      if (invalid !== null) {
        const replyTo = replyToOf(msg);
        if (replyTo !== undefined) replyTo.tell({ type: "rejected", code: invalid.code, message: invalid.message, field: invalid.field } satisfies VoteReply);
        else ctx.log.warn("aggregator-invalid-message", { code: invalid.code, field: invalid.field });
        return;
      }
      switch (msg.type) {
        case "vote": {
          if (msg.sigma < minSigma) {
            msg.replyTo.tell({ type: "rejected", code: "INVALID_SIGMA", field: "sigma", message: `sigma = ${msg.sigma} is below this aggregator's floor of ${minSigma}; ask with sigma ≥ ${minSigma}` });
            return;
          }
          // The floor holds for the threshold check's noise too: a small σ₁ would leak the top count.
          if (msg.confident !== undefined && msg.confident.sigma1 < minSigma) {
            msg.replyTo.tell({ type: "rejected", code: "INVALID_SIGMA", field: "confident.sigma1", message: `confident.sigma1 = ${msg.confident.sigma1} is below this aggregator's floor of ${minSigma}; ask with sigma1 ≥ ${minSigma}` });
            return;
          }
          let reply: VoteReply;
          try {
            const opts = { sigma: msg.sigma, vocabSize: msg.vocabSize, noise: secureGnmaxNoise, ...(msg.threshold === undefined ? {} : { threshold: msg.threshold }) };
            const outcome = msg.confident === undefined ? { type: "released" as const, release: noisyArgmax(msg.votes, opts) } : confidentArgmax(msg.votes, { ...opts, confident: msg.confident });
            if (outcome.type === "abstained") reply = { type: "abstained", proposers: outcome.proposers };
            else {
              const r = outcome.release;
              reply = { type: "released", token: r.token, margin: r.margin, consensusReached: r.consensusReached, proposers: r.proposers };
            }
          } catch (error) {
            const bad = error instanceof InvalidVotes || error instanceof InvalidSigma || error instanceof InvalidThreshold || error instanceof InvalidVocabSize;
            if (!bad) throw error; // a defect: crash, and let the supervisor restart a stateless actor
            reply = { type: "rejected", code: error.code, message: error.message, field: error.field };
          }
          msg.replyTo.tell(reply);
          return;
        }
        case "train": {
          if (job?.running === true) {
            msg.replyTo.tell({ type: "rejected", code: "TRAINING_BUSY", message: `job ${job.id} is still running; ask training-status` });
            return;
          }
          if (ctx.store === undefined) {
            msg.replyTo.tell({ type: "rejected", code: "TRAINING_REFUSED", message: "this node has no persistent store: rounds need one (round state in LMDB)" });
            return;
          }
          // Loaded on the first job only: an Aggregator that only votes never loads tfjs or the model code.
          return import("./training/job.ts").then(({ TrainingJob }) => {
            const started = new TrainingJob(msg.request, ctx.store as NodeStore, (path) => ctx.lookup<TrainerMsg>(path));
            job = started;
            void started.done.then(() => ctx.log.info("aggregator-training-ended", { job: started.id, state: started.status().state }));
            ctx.log.info("aggregator-training-started", { job: started.id, hospitals: msg.request.hospitals.length });
            msg.replyTo.tell({ type: "started", job: started.id });
          });
        }
        case "training-status":
          msg.replyTo.tell(job?.status() ?? { type: "training-status", job: null, state: "idle", events: [] });
          return;
        default:
          assertNever(msg);
      }
    },
  };
}
