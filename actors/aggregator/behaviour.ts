/**
 * The Aggregator actor: answers each vote with one GNMax release, the noise drawn here with
 * privacy/'s secure sampler — never by a hospital, never from a caller's seed. Never crashes
 * on a malformed message (a typed `rejected` where it has a replyTo, a logged warning where
 * not) and never logs or replies a vote or a raw count: only what GNMax releases leaves.
 * Stateless between messages: a restarted Aggregator is the same Aggregator.
 */
import { assertNever, defineActor, type Behavior } from "../../runtime/index.ts";
import { InvalidSigma, InvalidThreshold, InvalidVocabSize, InvalidVotes } from "./errors.ts";
import { MIN_SIGMA, noisyArgmax, secureGnmaxNoise } from "./gnmax.ts";
import { AGGREGATOR_ACCESS, type AggregatorMsg, type AggregatorOptions, type VoteReply } from "./protocol.ts";
import { invalidMessage, replyToOf } from "./validation.ts";

export const DEFAULT_AGGREGATOR = { minSigma: MIN_SIGMA } as const;

/**
 * @example
 * const ref = await system.spawn(aggregator, { minSigma: 1 });
 * const reply = await new AggregatorClient(ref).vote({ votes: [464, 464, 383], sigma: 2, vocabSize: 50_257 });
 * // { type: "released", token, margin, consensusReached, proposers: 3 } or { type: "rejected", code, message }
 */
export const aggregator = defineActor(import.meta.url, "aggregator", (options: AggregatorOptions = {}) => aggregatorBehaviour(options), { access: AGGREGATOR_ACCESS });

function aggregatorBehaviour(options: AggregatorOptions): Behavior<AggregatorMsg> {
  const minSigma = options.minSigma ?? DEFAULT_AGGREGATOR.minSigma;
  if (typeof minSigma !== "number" || !Number.isFinite(minSigma) || minSigma < MIN_SIGMA) {
    throw new InvalidSigma(minSigma, `minSigma must be a finite number ≥ ${MIN_SIGMA}`); // fails the spawn
  }
  return {
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
          let reply: VoteReply;
          try {
            const r = noisyArgmax(msg.votes, { sigma: msg.sigma, vocabSize: msg.vocabSize, noise: secureGnmaxNoise, ...(msg.threshold === undefined ? {} : { threshold: msg.threshold }) });
            reply = { type: "released", token: r.token, margin: r.margin, consensusReached: r.consensusReached, proposers: r.proposers };
          } catch (error) {
            const bad = error instanceof InvalidVotes || error instanceof InvalidSigma || error instanceof InvalidThreshold || error instanceof InvalidVocabSize;
            if (!bad) throw error; // a defect: crash, and let the supervisor restart a stateless actor
            reply = { type: "rejected", code: error.code, message: error.message, field: error.field };
          }
          msg.replyTo.tell(reply);
          return;
        }
        default:
          assertNever(msg.type); // a one-member union: TypeScript narrows the discriminant, not the message
      }
    },
  };
}
