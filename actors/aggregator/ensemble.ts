/**
 * DP ensemble decoding: k hospitals' models each propose the next token of a shared prefix, the
 * Aggregator releases the GNMax of their votes, and every proposer is fed the RELEASED token —
 * never its own proposal — so all continue from the same public prefix. Never lets a proposer's
 * output reach the subscriber except through a vote, and never hides what was released: a
 * generation that ends early says how many tokens left (EnsembleUnavailable.released).
 *
 * Dropouts are an input, not an exception path: a proposer that fails (rejects, throws, answers
 * no token, or misses proposeTimeoutMs) is closed and left out, and the vote goes on with the
 * others while at least minProposers remain (the per-token charge, gnmax(σ), does not depend on
 * k). Stop tokens end the stream after being emitted; unsubscribing stops after the token in
 * flight (which is then not emitted). Every proposer is closed exactly once, whatever the end.
 *
 * Confident-GNMax (`confident`, confident.ts): each vote first checks the noisy top count against
 * T; a check that fails ends the generation with an EnsembleAbstention as its last item — the
 * ensemble declines to go on, so nothing more is asked of anyone. Each emitted item, token or
 * abstention, is one threshold check to charge; each token also one GNMax release.
 */
import { Observable } from "rxjs";
import { checkTokenCount } from "./accounting.ts";
import { EnsembleUnavailable, InvalidEnsembleRequest } from "./errors.ts";
import type { ConfidentThreshold } from "./confident.ts";
import { checkSigma, checkThreshold, checkVocabSize, DEFAULT_GNMAX, MAX_PROPOSERS } from "./gnmax.ts";

/** One hospital's model, as the ensemble drives it. */
export interface Proposer {
  readonly id: string;
  /** Starts a sequence on `prompt` and proposes its first next token. */
  open(prompt: readonly number[]): Promise<number>;
  /** Appends the RELEASED token to the sequence and proposes the following one. */
  next(token: number): Promise<number>;
  /** Frees the sequence; may be called before open, must not throw (a throw is ignored). */
  close(): void;
}

export interface EnsembleRequest {
  readonly prompt: readonly number[];
  /** At most this many tokens are released (reserve ensembleReservation(sigma, maxTokens)). */
  readonly maxTokens: number;
  readonly sigma: number;
  readonly threshold?: number;
  /** Confident-GNMax: check the noisy top count against T (noise σ₁) before each release; reserve confidentReservation. */
  readonly confident?: ConfidentThreshold;
  /** Tokens that end the generation once released (e.g. GPT-2's <|endoftext|>, 50256). */
  readonly stopTokens?: readonly number[];
  /** Fewer live proposers than this ends the generation (default: all of them). */
  readonly minProposers?: number;
  readonly vocabSize?: number;
  /** A proposer slower than this on one token is dropped. */
  readonly proposeTimeoutMs?: number;
}

export const DEFAULT_ENSEMBLE = { proposeTimeoutMs: 30_000, vocabSize: DEFAULT_GNMAX.vocabSize } as const;

/** What the vote needs besides the votes: the Aggregator's vote message minus votes and replyTo. */
export interface VoteParams {
  readonly sigma: number;
  readonly threshold?: number;
  readonly vocabSize: number;
  readonly confident?: ConfidentThreshold;
}

export type VoteResult =
  | { readonly token: number; readonly margin: number; readonly consensusReached: boolean }
  /** Only when asked with `confident`: the threshold check failed, nothing was released. */
  | { readonly abstained: true };

/** Usually AggregatorClient.voter() (the noise is drawn in the Aggregator), or noisyArgmax in tests. */
export type EnsembleVote = (votes: number[], params: VoteParams) => Promise<VoteResult> | VoteResult;

export interface EnsembleToken {
  /** 0, 1, …: position in the generated continuation. */
  readonly index: number;
  readonly token: number;
  readonly margin: number;
  readonly consensusReached: boolean;
  /** How many proposers voted on this token. */
  readonly proposers: number;
}

/** Confident-GNMax declined token `index` (its threshold check failed): always the last item, and nothing was released for it. */
export interface EnsembleAbstention {
  readonly abstained: true;
  readonly index: number;
  readonly proposers: number;
}

