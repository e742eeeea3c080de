/**
 * The first thing a request does (issue 11): claim its (user, request id) in ReleasedAnswers,
 * before any routing, reserving or privacy_budget check. It decides replay, run, 409 or 400 from
 * what is kept and what runs; it never reserves, routes, generates or counts.
 */
import { InProgressError, InvalidRequestError } from "./http/errors.ts";
import type { Principal, InferenceRequest } from "./http/service.ts";
import { fingerprintOf, type Claim, type ReleasedAnswers } from "./released-answers.ts";

/**
 * Claims (user, request id): replays what is kept, waits up to `waitMs` for the same request
 * running in this process (then InProgressError, a 409 in_progress), or returns the claim to run
 * it. The same id with another prompt or parameters is an InvalidRequestError.
 */
export async function claimRequest(answers: ReleasedAnswers, request: InferenceRequest, caller: Principal, waitMs: number): Promise<Extract<Claim, { type: "run" | "replay" }>> {
  const fingerprint = fingerprintOf(request);
  const deadline = performance.now() + waitMs;
  for (;;) {
    const claim = answers.claim(caller.userId, request.requestId, fingerprint);
    if (claim.type === "run" || claim.type === "replay") return claim;
    if (claim.type === "mismatch") {
      throw new InvalidRequestError("request_id", `request ${request.requestId} was sent before with another prompt or other parameters; a request id names one request, and a retry repeats it: use a new id for a new request`);
    }
    const leftMs = deadline - performance.now();
    if (leftMs <= 0 || !(await settlesWithin(claim.finished, leftMs))) throw new InProgressError(request.requestId, waitMs);
  }
}

/** Whether `promise` settles within `ms` (its timer cleared either way). */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(resolve, ms, false)));
  try {
    return await Promise.race([promise.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
