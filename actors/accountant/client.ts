/**
 * A typed client for the Accountant, for services that embed it (the Router, another Node
 * service): one method per request, each an ask with a deadline. Never turns a refusal or a
 * rejection into a throw — they come back as reply values; only the runtime's failures reject
 * (AskTimeout, PeerUnavailable, and Forbidden when the sender's kind may not send that message).
 *
 * Who asks is the runtime's sender, never a field: this node's code by default, or the
 * principal this node authenticated, with `as`.
 */
import type { ActorRef, AskOptions, Sender } from "../../runtime/index.ts";
import type { PrivacyEvent } from "../../privacy/index.ts";
import type { AccountantMsg, BudgetReply, HistoryReply, OperatorActionReply, ReportReply, ReserveReply, SetBudgetReply, SettleReply } from "./protocol.ts";

export type ReserveRequest = Omit<Extract<AccountantMsg, { type: "reserve" }>, "type" | "replyTo">;
export type OperatorActionRequest = Omit<Extract<AccountantMsg, { type: "operatorAction" }>, "type" | "replyTo">;

export class AccountantClient {
  readonly #as: Sender | undefined;

  /** `as`: the principal every ask speaks for (default: this node's code). */
  constructor(readonly ref: ActorRef<AccountantMsg>, readonly timeoutMs = 10_000, as?: Sender) {
    this.#as = as;
  }

  /**
   * The same client speaking for `sender`, someone this node has authenticated.
   * @example await client.as({ kind: "user", user: "ada", role: "admin", department: "radiology" }).setBudget("department", "radiology", 8);
   */
  as(sender: Sender): AccountantClient {
    return new AccountantClient(this.ref, this.timeoutMs, sender);
  }

  /** @example const r = await client.reserve({ key: "req-1", user: "u-17", department: "radiology", event: gnmax(40) }); */
  reserve(req: ReserveRequest): Promise<ReserveReply> {
    return this.ref.ask<ReserveReply>((replyTo) => ({ type: "reserve", ...req, replyTo }), this.#options());
  }

  commit(reservation: string, actual: PrivacyEvent): Promise<SettleReply> {
    return this.ref.ask<SettleReply>((replyTo) => ({ type: "commit", reservation, actual, replyTo }), this.#options());
  }

  release(reservation: string, noisyOutputReleased: boolean): Promise<SettleReply> {
    return this.ref.ask<SettleReply>((replyTo) => ({ type: "release", reservation, noisyOutputReleased, replyTo }), this.#options());
  }

  budget(user: string, department?: string): Promise<BudgetReply> {
    return this.ref.ask<BudgetReply>((replyTo) => ({ type: "budget", user, ...(department === undefined ? {} : { department }), replyTo }), this.#options());
  }

  history(user: string, period?: string): Promise<HistoryReply> {
    return this.ref.ask<HistoryReply>((replyTo) => ({ type: "history", user, ...(period === undefined ? {} : { period }), replyTo }), this.#options());
  }

  /** Needs an operator, or a user with role "admin" (`as`); the trail records which. */
  setBudget(scope: "user" | "department", name: string, epsilon: number): Promise<SetBudgetReply> {
    return this.ref.ask<SetBudgetReply>((replyTo) => ({ type: "setBudget", scope, name, epsilon, replyTo }), this.#options());
  }

  report(period?: string): Promise<ReportReply> {
    return this.ref.ask<ReportReply>((replyTo) => ({ type: "report", ...(period === undefined ? {} : { period }), replyTo }), this.#options());
  }

  /**
   * Records an operator's action in the audit trail; resolves once it is durable, so call it
   * before the action takes effect.
   * @example await client.recordOperatorAction({ operator: "ops-1", action: "restart", target: "fed://h-a/user/router" });
   */
  recordOperatorAction(act: OperatorActionRequest): Promise<OperatorActionReply> {
    return this.ref.ask<OperatorActionReply>((replyTo) => ({ type: "operatorAction", ...act, replyTo }), this.#options());
  }

  #options(): AskOptions {
    return this.#as === undefined ? { timeoutMs: this.timeoutMs } : { timeoutMs: this.timeoutMs, as: this.#as };
  }
}
