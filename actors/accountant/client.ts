/**
 * A typed client for the Accountant, for services that embed it (the Router, another Node
 * service): one method per request, each an ask with a deadline. Never turns a refusal or a
 * rejection into a throw — they come back as reply values; only transport failures
 * (AskTimeout, PeerUnavailable, …) reject.
 */
import type { ActorRef } from "../../runtime/index.ts";
import type { PrivacyEvent } from "./events.ts";
import type { AccountantMsg, BudgetReply, HistoryReply, ReportReply, ReserveReply, SetBudgetReply, SettleReply } from "./protocol.ts";

export type ReserveRequest = Omit<Extract<AccountantMsg, { type: "reserve" }>, "type" | "replyTo">;

export class AccountantClient {
  constructor(readonly ref: ActorRef<AccountantMsg>, readonly timeoutMs = 10_000) {}

  /** @example const r = await client.reserve({ key: "req-1", user: "u-17", department: "radiology", event: gnmax(40) }); */
  reserve(req: ReserveRequest): Promise<ReserveReply> {
    return this.ref.ask<ReserveReply>((replyTo) => ({ type: "reserve", ...req, replyTo }), { timeoutMs: this.timeoutMs });
  }

  commit(reservation: string, actual: PrivacyEvent): Promise<SettleReply> {
    return this.ref.ask<SettleReply>((replyTo) => ({ type: "commit", reservation, actual, replyTo }), { timeoutMs: this.timeoutMs });
  }

  release(reservation: string, noisyOutputReleased: boolean): Promise<SettleReply> {
    return this.ref.ask<SettleReply>((replyTo) => ({ type: "release", reservation, noisyOutputReleased, replyTo }), { timeoutMs: this.timeoutMs });
  }

  budget(user: string, department?: string): Promise<BudgetReply> {
    return this.ref.ask<BudgetReply>((replyTo) => ({ type: "budget", user, ...(department === undefined ? {} : { department }), replyTo }), { timeoutMs: this.timeoutMs });
  }

  history(user: string, period?: string): Promise<HistoryReply> {
    return this.ref.ask<HistoryReply>((replyTo) => ({ type: "history", user, ...(period === undefined ? {} : { period }), replyTo }), { timeoutMs: this.timeoutMs });
  }

  setBudget(operator: string, scope: "user" | "department", name: string, epsilon: number): Promise<SetBudgetReply> {
    return this.ref.ask<SetBudgetReply>((replyTo) => ({ type: "setBudget", operator, scope, name, epsilon, replyTo }), { timeoutMs: this.timeoutMs });
  }

  report(period?: string): Promise<ReportReply> {
    return this.ref.ask<ReportReply>((replyTo) => ({ type: "report", ...(period === undefined ? {} : { period }), replyTo }), { timeoutMs: this.timeoutMs });
  }
}