export type EnsembleStep = EnsembleToken | EnsembleAbstention;

interface Checked {
  readonly prompt: readonly number[];
  readonly maxTokens: number;
  readonly params: VoteParams;
  readonly stopTokens: ReadonlySet<number>;
  readonly minProposers: number;
  readonly proposeTimeoutMs: number;
}

function checkRequest(proposers: readonly Proposer[], request: EnsembleRequest): Checked {
  if (!Array.isArray(proposers) || proposers.length === 0 || proposers.length > MAX_PROPOSERS) {
    throw new InvalidEnsembleRequest("proposers", `must list 1 to ${MAX_PROPOSERS} proposers`);
  }
  const ids = new Set(proposers.map((p) => p.id));
  if (ids.size !== proposers.length || [...ids].some((id) => typeof id !== "string" || id.length === 0)) {
    throw new InvalidEnsembleRequest("proposers", "every proposer needs a distinct, non-empty id");
  }
  const vocabSize = request.vocabSize ?? DEFAULT_ENSEMBLE.vocabSize;
  checkVocabSize(vocabSize);
  checkSigma(request.sigma);
  if (request.threshold !== undefined) checkThreshold(request.threshold);
  if (request.confident !== undefined) {
    checkSigma(request.confident.sigma1);
    checkThreshold(request.confident.threshold);
  }
  checkTokenCount(request.maxTokens, "maxTokens", 1);
  const isToken = (t: unknown): boolean => Number.isInteger(t) && (t as number) >= 0 && (t as number) < vocabSize;
  if (!Array.isArray(request.prompt) || request.prompt.length === 0 || !request.prompt.every(isToken)) {
    throw new InvalidEnsembleRequest("prompt", `must be a non-empty array of token ids from 0 to ${vocabSize - 1}`);
  }
  const stopTokens = request.stopTokens ?? [];
  if (!Array.isArray(stopTokens) || !stopTokens.every(isToken)) throw new InvalidEnsembleRequest("stopTokens", `must be token ids from 0 to ${vocabSize - 1}`);
  const minProposers = request.minProposers ?? proposers.length;
  if (!Number.isInteger(minProposers) || minProposers < 1 || minProposers > proposers.length) {
    throw new InvalidEnsembleRequest("minProposers", `${minProposers} must be a whole number from 1 to the ${proposers.length} proposers given`);
  }
  const proposeTimeoutMs = request.proposeTimeoutMs ?? DEFAULT_ENSEMBLE.proposeTimeoutMs;
  if (typeof proposeTimeoutMs !== "number" || !(proposeTimeoutMs > 0) || !Number.isFinite(proposeTimeoutMs)) {
    throw new InvalidEnsembleRequest("proposeTimeoutMs", `${proposeTimeoutMs} must be a finite number of ms > 0`);
  }
  const params: VoteParams = {
    sigma: request.sigma, vocabSize, ...(request.threshold === undefined ? {} : { threshold: request.threshold }),
    ...(request.confident === undefined ? {} : { confident: { threshold: request.confident.threshold, sigma1: request.confident.sigma1 } }),
  };
  return { prompt: [...request.prompt], maxTokens: request.maxTokens, params, stopTokens: new Set(stopTokens), minProposers, proposeTimeoutMs };
}

/** A proposal, or why there is none (the error's code or name only: messages may carry content). */
async function propose(run: () => Promise<number>, timeoutMs: number, vocabSize: number): Promise<number> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no proposal within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const token = await Promise.race([Promise.resolve().then(run), deadline]);
    if (!Number.isInteger(token) || token < 0 || token >= vocabSize) throw new Error("proposed something that is not a token id of the vocabulary");
    return token;
  } finally {
    clearTimeout(timer);
  }
}

function describe(error: unknown): string {
  const e = error as { code?: unknown; name?: unknown; message?: unknown } | null;
  if (typeof e?.code === "string") return e.code;
  if (e instanceof Error && e.name !== "Error") return e.name;
  return typeof e?.message === "string" && e.message.startsWith("no proposal within") ? "timeout" : "failed";
}

