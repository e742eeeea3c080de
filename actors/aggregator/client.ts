/**
 * A typed client for the Aggregator, for the Router and pipeline drivers: `vote` is an ask with a
 * deadline whose `rejected` answers come back as values; `voter()` adapts it to ensembleGenerate,
 * where a rejection is a VoteRejected that ends the generation and an abstention (Confident-GNMax)
 * ends it as the ensemble's answer. Only transport failures
 * (AskTimeout, PeerUnavailable, …) reject `vote`.
 */
import type { ActorRef } from "../../runtime/index.ts";
import type { EnsembleVote, VoteResult } from "./ensemble.ts";
import { VoteRejected } from "./errors.ts";
import type { AggregatorMsg, VoteReply } from "./protocol.ts";

export type VoteRequest = Omit<Extract<AggregatorMsg, { type: "vote" }>, "type" | "replyTo">;

export class AggregatorClient {
  constructor(readonly ref: ActorRef<AggregatorMsg>, readonly timeoutMs = 10_000) {}

  /** @example const r = await client.vote({ votes: [464, 464, 383], sigma: 2, vocabSize: 50_257 }); */
  vote(request: VoteRequest): Promise<VoteReply> {
    return this.ref.ask<VoteReply>((replyTo) => ({ type: "vote", ...request, replyTo }), { timeoutMs: this.timeoutMs });
  }

  /** The vote function of ensembleGenerate, drawing the noise in this Aggregator. */
  voter(): EnsembleVote {
    return async (votes, params): Promise<VoteResult> => {
      const reply = await this.vote({ votes, ...params });
      if (reply.type === "rejected") throw new VoteRejected(reply.code, reply.message);
      if (reply.type === "abstained") return { abstained: true };
      return { token: reply.token, margin: reply.margin, consensusReached: reply.consensusReached };
    };
  }
}
