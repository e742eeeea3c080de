/**
 * The token streams of one request: one hospital's answer, hedged on a second, or a DP
 * ensemble's, every call to a hospital under its breaker (`guarded`). It only draws tokens: it
 * never reserves or charges, never decodes or releases text, and never counts a failure that is
 * not the hospital's own against its breaker (issue 15).
 */
import type { Observable } from "rxjs";
import type { CircuitBreaker } from "../../runtime/index.ts";
import type { Pipeline } from "../shard-executor/index.ts";
import { ensembleGenerate, type ConfidentThreshold, type EnsembleVote, type Proposer } from "../aggregator/index.ts";
import type { InferenceRequest } from "./http/service.ts";
import { classifyFailure } from "./failures.ts";
import type { RouteStats } from "./strategies.ts";

/** GPT-2's <|endoftext|>: a generation stops once it is produced. */
export const END_OF_TEXT = 50_256;

/** One token drawn; an ensemble's also says its vote's margin and whether consensus was reached. */
export interface TokenStep {
  readonly token: number;
  readonly margin?: number;
  readonly consensusReached?: boolean;
}

/** A hospital as generation uses it: its executor pipeline and its circuit breaker. */
export interface Hospital {
  readonly pipeline: Pipeline;
  readonly breaker: CircuitBreaker;
}

/** The Router's hospitals, for generation: each by id (ids come from routing), and the stats it feeds. */
export interface Hospitals {
  readonly get: (id: string) => Hospital;
  readonly stats: RouteStats;
  readonly stepTimeoutMs: number;
}

function session(hospitals: Hospitals, h: Hospital, request: InferenceRequest) {
  return h.pipeline.session({ sampling: sampling(request), stepTimeoutMs: hospitals.stepTimeoutMs });
}

function sampling(request: InferenceRequest): { temperature: number; topP?: number } {
  return { temperature: request.temperature ?? 0, ...(request.topP === undefined ? {} : { topP: request.topP }) };
}

/**
 * One hospital's answer, hedged: if its first token has not come within `hedge.afterMs`, the
 * same request is opened on a second hospital (the first of `hedge.route`, excluding this one)
 * and the first to answer serves the rest; the other is closed and its token discarded (never
 * released, so never charged: the request holds one reservation whatever runs). `served.id` is
 * set to the hospital serving.
 */
export async function* hedgedTokens(
  hospitals: Hospitals, hospital: string, prompt: readonly number[], request: InferenceRequest, served: { id: string },
  hedge: { readonly afterMs: number; readonly route: (exclude: readonly string[]) => readonly string[] },
): AsyncGenerator<TokenStep> {
  const open = (id: string) => {
    const h = hospitals.get(id);
    const s = session(hospitals, h, request);
    hospitals.stats.started(id);
    const first = guarded(h.breaker, () => s.open(prompt));
    first.catch(() => {}); // a hedge's loser may fail unobserved
    return { id, h, session: s, started: performance.now(), first };
  };
  const attempts = [open(hospital)];
  let timer: NodeJS.Timeout | undefined;
  const hedged = new Promise<"hedge">((resolve) => (timer = setTimeout(() => resolve("hedge"), hedge.afterMs)));
  let winner: (typeof attempts)[number] | undefined;
  let token: number;
  try {
    const first = await Promise.race([attempts[0]!.first.then((t) => ({ t }), (error: unknown) => ({ error })), hedged]);
    if (first !== "hedge") {
      if ("error" in first) throw first.error;
      winner = attempts[0]!;
      token = first.t;
    } else {
      let other: string | undefined;
      try {
        other = hedge.route([hospital])[0];
      } catch {
        other = undefined; // nowhere to hedge to: wait for the first
      }
      if (other !== undefined) attempts.push(open(other));
      const won = await Promise.any(attempts.map((a) => a.first.then((t) => ({ a, t })))).catch((all: AggregateError) => { throw all.errors[0]; });
      winner = won.a;
      token = won.t;
    }
  } finally {
    clearTimeout(timer);
    for (const a of attempts) {
      if (a === winner) continue;
      a.session.close();
      hospitals.stats.ended(a.id, performance.now() - a.started);
    }
  }
  const serving = winner!;
  served.id = serving.id;
  try {
    for (let i = 0; ; i++) {
      yield { token: token! };
      if (token! === END_OF_TEXT || i + 1 >= request.maxTokens) break;
      const previous = token!;
      token = await guarded(serving.h.breaker, () => serving.session.next(previous));
    }
  } finally {
    serving.session.close();
    hospitals.stats.ended(serving.id, performance.now() - serving.started);
  }
}

