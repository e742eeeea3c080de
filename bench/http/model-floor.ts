/**
 * The model-only floor of an inference: the same executors the RouterService routes to, driven
 * directly through Pipeline sessions, with no HTTP, no routing, no Accountant. A single answer
 * is one session stepped token by token; a consensus answer is three sessions (one per
 * hospital) proposing each token, the Aggregator's DP vote (AggregatorClient.voter(), the same
 * noise the Router's answers get) and the released token fed back to all three — what
 * ensembleGenerate does, minus its timeouts, dropout handling and the charge. Both stop where
 * the service stops: at max_tokens or GPT-2's <|endoftext|>.
 */
import { DEFAULT_ENSEMBLE, type EnsembleVote } from "../../actors/aggregator/index.ts";
import type { Pipeline } from "../../actors/shard-executor/index.ts";
import { SIGMA, STEP_TIMEOUT_MS } from "./federation.ts";

const END_OF_TEXT = 50_256;
const SESSION = { sampling: { temperature: 0 }, stepTimeoutMs: STEP_TIMEOUT_MS } as const;

/** Generates up to maxTokens greedily on one pipeline; resolves to the tokens generated. */
export async function singleAnswer(pipeline: Pipeline, prompt: readonly number[], maxTokens: number): Promise<number> {
  const session = pipeline.session(SESSION);
  try {
    let token = await session.open(prompt);
    let generated = 1;
    while (token !== END_OF_TEXT && generated < maxTokens) {
      token = await session.next(token);
      generated++;
    }
    return generated;
  } finally {
    session.close();
  }
}

/** One consensus answer over `pipelines` (one proposer each); resolves to the tokens released. */
export async function ensembleAnswer(pipelines: readonly Pipeline[], vote: EnsembleVote, prompt: readonly number[], maxTokens: number): Promise<number> {
  const sessions = pipelines.map((p) => p.session(SESSION));
  try {
    let proposals = await Promise.all(sessions.map((s) => s.open(prompt)));
    for (let released = 1; ; released++) {
      const result = await vote(proposals, { sigma: SIGMA, vocabSize: DEFAULT_ENSEMBLE.vocabSize });
      if (!("token" in result)) return released - 1; // an abstention: only Confident-GNMax votes answer one
      const { token } = result;
      if (token === END_OF_TEXT || released >= maxTokens) return released;
      proposals = await Promise.all(sessions.map((s) => s.next(token)));
    }
  } finally {
    for (const s of sessions) s.close();
  }
}

/** Round-robin over the hospitals, as a fair stand-in for the Router's choice of one. */
export function roundRobin<T>(items: readonly T[]): () => T {
  let next = 0;
  return () => items[next++ % items.length]!;
}