/**
 * Generates up to maxTokens tokens by DP ensemble decoding (see the module comment). Cold and
 * single-use: the generation starts on subscribe, once (the proposers hold one sequence each).
 * Without `confident` every item is a token; with it, the last may be an EnsembleAbstention.
 * @example
 * ensembleGenerate(proposers, { prompt, maxTokens: 16, sigma: 2, stopTokens: [50256] }, client.voter())
 *   .subscribe({ next: (t) => out.push(t.token), error: (e) => commit(e.released) });
 */
export function ensembleGenerate(proposers: readonly Proposer[], request: EnsembleRequest & { readonly confident?: undefined }, vote: EnsembleVote): Observable<EnsembleToken>;
export function ensembleGenerate(proposers: readonly Proposer[], request: EnsembleRequest, vote: EnsembleVote): Observable<EnsembleStep>;
export function ensembleGenerate(proposers: readonly Proposer[], request: EnsembleRequest, vote: EnsembleVote): Observable<EnsembleStep> {
  let used = false;
  return new Observable<EnsembleStep>((subscriber) => {
    if (used) {
      subscriber.error(new InvalidEnsembleRequest("subscribe", "an ensemble generation runs once (its proposers hold one sequence each); call ensembleGenerate again"));
      return;
    }
    used = true;
    let unsubscribed = false;
    const live = new Map<string, Proposer>(proposers.map((p) => [p.id, p]));
    const close = (p: Proposer): void => {
      try {
        p.close();
      } catch {
        // A proposer that cannot close is gone anyway; the generation's outcome does not depend on it.
      }
    };
    let released = 0;

    const generate = async (checked: Checked): Promise<void> => {
      const { params, minProposers } = checked;
      let step = (p: Proposer): Promise<number> => p.open(checked.prompt);
      for (let index = 0; index < checked.maxTokens; index++) {
        const asked = [...live.values()];
        const outcomes = await Promise.allSettled(asked.map((p) => propose(() => step(p), checked.proposeTimeoutMs, params.vocabSize)));
        const votes: number[] = [];
        const failed: string[] = [];
        outcomes.forEach((outcome, i) => {
          const p = asked[i]!;
          if (outcome.status === "fulfilled") votes.push(outcome.value);
          else {
            failed.push(`${p.id} (${describe(outcome.reason)})`);
            live.delete(p.id);
            close(p);
          }
        });
        if (unsubscribed) return;
        if (live.size < minProposers) {
          throw new EnsembleUnavailable(released, live.size, minProposers, `proposer(s) ${failed.join(", ")} failed on token ${index}`);
        }
        let result: VoteResult;
        try {
          result = await vote(votes, params);
        } catch (error) {
          throw new EnsembleUnavailable(released, live.size, minProposers, `the vote on token ${index} failed (${describe(error)})`);
        }
        if (params.confident !== undefined && result !== null && typeof result === "object" && "abstained" in result && result.abstained === true) {
          if (!unsubscribed) subscriber.next({ abstained: true, index, proposers: votes.length });
          return;
        }
        if (!("token" in result) || !Number.isInteger(result.token) || result.token < 0 || result.token >= params.vocabSize) {
          throw new EnsembleUnavailable(released, live.size, minProposers, `the vote on token ${index} returned no token id of the vocabulary`);
        }
        if (unsubscribed) return;
        released++;
        subscriber.next({ index, token: result.token, margin: result.margin, consensusReached: result.consensusReached, proposers: votes.length });
        if (checked.stopTokens.has(result.token) || unsubscribed) return;
        const token = result.token;
        step = (p) => p.next(token);
      }
    };

    let checked: Checked;
    try {
      checked = checkRequest(proposers, request);
    } catch (error) {
      for (const p of live.values()) close(p);
      subscriber.error(error);
      return;
    }
    generate(checked).then(
      () => {
        for (const p of live.values()) close(p);
        subscriber.complete();
      },
      (error: unknown) => {
        for (const p of live.values()) close(p);
        subscriber.error(error);
      },
    );
    return () => {
      unsubscribed = true;
    };
  });
}
