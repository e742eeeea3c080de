/**
 * A request's charge against the Accountant: reserve its worst case before anything runs, then
 * settle (commit what was released, or release), checking every reply. It never routes,
 * generates or keeps answers, and never releases or commits a reservation this request did not
 * create (the Accountant's duplicate answer, issue 11).
 *
 * Each attempt of a request id reserves under its own key (`reservationKey`): `user:id` first,
 * `user:id#2`, … after attempts that released nothing, since the Accountant never reserves one
 * key twice. A commit or release the Accountant refuses, or does not answer, is an
 * `unavailable` error, never ignored.
 */
import { createHash } from "node:crypto";
import { MAX_RESERVATION_KEY_CHARS, type AccountantClient, type PrivacyEvent, type RemainingBudget } from "../accountant/index.ts";
import { BudgetExceededError, ForbiddenError, InvalidRequestError, UnavailableError } from "./http/errors.ts";
import type { Principal, InferenceRequest } from "./http/service.ts";
import type { RequestOutcome } from "./released-answers.ts";

/** A request's reservation, as the Accountant made it for this attempt. */
export interface Admitted {
  readonly reservation: string;
  readonly remaining: RemainingBudget;
}

/** How a request's reservation ended: committed, released, or there was none. */
export interface Settled {
  readonly cost: number;
  readonly remaining: number;
  readonly as: "committed" | "released" | "none";
}

/** What a retry of the request running now will meet; set as the run goes. */
export interface OutcomeSlot {
  outcome: RequestOutcome | null;
}

/**
 * Reserves the worst case of this attempt of the request. A reservation the Accountant made
 * before (a duplicate key) is not this request's: it is never released or committed here, and
 * it is looked at before the privacy_budget check (issue 11).
 * `accountant`: the Accountant as the caller (AccountantClient.as).
 */
export async function reserve(accountant: AccountantClient, request: InferenceRequest, caller: Principal, event: PrivacyEvent, attempt: number, slot: OutcomeSlot, askedMaxTokens: number): Promise<Admitted> {
  const contentHash = createHash("sha256").update(request.prompt).digest("hex");
  const reply = await accountant.reserve({
    key: reservationKey(caller.userId, request.requestId, attempt), user: caller.userId, department: request.department, event, requestId: request.requestId, contentHash,
  }).catch((error: Error) => { throw new UnavailableError(`the Accountant did not answer: ${error.message}`); });
  if (reply.type === "refused") {
    throw new BudgetExceededError({ remaining: reply.remaining[reply.reason].epsilon, needed: reply.needed.epsilon, scope: reply.reason, resetsAtMs: reply.resetsAtMs });
  }
  if (reply.type === "rejected") throw reply.code === "FORBIDDEN" ? new ForbiddenError(reply.message) : new InvalidRequestError(reply.field ?? "request", reply.message);
  if (reply.duplicate) {
    throw new InvalidRequestError("request_id", `request ${request.requestId} was admitted before (reservation ${reply.reservation}) and this server keeps no answer for it: the answer is older than the answers kept, or the request was cut short by a restart. It is charged once whatever happened; use a new request id to ask again`);
  }
  const admitted = { reservation: reply.reservation, remaining: reply.remaining };
  if (request.privacyBudget !== undefined && reply.cost.epsilon > request.privacyBudget) {
    const settled = await settle(accountant, admitted, null, request, caller); // a refused release throws: surfaced, never ignored
    slot.outcome = unfinished(settled, attempt);
    const tokens = request.maxTokens === askedMaxTokens ? `max_tokens ${request.maxTokens}` : `max_tokens ${askedMaxTokens}, ${request.maxTokens} of which the model's context leaves`;
    throw new InvalidRequestError("privacy_budget", `this request may cost up to ε ${reply.cost.epsilon.toFixed(4)} (${tokens}), more than the ${request.privacyBudget} allowed; lower max_tokens or raise privacy_budget`);
  }
  return admitted;
}

/**
 * Commits `actual` (releases, when null) and checks the Accountant's answer: a refusal is an error, never ignored.
 * `accountant`: the Accountant as the caller (AccountantClient.as).
 */
export async function settle(accountant: AccountantClient, admitted: Admitted | undefined, actual: PrivacyEvent | null, request: InferenceRequest, caller: Principal): Promise<Settled> {
  if (admitted === undefined) {
    const budget = await accountant.budget(caller.userId, request.department);
    const remaining = budget.type === "budget" ? Math.min(budget.user.remaining, budget.department?.remaining ?? Infinity) : 0;
    return { cost: 0, remaining, as: "none" };
  }
  const { reservation } = admitted;
  const action = actual === null ? "release" : "commit";
  const reply = await (actual === null ? accountant.release(reservation, false) : accountant.commit(reservation, actual))
    .catch((error: Error) => { throw new UnavailableError(`the Accountant did not answer the ${action} of reservation ${reservation} (${error.message}); if it is still open, it is committed at its worst case when it expires`); });
  if (reply.type === "rejected") throw new UnavailableError(`the Accountant refused to ${action} reservation ${reservation}: ${reply.message}`);
  if (reply.reservation !== reservation || reply.type !== (actual === null ? "released" : "committed")) {
    throw new UnavailableError(`the Accountant answered the ${action} of reservation ${reservation} with "${reply.type}" of ${reply.reservation}`);
  }
  return { cost: reply.type === "committed" ? reply.cost.epsilon : 0, remaining: Math.min(reply.remaining.user.epsilon, reply.remaining.department.epsilon), as: reply.type };
}

/** What a retry meets after a run that did not answer: the charge that stands, a fresh attempt, or nothing kept. */
export function unfinished(settled: Settled, attempt: number): RequestOutcome | null {
  switch (settled.as) {
    case "committed": return { kind: "spent", cost: settled.cost };
    case "released": return { kind: "retryable", attempts: attempt };
    case "none": return null;
  }
}

/**
 * The Accountant's key for attempt `attempt` of (user, request id): `user:id` first (as before
 * issue 11), `user:id#n` for the n-th, after attempts that released nothing. Past the
 * Accountant's MAX_RESERVATION_KEY_CHARS (128), a hash of the same parts. An id that ends in `#n` itself may meet
 * another id's later key; the Accountant then answers a duplicate (or a reused key), which
 * refuses the request and settles nothing: never a wrong charge.
 */
export function reservationKey(user: string, requestId: string, attempt: number): string {
  const key = attempt === 1 ? `${user}:${requestId}` : `${user}:${requestId}#${attempt}`;
  return key.length <= MAX_RESERVATION_KEY_CHARS ? key : `sha256:${createHash("sha256").update(JSON.stringify([user, requestId, attempt])).digest("hex")}`;
}