/** Confident-GNMax's threshold checks in one answer: each token drawn made one, and so did an abstention, which ends the answer. */
export interface ThresholdChecks {
  made: number;
  abstained: boolean;
}

/**
 * A DP ensemble's answer. The ensemble drops a failing proposer and reports only that too few
 * were left; the proposers' own failures are kept here, so that one that was the request's
 * fault (every hospital refusing a prompt past the context) is what the caller is told. With
 * `confident` (Confident-GNMax), `checks` counts the threshold checks made, before each token is
 * yielded (a check is charged whether or not a token follows), and an abstention ends the stream.
 */
export async function* ensembleTokens(
  hospitals: Hospitals, ids: readonly string[], prompt: readonly number[], request: InferenceRequest,
  ensemble: {
    readonly sigma: number; readonly threshold: number | undefined; readonly vote: EnsembleVote;
    readonly confident?: ConfidentThreshold | undefined; readonly checks?: ThresholdChecks;
  },
): AsyncGenerator<TokenStep> {
  const failures: unknown[] = [];
  const kept = <T>(step: Promise<T>): Promise<T> => step.catch((error: unknown) => { failures.push(error); throw error; });
  const proposers: Proposer[] = ids.map((id) => {
    const h = hospitals.get(id);
    const s = session(hospitals, h, request);
    return {
      id,
      open: (p) => kept(guarded(h.breaker, () => s.open(p))),
      next: (t) => kept(guarded(h.breaker, () => s.next(t))),
      close: () => s.close(),
    };
  });
  const { sigma, threshold, confident, checks } = ensemble;
  const stream = ensembleGenerate(proposers, {
    prompt, maxTokens: request.maxTokens, sigma, ...(threshold === undefined ? {} : { threshold }), ...(confident === undefined ? {} : { confident }),
    stopTokens: [END_OF_TEXT], minProposers: 1,
  }, ensemble.vote);
  try {
    for await (const t of observableToAsync(stream)) {
      if (checks !== undefined && confident !== undefined) checks.made++;
      if ("abstained" in t) {
        if (checks !== undefined) checks.abstained = true;
        return;
      }
      yield { token: t.token, margin: t.margin, consensusReached: t.consensusReached };
    }
  } catch (error) {
    throw failures.find((f) => classifyFailure(f) === "caller") ?? error;
  }
}

/**
 * Runs one call to a hospital under its breaker, which judges only the hospital's own failures
 * (issue 15): a caller's or an internal failure gives the permit back unjudged (it says nothing
 * of the hospital's health, and a half-open probe slot frees up) and is rethrown as it is.
 */
export function guarded<T>(breaker: CircuitBreaker, call: () => Promise<T>): Promise<T> {
  return breaker.execute(call, { isFailure: isPeerFailure });
}

const isPeerFailure = (error: unknown): boolean => classifyFailure(error) === "peer";

/** An Observable as an async iterable (values queued; an error rethrown at its place). */
async function* observableToAsync<T>(source: Observable<T>): AsyncGenerator<T> {
  const queue: T[] = [];
  let done = false;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const subscription = source.subscribe({
    next: (v) => { queue.push(v); wake?.(); },
    error: (e) => { failure = e; done = true; wake?.(); },
    complete: () => { done = true; wake?.(); },
  });
  try {
    for (;;) {
      if (queue.length > 0) { yield queue.shift()!; continue; }
      if (done) break;
      await new Promise<void>((r) => (wake = r));
      wake = undefined;
    }
    if (failure !== undefined) throw failure;
  } finally {
    subscription.unsubscribe();
  }
}
